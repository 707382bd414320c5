"""The test configuration itself: third-party deprecations are not failures; histeq's own warnings are."""

import warnings

import pytest


@pytest.mark.parametrize("module", ["pyparsing.core", "matplotlib._fontconfig_pattern", "dask.array.core"])
def test_third_party_deprecations_do_not_fail_the_tests(module):
    # Was an error: matplotlib 3.9.4 raises pyparsing's deprecation warnings inside test_report_figure.
    warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module=module)


@pytest.mark.parametrize("module", ["histeq.cli", "histeq", "matplotlibish"])
def test_histeq_warnings_are_errors(module):
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module=module)
    with pytest.raises(UserWarning):
        warnings.warn_explicit("something", UserWarning, "x.py", 1, module="matplotlib.figure")
