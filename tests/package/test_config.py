"""The test configuration itself: third-party deprecations are not failures; histeq's own warnings are."""

import os
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


def test_the_core_finds_the_instruction_sets_the_cpu_reports():
    # A toolchain whose runtime leaves __builtin_cpu_supports unset (zig's, for the manylinux wheels) once sent
    # every loop to the baseline path, 2-3x slower; the core now reads CPUID and XGETBV itself.
    import platform

    from histeq._kernels import core

    if platform.machine() not in ("x86_64", "AMD64") or not os.path.exists("/proc/cpuinfo"):
        pytest.skip("reads the flags of /proc/cpuinfo on x86-64")
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((set(line.split(":", 1)[1].split()) for line in cpuinfo if line.startswith("flags")), set())
    expected = "baseline"
    if {"avx2", "fma", "bmi1", "bmi2", "popcnt"} <= flags:
        expected = "avx2"
        if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
            expected = "avx512"
    if os.environ.get("HISTEQ_SIMD") in ("avx2", "baseline"):
        pytest.skip("HISTEQ_SIMD caps the level")
    assert core.simd_level() == expected
