// Exact unsigned 128-bit products and quotients built from 64-bit halves.
//
// MSVC has no 128-bit integer type, and GCC's and Clang's divide theirs in a
// software routine anyway (__udivti3): every build uses these, so the suite
// tests on Linux what a Windows build runs.  They serve the rare paths whose
// numerators can pass 64 bits (64-bit images, totals near 2^61).
#pragma once

#include <cstdint>

namespace histeq {

struct Wide {
    uint64_t high, low;
};

// a b, exactly.
inline Wide wide_product(uint64_t a, uint64_t b) {
    const uint64_t mask = 0xffffffffu;
    const uint64_t a_low = a & mask, a_high = a >> 32, b_low = b & mask, b_high = b >> 32;
    const uint64_t low_low = a_low * b_low, low_high = a_low * b_high, high_low = a_high * b_low;
    const uint64_t middle = (low_low >> 32) + (low_high & mask) + (high_low & mask);  // < 3 * 2^32
    return {a_high * b_high + (low_high >> 32) + (high_low >> 32) + (middle >> 32), (middle << 32) | (low_low & mask)};
}

// floor(n / d), with n mod d in `remainder`, for d > 0 and n.high < d (the
// quotient fits in 64 bits): long division, one bit of n.low at a time.
inline uint64_t wide_quotient(Wide n, uint64_t d, uint64_t& remainder) {
    if (n.high == 0) {
        remainder = n.low % d;
        return n.low / d;
    }
    uint64_t r = n.high, low = n.low, q = 0;
    for (int bit = 0; bit < 64; ++bit) {
        const bool carry = (r >> 63) != 0;  // r < d < 2^64 before the shift: 2r + 1 needs 65 bits
        r = (r << 1) | (low >> 63);
        low <<= 1;
        q <<= 1;
        if (carry || r >= d) {
            r -= d;  // wraps to the true 64-bit difference where carry is set
            q |= 1;
        }
    }
    remainder = r;
    return q;
}

// round(a b / d), halves up, for d > 0 and a b / d < 2^64.
inline uint64_t product_ratio_rounded(uint64_t a, uint64_t b, uint64_t d) {
    uint64_t r = 0;
    const uint64_t q = wide_quotient(wide_product(a, b), d, r);
    return q + (r >= d - r);  // 2r >= d without overflow
}

}  // namespace histeq
