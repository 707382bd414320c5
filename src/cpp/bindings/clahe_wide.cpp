// CLAHE of 32-bit integer and floating-point images (histeq's own).
#include "clahe_call.hpp"

void register_clahe_wide(nb::module_& m) {
    clahe_binding::register_dtype<uint32_t>(m);
    clahe_binding::register_dtype<int32_t>(m);
    clahe_binding::register_dtype<float>(m);
    clahe_binding::register_dtype<double>(m);
}
