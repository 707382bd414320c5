// The peers' global equalization of 8-bit images, bit for bit (compat='opencv'
// and compat='pillow'): per image and channel, a histogram of the counted
// pixels, the peer's table from it, and the table applied.  Images are
// (batch, pixels, channels), channels interleaved as a colour image stores
// them, so that an RGB image needs no reordering; the mask is per pixel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "histeq/tables/equalize.hpp"
#include "histeq/runtime/lut8.hpp"
#include "histeq/runtime/parallel.hpp"
#include "histeq/runtime/simd.hpp"

namespace histeq {

enum class PeerRule { opencv, pillow };

constexpr int64_t kLevels8 = 256;

// cv2.equalizeHist: with c the cumulative histogram and f the lowest occupied
// level, level i becomes saturate(rint(float(c(i) - h(f)) * (255.f / float(N - h(f))))),
// all in single precision; an image of one level (or none) is left as it is.
inline void opencv_equalize_table(const int64_t* h, uint8_t* table) {
    int64_t total = 0;
    for (int64_t k = 0; k < kLevels8; ++k) total += h[k];
    int64_t first = 0;
    while (first < kLevels8 && h[first] == 0) ++first;
    if (first == kLevels8 || h[first] == total) {
        for (int64_t k = 0; k < kLevels8; ++k) table[k] = static_cast<uint8_t>(k);
        return;
    }
    const float scale = 255.0f / static_cast<float>(total - h[first]);
    int64_t cumulative = 0;
    for (int64_t k = 0; k < kLevels8; ++k) {
        cumulative += h[k];
        const float level = std::nearbyint(static_cast<float>(cumulative - h[first]) * scale);
        table[k] = static_cast<uint8_t>(std::clamp(level, 0.0f, 255.0f));
    }
}

// PIL.ImageOps.equalize: with step = (N - h(last)) // 255 over the highest
// occupied level, level i becomes (step // 2 + h(0) + ... + h(i - 1)) // step,
// at most 255; an image of one level, or a step of 0, is left as it is.
inline void pillow_equalize_table(const int64_t* h, uint8_t* table) {
    int64_t total = 0, occupied = 0;
    for (int64_t k = 0; k < kLevels8; ++k) {
        total += h[k];
        occupied += h[k] > 0;
    }
    int64_t last = kLevels8 - 1;
    while (last > 0 && h[last] == 0) --last;
    const int64_t step = (total - h[last]) / 255;
    if (occupied <= 1 || step == 0) {
        for (int64_t k = 0; k < kLevels8; ++k) table[k] = static_cast<uint8_t>(k);
        return;
    }
    int64_t below = 0;
    for (int64_t k = 0; k < kLevels8; ++k) {
        table[k] = static_cast<uint8_t>(std::min<int64_t>((step / 2 + below) / step, 255));
        below += h[k];
    }
}

// Adds the counted pixels [begin, end) of one image to `channels` histograms
// of 256 levels each; a grey image without a mask through equalize's count_bytes.
inline void peer_histograms(const uint8_t* pixels, const bool* mask, int64_t begin, int64_t end, int channels,
                            int64_t* hist) {
    if (channels == 1 && !mask) return count_bytes(pixels + begin, end - begin, hist);
    for (int64_t i = begin; i < end; ++i) {
        if (mask && !mask[i]) continue;
        const uint8_t* pixel = pixels + i * channels;
        for (int c = 0; c < channels; ++c) ++hist[c * kLevels8 + pixel[c]];
    }
}

inline void apply_channel_tables_scalar(const uint8_t* __restrict in, const uint8_t* __restrict tables,
                                        uint8_t* __restrict out, int64_t begin, int64_t end, int channels) {
    for (int64_t i = begin; i < end; ++i)
        for (int c = 0; c < channels; ++c) out[i * channels + c] = tables[c * kLevels8 + in[i * channels + c]];
}

#ifdef HISTEQ_X86
// AVX-512 VBMI, at most 4 interleaved channels: each 64 bytes go through every
// channel's table (two permutes and a blend each), and a byte keeps the
// result of its own channel: channel (offset + j) % channels for byte j.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) inline void apply_channel_tables_vbmi(
    const uint8_t* in, const uint8_t* tables, uint8_t* out, int64_t begin, int64_t end, int channels) {
    __m512i t[4][4];
    __mmask64 mine[4][4] = {};  // [offset % channels][channel]: the bytes of that channel
    for (int c = 0; c < channels; ++c) {
        for (int q = 0; q < 4; ++q) t[c][q] = _mm512_loadu_si512(tables + c * kLevels8 + 64 * q);
        for (int phase = 0; phase < channels; ++phase)
            for (int j = 0; j < 64; ++j)
                if ((phase + j) % channels == c) mine[phase][c] |= __mmask64{1} << j;
    }
    int64_t i = begin * channels;
    const int64_t stop = end * channels;
    for (; i + 64 <= stop; i += 64) {
        const __m512i index = _mm512_loadu_si512(in + i);
        const __mmask64 high = _mm512_movepi8_mask(index);
        const __mmask64* masks = mine[i % channels];
        __m512i result = _mm512_setzero_si512();
        for (int c = 0; c < channels; ++c) {
            const __m512i low = _mm512_permutex2var_epi8(t[c][0], index, t[c][1]);
            const __m512i upper = _mm512_permutex2var_epi8(t[c][2], index, t[c][3]);
            result = _mm512_mask_mov_epi8(result, masks[c], _mm512_mask_blend_epi8(high, low, upper));
        }
        _mm512_storeu_si512(out + i, result);
    }
    for (; i < stop; ++i) out[i] = tables[(i % channels) * kLevels8 + in[i]];
}
#endif

