// Exact integer rounding for CLAHE's interpolation of integer images: the
// weighted sum of integer levels over the product of the weight denominators,
// rounded halves up, by multiplications instead of divisions.
#pragma once

#include <cstdint>

namespace histeq {

// Exact floor(num / d) for 0 <= num < 2^31 by one multiplication
// (Granlund & Montgomery): with s = 31 + ceil(log2 d) and m = ceil(2^s / d),
// (num m) >> s is the quotient, and num m < 2^63.
class ConstantDivisor {
   public:
    explicit ConstantDivisor(uint64_t d) {
        int log2d = 0;
        while ((uint64_t{1} << log2d) < d) ++log2d;
        shift_ = 31 + log2d;
        multiplier_ = shift_ < 64 ? (uint64_t{1} << shift_) / d + 1 : 0;  // 2^s needs 65+ bits: not exact
        exact_ = shift_ < 64 && multiplier_ < (uint64_t{1} << 32);
    }
    bool exact() const { return exact_; }  // usable for every num < 2^31
    // Where exact(); shift() >= 32 for d >= 2.
    uint32_t multiplier() const { return static_cast<uint32_t>(multiplier_); }
    int shift() const { return shift_; }
    uint64_t operator()(uint64_t num) const { return static_cast<uint64_t>((num * multiplier_) >> shift_); }
    // The same where exact(): a 32 x 32-bit product, which vectorizes.
    uint32_t operator()(uint32_t num) const {
        return static_cast<uint32_t>((uint64_t{num} * uint64_t{static_cast<uint32_t>(multiplier_)}) >> shift_);
    }

   private:
    int shift_;
    uint64_t multiplier_;
    bool exact_;
};

// round(acc / d), halves up, exactly, for 0 <= acc <= d span: floor((2 acc +
// d) / 2d) by one multiplication where the numerator fits in 31 bits, else a
// floating-point guess corrected by integer comparisons.
class HalfUpDivision {
   public:
    HalfUpDivision(int64_t d, int64_t span)
        : d_(d), twice_(2 * d), divide_(static_cast<uint64_t>(2 * d)), inverse_(1.0 / (2.0 * static_cast<double>(d))) {
        small_ = divide_.exact() && 2 * d * span + d < (int64_t{1} << 31);
    }
    bool small() const { return small_; }

    template <bool kSmall>
    int64_t at(int64_t acc) const {
        const int64_t num = 2 * acc + d_;
        if constexpr (kSmall) return static_cast<int64_t>(divide_(static_cast<uint64_t>(num)));
        int64_t q = static_cast<int64_t>(static_cast<double>(num) * inverse_);
        q -= q * twice_ > num;
        q += (q + 1) * twice_ <= num;
        return q;
    }
    // Where small(), for 0 <= acc.
    uint32_t at32(int32_t acc) const { return divide_(static_cast<uint32_t>(2 * acc + d_)); }
    int64_t denominator() const { return d_; }
    const ConstantDivisor& twice_divisor() const { return divide_; }

   private:
    int64_t d_, twice_;
    ConstantDivisor divide_;
    double inverse_;
    bool small_;
};

}  // namespace histeq
