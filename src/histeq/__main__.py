"""``python -m histeq``: the command line, as the ``histeq`` script."""

import sys

from .cli import main

sys.exit(main())
