"""PTGRefiner: frozen restorer F + frozen prior G + trainable refinement network R (PTG-RM, Eq. 1).

Xu, Kong, Hu, Liu, Bao, "Boosting Image Restoration via Priors from Pre-trained Models", CVPR 2024.
"""
from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import torch
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ._frozen import use_callers
from ._hub import HubUnavailableError
from ._loading import HUB_OPTIONS, WEIGHTS_NAME, Checkpoint, open_checkpoint, write_config
from ._inference_precision import autocast_dtype, check_precision, reduced_precision
from .exposure import DEFAULT_EXPOSURE, EXPOSURE_MODES, _apply_exposure, check_exposure, parse_exposure
from ._config_checks import check_refiner_config
from ._validation import check_features, check_image, check_restored, inputs_checked
from .modules import RefinementNetwork
from .modules.encoder import RESOLUTIONS
from .priors import DEFAULT, CallablePrior, create_prior
from .priors.base import ZeroPrior
from .priors.dense import dense_dim, dense_feature_maps

PRIOR_MODES = ("global", "dense", "global+dense")
AUTO_PROJ_ABOVE, AUTO_PROJ_DIM = 512, 128  # prior_proj_dim="auto": project priors wider than 512-d to 128-d
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


def _proj_dim_text(text: str):
    """prior_proj_dim written as text (``train --prior-proj-dim``): an int (0: no projection) or 'auto'."""
    if text == "auto":
        return text
    try:
        return int(text) or None
    except ValueError:
        raise ValueError(f"expected an integer or 'auto', got {text!r}") from None


def setting(default, help: str = "", *, limits: tuple | None = None, choices: tuple | None = None,
            open_bounds: tuple = (False, False), flag: bool = True, adapt: bool = False, train_default: Any = MISSING,
            parse: Callable | None = None):
    """A :class:`RefinerConfig` field with what the rest of the package derives from it (``field.metadata``):
    ``help`` (the ``train`` flag's help), ``limits`` (bounds checked by :mod:`ptg_refine._config_checks`, inclusive
    unless ``open_bounds`` says (low open, high open)), ``choices`` (the allowed strings, checked there and
    offered by the flag), ``flag=False`` (no ``train`` flag: the CLI has its own option for it), ``adapt`` (may be
    given with ``train --init-from``), ``train_default`` (where ``train``'s default deliberately differs) and
    ``parse`` (the flag's argparse type). A plain field (``name: int = 3``) gets a flag typed from its annotation,
    a type check, and a place in config.json, with nothing else to edit."""
    meta = {"help": help, "limits": limits, "open": open_bounds, "choices": choices, "flag": flag, "adapt": adapt,
            "parse": parse}
    if train_default is not MISSING:
        meta["train_default"] = train_default
    return field(default=default, metadata=meta)


