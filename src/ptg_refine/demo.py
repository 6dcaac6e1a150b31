"""``ptg-refine demo``: try the shipped refiners in a web browser (Gradio; ``pip install "ptg-refine[demo]"``).

Upload a photo or pick a bundled one, choose the refiner and the exposure, and compare before / after with a
slider, beside F alone; the page shows the time taken and offers the result as a PNG, which is exactly what
``PTGRefiner.enhance()`` (and ``ptg-refine enhance``) gives for the same file and settings. It runs offline: it
serves on 127.0.0.1 unless told otherwise, with Gradio's analytics off and a theme without web fonts, and never
opens a share link.

    ptg-refine demo                        # http://127.0.0.1:7860
    python -m ptg_refine.demo --port 8080

As the ``app.py`` of a Hugging Face Space (Gradio SDK): the repository's ``app.py`` builds this demo and calls
:func:`launch`, which listens where the Space asks (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

# before gradio is imported: no usage statistics, no version check, no telemetry of the hub client
_OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples_data"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860
DEFAULT_EXPOSURE = "as trained"  # the refiner's own setting (config.json), as ptg-refine enhance uses it
EXPOSURE_CHOICES = (DEFAULT_EXPOSURE, "scene", "restorer", "refiner")
TILE_ABOVE_PIXELS = 4_000_000  # larger photos: R in 512-px tiles (the untiled result up to float rounding)
TILE = 512
IMAGE_KINDS = "a photo file (PNG, JPEG, WebP, TIFF or BMP)"
INSTALL_HINT = 'ptg-refine demo needs Gradio: pip install "ptg-refine[demo]"'


def _import_gradio():
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import gradio as gr
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    return gr


def example_photos() -> list[Path]:
    """The photos bundled with the package (``ptg-refine enhance --examples``)."""
    from .data.io import list_images

    return sorted(list_images(EXAMPLES_DIR))


class Refiners:
    """Shipped refiners loaded once each, on first use (thread-safe: Gradio runs requests in threads)."""

    def __init__(self, device: str | None = None):
        self.device = device
        self._loaded: dict = {}
        self._lock = threading.Lock()

    def __call__(self, name: str):
        with self._lock:
            if name not in self._loaded:
                from .refiner import PTGRefiner

                refiner = PTGRefiner.from_pretrained(name)
                self._loaded[name] = refiner.to(self.device) if self.device else refiner
            return self._loaded[name]


def parse_demo_exposure(text) -> str | float | None:
    """The exposure field: ``"as trained"`` (None: the refiner's own), a mode, or a target mean luminance."""
    from .exposure import parse_exposure

    text = str(text if text is not None else DEFAULT_EXPOSURE).strip()
    if text in ("", DEFAULT_EXPOSURE):
        return None
    try:
        return parse_exposure(text)
    except ValueError as e:
        raise ValueError(f"exposure {text!r}: expected {', '.join(EXPOSURE_CHOICES)} or a target mean luminance "
                         "in (0, 1) such as 0.45") from e


def _upload_path_and_name(image) -> tuple[str, str]:
    """(file path, name the user knows) of the image input's raw value (the event runs with preprocess=False,
    so that a non-image reaches :func:`enhance_file` and is refused with a clear message)."""
    if isinstance(image, dict):
        path = image.get("path")
        return path, image.get("orig_name") or (os.path.basename(path) if path else "")
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image), os.path.basename(image)
    path = getattr(image, "path", None)
    return path, getattr(image, "orig_name", None) or (os.path.basename(path) if path else "")


