"""``python -m ptg_refine.cli``: the ``ptg-refine`` command."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
