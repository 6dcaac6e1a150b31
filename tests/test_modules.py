import pytest
import torch

from ptg_refine.modules import (PTGCSA, PTGSVE, Decoder, Encoder, RefinementNetwork, compose_output,
                                coordinate_grid, per_position_filter)
from ptg_refine.modules.coordinates import CoordinateEmbedding
from ptg_refine.modules.prior_embedding import conv_with_broadcast

from helpers import perturb_


def test_encoder_downsamples_by_four():
    f = Encoder(16)(torch.rand(2, 6, 32, 48))
    assert f.shape == (2, 16, 8, 12)


def test_per_position_filter_equals_naive_loop():
    b, c, h, w, k = 2, 3, 5, 6, 3
    x, kernels = torch.randn(b, c, h, w), torch.randn(b, c * k * k, h, w)
    out = per_position_filter(x, kernels, k)
    expected = torch.zeros_like(x)
    for n in range(b):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    acc = 0.0
                    for dy in range(k):
                        for dx in range(k):
                            yi = min(max(i + dy - 1, 0), h - 1)  # replicate padding
                            xj = min(max(j + dx - 1, 0), w - 1)
                            acc += x[n, ch, yi, xj] * kernels[n, ch * k * k + dy * k + dx, i, j]
                    expected[n, ch, i, j] = acc
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_per_position_filter_with_5x5_kernels_and_shape_error():
    x = torch.randn(1, 2, 7, 7)
    k = torch.zeros(1, 50, 7, 7)
    k[:, 12::25] = 1.0  # centre tap of a 5x5 kernel
    assert torch.equal(per_position_filter(x, k, 5), x)
    try:
        per_position_filter(x, torch.zeros(1, 9, 7, 7), 3)
    except ValueError as e:
        assert "(1, 18, 7, 7)" in str(e)
    else:
        raise AssertionError("wrong kernel shape accepted")


def test_sve_score_map_range_and_shapes():
    sve = PTGSVE(width=16, prior_dim=32, num_blocks=2)
    f_hat, m = sve(torch.randn(2, 16, 6, 7), torch.randn(2, 32))
    assert f_hat.shape == (2, 16, 6, 7) and m.shape == (2, 1, 6, 7)
    assert 0 <= m.min() and m.max() <= 1