@dataclass
class RefinerConfig:
    """What a :class:`PTGRefiner` is built from, as recorded in its config.json (``save_pretrained``) and read
    back by ``from_pretrained``: the ``__init__`` arguments, describing what was actually built. The one
    declaration of a refiner's settings and their defaults: ``PTGRefiner.__init__`` takes these fields with these
    defaults (its signature is made from them), :meth:`PTGRefiner.from_config` builds from an instance, the config
    checks take their limits and choices from them (:mod:`ptg_refine._config_checks`) and ``ptg-refine train`` makes
    one option per field (:mod:`ptg_refine.cli.train`). A new field needs no other edit: it becomes an ``__init__``
    argument (passed on to :class:`~ptg_refine.modules.RefinementNetwork` when that takes an argument of its name),
    a ``train`` flag and a key of config.json.

    ``restorer``: F's zoo name (given as a name, or the ``zoo_name`` of a module ``create_restorer(name)``
    built), or None for another module / callable F (pass it again when loading). ``prior``: G's spec, or None
    for a module / callable prior. ``prior_dim``: the feature size the prior gave (None before building:
    inferred). ``prior_proj_dim``: as given (``"auto"`` resolves again identically). The other fields are the
    ``__init__`` arguments as given.
    """

    restorer: str | None = setting(None, flag=False)
    prior: str | None = setting(
        "clip", "prior spec (ptg_refine.list_priors()); 'none' (g = 0): what the shipped refiners use; with hundreds "
        "of pairs of one camera 'efficientnet_lite0' gained in-domain but lost on another camera (README, 'the "
        "prior')", train_default="none")  # the measurements recommend no prior; the library keeps the paper's CLIP
    prior_pretrained: str | bool | None = setting(DEFAULT, flag=False)
    prior_dim: int | None = setting(None, limits=(1, 8192), flag=False)
    width: int = setting(16, "channels of R's first stage", limits=(1, 256))
    num_blocks: int = setting(4, "transformer blocks of R", limits=(1, 32))
    heads: int = setting(1, "attention heads of R's transformer branch", limits=(1, 32))
    ffn_expansion: float = setting(2.66, "hidden-size factor of the transformer branch's feed-forward layers",
                                   limits=(0.0, 16.0), open_bounds=(True, False))
    kernel_size: int = setting(3, "size of PTG-CSA's per-position kernels", limits=(1, 15))
    prior_hidden: int = setting(256, "hidden size of T_m and T_c (the maps from g to R's modulations)",
                                limits=(1, 4096))
    embed_dim: int = setting(64, "output size of T_m and T_c", limits=(1, 1024))
    prior_proj_dim: int | str | None = setting(
        "auto", "project g to this size first ('auto': 128 for priors wider than 512-d; 0: off)", limits=(1, 4096),
        choices=("auto",), train_default=128, parse=_proj_dim_text)
    # (train's 128: the shipped recipe, a fixed 128-d projection whatever the prior's width)
    prior_dropout: float = setting(0.0, "dropout on g inside R during training", limits=(0.0, 1.0))
    prior_mode: str = setting("global", "how G enters R: pooled vector (paper), dense feature maps by SFT, or both",
                              choices=PRIOR_MODES)
    prior_input: str = setting("low", "what G sees: the low image (paper) or F's output", choices=("low", "restored"))
    dense_hidden: int = setting(32, "hidden channels of the dense prior's SFT condition (--prior-mode dense)",
                                limits=(1, 512))
    prior_seed: int | None = setting(None, flag=False)
    exposure: str | float = setting(
        DEFAULT_EXPOSURE, "output brightness the refiner keeps in its config.json (enhance's default): 'refiner' "
        "(R's own, learnt from --pairs; also after --init-from), 'restorer' (F's), 'scene' (a mean predicted from "
        "the input, highlights spared) or a mean luminance in (0, 1)", choices=EXPOSURE_MODES, limits=(0, 1),
        open_bounds=(True, True), adapt=True, parse=parse_exposure)
    upsample: str = setting("bilinear", "how R_d goes up from 1/4 resolution: bilinear + conv (no periodic texture) "
                            "or PixelShuffle (the layout of refiners saved before this option)",
                            choices=("bilinear", "shuffle"))
    resolution: str = setting(
        "full", "where R_e starts and R_d ends: full resolution (the paper) or half, with I_m and I_r brought up by "
        "guided upsampling along F's output (the fast R)", choices=RESOLUTIONS)
    kernel_hidden: int | None = setting(
        None, "hidden width of a light R_p (conv3x3 then 1x1; the fast R: 32); default: the paper's R_p",
        limits=(1, 4096))
    prior_layers: bool | None = setting(None, flag=False)  # None: decided by the prior (none: no prior layers)
    correction_bound: float | None = setting(
        None, "bound b of R's corrections: I_m in 1 +- b, I_r in +- b (default: the paper's unbounded)",
        limits=(0.0, 1.0), open_bounds=(True, False))

    def to_dict(self) -> dict:
        return asdict(self)


_FRAME = ("restorer", "prior")  # F and G: objects or names, given positionally too
_FIELD_DEFAULTS = {f.name: f.default for f in fields(RefinerConfig)}


def _net_args(settings: dict) -> dict:
    """R's arguments named like a setting, passed as given (prior_dim and prior_proj_dim are resolved by the
    caller, dense_dim derived): a new RefinerConfig field reaches RefinementNetwork when it takes an argument of its
    name."""
    names = inspect.signature(RefinementNetwork.__init__).parameters
    return {k: v for k, v in settings.items() if k in names and k not in ("prior_dim", "prior_proj_dim")}


