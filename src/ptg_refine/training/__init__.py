"""Training of the refiner R with F and G frozen (PTG-RM, Xu et al., CVPR 2024).

One module per concern:

* :mod:`.config` — :class:`TrainConfig` (one ``ptg-refine train`` flag per field) and :func:`config_from_args`.
* :mod:`.losses` — :func:`charbonnier`, :func:`refinement_loss`, :func:`feature_distance` and :func:`joint_loss`
  (the paper's Eq. 8, L(Î_c, T) + λ·L(Ī_c, T), for fine-tuning F with R).
* :mod:`.trainer` — :class:`Trainer`: batches of crops with per-crop full-image positions (one call of R per
  step), AMP, validation, the training loop.
* :mod:`.resume` — atomic checkpoints, run fingerprints, resuming (past corrupt checkpoints).
* :mod:`.distributed` — ``torchrun`` set-up and the rank / world helpers.
* :mod:`.cache` — :class:`FeatureCache`: F(low) and G(low) once per full training image, in memory and on disk.
* :mod:`.augment` — training-only augmentations of the prior and the positions (:func:`prior_view_images`, ...).

Use it inside your own loop::

    trainer = Trainer(refiner, train_pairs, TrainConfig(iterations=1000))
    for _ in range(1000):
        stats = trainer.train_step(trainer.sample_batch())
"""
from .augment import VIEW_AREA, VIEW_ASPECT, VIEW_GAIN, VIEW_GAMMA, prior_view_images
from .cache import FeatureCache, image_hash, model_fingerprint
from .resume import RESTORER_NAME, STATE_NAME
from .config import TrainConfig, config_from_args
from .distributed import init_distributed_from_env
from .losses import charbonnier, feature_distance, joint_loss, refinement_loss
from .trainer import Trainer, _variant_groups, prior_parameter_names  # noqa: F401 (_variant_groups: tests)

__all__ = ["VIEW_AREA", "VIEW_ASPECT", "VIEW_GAIN", "VIEW_GAMMA", "prior_view_images", "FeatureCache",
           "image_hash", "model_fingerprint", "RESTORER_NAME", "STATE_NAME", "TrainConfig", "config_from_args",
           "init_distributed_from_env", "charbonnier", "feature_distance", "joint_loss", "refinement_loss",
           "Trainer", "prior_parameter_names"]
