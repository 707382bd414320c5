"""histeq: histogram equalization for every dtype, batch, mask and colour.

A C++17 core (histograms, tables, colour transforms; multi-threaded, GIL
released) under a plain-Python API.  See ``help(histeq.equalize)``.
"""

from histeq._clahe import clahe, fit_clahe
from histeq._dispatch import backend
from histeq._equalize import equalize, fit_equalize
from histeq._fitted.clahe import ClaheMapping
from histeq._fitted.equalize import EqualizeMapping
from histeq._histogram import cumulative_distribution, histogram
from histeq._kernels import get_num_threads, set_num_threads
from histeq._matching import fit_match, fit_specify, match, specify

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
    "backend",
]
__version__ = "0.1.0"