def _init_signature() -> inspect.Signature:
    """PTGRefiner.__init__'s signature: self, then every RefinerConfig field with its default (keyword-only after
    restorer and prior)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("self", kind)]
    for f in fields(RefinerConfig):
        params.append(inspect.Parameter(f.name, kind if f.name in _FRAME else inspect.Parameter.KEYWORD_ONLY,
                                        default=f.default, annotation=f.type))
    return inspect.Signature(params)


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

    def __init__(self, restorer: Any = _FIELD_DEFAULTS["restorer"], prior: Any = _FIELD_DEFAULTS["prior"], **settings):
        super().__init__()
        if isinstance(settings.get("prior_pretrained"), os.PathLike):
            settings["prior_pretrained"] = os.fspath(settings["prior_pretrained"])
        check_refiner_config(settings, "PTGRefiner", fields(RefinerConfig), error=TypeError)  # names, types, limits
        s = {**{f.name: f.default for f in fields(RefinerConfig) if f.name not in _FRAME}, **settings}
        # F and G live outside nn.Module's registry so they never enter parameters()/state_dict()/train().
        self._frozen = {"restorer": _resolve_restorer(restorer),
                        "prior": _resolve_prior(prior, s["prior_pretrained"], s["prior_dim"], s["prior_seed"])}
        found = int(self.prior.feature_dim)
        if s["prior_dim"] is not None and s["prior_dim"] != found:
            raise ValueError(f"prior {getattr(self.prior, 'name', prior)!r} gives {found}-d features but this "
                             f"refiner expects prior_dim={s['prior_dim']} (e.g. from its checkpoint's config.json); "
                             "use the prior the checkpoint was trained with")
        proj_dim = s["prior_proj_dim"]
        if proj_dim == "auto":  # keep R within its ~0.7M-parameter budget for wide priors (Lite0: 1280-d)
            proj_dim = AUTO_PROJ_DIM if found > AUTO_PROJ_ABOVE else None
        self.prior_mode, self.prior_input = s["prior_mode"], s["prior_input"]
        # prior_layers None: a zero prior ("none") would only multiply zeros, so R gets no prior layers
        layers = not isinstance(self.prior, ZeroPrior) if s["prior_layers"] is None else s["prior_layers"]
        self.net = RefinementNetwork(**{**_net_args(s), "prior_layers": layers}, prior_dim=found,
                                     prior_proj_dim=proj_dim,
                                     dense_dim=dense_dim(self.prior) if "dense" in self.prior_mode else 0)
        # what config.json records (save_pretrained): the arguments, describing what was actually built
        self.refiner_config = RefinerConfig(**{
            **s, "prior_dim": found, "prior": prior if isinstance(prior, str) else None,
            "restorer": restorer if isinstance(restorer, str) else getattr(restorer, "zoo_name", None)})

    __init__.__signature__ = _init_signature()

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
        check_refiner_config(values, "from_config", fields(RefinerConfig))
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
                prior_features: torch.Tensor | None = None, tile: int | None = None, overlap: int | None = None,
                tile_restorer: bool = False, context: int | None = None,
                dense_features: torch.Tensor | None = None, exposure: str | float | None = None,
                precision: str = "auto"):
        """Inference: no gradient, output clamped to [0,1].

        low: a (B,3,H,W) float tensor in [0,1] (the result is one too), or one image as a file path, a
        ``PIL.Image`` (either gives a ``PIL.Image``: EXIF orientation applied and transparency kept, as
        ``ptg-refine enhance`` reads and writes files) or a numpy (H,W,3) array (uint8 or float in [0,1]; the
        result has the same dtype). ``restored``, ``prior_features`` and ``dense_features`` stay tensors.
        Non-tensor images go to the device of R's weights.

        precision: R's arithmetic (:mod:`ptg_refine._inference_precision`): ``"auto"`` (bfloat16 autocast with float32
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
        blended (multiple of 4, <= tile/4; default :data:`ptg_refine.tiling.DEFAULT_OVERLAP`, lowered to fit the tile,
        as ``ptg-refine enhance --tile`` does). tile_restorer: also run F tile by tile (default: F sees the
        whole image; a tiled F differs from a whole one if F has global operations). context: extra pixels
        computed around each tile and discarded (default: R's receptive field).
        """
        from .tiling import _map_tiles, _refine_tiles, receptive_field, tiling_args

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
        overlap = tiling_args(tile, overlap, context)
        # prepare once: F (whole, or tiled), G on the whole image, each input checked once
        low_checked = restored is None and tile_restorer
        if low_checked:
            check_image(low, "low")
            with inputs_checked():
                restored = _map_tiles(self.restore, low, tile, overlap,
                                      receptive_field(self.net) if context is None else context)
        low, restored, prior_features = self.prepare(low, restored, prior_features, low_checked=low_checked)
        if self.uses_dense and dense_features is None:
            with inputs_checked():
                dense_features = self.dense_features(low, restored)
        with reduced_precision(low.device, amp):
            if tile is None:
                out = self.net(low, restored, prior_features, dense=dense_features)
            else:
                out = _refine_tiles(self.net, low, restored, prior_features, tile, overlap, context, "exact",
                                    dense_features)
        # exposure in float32 (float64 for a float64 refiner), the result in the input's dtype
        wide = torch.promote_types(low.dtype, torch.float32)
        return _apply_exposure(out.to(wide), restored.to(wide), exposure, low.to(wide)).to(low.dtype)

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
        config = self.refiner_config if config is None else config
        self._config_to_save = config.to_dict() if isinstance(config, RefinerConfig) else dict(config)
        return super().save_pretrained(save_directory, config=self._config_to_save, **kwargs)

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
        """R's weights only (never F's, never the prior's), config.json (:attr:`refiner_config`, by the one writer
        :func:`ptg_refine._loading.write_config`) and checksums.json."""
        from .integrity import write_checksums

        save_file({k: v.detach().contiguous() for k, v in self.net.state_dict().items()},
                  str(Path(save_directory) / WEIGHTS_NAME), metadata={"format": "pt"})
        umask = os.umask(0)  # safetensors creates the file 0600; give it the usual permissions
        os.umask(umask)
        os.chmod(Path(save_directory) / WEIGHTS_NAME, 0o666 & ~umask)
        write_config(save_directory, getattr(self, "_config_to_save", None) or self.config)
        write_checksums(save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load R from a source (:func:`ptg_refine._sources.resolve_source`): ``"hf-hub:user/name"`` (a Hugging
        Face Hub repo), ``"local-dir:PATH"`` or an existing folder, a checkpoint shipped in the package
        (``list_pretrained()``), or a bare ``"user/name"`` hub repo id when no local folder could be meant; or a
        :class:`ptg_refine._loading.Checkpoint` already opened. F (``restorer=``) and G are not stored: pass F, and
        G is rebuilt from the config's prior spec unless ``prior=`` is given. Other keyword arguments replace the
        config's settings; ``revision``, ``token``, ``cache_dir``, ``local_files_only`` and ``force_download``
        reach the hub, ``map_location`` and ``strict`` the weights."""
        checkpoint = pretrained_model_name_or_path
        if not isinstance(checkpoint, Checkpoint):
            checkpoint = open_checkpoint(checkpoint, fields(RefinerConfig),
                                         **{k: kwargs[k] for k in HUB_OPTIONS if k in kwargs})
        for k in HUB_OPTIONS:
            kwargs.pop(k, None)
        map_location, strict = kwargs.pop("map_location", "cpu"), kwargs.pop("strict", True)
        trained_for, given = checkpoint.config.get("restorer"), kwargs.get("restorer")
        _warn_other_restorer(checkpoint.given, trained_for, given)
        model = cls._build_and_load(checkpoint, {**checkpoint.config, **kwargs}, map_location, strict)
        if trained_for and given is not None:  # config.json keeps the F that R was trained for
            model.refiner_config.restorer = trained_for
        return model

    @classmethod
    def _build_and_load(cls, checkpoint: Checkpoint, settings: dict, map_location, strict: bool) -> "PTGRefiner":
        weights = checkpoint.weights
        prior = settings.get("prior")
        if (settings.get("prior_pretrained", DEFAULT) is None and settings.get("prior_seed") is None
                and isinstance(prior, str) and not prior.startswith("none")):
            raise ValueError(f"{checkpoint.given} was trained with a randomly initialised {prior!r} prior whose seed "
                             "was not recorded, so its G cannot be rebuilt; pass the same prior module as prior=..., "
                             "or retrain with a seed (ptg-refine train --prior-random records it)")
        # a config.json written before R_d's ``upsample`` setting existed describes the PixelShuffle decoder
        settings.setdefault("upsample", LEGACY_UPSAMPLE)
        # ... and one written before ``prior_layers`` existed, a network with prior layers (used or not)
        settings.setdefault("prior_layers", True)
        model = cls(**settings)
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
