"""Release tooling run from the repository root: ``python -m tools.ship NAME`` trains, evaluates and ships a bundled
refiner; ``python tools/convert_weights.py`` converts authors' checkpoints. Not installed with ``ptg_refine``."""
