"""Hub pushes offline, strip labels, callers' module flags, CLIP offline errors, -o on every command, help texts."""
from __future__ import annotations

import time

import pytest
import torch
from helpers import TinyPrior, TinyRestorer, write_images

from ptg_refine import PTGRefiner, create_prior
from ptg_refine._hub import HubUnavailableError
from ptg_refine.cli import build_parser, error_message, main


# -- push_to_hub offline: one line like the other hub errors -------------------------------------------------
def _http_client():
    """The HTTP client huggingface_hub uses (httpx, or its fork httpx2 in recent versions)."""
    for name in ("httpx2", "httpx"):
        try:
            return __import__(name)
        except ImportError:
            continue
    pytest.skip("neither httpx nor httpx2 is installed")


def test_push_to_hub_offline_is_one_clear_error(monkeypatch):
    from huggingface_hub import hub_mixin

    httpx = _http_client()

    class OfflineApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")

        def upload_folder(self, **kwargs):  # pragma: no cover  (never reached)
            raise AssertionError

    monkeypatch.setattr(hub_mixin, "HfApi", OfflineApi)
    refiner = PTGRefiner(restorer=torch.nn.Identity(), prior="none:8", width=8, num_blocks=1)
    with pytest.raises(HubUnavailableError) as info:
        refiner.push_to_hub("me/tiny")
    msg = error_message(info.value)
    assert "\n" not in msg and msg.startswith("could not upload the refiner to hub repo 'me/tiny'")
    assert "ConnectError" in msg and "save_pretrained" in msg
    assert isinstance(info.value, ConnectionError)  # callers catching ConnectionError still do


# -- comparison strips name the restorer and the refiner -----------------------------------------------------
@pytest.fixture(scope="module")
def refiner_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run") / "final"
    PTGRefiner(restorer="sci", prior="none:8", width=8, num_blocks=1).save_pretrained(d)
    return d


def test_strip_labels_name_restorer_and_refiner(tmp_path, refiner_dir, monkeypatch):
    import ptg_refine.data.io as io
    import ptg_refine.evaluate as evaluate

    seen = []

    def spy(original):
        def strip(images, labels, *a, **k):
            seen.append(list(labels))
            return original(images, labels, *a, **k)
        return strip

    monkeypatch.setattr(io, "comparison_strip", spy(io.comparison_strip))
    monkeypatch.setattr(evaluate, "comparison_strip", spy(evaluate.comparison_strip))
    write_images(tmp_path / "pairs" / "low", ["a.png"], size=(32, 40))
    write_images(tmp_path / "pairs" / "high", ["a.png"], size=(32, 40), seed=1)
    run = refiner_dir.parent.name
    assert main(["enhance", tmp_path / "pairs" / "low", "-o", tmp_path / "out", "--refiner", refiner_dir,
                 "--side-by-side", "--no-progress"]) == 0
    assert seen[-1] == ["input", "F: sci", f"F+R: {run}/final"]
    assert main(["eval", "--pairs", tmp_path / "pairs", "--refiner", refiner_dir, "-o", tmp_path / "ev"]) == 0
    assert seen[-1] == ["input", "F: sci", f"F+R: {run}/final", "target"]
    assert main(["eval", "--pairs", tmp_path / "pairs", "--restorer", "gamma", "-o", tmp_path / "ev2"]) == 0
    assert seen[-1] == ["input", "F: gamma", "target"]


# -- the caller's model is not changed behind their back -----------------------------------------------------
def test_building_a_refiner_leaves_the_callers_flags():
    f, g = TinyRestorer(), TinyPrior()
    f.conv.bias.requires_grad_(False)  # the caller's own mix of flags
    flags = {n: p.requires_grad for m in (f, g) for n, p in m.named_parameters(prefix=type(m).__name__)}
    refiner = PTGRefiner(restorer=f, prior=g, width=8, num_blocks=1)
    callable_prior = PTGRefiner(restorer=f, prior=lambda x: x.mean(dim=(2, 3)), prior_dim=3, width=8, num_blocks=1)
    assert {n: p.requires_grad for m in (f, g) for n, p in m.named_parameters(prefix=type(m).__name__)} == flags
    assert not f.training and not g.training  # eval mode: the one change, documented
    for r in (refiner, callable_prior):
        r(torch.rand(2, 3, 32, 32)).mean().backward()
    assert all(p.grad is None for m in (f, g) for p in m.parameters())


def test_a_callers_module_prior_keeps_its_flags():
    from ptg_refine.priors.base import CallablePrior

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(1))
    prior = CallablePrior(net)
    assert prior.feature_dim == 5 and all(p.requires_grad for p in net.parameters())


# -- the CLIP offline error names the file ------------------------------------------------------------------
def test_clip_offline_error_names_the_weights_file(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import open_clip  # noqa: F401  (imported outside the timing)

    start = time.perf_counter()
    with pytest.raises(HubUnavailableError) as info:
        create_prior("clip")
    assert time.perf_counter() - start < 5
    url = "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/"
    msg = str(info.value)
    assert f"The weights file: {url}open_clip_model.safetensors or {url}open_clip_pytorch_model.bin." in msg
    cli = error_message(info.value)
    assert "open_clip_model.safetensors" in cli and "--prior-weights FILE" in cli and "\n" not in cli


# -- the same -o/--out on every command; help and messages that read right ------------------------------------
@pytest.mark.parametrize("argv", [["synth", "--clean", "c"], ["train", "--pairs", "p", "--restorer", "sci"],
                                  ["eval", "--pairs", "p", "--restorer", "sci"], ["enhance", "x.png"]])
def test_every_command_takes_o(argv):
    args = build_parser(only=argv[0]).parse_args([*argv, "-o", "somewhere"])
    assert args.out == "somewhere"
    assert build_parser(only=argv[0]).parse_args([*argv, "--out", "there"]).out == "there"


def test_no_flips_help_reads_right(capsys):
    with pytest.raises(SystemExit):
        main(["train", "-h"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--no-flips turn off the random flips of the training crops (flips are on by default)" in help_text
    assert "(default: True)" not in help_text


def test_synth_message_without_max_side(tmp_path, capsys):
    write_images(tmp_path / "clean", ["a.png"], size=(40, 48))
    assert main(["synth", "--clean", tmp_path / "clean", "-o", tmp_path / "p1", "--min-size", "16",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "max side" not in out and "None" not in out and "wrote 1 SYNTHETIC pairs" in out
    assert main(["synth", "--clean", tmp_path / "clean", "-o", tmp_path / "p2", "--min-size", "16", "--max-side",
                 "32", "--no-progress"]) == 0
    assert "1 image(s) downscaled to max side 32" in capsys.readouterr().out
