"""Data: image I/O, paired (LOL layout) and unpaired folders, synthetic pairs, crops, the F/G cache."""
from .cache import FeatureCache, image_hash, model_fingerprint
from .crops import Crop, apply_crop, sample_crop
from .io import IMAGE_EXTENSIONS, list_images, read_image, save_image
from .paired import ImageFolder, Pair, PairedFolder, match_pairs
from .synth import DegradationConfig, degrade, derive_seed, synthesize_pairs

__all__ = ["FeatureCache", "image_hash", "model_fingerprint", "Crop", "apply_crop", "sample_crop",
           "IMAGE_EXTENSIONS", "list_images", "read_image", "save_image", "ImageFolder", "Pair", "PairedFolder",
           "match_pairs", "DegradationConfig", "degrade", "derive_seed", "synthesize_pairs"]
