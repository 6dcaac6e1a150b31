"""PTGRefiner: frozen restorer F + frozen prior G + trainable refinement network R (PTG-RM, Eq. 1).

Xu, Kong, Hu, Liu, Bao, "Boosting Image Restoration via Priors from Pre-trained Models", CVPR 2024.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ._frozen import use_callers
from ._hub import HubUnavailableError, hub_file
from ._pretrained import list_pretrained  # noqa: F401  (its former home: ``from ptg_refine.refiner import ...``)
from ._precision import autocast_dtype, check_precision
from ._sources import HUB, resolve_source
from .exposure import apply_exposure, check_exposure
from ._config_checks import check_refiner_config, check_refiner_values
from ._validation import check_features, check_image, check_restored, inputs_checked
from .modules import RefinementNetwork
from .priors import DEFAULT, CallablePrior, create_prior
from .priors.base import ZeroPrior
from .priors.dense import dense_dim, dense_feature_maps

PRIOR_MODES = ("global", "dense", "global+dense")
AUTO_PROJ_ABOVE, AUTO_PROJ_DIM = 512, 128  # prior_proj_dim="auto": project priors wider than 512-d to 128-d
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
LEGACY_UPSAMPLE = "shuffle"  # R_d of a config.json without an ``upsample`` key (saved before it was a setting)
# README.md written by save_pretrained (huggingface_hub's default text says "pushed to the Hub" even for a local save)
MODEL_CARD = """---
{{ card_data }}
---
# PTG-RM refiner R (ptg-refine)

The refinement network R of PTG-RM ("Boosting Image Restoration via Priors from Pre-trained Models", Xu et al.,
CVPR 2024; paper: {{ paper_url }}), saved with `PTGRefiner.save_pretrained`. Only R's weights are stored
(`model.safetensors`, SHA-256 in `checksums.json`); the frozen restorer F and prior G are rebuilt from
`config.json`. Load it with `PTGRefiner.from_pretrained("<this folder or hub repo id>", restorer=...)`.
{% if training %}
## Training

{{ training }}
{% else %}
Training data and validation results are not recorded here: add them before publishing this model.
{% endif %}"""


def _hub_checkpoint_file(repo_id: str, filename: str, **kwargs) -> str:
    """Local path of ``filename`` of hub checkpoint ``repo_id`` (cached or downloaded). Only an unreachable hub
    becomes the "Offline?" OSError; a wrong repo id or a missing file keeps huggingface_hub's own error."""
    try:
        return hub_file(repo_id, [filename], f"refiner {repo_id!r}", **kwargs)
    except HubUnavailableError as e:
        raise OSError(f"could not fetch {filename} of hub repo {repo_id!r} ({getattr(e, 'reason', e)}). "
                      "Offline? Download the repo elsewhere and pass its local folder "
                      "(save_pretrained layout: config.json + model.safetensors).") from e


class RestorerMismatchWarning(UserWarning):
    """A refiner was loaded around another restorer F than the one it was trained for."""


def _warn_other_restorer(refiner, trained_for, given) -> None:
    """Warn when ``given`` (a zoo name or a module with a ``name``) is not the F ``trained_for`` (config.json)."""
    if not trained_for or given is None:
        return
    given_name = given if isinstance(given, str) else getattr(given, "name", None)
    if given_name == trained_for:
        return
    shown = repr(given_name) if given_name else f"a {type(given).__name__}"
    warnings.warn(f"refiner {os.fspath(refiner)!r} was trained for restorer {trained_for!r} but runs on {shown}: R "
                  "corrects the errors of the F it was trained with, so its output may be worse than F's alone "
                  f"(its config keeps restorer {trained_for!r})", RestorerMismatchWarning, stacklevel=3)


def _resolve_restorer(restorer):
    if restorer is None or isinstance(restorer, nn.Module):
        return use_callers(restorer) if restorer is not None else None
    if isinstance(restorer, str):
        from .restorers import create_restorer

        return create_restorer(restorer)
    if callable(restorer):
        return restorer
    raise TypeError(f"restorer must be an nn.Module, a callable on (B,3,H,W) tensors, a registered restorer "
                    f"name, or None; got {type(restorer).__name__}")


