import glob
import os

# The GPU backend's kernels run on CPU tensors under Triton's interpreter where there is no GPU
# (tests/gpu/test_gpu_kernels.py): Triton reads the setting when it is imported, so it is set before any test runs.
if "TRITON_INTERPRET" not in os.environ and not glob.glob("/dev/nvidia[0-9]*"):
    os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

settings.register_profile("histeq", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
# HISTEQ_HYPOTHESIS=thorough runs many more examples (minutes), to hunt for edge cases.
settings.register_profile("thorough", parent=settings.get_profile("histeq"), max_examples=2000)
settings.load_profile(os.environ.get("HISTEQ_HYPOTHESIS", "histeq"))

INT_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32]
FLOAT_DTYPES = [np.float16, np.float32, np.float64]


@st.composite
def any_images(draw, max_dims=3, max_side=9):
    """An image of every dtype and 1 to max_dims axes: floats with NaN and inf, integers crowded near the
    bottom of their range or spread over all of it."""
    dtype = draw(st.sampled_from(INT_DTYPES + FLOAT_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=max_side))
    if np.dtype(dtype).kind == "f":
        elements = st.floats(-50, 50, width=np.dtype(dtype).itemsize * 8) | st.sampled_from([np.nan, np.inf])
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.min) + 20) | st.integers(int(info.min), int(info.max))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@pytest.fixture(scope="session")
def camera():
    from skimage import data

    return data.camera()


@pytest.fixture(scope="session")
def astronaut():
    from skimage import data

    return data.astronaut()


def real_grey_images():
    """Grey uint8 images shipped with scikit-image (no downloads)."""
    from skimage import data

    return {name: getattr(data, name)() for name in ("camera", "moon", "coins", "page", "text", "brick")}
