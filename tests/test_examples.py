import importlib.util

from conftest import REPO_ROOT


def test_wrap_your_model_example_improves_on_f(tmp_path):
    spec = importlib.util.spec_from_file_location("wrap_example", REPO_ROOT / "examples/wrap_your_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    f_loss, fr_loss = module.main(steps=15, out_dir=str(tmp_path / "ckpt"))
    assert fr_loss < f_loss
    assert (tmp_path / "ckpt/model.safetensors").is_file()
