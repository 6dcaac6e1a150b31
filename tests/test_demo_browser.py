"""`ptg-refine demo` in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run) driven by
Playwright uploads a bundled photo, waits for the result, downloads it and checks it is exactly
``PTGRefiner.enhance()`` of the same file (a PNG: lossless, so pixel for pixel); a non-image is refused with a
message naming it; the page asks for nothing outside 127.0.0.1. Skips only where gradio, playwright or a Chromium
binary cannot be found (``PTG_CHROMIUM`` names another binary). ``PTG_WRITE_SCREENSHOT=1`` also writes the
screenshot to docs/images/demo.png (README's picture)."""
from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT

gr = pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[dev]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")


def _chromium() -> str | None:
    for name in (os.environ.get("PTG_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


CHROMIUM = _chromium()
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH (apt-get install chromium, "
                                                          "as .ci/run does, or set PTG_CHROMIUM)"),
              pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]  # gradio's own pandas deprecations
PHOTO = REPO_ROOT / "src" / "ptg_refine" / "examples_data" / "lol_22.png"
SCREENSHOT = REPO_ROOT / "docs" / "images" / "demo.png"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from ptg_refine.demo import build_demo, launch

    demo = build_demo(out_dir=tmp_path_factory.mktemp("demo-out"))
    port = _free_port()
    launch(demo, host="127.0.0.1", port=port, block=False, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.outside = []  # every request the page made to another host (it must make none)

        def only_local(route):
            if urlparse(route.request.url).hostname in LOCAL_HOSTS:
                route.continue_()
            else:
                page.outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(server, wait_until="networkidle")
        try:
            yield page
        finally:
            browser.close()


def test_demo_enhances_an_uploaded_photo_like_enhance(page, tmp_path):
    from ptg_refine import PTGRefiner

    t0 = time.perf_counter()
    page.locator("#photo input[type=file]").set_input_files(str(PHOTO))
    page.locator("#photo img").first.wait_for(state="visible", timeout=30_000)
    page.locator("#enhance").click()
    timing = page.locator("#timing")
    timing.get_by_text("s for F + R on 600×400 (sci-none, exposure scene)").wait_for(timeout=120_000)
    assert "lol_22_sci-none.png" in timing.inner_text()
    # the slider shows two images (before, after) and F alone is shown beside it
    page.locator("#slider img").nth(1).wait_for(state="visible", timeout=30_000)
    page.locator("#restored img").first.wait_for(state="visible", timeout=30_000)
    with page.expect_download(timeout=30_000) as info:
        page.locator("#download").click()
    download = info.value
    assert download.suggested_filename == "lol_22_sci-none.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    seconds = time.perf_counter() - t0

    got = np.asarray(Image.open(saved))
    expected = np.asarray(PTGRefiner.from_pretrained("sci-none").enhance(str(PHOTO)))
    assert got.dtype == np.uint8 and got.shape == expected.shape == (400, 600, 3)
    # PNG is lossless and the demo calls enhance()'s own code on the uploaded bytes: the same pixels
    assert np.array_equal(got, expected), f"max difference {np.abs(got.astype(int) - expected).max()}"

    shot = tmp_path / "demo.png"
    page.screenshot(path=str(shot), full_page=True)
    picture = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert picture.shape[1] == 1280 and picture.std() > 10  # a rendered page, not a blank one
    if os.environ.get("PTG_WRITE_SCREENSHOT") == "1":  # README's picture, in 256 colours (a tenth of the bytes)
        Image.open(shot).convert("RGB").quantize(256).save(SCREENSHOT, optimize=True)
    print(f"upload -> download in the browser: {seconds:.1f} s")
    assert page.outside == []


def _choose(page, field: str, option: str):
    page.locator(f"#{field} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_demo_with_another_refiner_and_exposure(page, tmp_path):
    """The refiner and exposure chosen on the page are the ones used (the photo of the previous test is still
    loaded)."""
    from ptg_refine import PTGRefiner

    _choose(page, "refiner", "sci-lol")
    page.get_by_text("sci-lol: F = sci, exposure refiner.").first.wait_for(timeout=30_000)
    _choose(page, "exposure", "restorer")
    page.locator("#enhance").click()
    page.locator("#timing").get_by_text("(sci-lol, exposure restorer)").wait_for(timeout=120_000)
    with page.expect_download(timeout=30_000) as info:
        page.locator("#download").click()
    assert info.value.suggested_filename == "lol_22_sci-lol.png"
    info.value.save_as(tmp_path / "out.png")
    expected = PTGRefiner.from_pretrained("sci-lol").enhance(str(PHOTO), exposure="restorer")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), np.asarray(expected))
    assert page.outside == []


def test_demo_refuses_a_non_image_naming_it(page, tmp_path):
    # a file that is not an image by its name: the upload field refuses it at once
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    page.locator("#photo input[type=file]").set_input_files(str(notes))
    page.get_by_text("Invalid file type: notes.txt. Only image/* allowed.").first.wait_for(timeout=30_000)
    # a file named like an image that is not one: the demo refuses it in one line naming it
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"this is text, not a JPEG\n" * 10)
    page.locator("#photo input[type=file]").set_input_files(str(fake))
    page.locator("#enhance").click()
    page.get_by_text("holiday.jpg is not an image ptg-refine can read: expected a photo file (PNG, JPEG, WebP, "
                     "TIFF or BMP)").first.wait_for(timeout=60_000)
    assert page.outside == []
