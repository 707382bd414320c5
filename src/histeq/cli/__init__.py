"""The ``histeq`` command line.

    histeq equalize|clahe|match|specify INPUT... [-o OUT | --suffix S | --in-place] [options]
    histeq equalize IN OUT [options]     one file to one file
    histeq report IN [-o FIG] [--mask M] the image next to its equalization, with histograms
    histeq demo [-o DIR]                 run on the bundled sample, write a figure

Inputs are files, folders (``-r``: with their subfolders) or glob patterns.
Exit codes: 0 success, 1 some file could not be processed (the others were),
2 usage error (bad options: nothing was touched), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM).  Outputs are written atomically; an input is
overwritten only with ``--in-place``, an existing output only with ``--overwrite``.  Heavy imports (NumPy, the core,
Pillow, matplotlib) happen only once a command runs, so that ``--help`` and
start-up stay fast.
"""

from ._main import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main

__all__ = ["main", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED"]