def _resolve_prior(prior, pretrained, prior_dim, seed=None):
    if isinstance(prior, str):
        if pretrained is None and seed is not None:  # a reproducible random prior (ablations)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return create_prior(prior, pretrained=None)
        return create_prior(prior, pretrained=pretrained)
    if isinstance(prior, nn.Module) and isinstance(getattr(prior, "feature_dim", None), int):
        return use_callers(prior)
    if callable(prior):
        return CallablePrior(prior, prior_dim)
    raise TypeError(f"prior must be a spec string (see ptg_refine.list_priors()), an nn.Module or a callable "
                    f"returning (B,D) features; got {type(prior).__name__}")


def _one_line(e: BaseException, limit: int = 200) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + " ..."


@contextlib.contextmanager
def reduced_precision(device: torch.device, dtype):
    """R under autocast to ``dtype`` with float32 ends (:mod:`ptg_refine.modules.precision`); nothing if None."""
    if dtype is None:
        yield
        return
    from .modules.precision import float32_ends

    with torch.autocast(device.type, dtype=dtype), float32_ends():
        yield


@dataclass
class RefinerConfig:
    """What a :class:`PTGRefiner` is built from, as recorded in its config.json (``save_pretrained``) and read
    back by ``from_pretrained``: the ``__init__`` arguments, describing what was actually built. The one
    declaration of a refiner's settings and their defaults: ``PTGRefiner.__init__`` takes these fields with these
    defaults, :meth:`PTGRefiner.from_config` builds from an instance, and ``ptg-refine train`` makes its R options
    from the fields (``cli.R_FLAGS``).

    ``restorer``: F's zoo name (given as a name, or the ``zoo_name`` of a module ``create_restorer(name)``
    built), or None for another module / callable F (pass it again when loading). ``prior``: G's spec, or None
    for a module / callable prior. ``prior_dim``: the feature size the prior gave (None before building:
    inferred). ``prior_proj_dim``: as given (``"auto"`` resolves again identically). The other fields are the
    ``__init__`` arguments as given.
    """

    restorer: str | None = None
    prior: str | None = "clip"
    prior_pretrained: Any = DEFAULT
    prior_dim: int | None = None
    width: int = 16
    num_blocks: int = 4
    heads: int = 1
    ffn_expansion: float = 2.66
    kernel_size: int = 3
    prior_hidden: int = 256
    embed_dim: int = 64
    prior_proj_dim: int | str | None = "auto"
    prior_dropout: float = 0.0
    prior_mode: str = "global"
    prior_input: str = "low"
    dense_hidden: int = 32
    prior_seed: int | None = None
    exposure: str | float = "refiner"
    upsample: str = "bilinear"
    resolution: str = "full"
    kernel_hidden: int | None = None
    prior_layers: bool | None = None
    correction_bound: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_D = RefinerConfig()  # the defaults of PTGRefiner.__init__
_CONFIG_FIELDS = tuple(RefinerConfig.__dataclass_fields__)
_SIZE_FIELDS = tuple(f for f in _CONFIG_FIELDS if f not in ("restorer", "prior", "prior_pretrained"))  # no objects