def enhance_file(refiners: Refiners, path: str, name: str, refiner_name: str, exposure, out_dir: Path,
                 progress=None) -> dict:
    """Enhance the photo at ``path`` (shown to the user as ``name``) with shipped refiner ``refiner_name``.

    Returns ``before`` / ``restored`` (F alone) / ``after`` PIL images, the PNG ``file`` of ``after`` (in a new
    folder under ``out_dir``) and ``seconds`` (F + R). Raises ValueError with one line naming the file when it is
    not an image. The result is ``PTGRefiner.enhance(path, exposure=...)``'s (computed with F's output reused)."""
    from PIL import Image

    from ._image_input import as_batch
    from ._device import module_device
    from ._pretrained import is_pretrained, unknown_pretrained_message
    from .data.io import read_uint8_alpha

    step = progress or (lambda *a, **k: None)
    if not path:
        raise ValueError("no photo: upload one or pick a bundled example")
    if not is_pretrained(refiner_name):
        raise ValueError(unknown_pretrained_message(refiner_name))
    exposure = parse_demo_exposure(exposure)
    step(0.05, desc=f"reading {name}")
    try:
        rgb, _ = read_uint8_alpha(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{name} is not an image ptg-refine can read: expected {IMAGE_KINDS} "
                         f"({str(e).split(': ', 1)[-1]})") from e
    step(0.15, desc=f"loading refiner {refiner_name}")
    refiner = refiners(refiner_name)
    batch, back = as_batch(path, module_device(refiner))
    batch = batch.to(refiner.weights_dtype)
    h, w = batch.shape[-2:]
    tile = TILE if h * w > TILE_ABOVE_PIXELS else None
    step(0.3, desc=f"F ({refiner.config['restorer']}) on {w}x{h}")
    t0 = time.perf_counter()
    restored = refiner.restore(batch)
    step(0.5, desc=f"R on {w}x{h}" + (f" in {TILE}-px tiles" if tile else ""))
    out = refiner.enhance(batch, restored=restored, exposure=exposure, tile=tile)
    seconds = time.perf_counter() - t0
    step(0.9, desc="saving the PNG")
    after = back(out)
    folder = Path(tempfile.mkdtemp(prefix="result-", dir=out_dir))
    file = folder / f"{Path(name).stem or 'photo'}_{refiner_name}.png"
    after.save(file)
    restored_image = back(restored.clamp(0, 1))
    before = Image.fromarray(rgb)
    return {"before": before, "restored": restored_image, "after": after, "file": file, "seconds": seconds,
            "size": (w, h), "tiled": tile is not None, "exposure": exposure if exposure is not None
            else refiner.exposure}


