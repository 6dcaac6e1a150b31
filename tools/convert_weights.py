"""Convert the authors' redistributable checkpoints (MIT / Apache-2.0) into the bundled safetensors.

    python tools/convert_weights.py --shared ../shared

A maintainer's tool (run from the repository root with ptg-refine installed); it is not part of the wheel.

For every bundled registry entry: check the original file's SHA-256 against ``shared/weights/SHA256SUMS``,
load it into our module with ``strict=True`` (SCI: test-time keys only, alias keys dropped), zero the
subnormal weights and save the module's state_dict with provenance in the file metadata.
CC BY-NC weights (Zero-DCE, Zero-DCE++) are never written.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from safetensors.torch import save_file

from ptg_refine.diagnostics import flush_subnormals_
from ptg_refine.restorers._common import read_state_dict
from ptg_refine.restorers.registry import _REGISTRY, WEIGHTS_DIR


def _checksums(weights_dir: Path) -> dict[str, str]:
    lines = (weights_dir / "SHA256SUMS").read_text().split("\n")
    return {path.removeprefix("./"): digest for digest, path in (ln.split() for ln in lines if ln.strip())}


def convert(shared: Path, out: Path = WEIGHTS_DIR) -> list[Path]:
    weights_dir = shared / "weights"
    sums = _checksums(weights_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    configs = {cfg.weights: cfg for cfg in _REGISTRY.values() if cfg.bundled}  # aliases share a file
    for file, cfg in sorted(configs.items()):
        name, target = Path(file).stem, out / file
        src = weights_dir / cfg.original
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        if sums.get(cfg.original) != digest:
            raise ValueError(f"{src}: SHA-256 {digest} does not match SHA256SUMS")
        model = cfg.builder()
        model.load_state_dict(model.convert_state_dict(read_state_dict(src)), strict=True)
        flushed = flush_subnormals_(model)
        changes = f"converted to safetensors; {flushed} subnormal float32 values set to 0"
        if name.startswith("sci"):
            changes += "; training-only calibrate.* and alias enhance.blocks.0.* keys dropped"
        meta = {"name": name, "source": cfg.source, "source_sha256": digest, "licence": cfg.licence,
                "changes": changes}
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, target, metadata=meta)
        target.chmod(0o644)
        written.append(target)
        print(f"{name:14s} {src.relative_to(shared)} -> {target.name} ({flushed} subnormals zeroed)")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, required=True, help="folder holding weights/ (e.g. ../shared)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="output folder (default: the package's)")
    args = parser.parse_args(argv)
    convert(args.shared, args.out)


if __name__ == "__main__":
    main()
