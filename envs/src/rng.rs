//! Counter-based random numbers, identical on every backend.
//!
//! Each draw is a pure function of `(seed, env index, draw counter)`: the batch keeps one 32-bit key per env,
//! `key = stream_key(seed, env)`, and a 32-bit counter that each draw increments. A draw is
//! `mix32(key ^ mix32(counter))`, where `mix32` is the full-avalanche `lowbias32` integer hash. Only 32-bit
//! integer operations are used, so the WGSL (`rng.wgsl`) and CUDA (`rng.cuh`) twins produce the same bits.
//! Unit floats take the top 24 bits: `u >> 8` times 2⁻²⁴, exact in f32, in `[0, 1)`.

/// The WGSL twin of this module (`mix32`, `stream_key`, `draw`, `unit`, `below`, `action_key`), for kernels
/// outside this crate that draw from the same streams.
pub const WGSL: &str = include_str!("device/rng.wgsl");

/// The `lowbias32` hash: a bijection on `u32` with strong avalanche.
#[inline(always)]
pub fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The key of env `env` in a batch seeded with `seed`. Distinct envs of one seed get distinct keys.
pub fn stream_key(seed: u64, env: u32) -> u32 {
    let seed_key = mix32(mix32(seed as u32 ^ 0x9e37_79b9) ^ (seed >> 32) as u32);
    mix32(seed_key ^ env)
}

/// Draw number `counter` of the stream `key`.
#[inline(always)]
pub fn draw(key: u32, counter: u32) -> u32 {
    mix32(key ^ mix32(counter))
}

/// A draw as a float in `[0, 1)`.
#[inline(always)]
pub fn unit(bits: u32) -> f32 {
    (bits >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// A draw as an integer in `0..n`, for `n < 65536` (exact integer arithmetic, no float rounding).
#[inline(always)]
pub fn below(bits: u32, n: u32) -> u32 {
    ((bits >> 16) * n) >> 16
}

/// The key of the action-sampling stream of an env (used by random-action benchmarks), apart from the env's own.
#[inline(always)]
pub fn action_key(key: u32) -> u32 {
    mix32(key ^ 0xa511_e9b3)
}

/// One env's stream: its key and its running counter.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    pub key: u32,
    pub counter: u32,
}

impl Stream {
    /// The next draw as a float in `[low, high)`.
    #[inline(always)]
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        let u = unit(draw(self.key, self.counter));
        self.counter = self.counter.wrapping_add(1);
        low + (high - low) * u
    }

    /// The next draw as an integer in `0..n`.
    #[inline(always)]
    pub fn below(&mut self, n: u32) -> u32 {
        let b = below(draw(self.key, self.counter), n);
        self.counter = self.counter.wrapping_add(1);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_seed_are_distinct() {
        let mut keys: Vec<u32> = (0..4096).map(|i| stream_key(7, i)).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 4096);
        assert_ne!(stream_key(7, 0), stream_key(8, 0));
        assert_ne!(stream_key(7, 0), stream_key(7 | (1 << 40), 0));
    }

    #[test]
    fn unit_draws_are_uniform() {
        let n = 200_000;
        let mut buckets = [0u32; 10];
        let mut sum = 0.0f64;
        for c in 0..n {
            let u = unit(draw(stream_key(1, 3), c));
            assert!((0.0..1.0).contains(&u));
            buckets[(u * 10.0) as usize] += 1;
            sum += u as f64;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.005);
        for b in buckets {
            assert!((b as f64 - n as f64 / 10.0).abs() < 0.03 * n as f64 / 10.0, "{buckets:?}");
        }
    }

    #[test]
    fn below_covers_range_evenly() {
        let mut counts = [0u32; 3];
        for c in 0..30_000 {
            counts[below(draw(99, c), 3) as usize] += 1;
        }
        for k in counts {
            assert!((k as i32 - 10_000).abs() < 400, "{counts:?}");
        }
    }
}