inline void apply_channel_tables(const uint8_t* in, const uint8_t* tables, uint8_t* out, int64_t begin, int64_t end,
                                 int channels) {
#ifdef HISTEQ_X86
    if (channels <= 4 && cpu_level() == 2 && cpu_has_vbmi())
        return apply_channel_tables_vbmi(in, tables, out, begin, end, channels);
#endif
    apply_channel_tables_scalar(in, tables, out, begin, end, channels);
}

// One image: histograms (each worker its own, merged in worker order), the
// peer's tables, the tables applied.
inline void equalize_peer_image(const uint8_t* in, const bool* mask, uint8_t* out, int64_t pixels, int channels,
                                PeerRule rule, int threads) {
    const int64_t size = channels * kLevels8;
    const int workers = plan_workers(pixels, threads, kPixelGrain);
    std::vector<int64_t> partial(static_cast<size_t>(workers * size), 0);
    parallel_for(pixels, workers, kPixelGrain, [&](int w, int64_t begin, int64_t end) {
        peer_histograms(in, mask, begin, end, channels, partial.data() + w * size);
    });
    for (int w = 1; w < workers; ++w)
        for (int64_t k = 0; k < size; ++k) partial[k] += partial[w * size + k];
    std::vector<uint8_t> tables(static_cast<size_t>(size));
    for (int c = 0; c < channels; ++c) {
        const int64_t* h = partial.data() + c * kLevels8;
        if (rule == PeerRule::opencv)
            opencv_equalize_table(h, tables.data() + c * kLevels8);
        else
            pillow_equalize_table(h, tables.data() + c * kLevels8);
    }
    parallel_for(pixels, threads, kPixelGrain, [&](int, int64_t begin, int64_t end) {
        apply_channel_tables(in, tables.data(), out, begin, end, channels);
    });
}

inline void equalize_peer_batch(const uint8_t* in, const bool* mask, uint8_t* out, int64_t batch, int64_t pixels,
                                int channels, PeerRule rule, int threads) {
    for_each_image(batch, threads, [&](int64_t b, int inner, int) {
        const int64_t offset = b * pixels * channels;
        equalize_peer_image(in + offset, mask ? mask + b * pixels : nullptr, out + offset, pixels, channels, rule,
                            inner);
    });
}

}  // namespace histeq
