"""The artefact measures of ptg_refine.artefacts on made-up images with known answers."""
from __future__ import annotations

import pytest
import torch

from ptg_refine.artefacts import black_level, clipped_share, luminance, nyquist_share


def smooth_image(h=64, w=96, seed=0):
    """A smooth made-up photo: a few low-frequency waves per channel, in [0.2, 0.8]."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    chans = [0.5 + 0.15 * torch.sin(6.28 * (float(torch.rand((), generator=g)) * 3 * x + y))
             + 0.1 * torch.cos(6.28 * 2 * y) for _ in range(3)]
    return torch.stack(chans)[None]


def test_nyquist_share_sees_a_period_2_column_pattern():
    clean = smooth_image()
    grid = clean.clone()
    grid[..., ::2] += 0.02  # a faint 2-pixel column pattern, as R's PixelShuffle decoder left it
    base, patterned = float(nyquist_share(clean)[0]), float(nyquist_share(grid)[0])
    assert base < 0.05 and patterned > 0.5 and patterned > 10 * base
    rows = clean.clone()
    rows[..., ::2, :] += 0.02  # a period-2 pattern along y is not a column pattern: horizontal share unchanged
    assert float(nyquist_share(rows)[0]) == pytest.approx(base, rel=1e-3)
    assert float(nyquist_share(torch.full((1, 3, 8, 8), 0.4))[0]) == 0.0  # no horizontal variation at all


def test_nyquist_share_is_per_image_and_checks_shapes():
    batch = torch.cat([smooth_image(), smooth_image(seed=1)])
    batch[1, :, :, ::2] += 0.05
    shares = nyquist_share(batch)
    assert shares.shape == (2,) and shares[1] > 10 * shares[0]
    with pytest.raises(ValueError, match=r"expects \(B,3,H,W\) RGB"):
        nyquist_share(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="at least 4 pixels wide"):
        nyquist_share(torch.rand(1, 3, 8, 3))


def test_black_level_and_clipped_share():
    img = torch.full((1, 3, 10, 10), 0.5)
    img[..., 0, :] = 0.0                      # 10 % black pixels
    img[..., 1, :5] = 1.0                     # 5 % clipped pixels
    assert float(black_level(img)[0]) == 0.0  # the 1st percentile sits in the black row
    lifted = img.clone()
    lifted[..., 0, :] = torch.tensor([0.0, 0.3, 0.3]).view(3, 1)  # teal blacks
    assert float(black_level(lifted)[0]) == pytest.approx(0.7152 * 0.3 + 0.0722 * 0.3, abs=1e-6)
    assert float(clipped_share(img)[0]) == pytest.approx(0.05)
    assert float(clipped_share(img * 0.9)[0]) == 0.0
    assert torch.allclose(luminance(torch.ones(1, 3, 2, 2)), torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match=r"q must lie in \[0, 1\]"):
        black_level(img, q=2)
