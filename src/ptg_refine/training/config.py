"""TrainConfig: the hyper-parameters of :class:`~ptg_refine.training.Trainer` (PTG-RM training, Xu et al., CVPR 2024);
``ptg-refine train`` has one CLI flag per field (:func:`config_from_args`)."""
from __future__ import annotations

from dataclasses import dataclass, fields

from .._stride import STRIDE

# settings that may change between a checkpoint and its resumed run (they do not change what is trained)
RESUMABLE_CHANGES = frozenset({"iterations", "val_every", "ckpt_every", "keep_checkpoints", "log_every"})


@dataclass
class TrainConfig:
    """Hyper-parameters of :class:`Trainer` (CLI flags of ``ptg-refine train`` have the same names)."""

    iterations: int = 1000
    batch_size: int = 8          # per process
    crop_size: int = 96
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup: int = 0
    weight_decay: float = 1e-4
    prior_weight_decay: float | None = None  # on prior_proj, T_m, T_c; None = weight_decay
    prior_noise: float = 0.0     # Gaussian noise on g during training, as a fraction of |g| (= 1)
    # prior-feature augmentation (training only; validation / inference always use the full-image g):
    prior_views: int = 0         # > 0: g of a crop = G of one of this many cached augmented views of its image
    prior_crop_mix: float = 0.0  # > 0: g = normalise((1 - m) g + m G(low crop)), G run on the crop each step
    # regularisers aimed at per-image memorisation through g (training only):
    prior_drop: float = 0.0      # probability that a crop's whole prior (g and dense maps) is zeroed
    prior_other_variant: bool = False  # g of another synthetic variant of the same photo (same name stem)
    position_jitter: int = 0     # shift R's coordinate positions by a random multiple of 4 in [-J, J] px
    # the prior as a training signal (CLIP-LIT-style use of a frozen encoder, here a perceptual loss):
    feature_loss: float = 0.0    # weight of the feature-space L1 between F+R and the target
    feature_loss_prior: str = "efficientnet_lite0"  # backbone of that loss (stride 8/16/32 maps)
    identity_weight: float = 0.0  # do-no-harm: + w·(mean|I_m − 1| + mean|I_r|), R stays near F unless paid
    ssim_weight: float = 0.1
    charbonnier_eps: float = 1e-3
    flips: bool = True
    grad_clip: float | None = 1.0
    amp: str = "auto"            # auto | off | bf16 | fp16 (auto: bf16/fp16 on CUDA, off on CPU)
    joint: bool = False
    joint_lr: float = 1e-5
    joint_weight: float = 1.0    # λ of Eq. 8
    seed: int = 0
    val_every: int = 0
    ckpt_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 10

    def __post_init__(self):
        for name in ("iterations", "batch_size", "crop_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.crop_size < 16 or self.crop_size % STRIDE:
            raise ValueError(f"crop_size must be a multiple of 4 and >= 16 (R downsamples by 4), got {self.crop_size}")
        if self.amp not in ("auto", "off", "bf16", "fp16"):
            raise ValueError(f"amp must be one of auto, off, bf16, fp16; got {self.amp!r}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")
        if self.prior_noise < 0:
            raise ValueError(f"prior_noise must be >= 0, got {self.prior_noise}")
        if self.prior_views < 0:
            raise ValueError(f"prior_views must be >= 0, got {self.prior_views}")
        if not 0 <= self.prior_crop_mix <= 1:
            raise ValueError(f"prior_crop_mix must be in [0, 1], got {self.prior_crop_mix}")
        if not 0 <= self.prior_drop <= 1:
            raise ValueError(f"prior_drop must be in [0, 1], got {self.prior_drop}")
        if self.position_jitter < 0 or self.position_jitter % STRIDE:
            raise ValueError(f"position_jitter must be a non-negative multiple of 4, got {self.position_jitter}")
        if self.identity_weight < 0:
            raise ValueError(f"identity_weight must be >= 0, got {self.identity_weight}")
        if self.feature_loss < 0:
            raise ValueError(f"feature_loss must be >= 0, got {self.feature_loss}")


def config_from_args(args) -> TrainConfig:
    """TrainConfig from an argparse namespace holding fields of the same names."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
