"""What a user's type checker sees of the public functions: mypy checks this file (``[tool.mypy] files``, run by
tests/package/test_lint.py); it is not a test module and runs nothing."""

from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import histeq

image: npt.NDArray[np.uint8] = np.zeros((4, 4), np.uint8)
assert_type(histeq.equalize(image), npt.NDArray[np.uint8])  # an ndarray in: the same ndarray type out
assert_type(histeq.clahe([[1, 2], [3, 4]]), np.ndarray)  # a sequence in: an ndarray out
assert_type(histeq.match([[1, 2], [3, 4]], image), np.ndarray)
equalized, ties = histeq.equalize(image, exact=True, return_ties=True)
assert_type(equalized, npt.NDArray[np.uint8])
counts, edges = histeq.histogram(image)
assert_type(counts, np.ndarray)
assert_type(histeq.fit_clahe(image), histeq.ClaheMapping)
assert_type(histeq.fit_equalize(image).apply(image), npt.NDArray[np.uint8])


def _tensors(batch: Any) -> None:
    """Any other array type (a tensor, a Dask array, a DataArray) comes back as itself."""
    assert_type(histeq.equalize(batch, axes=(-2, -1)), Any)
