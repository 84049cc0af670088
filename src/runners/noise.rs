//! The learner's random numbers: counter-based draws (the envs' `lowbias32` stream) keyed by the run's seed and
//! the iteration, so a run is reproducible whatever else shares the process, and a resumed run draws exactly
//! what the uninterrupted one would have.

use crate::envs::rng::{draw, stream_key};

/// One iteration's stream of draws.
#[derive(Clone, Debug)]
pub struct Noise {
    key: u32,
    counter: u32,
}

/// What a distribution's sampler consumes per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseKind {
    /// Uniform in (0, 1).
    Uniform,
    /// Standard normal.
    Normal,
}

impl Noise {
    /// The stream keyed by (`key_seed`, `index`); [`super::Stream`] names which purpose uses which.
    pub(crate) fn new(key_seed: u64, index: u64) -> Self {
        Self { key: stream_key(key_seed, (index as u32) ^ (index >> 32) as u32), counter: 0 }
    }

    fn next(&mut self) -> u32 {
        let bits = draw(self.key, self.counter);
        self.counter = self.counter.wrapping_add(1);
        bits
    }

    /// `n` raw 32-bit draws.
    pub fn words(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.next()).collect()
    }

    /// A uniform draw in the open interval (0, 1).
    fn open_unit(&mut self) -> f32 {
        ((self.next() >> 8) as f32 + 0.5) * (1.0 / 16_777_216.0)
    }

    /// `n` draws of `kind`.
    pub fn sample(&mut self, kind: NoiseKind, n: usize) -> Vec<f32> {
        match kind {
            NoiseKind::Uniform => (0..n).map(|_| self.open_unit()).collect(),
            NoiseKind::Normal => {
                // Box–Muller, two normals per pair of uniforms.
                let mut out = Vec::with_capacity(n + 1);
                while out.len() < n {
                    let (u, v) = (self.open_unit(), self.open_unit());
                    let r = (-2.0 * u.ln()).sqrt();
                    let (s, c) = (std::f32::consts::TAU * v).sin_cos();
                    out.extend([r * c, r * s]);
                }
                out.truncate(n);
                out
            }
        }
    }

    /// `rows` successive [`sample`](Self::sample)s of `n` draws, concatenated.
    pub fn sample_rows(&mut self, kind: NoiseKind, n: usize, rows: usize) -> Vec<f32> {
        (0..rows).flat_map(|_| self.sample(kind, n)).collect()
    }

    /// Reserves what `sample_rows(kind, n, rows)` would draw and returns where a device kernel starts:
    /// `(key, first counter, counters per row)`.
    pub fn reserve_rows(&mut self, kind: NoiseKind, n: usize, rows: usize) -> (u32, u32, u32) {
        let stride = match kind {
            NoiseKind::Uniform => n,
            NoiseKind::Normal => n.div_ceil(2) * 2,
        } as u32;
        let start = self.counter;
        self.counter = self.counter.wrapping_add(stride.wrapping_mul(rows as u32));
        (self.key, start, stride)
    }

    /// The key of the next permutation (one draw of the stream).
    pub fn permutation_key(&mut self) -> u32 {
        self.next()
    }

    /// A pseudo-random permutation of `0..n`: a keyed 4-round Feistel network with cycle walking (the CPU twin
    /// of `kernels/permutation.wgsl`, see there), so the device can shuffle without a sequential pass.
    pub fn permutation(&mut self, n: usize) -> Vec<i64> {
        let key = self.permutation_key();
        let n = n as u32;
        let half = permutation_half_bits(n);
        (0..n)
            .map(|i| {
                let mut x = feistel(key, half, i);
                while x >= n {
                    x = feistel(key, half, x);
                }
                x as i64
            })
            .collect()
    }
}

/// The half-width `h` of the Feistel words of a permutation of `0..n`: the least `h ≥ 1` with `4^h ≥ n`.
pub fn permutation_half_bits(n: u32) -> u32 {
    let bits = 32 - n.saturating_sub(1).leading_zeros();
    bits.div_ceil(2).max(1)
}

fn feistel(key: u32, half: u32, x: u32) -> u32 {
    let mask = (1u32 << half) - 1;
    let (mut l, mut r) = (x >> half, x & mask);
    for round in 0..4u32 {
        let f = draw(key, (round << 16) | r) & mask;
        (l, r) = (r, l ^ f);
    }
    (l << half) | r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_right_moments_and_permutations_are_permutations() {
        let mut noise = Noise::new(1, 2);
        let u = noise.sample(NoiseKind::Uniform, 100_000);
        let mean = u.iter().map(|&x| x as f64).sum::<f64>() / u.len() as f64;
        assert!(u.iter().all(|&x| x > 0.0 && x < 1.0));
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        let z = noise.sample(NoiseKind::Normal, 100_001);
        assert_eq!(z.len(), 100_001);
        let m = z.iter().map(|&x| x as f64).sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(m.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{m} {var}");
        for n in [1, 2, 3, 5, 16, 17, 1000, 4096, 70_001] {
            let mut p = noise.permutation(n);
            if n > 16 {
                assert_ne!(p, (0..n as i64).collect::<Vec<i64>>(), "n = {n}");
            }
            p.sort();
            assert_eq!(p, (0..n as i64).collect::<Vec<i64>>(), "n = {n}");
        }
        // Shuffled well enough for minibatches: the first quarter of a permutation of 0..4096 lands about a
        // quarter in each quarter of the range.
        let p = noise.permutation(4096);
        for q in 0..4 {
            let hits = p[..1024].iter().filter(|&&x| x / 1024 == q).count();
            assert!((200..312).contains(&hits), "quarter {q}: {hits}");
        }
        let mut a = Noise::new(7, 0);
        let rows = a.sample_rows(NoiseKind::Normal, 5, 3);
        let mut b = Noise::new(7, 0);
        let each: Vec<f32> = (0..3).flat_map(|_| b.sample(NoiseKind::Normal, 5)).collect();
        assert_eq!(rows, each);
        assert_eq!(Noise::new(7, 0).reserve_rows(NoiseKind::Normal, 5, 3), (a.key, 0, 6));
        assert_eq!(a.counter, 18);
        assert_eq!(Noise::new(1, 2).sample(NoiseKind::Uniform, 8), Noise::new(1, 2).sample(NoiseKind::Uniform, 8));
        assert_ne!(Noise::new(1, 2).sample(NoiseKind::Uniform, 8), Noise::new(1, 3).sample(NoiseKind::Uniform, 8));
    }
}
