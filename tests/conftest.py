import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "histeq", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
# HISTEQ_HYPOTHESIS=thorough runs many more examples (minutes), to hunt for edge cases.
settings.register_profile("thorough", parent=settings.get_profile("histeq"), max_examples=2000)
settings.load_profile(os.environ.get("HISTEQ_HYPOTHESIS", "histeq"))

INT_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32]
FLOAT_DTYPES = [np.float16, np.float32, np.float64]


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
