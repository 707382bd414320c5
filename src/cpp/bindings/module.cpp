// The extension module histeq._core: every file's bindings, the pool's size, and the marker threadpoolctl reads.
#include "common.hpp"
#include "histeq/runtime/pool.hpp"
#include "histeq/runtime/simd.hpp"

NB_MODULE(_core, m) {
    m.doc() =
        "histeq's compiled kernels; use the histeq package, not this module: the dtype table in histeq._kernels "
        "picks what to call.\n\n"
        "Every function takes C-contiguous arrays of exactly the dtypes it was bound for (no implicit conversion: "
        "anything else is a TypeError), writes into arrays the caller allocated, releases the GIL, and raises "
        "ValueError on bad shapes or ranges.  Images are (batch, pixels); colour pixels are (pixels, channels) or, "
        "for equalize_luma, (batch, pixels, channels).  A call's bins and ranges come as a Spec and CLAHE's tile "
        "plan as a TilePlan, each checked once when made.";
#ifdef NDEBUG
    // A Spec that Python still holds when the interpreter shuts down (a fitted mapping in a cache, or in a cycle
    // the last collection leaves) is reported as leaked, though the process returns its memory: release builds
    // stay quiet, debug builds keep the report for reference-counting bugs.
    nb::set_leak_warnings(false);
#endif
    register_types(m);
    register_equalize(m);
    register_color(m);
    register_clahe(m);
    register_clahe_wide(m);
    register_clahe_chunked(m);
    register_matching(m);
    m.attr("MAX_NBINS") = kMaxBins;  // the limits the bindings check, for Python's checks to say first
    m.attr("MAX_AXES") = kMaxAxes;
    m.attr("EXACT_BITS") = kExactBits;
    // The dtypes the kernels are bound for, by NumPy name: the Python dtype table is built from them.
    nb::list dtypes;
    for_grey_dtypes([&](auto tag) {
        const nb::dlpack::dtype dtype = nb::dtype<decltype(tag)>();
        const bool is_float = dtype.code == static_cast<uint8_t>(nb::dlpack::dtype_code::Float);
        const bool is_unsigned = dtype.code == static_cast<uint8_t>(nb::dlpack::dtype_code::UInt);
        dtypes.append(std::string(is_float ? "float" : is_unsigned ? "uint" : "int") + std::to_string(dtype.bits));
    });
    m.attr("DTYPES") = nb::tuple(dtypes);
    m.def("pool_size", []() { return histeq::Pool::get().size(); });
    // The instruction set the hot loops run with: "avx512", "avx2" or "baseline" (HISTEQ_SIMD caps it).
    m.def("simd_level", []() {
#ifdef HISTEQ_X86
        return std::string(histeq::cpu_level() == 2 ? "avx512" : histeq::cpu_level() == 1 ? "avx2" : "baseline");
#else
        return std::string("baseline");
#endif
    });
}

// Lets threadpoolctl tell histeq's extension from other libraries named _core.
#if defined(_WIN32)
extern "C" __declspec(dllexport) int histeq_core_marker() { return 1; }
#else
extern "C" __attribute__((visibility("default"))) int histeq_core_marker() { return 1; }
#endif
