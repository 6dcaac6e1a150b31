"""Data: image I/O, paired (LOL layout) and unpaired folders, synthetic pairs, crops and flips.

Neutral with respect to the network: nothing here imports :mod:`ptg_refine.modules`, :mod:`ptg_refine.priors` or
:mod:`ptg_refine.training` (the F/G feature cache and the prior-view augmentation live in
:mod:`ptg_refine.training`; R's stride comes from :mod:`ptg_refine._stride`)."""
from .crops import FLIP_DIMS, Crop, apply_crop, sample_crop
from .io import IMAGE_EXTENSIONS, list_images, read_image, save_image
from .paired import ImageFolder, Pair, PairedFolder, match_pairs, split_every
from .synth import DegradationConfig, degrade, derive_seed, synthesize_pairs

__all__ = ["FLIP_DIMS", "Crop", "apply_crop", "sample_crop", "IMAGE_EXTENSIONS", "list_images", "read_image",
           "save_image", "ImageFolder", "Pair", "PairedFolder", "match_pairs", "split_every", "DegradationConfig", "degrade",
           "derive_seed", "synthesize_pairs"]
