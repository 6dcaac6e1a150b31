"""R's latent stride, the one home of the constant: a latent cell covers STRIDE x STRIDE input pixels (two
stride-2 convolutions in R_e), so tile windows, crop and position offsets are multiples of it. Neutral (no
torch), so that data/, tiling, validation and the CLI use it without importing the network."""
STRIDE = 4
