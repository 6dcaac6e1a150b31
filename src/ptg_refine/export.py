"""Export the refinement network R to ONNX, for deployment without PyTorch.

Only R is exported (F and G are separate models, and the prior is one vector per image): inputs
``low`` and ``restored`` (B,3,H,W) in [0,1] and ``prior_features`` (B,D); output ``output`` (B,3,H,W),
Eq. 1 of PTG-RM (Xu et al., CVPR 2024), not clamped. Batch, height and width are dynamic (H, W >= 16,
any value, not only multiples of 4). Uses the torch.export-based exporter (``torch.onnx.export(...,
dynamo=True)``, needs ``onnxscript``: ``pip install 'ptg-refine[onnx]'``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .modules import RefinementNetwork

INPUT_NAMES = ("low", "restored", "prior_features")
OUTPUT_NAMES = ("output",)


def _network(model) -> RefinementNetwork:
    net = getattr(model, "net", model)
    if not isinstance(net, RefinementNetwork):
        raise TypeError("export_onnx needs a PTGRefiner or a RefinementNetwork, got "
                        f"{type(model).__name__}")
    if net.dense_prior is not None:
        raise NotImplementedError("ONNX export covers R with the global prior path only; this R has a dense prior "
                                  "path (prior_mode with 'dense'): run it in PyTorch, or train a prior_mode='global' R")
    return net


def export_onnx(model: nn.Module, path: str | os.PathLike, example_size: tuple[int, int] = (64, 64),
                opset: int = 18, max_size: int = 16384) -> Path:
    """Write R of ``model`` (a :class:`~ptg_refine.PTGRefiner` or a :class:`~ptg_refine.RefinementNetwork`)
    to ``path`` as one self-contained ONNX file and return the path.

    example_size: (H, W) of the tracing example (any size >= 16; the graph works for other sizes).
    The exported graph is checked to have symbolic batch/height/width; if the exporter had to freeze
    them, a RuntimeError says so instead of writing a model that only accepts one size.

    >>> export_onnx(refiner, "refiner.onnx")  # doctest: +SKIP
    >>> import onnxruntime as ort; sess = ort.InferenceSession("refiner.onnx")  # doctest: +SKIP
    >>> out, = sess.run(None, {"low": low, "restored": restored, "prior_features": g})  # doctest: +SKIP
    """
    net = _network(model)
    if (not isinstance(example_size, (tuple, list)) or len(example_size) != 2
            or not all(isinstance(v, int) and v >= 16 for v in example_size)):
        raise ValueError(f"example_size must be (H, W) with ints >= 16, got {example_size!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError("ONNX export needs onnx and onnxscript: pip install 'ptg-refine[onnx]'") from e

    param = next(net.parameters())
    h, w = example_size
    gen = torch.Generator().manual_seed(0)
    # batch 2: torch.export treats a size-1 dimension as a constant, which would freeze the batch
    low = torch.rand(2, 3, h, w, generator=gen).to(param)
    restored = torch.rand(2, 3, h, w, generator=gen).to(param)
    g = torch.nn.functional.normalize(torch.randn(2, net.prior_dim, generator=gen), dim=1).to(param)
    batch = torch.export.Dim("batch", min=1, max=1024)
    height = torch.export.Dim("height", min=16, max=max_size)
    width = torch.export.Dim("width", min=16, max=max_size)
    dynamic = {"low": {0: batch, 2: height, 3: width}, "restored": {0: batch, 2: height, 3: width},
               "prior_features": {0: batch}}
    was_training = net.training
    net.eval()
    try:
        with warnings.catch_warnings():  # low and restored share their axes; torch notes it once per axis
            warnings.filterwarnings("ignore", message=".*shares the same shape constraints.*")
            torch.onnx.export(net, (low, restored, g), str(path), input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_shapes=dynamic, opset_version=opset,
                              dynamo=True, external_data=False, verbose=False)
    finally:
        net.train(was_training)
    _check_dynamic(path)
    return path


def _check_dynamic(path: Path) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        frozen = [i for i in ((0, 2, 3) if inp.name != "prior_features" else (0,)) if dims[i].dim_value]
        if frozen:
            raise RuntimeError(f"ONNX export froze dimension(s) {frozen} of input {inp.name!r} "
                               f"({[d.dim_value or d.dim_param for d in dims]}); the model would only accept "
                               f"one size. A non-exportable shape computation in R is the cause.")

