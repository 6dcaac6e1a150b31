"""SGZ: semantic-guided zero-shot low-light enhancement.

S. Zheng, G. Gupta. "Semantic-Guided Zero-Shot Learning for Low-Light Image/Video Enhancement."
WACV 2022 (arXiv 2110.00970). Written from ``shared/specs/sgz.md``.
"""

from __future__ import annotations

from .zero_dce_pp import ZeroDCEPP


class SGZ(ZeroDCEPP):
    """The SGZ inference network is architecturally identical to Zero-DCE++ (same layers, keys and
    forward, downscale factor 12); only the trained weights differ, because SGZ adds a semantic
    segmentation loss during training. Arbitrary sizes are handled as in :class:`ZeroDCEPP`
    (bottom/right padding to a multiple of 12, curve map cropped back).
    """
