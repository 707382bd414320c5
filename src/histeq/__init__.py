"""histeq: histogram equalization for every dtype, batch, mask and colour.

A C++17 core (histograms, tables, colour transforms; multi-threaded, GIL
released) under a plain-Python API.  See ``help(histeq.equalize)``.
"""

from ._kernels import get_num_threads, set_num_threads
from .clahe import ClaheMapping, clahe, fit_clahe
from .equalize import equalize
from .histogram import cumulative_distribution, histogram
from .mapping import EqualizeMapping, fit_equalize
from .matching import fit_match, fit_specify, match, specify

__all__ = [
    "equalize",
    "clahe",
    "match",
    "specify",
    "fit_equalize",
    "EqualizeMapping",
    "fit_match",
    "fit_specify",
    "fit_clahe",
    "ClaheMapping",
    "histogram",
    "cumulative_distribution",
    "set_num_threads",
    "get_num_threads",
]
__version__ = "0.1.0"
