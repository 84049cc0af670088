// rng.cuh — counter-based random numbers; the CUDA twin of `rng.wgsl` and `src/rng.rs` (same bits on every
// backend).
//
// A draw is mix32(key ^ mix32(counter)); key = stream_key(seed, env). Only unsigned 32-bit integer operations,
// which wrap as Rust's `wrapping_mul` does. Unit floats use the top 24 bits: (bits >> 8) * 2^-24, exact in f32.
// rng_uniform's `low + (high - low) * u` is rounded step by step (__fmul_rn, __fadd_rn are never fused into an
// FMA), so reset states match the CPU's bit for bit whatever NVRTC's --fmad setting.

__device__ __forceinline__ unsigned mix32(unsigned x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

__device__ __forceinline__ unsigned stream_key(unsigned seed_lo, unsigned seed_hi, unsigned env) {
    unsigned seed_key = mix32(mix32(seed_lo ^ 0x9e3779b9u) ^ seed_hi);
    return mix32(seed_key ^ env);
}

__device__ __forceinline__ unsigned draw(unsigned key, unsigned counter) {
    return mix32(key ^ mix32(counter));
}

__device__ __forceinline__ float unit(unsigned bits) {
    return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

// An integer in 0..n for n < 65536, exact: ((bits >> 16) * n) >> 16.
__device__ __forceinline__ unsigned below(unsigned bits, unsigned n) {
    return ((bits >> 16) * n) >> 16;
}

__device__ __forceinline__ unsigned action_key(unsigned key) {
    return mix32(key ^ 0xa511e9b3u);
}

struct Rng {
    unsigned key;
    unsigned counter;
};

__device__ __forceinline__ float rng_uniform(Rng& rng, float low, float high) {
    float u = unit(draw(rng.key, rng.counter));
    rng.counter += 1u;
    return __fadd_rn(low, __fmul_rn(high - low, u));
}

__device__ __forceinline__ unsigned rng_below(Rng& rng, unsigned n) {
    unsigned b = below(draw(rng.key, rng.counter), n);
    rng.counter += 1u;
    return b;
}
