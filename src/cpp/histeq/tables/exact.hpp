// Strict ordering of pixels for exact histogram specification (Coltuc, Bolon
// & Chassery, IEEE TIP 15(5), 2006): pixels ordered by their value, ties
// broken by the sums of their neighbours over growing shells (the local means
// of growing discrete balls, compared shell by shell), and the ties that
// remain by raster order.
//
// The caller pads each image symmetrically by `pad` pixels on every spatial
// axis and gives the flat offsets (in the padded image) of every shell.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "histeq/tables/equalize.hpp"
#include "histeq/runtime/parallel.hpp"

namespace histeq {

struct ShellPlan {
    std::vector<int64_t> shape;          // spatial shape of one image, unpadded
    std::vector<int64_t> padded_stride;  // strides of the padded image
    int64_t pad = 0;
    std::vector<int64_t> offsets;      // flat offsets of every shell's pixels, shell after shell
    std::vector<int64_t> shell_start;  // shell s: offsets[shell_start[s], shell_start[s + 1])
    int shells() const { return static_cast<int>(shell_start.size()) - 1; }
    int64_t pixels() const {
        int64_t n = 1;
        for (int64_t s : shape) n *= s;
        return n;
    }
};

// fn(i, centre, length): the pixels [i, i + length) of one row, in raster
// order, whose first sits at flat index `centre` of the padded image; the rows
// cover the pixel range [begin, end).
template <class Fn>
void for_each_row(const ShellPlan& plan, int64_t begin, int64_t end, Fn&& fn) {
    const int ndim = static_cast<int>(plan.shape.size());
    const int64_t width = plan.shape[ndim - 1];
    for (int64_t row_start = begin - begin % width; row_start < end; row_start += width) {
        int64_t rest = row_start / width, base = plan.pad * plan.padded_stride[ndim - 1];
        for (int d = ndim - 2; d >= 0; --d) {
            base += (rest % plan.shape[d] + plan.pad) * plan.padded_stride[d];
            rest /= plan.shape[d];
        }
        const int64_t x0 = std::max(begin, row_start), x1 = std::min(end, row_start + width);
        fn(x0, base + (x0 - row_start), x1 - x0);
    }
}

// Stable LSD radix sort of `order` by the multi-word keys words[w][i]
// (word 0 most significant), using only the low used_bits[w] bits of each
// word.  Each pass counts and scatters in parallel: worker t owns a fixed
// slice of the current order and writes after the keys of the slices before
// it with the same digit, which keeps the sort stable.  A pass whose digit is
// the same for every key is skipped.
inline void radix_argsort(std::vector<std::vector<uint64_t>>& words, const std::vector<int>& used_bits,
                          std::vector<uint32_t>& order, int threads) {
    const int64_t n = static_cast<int64_t>(order.size());
    constexpr int kDigit = 12;
    constexpr uint64_t kBuckets = uint64_t{1} << kDigit, kMask = kBuckets - 1;
    constexpr int64_t kGrain = 1 << 16;
    const size_t nwords = words.size();
    const int workers = plan_workers(n, threads, kGrain);
    std::vector<std::vector<uint64_t>> next_words(nwords, std::vector<uint64_t>(n));
    std::vector<uint32_t> next_order(n);
    std::vector<int64_t> count(static_cast<size_t>(workers) * kBuckets);
    for (int w = static_cast<int>(nwords) - 1; w >= 0; --w) {
        for (int shift = 0; shift < used_bits[w]; shift += kDigit) {
            std::fill(count.begin(), count.end(), int64_t{0});
            parallel_for(n, workers, kGrain, [&](int t, int64_t b, int64_t e) {
                const uint64_t* key = words[w].data();
                int64_t* c = count.data() + t * kBuckets;
                for (int64_t i = b; i < e; ++i) ++c[(key[i] >> shift) & kMask];
            });
            bool one_digit = false;
            for (uint64_t d = 0; d < kBuckets && !one_digit; ++d) {
                int64_t total = 0;
                for (int t = 0; t < workers; ++t) total += count[t * kBuckets + d];
                one_digit = total == n;
            }
            if (one_digit) continue;
            int64_t sum = 0;
            for (uint64_t d = 0; d < kBuckets; ++d) {
                for (int t = 0; t < workers; ++t) {
                    const int64_t here = count[t * kBuckets + d];
                    count[t * kBuckets + d] = sum;
                    sum += here;
                }
            }
            parallel_for(n, workers, kGrain, [&](int t, int64_t b, int64_t e) {
                const uint64_t* key = words[w].data();
                int64_t* c = count.data() + t * kBuckets;
                for (int64_t i = b; i < e; ++i) {
                    const int64_t to = c[(key[i] >> shift) & kMask]++;
                    next_order[to] = order[i];
                    for (size_t v = 0; v < nwords; ++v) next_words[v][to] = words[v][i];
                }
            });
            order.swap(next_order);
            words.swap(next_words);
        }
    }
}

// Integer images: the value and each shell's sum, as non-negative fields
// packed big-endian into 64-bit words, radix-sorted.  Returns the number of
// pixels whose whole key equals the previous one's (ties left to raster order).
template <class T>
int64_t exact_order_int(const T* padded, const ShellPlan& plan, int threads, int64_t* order_out) {
    const int64_t n = plan.pixels();
    const int nshells = plan.shells();
    const int64_t lo = static_cast<int64_t>(std::numeric_limits<T>::min());
    const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(std::numeric_limits<T>::max()) - lo);
    // Field f (0: the value, then the shells): its width, word and shift.
    std::vector<int> field_bits, field_word, field_shift;
    std::vector<int> used_bits;
    int word = -1, free_bits = 0;
    for (int f = 0; f <= nshells; ++f) {
        const uint64_t count = f == 0 ? 1 : static_cast<uint64_t>(plan.shell_start[f] - plan.shell_start[f - 1]);
        int bits = 0;
        while (bits < 64 && (count * span) >> bits) ++bits;
        if (bits > free_bits) {
            ++word;
            used_bits.push_back(0);
            free_bits = 64;
        }
        free_bits -= bits;
        field_bits.push_back(bits);
        field_word.push_back(word);
        used_bits[word] += bits;
    }
    // Big-endian inside a word: later fields sit in lower bits.
    for (int f = 0; f <= nshells; ++f) {
        int below = 0;
        for (int g = f + 1; g <= nshells && field_word[g] == field_word[f]; ++g) below += field_bits[g];
        field_shift.push_back(below);
    }
    std::vector<std::vector<uint64_t>> words(used_bits.size(), std::vector<uint64_t>(n, 0));
    parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
        std::vector<uint64_t> field;
        for_each_row(plan, b, e, [&](int64_t i0, int64_t centre, int64_t length) {
            field.assign(length, 0);
            for (int f = 0; f <= nshells; ++f) {
                if (field_bits[f] == 0) continue;  // an empty shell (a shift by 64 would be undefined)
                // Field 0 is the value itself: offset 0.
                const int64_t first = f == 0 ? 0 : plan.shell_start[f - 1], last = f == 0 ? 1 : plan.shell_start[f];
                uint64_t* word = words[field_word[f]].data() + i0;
                const int shift = field_shift[f];
                dispatch([&]() HISTEQ_INLINE {
                    uint64_t* __restrict acc = field.data();
                    const int64_t m = length;
                    for (int64_t x = 0; x < m; ++x) acc[x] = 0;
                    for (int64_t j = first; j < last; ++j) {
                        const T* __restrict src = padded + centre + (f == 0 ? 0 : plan.offsets[j]);
                        for (int64_t x = 0; x < m; ++x)
                            acc[x] += static_cast<uint64_t>(static_cast<int64_t>(src[x]) - lo);
                    }
                    uint64_t* __restrict dst = word;
                    for (int64_t x = 0; x < m; ++x) dst[x] |= acc[x] << shift;
                });
            }
        });
    });
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), uint32_t{0});
    radix_argsort(words, used_bits, order, threads);
    int64_t ties = 0;
    for (int64_t i = 1; i < n; ++i) {
        bool same = true;
        for (size_t w = 0; same && w < words.size(); ++w) same = words[w][i] == words[w][i - 1];
        ties += same;
    }
    for (int64_t i = 0; i < n; ++i) order_out[i] = order[i];
    return ties;
}