def build_demo(refiner_names: list[str] | None = None, device: str | None = None, out_dir=None):
    """The demo as a ``gradio.Blocks`` (not launched): :func:`launch` serves it, or mount it in your own app.

    refiner_names: the refiners offered (default: every shipped one, the default refiner first); device: where
    they run (default: CPU); out_dir: where result PNGs are written (default: a temporary folder removed when
    the process exits)."""
    gr = _import_gradio()
    from ._pretrained import default_pretrained, get_pretrained_config, list_pretrained

    default = default_pretrained()
    names = list(refiner_names) if refiner_names else [default] + [n for n in list_pretrained() if n != default]
    refiners = Refiners(device)
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="ptg-refine-demo-"))
        import atexit

        atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    examples = [str(p) for p in example_photos()]

    def describe(name):
        cfg = get_pretrained_config(name)
        return (f"**{name}**: F = `{cfg.restorer}`, exposure `{cfg.exposure}`. "
                f"{cfg.description.split(', trained on')[0].strip()}; trained on {'; then '.join(cfg.trained_on)}.")

    def run_one(image, refiner_name, exposure, progress=gr.Progress()):
        path, name = _upload_path_and_name(image)
        try:
            res = enhance_file(refiners, path, name, refiner_name, exposure, out_dir, progress)
        except ValueError as e:
            raise gr.Error(str(e), print_exception=False) from e
        w, h = res["size"]
        exposure_text = res["exposure"] if isinstance(res["exposure"], str) else f"{res['exposure']:g}"
        timing = (f"**{res['seconds']:.2f} s** for F + R on {w}×{h} ({refiner_name}, exposure {exposure_text}"
                  f"{f', R in {TILE}-px tiles' if res['tiled'] else ''}); result: `{res['file'].name}`")
        return ((res["before"], res["after"]), res["restored"], timing,
                gr.DownloadButton(value=str(res["file"]), label=f"Download {res['file'].name}", interactive=True))

    with gr.Blocks(title="ptg-refine demo", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown("# ptg-refine: refine a low-light enhancer on your photo\n"
                    "Upload a dark photo (or pick a bundled one below), choose a refiner, and drag the slider: "
                    "input | F + R. F alone is on the right. Everything runs on this machine.")
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(type="filepath", label="Your photo", sources=["upload", "clipboard"],
                                 elem_id="photo", height=300, buttons=["fullscreen"])
                gr.Examples(examples=examples, inputs=image, label="Bundled photos (LOL, research use)")
                refiner_box = gr.Dropdown(names, value=names[0], label="Refiner", elem_id="refiner")
                about = gr.Markdown(describe(names[0]))
                exposure_box = gr.Dropdown(list(EXPOSURE_CHOICES), value=DEFAULT_EXPOSURE, allow_custom_value=True,
                                           label="Exposure", elem_id="exposure",
                                           info="as trained: the refiner's own; scene: fitted to the photo; "
                                                "restorer: F's brightness; refiner: R's own; or a mean such as 0.45")
                go = gr.Button("Enhance", variant="primary", elem_id="enhance")
            with gr.Column(scale=2):
                slider = gr.ImageSlider(label="Input | F + R (drag)", type="pil", format="png", elem_id="slider",
                                        interactive=False, max_height=600)
                with gr.Row():
                    restored = gr.Image(label="F alone", type="pil", format="png", interactive=False,
                                        elem_id="restored", height=260, buttons=["download", "fullscreen"])
                    with gr.Column():
                        timing = gr.Markdown("", elem_id="timing")
                        download = gr.DownloadButton("Download the result", interactive=False, elem_id="download")
        refiner_box.change(describe, refiner_box, about)
        # preprocess=False: the raw upload reaches run_one, which refuses a non-image in one line (Gradio has
        # already checked that an uploaded path lies in its upload folder / cache: Blocks.preprocess_data)
        go.click(run_one, [image, refiner_box, exposure_box], [slider, restored, timing, download],
                 preprocess=False, concurrency_limit=1)
    return demo


def launch(demo, host: str | None = None, port: int | None = None, block: bool = True, **kwargs):
    """Serve ``demo`` offline: on ``host`` (None: ``GRADIO_SERVER_NAME``, else 127.0.0.1), no share link, no web
    fonts, the bundled photos allowed. ``block=False`` returns at once (call ``demo.close()`` to stop)."""
    gr = _import_gradio()
    host = host or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])  # system fonts: no request to a font CDN
    return demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block,
                       allowed_paths=[str(EXAMPLES_DIR)], theme=theme, ssr_mode=False, show_error=True,
                       footer_links=[], **kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``ptg-refine demo`` (and ``python -m ptg_refine.demo``)."""
    parser.add_argument("--host", default=None,
                        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only; 0.0.0.0: every "
                             "interface, e.g. in a container)")
    parser.add_argument("--port", type=int, default=None,
                        help=f"port (default: {DEFAULT_PORT}, or the next free one)")
    parser.add_argument("--refiner", action="append", default=None, metavar="NAME",
                        help="a shipped refiner to offer (repeat for several; default: all)")
    parser.add_argument("--device", default=None, help="where the refiners run (default: cpu), e.g. cuda")
    return parser


def run(args: argparse.Namespace) -> int:
    """Start the demo as ``args`` say and serve until interrupted; returns the exit status (2: bad arguments)."""
    import sys

    from ._pretrained import list_pretrained, unknown_pretrained_message

    shipped = list_pretrained()
    for name in args.refiner or []:
        if name not in shipped:
            print(f"error: --refiner {unknown_pretrained_message(name)}", file=sys.stderr)
            return 2
    try:
        demo = build_demo(args.refiner, device=args.device)
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    port = args.port
    if port is None and "GRADIO_SERVER_PORT" not in os.environ:
        port = _free_port_from(DEFAULT_PORT, args.host or DEFAULT_HOST)
    print(f"ptg-refine demo: open http://{args.host or DEFAULT_HOST}:{port or os.environ['GRADIO_SERVER_PORT']} "
          "(Ctrl+C to stop)", flush=True)
    launch(demo, host=args.host, port=port, quiet=True)
    return 0


def _free_port_from(start: int, host: str, tries: int = 100) -> int:
    import socket

    for port in range(start, start + tries):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {start}-{start + tries - 1} on {host}; pass --port")


def main(argv=None) -> int:
    from ._inference_precision import set_passive_wait

    set_passive_wait()  # before torch loads (as the CLI does)
    from .cli.demo import HELP

    parser = argparse.ArgumentParser(prog="python -m ptg_refine.demo", description=HELP)
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
