"""Small frozen networks used as F and G in the tests."""
import torch
from torch import nn

from ptg_refine.testing import perturb_  # noqa: F401  (re-exported for the tests)


class TinyRestorer(nn.Module):
    """A restorer with BatchNorm (running stats would drift if it were ever put in train mode)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return torch.sigmoid(self.bn(self.conv(x)) + 2 * x - 1)


class TinyPrior(nn.Module):
    """A prior with BatchNorm, 24-d features."""

    feature_dim = 24

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 24, 3, stride=4)
        self.bn = nn.BatchNorm2d(24)

    def forward(self, x):
        return self.bn(self.conv(x)).mean(dim=(2, 3))


def write_images(folder, names, size=(40, 48), seed=0, low=60, high=255):
    """Random 8-bit RGB images named ``names`` in ``folder`` (created)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in names:
        Image.fromarray(rng.integers(low, high, (*size, 3), dtype=np.uint8)).save(folder / n)


def dark_pairs(n=3, size=(20, 24), seed=0, prefix="p"):
    """``n`` in-memory pairs ``{prefix}{i}``: random uint8 targets in [40, 255) and low = 0.3 x target."""
    from ptg_refine.data import Pair

    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        high = torch.randint(40, 255, (3, *size), generator=g, dtype=torch.uint8)
        out.append(Pair(f"{prefix}{i}", (high.float() * 0.3).round().byte(), high))
    return out
