"""The web demo (src/ptg_refine/demo.py) as the app of a Hugging Face Space (SDK: Gradio) or, from a checkout,
``python app.py``: README.md, "Try it in your browser". It listens on 127.0.0.1 unless GRADIO_SERVER_NAME says
otherwise (a Space sets it)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from ptg_refine.demo import build_demo, launch  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    launch(demo)
