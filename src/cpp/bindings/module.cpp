// The extension module histeq._core: every file's bindings, the pool's size, and the marker threadpoolctl reads.
#include "common.hpp"
#include "histeq/pool.hpp"

NB_MODULE(_core, m) {
    m.doc() = "histeq's compiled kernels; use the histeq package, not this module.";
    register_equalize(m);
    register_color(m);
    register_clahe(m);
    register_clahe_wide(m);
    register_clahe_chunked(m);
    register_matching(m);
    m.def("pool_size", []() { return histeq::Pool::get().size(); });
}

// Lets threadpoolctl tell histeq's extension from other libraries named _core.
extern "C" __attribute__((visibility("default"))) int histeq_core_marker() { return 1; }
