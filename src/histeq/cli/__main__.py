"""``python -m histeq.cli``: the command line, as the ``histeq`` script."""

import sys

from . import main

sys.exit(main())
