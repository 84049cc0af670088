// rng.wgsl — counter-based random numbers; the WGSL twin of `src/rng.rs` (same bits on every backend).
//
// A draw is mix32(key ^ mix32(counter)); key = stream_key(seed, env). Unit floats use the top 24 bits.

fn mix32(x0: u32) -> u32 {
    var x = x0;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn stream_key(seed_lo: u32, seed_hi: u32, env: u32) -> u32 {
    let seed_key = mix32(mix32(seed_lo ^ 0x9e3779b9u) ^ seed_hi);
    return mix32(seed_key ^ env);
}

fn draw(key: u32, counter: u32) -> u32 {
    return mix32(key ^ mix32(counter));
}

fn unit(bits: u32) -> f32 {
    return f32(bits >> 8u) * (1.0 / 16777216.0);
}

fn below(bits: u32, n: u32) -> u32 {
    return ((bits >> 16u) * n) >> 16u;
}

fn action_key(key: u32) -> u32 {
    return mix32(key ^ 0xa511e9b3u);
}

struct Rng {
    key: u32,
    counter: u32,
}

fn rng_uniform(rng: ptr<function, Rng>, low: f32, high: f32) -> f32 {
    let u = unit(draw((*rng).key, (*rng).counter));
    (*rng).counter += 1u;
    return low + (high - low) * u;
}

fn rng_below(rng: ptr<function, Rng>, n: u32) -> u32 {
    let b = below(draw((*rng).key, (*rng).counter), n);
    (*rng).counter += 1u;
    return b;
}