class _Times(torch.nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return self.k * x


def test_sve_mixes_branches_with_m():
    """Eq. 3 with branches of known output: R_s(f) = 2f and R_l(f) = -f, so f̂ = M·2f + (1-M)·(-f) = (3M-1)·f.
    (Not a restatement with the module's own submodules.)"""
    sve = perturb_(PTGSVE(width=8, prior_dim=4, num_blocks=1), 0.5)
    sve.short_range, sve.long_range = _Times(2.0), torch.nn.Sequential(_Times(-1.0))
    f, g = torch.randn(1, 8, 6, 7), torch.randn(1, 4)
    f_hat, m = sve(f, g)
    assert m.std() > 1e-3  # M really varies over positions
    torch.testing.assert_close(f_hat, (3 * m - 1) * f)


def test_conv_with_broadcast_equals_conv_of_concatenation():
    """The folded prior channels give conv(cat([x, v broadcast, s])) at every position, borders included."""
    torch.manual_seed(0)
    for k, (h, w) in ((3, (5, 7)), (3, (1, 1)), (5, (6, 4))):
        conv = torch.nn.Conv2d(4 + 6 + 2, 5, k, padding=k // 2)
        x, v, s = torch.randn(3, 4, h, w), torch.randn(3, 6), torch.randn(1, 2, h, w).expand(3, -1, -1, -1)
        expected = conv(torch.cat([x, v[:, :, None, None].expand(-1, -1, h, w), s], dim=1))
        torch.testing.assert_close(conv_with_broadcast(conv, x, v, s), expected, rtol=1e-5, atol=1e-5)


def _perturbed_r(**kwargs):
    """R moved away from its init (at init the heads are zero and the output is F's, whatever g and position)."""
    torch.manual_seed(0)
    return perturb_(RefinementNetwork(prior_dim=16, width=8, num_blocks=2, prior_hidden=16, embed_dim=8, **kwargs),
                    0.1).eval()


def test_r_output_depends_on_the_prior_features():
    net = _perturbed_r()
    low = torch.rand(2, 3, 32, 40)
    restored = low.sqrt()
    g1, g2 = torch.nn.functional.normalize(torch.randn(2, 2, 16), dim=-1)
    with torch.no_grad():
        d1, d2 = net(low, restored, g1, return_details=True), net(low, restored, g2, return_details=True)
    assert (d1["output"] - d2["output"]).abs().mean() > 1e-4
    # through both prior-driven maps: M (PTG-SVE, Eq. 2) and M_c (PTG-CSA, Eq. 4)
    assert (d1["range_score"] - d2["range_score"]).abs().max() > 1e-4
    assert (d1["channel_attention"] - d2["channel_attention"]).abs().max() > 1e-4
    # and per image: the first image's output does not depend on the second image's g
    g3 = torch.stack([g1[0], g2[1]])
    with torch.no_grad():
        torch.testing.assert_close(net(low, restored, g3)[0], d1["output"][0])


def test_r_output_depends_on_position():
    """The coordinate embeddings S_m, S_c (Eq. 2, 5): the same crop placed elsewhere in a larger image gives
    another output."""
    net = _perturbed_r()
    low = torch.rand(1, 3, 32, 40)
    g = torch.nn.functional.normalize(torch.randn(1, 16), dim=1)
    with torch.no_grad():
        whole = net(low, low.sqrt(), g, return_details=True)
        top_left = net(low, low.sqrt(), g, position=(0, 0, 128, 160), return_details=True)
        bottom_right = net(low, low.sqrt(), g, position=(96, 120, 128, 160), return_details=True)
    for a, b in ((whole, top_left), (top_left, bottom_right)):
        assert (a["output"] - b["output"]).abs().mean() > 1e-5
        assert (a["range_score"] - b["range_score"]).abs().max() > 1e-4


def test_batched_positions_equal_per_sample_calls():
    """A (B,4) position tensor (one row per sample, full sizes differing per row) gives what B calls with one
    (top, left, H, W) tuple each give: outputs and every position-dependent map."""
    net = _perturbed_r()
    g = torch.Generator().manual_seed(0)
    low = torch.rand(3, 3, 32, 40, generator=g)
    prior = torch.nn.functional.normalize(torch.randn(3, 16, generator=g), dim=1)
    rows = torch.tensor([[0, 0, 32, 40], [96, 120, 128, 160], [4, 8, 40, 300]])
    with torch.no_grad():
        batched = net(low, low.sqrt(), prior, position=rows, return_details=True)
        single = [net(low[i:i + 1], low[i:i + 1].sqrt(), prior[i:i + 1], position=tuple(rows[i].tolist()),
                      return_details=True) for i in range(3)]
    for key in ("output", "range_score", "spatial_attention", "channel_attention"):
        torch.testing.assert_close(batched[key], torch.cat([d[key] for d in single]), rtol=1e-5, atol=1e-6)
    assert (single[0]["output"] - single[1]["output"]).abs().mean() > 1e-5  # the rows really differ
    grid = coordinate_grid(6, 7, rows, margin=1)
    assert grid.shape == (3, 2, 8, 9)
    for i in range(3):
        assert torch.equal(grid[i:i + 1], coordinate_grid(6, 7, tuple(rows[i].tolist()), margin=1))


def test_bad_position_tensors_give_one_line_errors():
    net = _perturbed_r()
    low, prior = torch.rand(2, 3, 16, 16), torch.randn(2, 16)
    cases = [(torch.zeros(2, 3, dtype=torch.long), r"shape \(B,4\).*got \(2, 3\)"),
             (torch.zeros(4, dtype=torch.long), r"shape \(B,4\)"),
             (torch.tensor([[0.0, 0, 16, 16]] * 2), "integer dtype.*torch.float32"),
             (torch.tensor([[0, 0, 16, 16]] * 3), "3 rows but low has batch size 2"),
             (torch.tensor([[0, 0, 16, 16], [2, 0, 32, 32]]), r"multiples of 4, got \(2, 0\) \(row 1 of"),
             (torch.tensor([[-4, 0, 16, 16], [0, 0, 16, 16]]), r"multiples of 4, got \(-4, 0\) \(row 0 of"),
             (torch.tensor([[0, 0, 16, 16], [8, 0, 20, 16]]),
              r"16x16 crop at \(8, 0\) does not fit in a 20x16 image \(row 1")]
    for position, message in cases:
        with pytest.raises(ValueError, match=message) as e:
            net(low, low, prior, position=position)
        assert "\n" not in str(e.value)


def test_csa_maps_range_and_shapes():
    csa = PTGCSA(width=16, prior_dim=32)
    f_bar, m_c, m_s = csa(torch.randn(2, 16, 6, 7), torch.randn(2, 32))
    assert f_bar.shape == (2, 16, 6, 7) and m_c.shape == (2, 16, 1, 1) and m_s.shape == (2, 1, 6, 7)
    for t in (m_c, m_s):
        assert 0 <= t.min() and t.max() <= 1


def test_decoder_starts_at_identity_heads():
    mask, residual = Decoder(16)(torch.randn(2, 16, 5, 6))
    assert mask.shape == residual.shape == (2, 3, 20, 24)
    assert torch.equal(mask, torch.ones_like(mask)) and torch.equal(residual, torch.zeros_like(residual))


def test_compose_output_is_eq1():
    low, restored, mask, residual = torch.rand(4, 1, 3, 8, 8).unbind(0)
    torch.testing.assert_close(compose_output(low, restored, 2 * mask, residual),
                               low + (restored - low) * 2 * mask + residual)


def test_coordinate_grid_full_image_spans_minus_one_to_one():
    grid = coordinate_grid(4, 8)
    assert grid.shape == (1, 2, 4, 8)
    xs, ys = grid[0, 0, 0], grid[0, 1, :, 0]
    torch.testing.assert_close(xs, torch.linspace(-1 + 1 / 8, 1 - 1 / 8, 8))
    torch.testing.assert_close(ys, torch.linspace(-1 + 1 / 4, 1 - 1 / 4, 4))


def test_coordinate_embedding_of_a_tile_equals_crop_of_full_embedding():
    emb = CoordinateEmbedding(8)
    full = emb(16, 20)
    tile = emb(6, 7, position=(4 * 5, 4 * 9, 64, 80))  # latent offset (5, 9) in a 64x80 image
    torch.testing.assert_close(tile, full[:, :, 5:11, 9:16])


def test_refinement_network_details_and_param_count():
    net = RefinementNetwork()
    assert sum(p.numel() for p in net.parameters()) == 658_844 <= 700_000
    # the PixelShuffle decoder: c->4c convolutions instead of c->c ones (2 x (16*64*9+64 - (16*16*9+16)))
    assert sum(p.numel() for p in RefinementNetwork(upsample="shuffle").parameters()) == 658_844 + 2 * 6960
    low = torch.rand(2, 3, 37, 53)
    d = net(low, low.sqrt(), torch.randn(2, 512), return_details=True)
    assert d["output"].shape == (2, 3, 37, 53)
    assert d["range_score"].shape == (2, 1, 10, 14) and d["spatial_attention"].shape == (2, 1, 10, 14)
    assert d["channel_attention"].shape == (2, 16, 1, 1)


def test_lite0_sized_refiner_fits_budget_with_projection():
    net = RefinementNetwork(prior_dim=1280, prior_proj_dim=128)
    assert sum(p.numel() for p in net.parameters()) <= 700_000


def _nyquist_share(x: torch.Tensor) -> float:
    """Power at the horizontal Nyquist frequency over the upper half of the spectrum (rows summed)."""
    y = x - x.mean(dim=-1, keepdim=True)
    p = torch.fft.rfft(y.double(), dim=-1).abs().pow(2).flatten(0, -2).sum(0)
    return float(p[-1] / p[(p.numel() - 1) // 2:].sum())


@pytest.mark.parametrize("upsample", ["bilinear", "shuffle"])
def test_decoder_starts_at_identity_heads(upsample):
    mask, residual = Decoder(16, upsample)(torch.randn(1, 16, 5, 6))
    assert mask.shape == residual.shape == (1, 3, 20, 24)
    assert torch.equal(mask, torch.ones_like(mask)) and torch.equal(residual, torch.zeros_like(residual))


def test_bilinear_decoder_has_no_pixel_phase_and_shuffle_has_one():
    """A constant latent: the bilinear R_d gives constant maps (no period-2 texture) whatever its weights; the
    PixelShuffle R_d with the same kind of weights gives each 2x2 phase its own value (the texture seen in trained
    refiners)."""
    torch.manual_seed(0)
    f = torch.full((1, 16, 6, 8), 0.3)
    shares = {}
    for upsample in ("bilinear", "shuffle"):
        dec = Decoder(16, upsample)
        for head in (dec.mask_head, dec.residual_head):  # trained-looking heads
            torch.nn.init.normal_(head.weight, std=0.1)
        with torch.no_grad():
            _, residual = dec(f)
        inner = residual[..., 8:-8, 8:-8]  # away from the zero padding of the borders
        shares[upsample] = (float(inner.std(dim=(-2, -1)).max()), _nyquist_share(inner[0]))  # spatial spread
    assert shares["bilinear"][0] < 1e-6
    assert shares["shuffle"][0] > 1e-3 and shares["shuffle"][1] > 0.3


def test_decoder_rejects_unknown_upsample():
    with pytest.raises(ValueError, match="upsample must be one of"):
        Decoder(16, "nearest")