class PTGRefiner(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="ptg-refine",
    tags=["image-restoration", "low-light-enhancement", "ptg-rm"],
    paper_url="https://arxiv.org/abs/2403.06793",
    model_card_template=MODEL_CARD,
):
    """Refine a frozen restorer F with priors from a frozen pre-trained model G (PTG-RM).

    out = I_d + (Î_c − I_d)·I_m + I_r  (Eq. 1), with Î_c = F(I_d), g = G(I_d) and [I_m, I_r] = R(I_d, Î_c, g).

    Only R is a registered submodule: ``parameters()``, ``state_dict()`` and checkpoints hold R alone, and
    ``train()`` never switches F or G out of eval mode; ``.to()`` / ``.half()`` still move F and G.

    Args:
        restorer: F: an ``nn.Module``, any callable on (B,3,H,W) tensors, a registered restorer name
            (``ptg_refine.list_restorers()``), or None (then every call must pass ``restored=``). A module you pass
            (F or G) is put in eval mode and otherwise left as it is: its ``requires_grad`` flags are not changed,
            F and G run under ``torch.no_grad()`` and only R's parameters are the refiner's.
        prior: G: a spec (``ptg_refine.list_priors()``: ``"clip"``, ``"clip:ViT-B-32/openai"``,
            ``"timm:resnet18"``, ``"efficientnet_lite0"``, ``"none"``), or an ``nn.Module`` / callable
            mapping (B,3,H,W) in [0,1] to (B,D).
        prior_pretrained: weights of a spec prior: ``"default"``, a tag, a local file, or None (random).
        prior_dim: D; inferred from the prior when not given (a checkpoint records it, and loading fails
            clearly if the prior does not match).
        prior_mode: how G enters R. ``"global"`` (the paper): the pooled vector g drives PTG-SVE / PTG-CSA.
            ``"dense"``: G's multi-scale feature maps (:mod:`ptg_refine.priors.dense`, SKF-style) modulate R's
            latent features by SFT (:mod:`ptg_refine.modules.sft`) and g = 0. ``"global+dense"``: both.
        exposure: the brightness of :meth:`enhance`'s output (:mod:`ptg_refine.exposure`): ``"refiner"`` (R's own,
            Eq. 1), ``"restorer"`` (scaled to F's mean luminance), ``"scene"`` (a target predicted from the input,
            reached by a tone curve that spares the highlights) or a target mean luminance in (0, 1). Recorded in
            config.json, so a shipped refiner carries the setting it was validated with; ``forward`` ignores it.
        prior_seed: with ``prior_pretrained=None``, the seed of the random prior's initialisation, so that a
            checkpoint of a random-prior ablation rebuilds the same G (recorded in config.json).
        prior_input: ``"low"`` (the paper: G(I_d)) or ``"restored"`` (G(Î_c): the encoders were trained on
            well-exposed photos).
        prior_proj_dim: project g to this size first; ``"auto"`` (default): 128 for priors wider than 512-d
            (EfficientNet-Lite0's 1280-d would otherwise give a 1.07M-parameter R), none otherwise.
        width, num_blocks, ...: the refinement network, see :class:`ptg_refine.modules.RefinementNetwork`.
        upsample: how R_d goes up from 1/4 resolution: ``"bilinear"`` (default; no periodic texture) or
            ``"shuffle"`` (PixelShuffle, the layout of refiners saved before this setting; their config.json has no
            ``upsample`` key and loads as ``"shuffle"``). See :class:`ptg_refine.modules.Decoder`.
        resolution, kernel_hidden: R's speed settings (:class:`ptg_refine.modules.RefinementNetwork`): ``"full"``
            and None are the paper's R; ``"half"`` and 32 the fast R (about 5x fewer multiply-adds).
        prior_layers: None (default): R has prior layers unless the prior is ``"none"`` (g = 0 would only
            multiply zeros); True / False to say so. A config.json without the key (saved before this setting)
            loads with prior layers, as it was trained.
        correction_bound: None (the paper) or b in (0, 1]: R's corrections are bounded, I_m ∈ 1 ± b and
            I_r ∈ ± b (:class:`ptg_refine.modules.Decoder`).

    >>> refiner = PTGRefiner(restorer=lambda x: x.sqrt(), prior="none")
    >>> x = torch.rand(1, 3, 32, 32)
    >>> torch.equal(refiner(x), x.sqrt())   # a new refiner returns F's output exactly
    True
    """

    def __init__(self, restorer: Any = _D.restorer, prior: Any = _D.prior, prior_pretrained: Any = _D.prior_pretrained,
                 prior_dim: int | None = _D.prior_dim, width: int = _D.width, num_blocks: int = _D.num_blocks,
                 heads: int = _D.heads, ffn_expansion: float = _D.ffn_expansion, kernel_size: int = _D.kernel_size,
                 prior_hidden: int = _D.prior_hidden, embed_dim: int = _D.embed_dim,
                 prior_proj_dim: int | str | None = _D.prior_proj_dim, prior_dropout: float = _D.prior_dropout,
                 prior_mode: str = _D.prior_mode, prior_input: str = _D.prior_input,
                 dense_hidden: int = _D.dense_hidden, prior_seed: int | None = _D.prior_seed,
                 exposure: str | float = _D.exposure, upsample: str = _D.upsample, resolution: str = _D.resolution,
                 kernel_hidden: int | None = _D.kernel_hidden, prior_layers: bool | None = _D.prior_layers,
                 correction_bound: float | None = _D.correction_bound):
        super().__init__()
        check_refiner_values({k: v for k, v in locals().items() if k in _SIZE_FIELDS}, "PTGRefiner")
        exposure = check_exposure(exposure)
        if prior_mode not in PRIOR_MODES:
            raise ValueError(f"prior_mode must be one of {PRIOR_MODES}, got {prior_mode!r}")
        if prior_input not in ("low", "restored"):
            raise ValueError(f"prior_input must be 'low' or 'restored', got {prior_input!r}")
        self.prior_mode, self.prior_input = prior_mode, prior_input
        # F and G live outside nn.Module's registry so they never enter parameters()/state_dict()/train().
        self._frozen = {"restorer": _resolve_restorer(restorer), "prior": _resolve_prior(prior, prior_pretrained, prior_dim, prior_seed)}
        found = int(self.prior.feature_dim)
        if prior_dim is not None and prior_dim != found:
            raise ValueError(f"prior {getattr(self.prior, 'name', prior)!r} gives {found}-d features but this "
                             f"refiner expects prior_dim={prior_dim} (e.g. from its checkpoint's config.json); "
                             "use the prior the checkpoint was trained with")
        proj_dim = prior_proj_dim
        if prior_proj_dim == "auto":  # keep R within its ~0.7M-parameter budget for wide priors (Lite0: 1280-d)
            proj_dim = AUTO_PROJ_DIM if found > AUTO_PROJ_ABOVE else None
        elif prior_proj_dim is not None and not isinstance(prior_proj_dim, int):
            raise ValueError(f"prior_proj_dim must be an int, None or 'auto', got {prior_proj_dim!r}")
        self.net = RefinementNetwork(width=width, prior_dim=found, prior_proj_dim=proj_dim,
                                     prior_hidden=prior_hidden, embed_dim=embed_dim, num_blocks=num_blocks,
                                     heads=heads, ffn_expansion=ffn_expansion, kernel_size=kernel_size,
                                     prior_dropout=prior_dropout,
                                     dense_dim=dense_dim(self.prior) if "dense" in prior_mode else 0,
                                     dense_hidden=dense_hidden, upsample=upsample, resolution=resolution,
                                     kernel_hidden=kernel_hidden,
                                     prior_layers=not isinstance(self.prior, ZeroPrior) if prior_layers is None
                                     else prior_layers, correction_bound=correction_bound)
        # what config.json records (save_pretrained): the arguments, describing what was actually built
        self.refiner_config = RefinerConfig(
            restorer=restorer if isinstance(restorer, str) else getattr(restorer, "zoo_name", None),
            prior=prior if isinstance(prior, str) else None,
            prior_pretrained=os.fspath(prior_pretrained) if isinstance(prior_pretrained, os.PathLike)
            else prior_pretrained,
            prior_dim=found, width=width, num_blocks=num_blocks, heads=heads, ffn_expansion=ffn_expansion,
            kernel_size=kernel_size, prior_hidden=prior_hidden, embed_dim=embed_dim, prior_proj_dim=prior_proj_dim,
            prior_dropout=prior_dropout, prior_mode=prior_mode, prior_input=prior_input, dense_hidden=dense_hidden,
            prior_seed=prior_seed, exposure=exposure, upsample=upsample, resolution=resolution,
            kernel_hidden=kernel_hidden, prior_layers=prior_layers, correction_bound=correction_bound)

    @property
    def exposure(self) -> str | float:
        """:meth:`enhance`'s default output brightness (:mod:`ptg_refine.exposure`), as config.json records it."""
        return self.refiner_config.exposure

    @exposure.setter
    def exposure(self, value: str | float) -> None:
        self.refiner_config.exposure = check_exposure(value)

    @classmethod
    def from_config(cls, config: RefinerConfig | dict, restorer: Any = None, prior: Any = None) -> "PTGRefiner":
        """A new refiner (R at its identity initialisation) built as ``config`` says: a :class:`RefinerConfig` or
        its dict (config.json). ``restorer`` / ``prior``: modules or callables for a config that records None
        there (or to replace its F / G)."""
        values = config.to_dict() if isinstance(config, RefinerConfig) else dict(config)
        check_refiner_config(values, "from_config", _CONFIG_FIELDS)
        for name, given in (("restorer", restorer), ("prior", prior)):
            if given is not None:
                values[name] = given
        return cls(**values)

    # -- frozen parts -------------------------------------------------------------------------------
    @property
    def restorer(self) -> Callable | None:
        return self._frozen["restorer"]

    @property
    def prior(self) -> nn.Module:
        return self._frozen["prior"]

    @property
    def config(self) -> dict:
        """:attr:`refiner_config` as a dict (the content of config.json)."""
        return self.refiner_config.to_dict()

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for part in self._frozen.values():
            if isinstance(part, nn.Module):
                part._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        for part in self._frozen.values():
            if isinstance(part, nn.Module):
                part.eval()
        return self

    def extra_repr(self) -> str:
        name = getattr(self.restorer, "name", type(self.restorer).__name__)
        return f"restorer={name}, prior={getattr(self.prior, 'name', type(self.prior).__name__)} (both frozen)"

    @torch.no_grad()
    def restore(self, low: torch.Tensor) -> torch.Tensor:
        """Î_c = F(I_d), frozen (no gradient)."""
        if self.restorer is None:
            raise ValueError("this refiner has no restorer F: pass restored=F(low) (e.g. for a non-PyTorch "
                             "model or cached outputs), or build it with PTGRefiner(restorer=...)")
        return self.restorer(low)

    @property
    def uses_dense(self) -> bool:
        return "dense" in self.prior_mode

    def _prior_input(self, low, restored):
        if self.prior_input == "low":
            return low
        return self.restore(low) if restored is None else restored.clamp(0, 1)

    @torch.no_grad()
    def prior_features(self, low: torch.Tensor, restored: torch.Tensor | None = None) -> torch.Tensor:
        """g = G(I_d) (or G(Î_c) with prior_input="restored"; zeros with prior_mode="dense"), frozen, (B,D)."""
        if self.prior_mode == "dense":
            return low.new_zeros(low.shape[0], self.net.prior_dim)
        return self.prior(self._prior_input(low, restored))

    @torch.no_grad()
    def dense_features(self, low: torch.Tensor, restored: torch.Tensor | None = None) -> torch.Tensor | None:
        """G's dense maps of the whole image (:func:`ptg_refine.priors.dense.dense_feature_maps`), or None
        when prior_mode has no dense path."""
        if not self.uses_dense:
            return None
        return dense_feature_maps(self.prior, self._prior_input(low, restored))

    # -- forward ------------------------------------------------------------------------------------
    def prepare(self, low, restored=None, prior_features=None, low_checked: bool = False):
        """Check inputs and compute what was not given: returns (low, restored, prior_features). Each input is
        value-checked once (:mod:`ptg_refine._validation`); F and G run on the checked ``low`` without checking
        it again. ``low_checked``: the caller has checked ``low`` already."""
        if not low_checked:
            check_image(low, "low")
        if restored is None:
            with inputs_checked():
                restored = self.restore(low)
        check_restored(restored)
        if restored.shape != low.shape:
            batch = restored.shape[0] != low.shape[0]
            raise ValueError(f"restored must have the shape of low {tuple(low.shape)}, got {tuple(restored.shape)}"
                             + (f": batch size {restored.shape[0]} but low has {low.shape[0]}" if batch else ""))
        if prior_features is None:
            with inputs_checked():
                prior_features = self.prior_features(low, restored)
        check_features(prior_features, low.shape[0], self.net.prior_dim)
        return low, restored, prior_features

    def forward(self, low: torch.Tensor, restored: torch.Tensor | None = None,
                prior_features: torch.Tensor | None = None, return_details: bool = False, position=None,
                dense_features: torch.Tensor | None = None):
        """Refine ``low`` (B,3,H,W) in [0,1], any H, W >= 16. Output Eq. 1, not clamped.

        restored: F(low) if already computed (skips F); prior_features: G(low) as (B,D) (skips G);
        return_details: a dict with output, restored (I_c), mask (I_m), residual (I_r), range_score (M),
        channel_attention (M_c), spatial_attention (M_s). position: see RefinementNetwork.forward.
        dense_features: G's dense maps of the full image (prior_mode with "dense"; computed when not given).
        """
        low, restored, g = self.prepare(low, restored, prior_features)
        if self.uses_dense and dense_features is None:
            if position is not None:
                raise ValueError("with a dense prior and position=, pass dense_features= of the full image")
            with inputs_checked():
                dense_features = self.dense_features(low, restored)
        return self.net(low, restored, g, position=position, return_details=return_details, dense=dense_features)

    @torch.no_grad()
    def enhance(self, low, restored: torch.Tensor | None = None,
                prior_features: torch.Tensor | None = None, tile: int | None = None, overlap: int = 32,
                tile_restorer: bool = False, context: int | None = None,
                dense_features: torch.Tensor | None = None, exposure: str | float | None = None,
                precision: str = "auto"):
        """Inference: no gradient, output clamped to [0,1].

        low: a (B,3,H,W) float tensor in [0,1] (the result is one too), or one image as a file path, a
        ``PIL.Image`` (either gives a ``PIL.Image``: EXIF orientation applied and transparency kept, as
        ``ptg-refine enhance`` reads and writes files) or a numpy (H,W,3) array (uint8 or float in [0,1]; the
        result has the same dtype). ``restored``, ``prior_features`` and ``dense_features`` stay tensors.
        Non-tensor images go to the device of R's weights.

        precision: R's arithmetic (:mod:`ptg_refine._precision`): ``"auto"`` (bfloat16 autocast with float32
        ends on a CPU with native bfloat16, output within 1/255 of float32; else float32), ``"fp32"`` (exactly
        :meth:`forward`'s Eq. 1, clamped) or ``"bf16"``. F and G always run in float32. A refiner cast with
        ``.double()`` / ``.to(torch.bfloat16)`` runs R, F and G in its dtype instead: tensors must have that dtype
        (the result does too; images are converted), and ``precision`` must stay ``"auto"``.

        exposure: the output's brightness (None: this refiner's ``exposure``, see :mod:`ptg_refine.exposure`):
        ``"refiner"`` (Eq. 1 as is), ``"restorer"`` (F's mean luminance), ``"scene"`` (a target predicted from
        ``low``; a well-exposed input is not brightened) or a target mean luminance in (0, 1).

        tile: None runs the whole image at once; an int (multiple of 4, >= 32) runs R on tiles of about
        tile x tile output pixels, with the prior computed once on the whole image, full-image positions and
        whole-image statistics, so the result equals the untiled one up to float rounding while memory
        stays bounded (see :mod:`ptg_refine.tiling`). overlap: pixels over which neighbouring tiles are
        blended (multiple of 4, <= tile/4). tile_restorer: also run F tile by tile (default: F sees the
        whole image; a tiled F differs from a whole one if F has global operations). context: extra pixels
        computed around each tile and discarded (default: R's receptive field).
        """
        from .tiling import _refine_tiled, _tiled_map, check_tiling_args, receptive_field

        if not isinstance(low, torch.Tensor):
            from ._device import module_device
            from ._image_input import as_batch

            batch, back = as_batch(low, module_device(self))
            return back(self.enhance(batch.to(self.weights_dtype), restored, prior_features, tile=tile, overlap=overlap,
                                     tile_restorer=tile_restorer, context=context, dense_features=dense_features,
                                     exposure=exposure, precision=precision))
        if tile is None and tile_restorer:
            raise ValueError("tile_restorer=True needs tile=<pixels>")
        exposure = self.exposure if exposure is None else check_exposure(exposure)
        amp = self._autocast_for(low, precision)
        if tile is not None:
            check_tiling_args(tile, overlap, context)
        # prepare once: F (whole, or tiled), G on the whole image, each input checked once
        low_checked = restored is None and tile_restorer
        if low_checked:
            check_image(low, "low")
            with inputs_checked():
                restored = _tiled_map(self.restore, low, tile, overlap,
                                      receptive_field(self.net) if context is None else context)
        low, restored, prior_features = self.prepare(low, restored, prior_features, low_checked=low_checked)
        if self.uses_dense and dense_features is None:
            with inputs_checked():
                dense_features = self.dense_features(low, restored)
        with reduced_precision(low.device, amp):
            if tile is None:
                out = self.net(low, restored, prior_features, dense=dense_features)
            else:
                out = _refine_tiled(self.net, low, restored, prior_features, tile, overlap, context, "exact",
                                    dense_features)
        # exposure in float32 (float64 for a float64 refiner), the result in the input's dtype
        wide = torch.promote_types(low.dtype, torch.float32)
        return apply_exposure(out.to(wide), restored.to(wide), exposure, low.to(wide)).to(low.dtype)

    @property
    def weights_dtype(self) -> torch.dtype:
        """The dtype of R's weights: float32 unless the refiner was cast (``.double()``, ``.to(torch.bfloat16)``,
        ``.half()``; F and G are cast with it)."""
        return next(self.net.parameters()).dtype

    def _autocast_for(self, low: torch.Tensor, precision: str):
        """The autocast dtype of R for :meth:`enhance` (None: R's own dtype). A refiner cast to another dtype runs
        R, F and G in that dtype, on inputs of that dtype; ``precision`` chooses among float32 paths only."""
        dtype = self.weights_dtype
        if dtype == torch.float32:
            return autocast_dtype(precision, low.device)
        check_precision(precision)
        if low.dtype != dtype:
            raise TypeError(f"this refiner was cast to {dtype} but low is {low.dtype}: pass low.to({dtype}), "
                            "or cast the refiner back with .float()")
        if precision != "auto":
            raise ValueError(f"precision={precision!r} applies to a float32 refiner; this one was cast to {dtype} and "
                             "runs in it: use precision='auto', or cast it back with .float()")
        return None

    # -- Hugging Face Hub -----------------------------------------------------------------------------
    def save_pretrained(self, save_directory, *, config=None, **kwargs):
        """config.json (:attr:`refiner_config`, unless ``config`` is given), model.safetensors (R only),
        checksums.json and a model card; huggingface_hub's ``save_pretrained`` otherwise."""
        return super().save_pretrained(save_directory, config=self.refiner_config if config is None else config,
                                       **kwargs)

    def push_to_hub(self, repo_id: str, *, config=None, **kwargs):
        """Upload the :meth:`save_pretrained` files (config.json: :attr:`refiner_config`) to hub repo ``repo_id``.
        An unreachable hub raises :class:`ptg_refine._hub.HubUnavailableError` (a ConnectionError) with one line
        saying so, like the other hub errors, instead of the HTTP client's own exception."""
        from ._hub import network_errors

        try:
            return super().push_to_hub(repo_id, config=self.refiner_config if config is None else config, **kwargs)
        except HubUnavailableError:
            raise
        except network_errors() as e:
            raise HubUnavailableError(f"could not upload the refiner to hub repo {repo_id!r}: the hub is unreachable "
                                      f"({type(e).__name__}: {_one_line(e)}). Offline? save_pretrained(folder) "
                                      "writes the same files locally; push them later with "
                                      f"push_to_hub({repo_id!r}) or `hf upload {repo_id} folder`.") from e

    def _save_pretrained(self, save_directory: Path) -> None:
        """Only R's weights: never F's, never the prior's."""
        from .integrity import write_checksums

        save_file({k: v.detach().contiguous() for k, v in self.net.state_dict().items()},
                  str(Path(save_directory) / WEIGHTS_NAME), metadata={"format": "pt"})
        umask = os.umask(0)  # safetensors creates the file 0600; give it the usual permissions
        os.umask(umask)
        os.chmod(Path(save_directory) / WEIGHTS_NAME, 0o666 & ~umask)
        write_checksums(save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load R from a source (:func:`ptg_refine._sources.resolve_source`): ``"hf-hub:user/name"`` (a Hugging
        Face Hub repo), ``"local-dir:PATH"`` or an existing folder, a checkpoint shipped in the package
        (``list_pretrained()``), or a bare ``"user/name"`` hub repo id when no local folder could be meant. F
        (``restorer=``) and G are not stored: pass F, and G is rebuilt from the config's prior spec unless
        ``prior=`` is given."""
        source = resolve_source(pretrained_model_name_or_path)
        name = source.location
        if source.kind == HUB:
            hub = {k: kwargs.get(k) for k in ("revision", "token", "cache_dir")}
            hub["local_files_only"] = kwargs.get("local_files_only", False)
            config_file = _hub_checkpoint_file(name, CONFIG_NAME, **hub)  # fails fast
            from .integrity import read_config

            config = read_config(config_file)
            check_refiner_config(config, f"{config_file} (of hub repo {name!r})", _CONFIG_FIELDS)
            # the repo's files in the hub cache: loaded from there as a local folder, never from a same-named one
            _hub_checkpoint_file(name, WEIGHTS_NAME, force_download=kwargs.get("force_download", False), **hub)
            name = os.path.dirname(config_file)
        elif not os.path.isfile(os.path.join(name, CONFIG_NAME)):
            raise FileNotFoundError(f"{name!r} has no {CONFIG_NAME}: not a save_pretrained folder")
        elif not os.path.isfile(os.path.join(name, WEIGHTS_NAME)):
            raise FileNotFoundError(f"{name!r} has no {WEIGHTS_NAME}")
        else:
            from .integrity import check_pretrained_folder

            config = check_pretrained_folder(name)  # valid config.json, weights match their recorded checksums
            check_refiner_config(config, os.path.join(name, CONFIG_NAME), _CONFIG_FIELDS)  # keys, types, sizes
        trained_for = config.get("restorer")
        given = kwargs.get("restorer")
        _warn_other_restorer(pretrained_model_name_or_path, trained_for, given)
        model = super().from_pretrained(name, **kwargs)
        if trained_for and given is not None:  # config.json keeps the F that R was trained for
            model.refiner_config.restorer = trained_for
        return model

    @classmethod
    def _from_pretrained(cls, *, model_id, revision, cache_dir, force_download, local_files_only, token,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs):
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_NAME)
            if not os.path.isfile(weights):
                raise FileNotFoundError(f"{model_id!r} has no {WEIGHTS_NAME}")
        else:
            weights = _hub_checkpoint_file(model_id, WEIGHTS_NAME, revision=revision, cache_dir=cache_dir,
                                           token=token, force_download=force_download,
                                           local_files_only=local_files_only)
        prior = model_kwargs.get("prior")
        if (model_kwargs.get("prior_pretrained", DEFAULT) is None and model_kwargs.get("prior_seed") is None
                and isinstance(prior, str) and not prior.startswith("none")):
            raise ValueError(f"{model_id} was trained with a randomly initialised {prior!r} prior whose seed was not "
                             "recorded, so its G cannot be rebuilt; pass the same prior module as prior=..., or "
                             "retrain with a seed (ptg-refine train --prior-random records it)")
        # a config.json written before R_d's ``upsample`` setting existed describes the PixelShuffle decoder
        model_kwargs.setdefault("upsample", LEGACY_UPSAMPLE)
        # ... and one written before ``prior_layers`` existed, a network with prior layers (used or not)
        model_kwargs.setdefault("prior_layers", True)
        model = cls(**model_kwargs)
        try:
            state = load_file(weights, device=str(map_location))
        except (SafetensorError, OSError, ValueError) as e:
            raise OSError(f"could not read {weights}: not a valid safetensors file ({e})") from e
        own = model.net.state_dict()
        wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                 for k in own if k in state and state[k].shape != own[k].shape]
        if wrong:
            raise ValueError(f"{weights} does not fit this refiner's configuration; mismatched tensors: "
                             + "; ".join(wrong[:5]))
        model.net.load_state_dict(state, strict=strict)
        return model.eval()