// Floating-point images: keys compared as doubles (the value, then the shell
// sums; NaN neighbours and NaN sums count as 0), NaN pixels last.
template <class T>
int64_t exact_order_float(const T* padded, const ShellPlan& plan, int threads, int64_t* order_out) {
    const int64_t n = plan.pixels();
    const int nshells = plan.shells();
    std::vector<double> keys(static_cast<size_t>(n) * (nshells + 1));
    parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
        for_each_row(plan, b, e, [&](int64_t i0, int64_t centre0, int64_t length) {
            for (int64_t x = 0; x < length; ++x) {
                const int64_t centre = centre0 + x;
                double* key = keys.data() + (i0 + x) * (nshells + 1);
                const double v = static_cast<double>(padded[centre]);
                key[0] = v == 0 ? 0.0 : v;  // -0 and +0 are one value
                for (int s = 0; s < nshells; ++s) {
                    double sum = 0;
                    for (int64_t j = plan.shell_start[s]; j < plan.shell_start[s + 1]; ++j) {
                        const double y = static_cast<double>(padded[centre + plan.offsets[j]]);
                        sum += y == y ? y : 0.0;
                    }
                    key[s + 1] = sum == sum ? sum : 0.0;  // inf - inf
                }
            }
        });
    });
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), int64_t{0});
    const int width = nshells + 1;
    auto key_of = [&](int64_t i) { return keys.data() + i * width; };
    auto less = [&](int64_t a, int64_t b) {
        const double *ka = key_of(a), *kb = key_of(b);
        const bool na = ka[0] != ka[0], nb = kb[0] != kb[0];
        if (na || nb) return !na && nb;
        for (int s = 0; s < width; ++s)
            if (ka[s] != kb[s]) return ka[s] < kb[s];
        return false;
    };
    std::stable_sort(order.begin(), order.end(), less);
    int64_t ties = 0;
    for (int64_t i = 1; i < n; ++i) {
        const double v = key_of(order[i])[0];
        ties += v == v && !less(order[i - 1], order[i]);  // sorted: not less means equal
    }
    std::copy(order.begin(), order.end(), order_out);
    return ties;
}

template <class T>
void exact_order_batch(const T* padded, int64_t batch, int64_t padded_pixels, const ShellPlan& plan, int threads,
                       int64_t* order, int64_t* ties) {
    const int64_t n = plan.pixels();
    for_each_image(batch, threads, [&](int64_t b, int inner, int) {
        const T* image = padded + b * padded_pixels;
        if constexpr (is_float_v<T>) {
            ties[b] = exact_order_float(image, plan, inner, order + b * n);
        } else {
            ties[b] = exact_order_int(image, plan, inner, order + b * n);
        }
    });
}

}  // namespace histeq
