"""``python -m ptg_refine.cli``: the ``ptg-refine`` command."""
import sys

from . import main

sys.exit(main())
