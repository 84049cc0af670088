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
    /// The stream of `purpose` (training iteration k, or an evaluation) in a run seeded with `seed`.
    pub fn new(seed: u64, purpose: u64) -> Self {
        Self { key: stream_key(seed ^ 0x5eed_0f_1ea7, (purpose as u32) ^ (purpose >> 32) as u32), counter: 0 }
    }

    fn next(&mut self) -> u32 {
        let bits = draw(self.key, self.counter);
        self.counter = self.counter.wrapping_add(1);
        bits
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

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<i64> {
        let mut order: Vec<i64> = (0..n as i64).collect();
        for i in (1..n).rev() {
            let j = ((self.next() as u64 * (i as u64 + 1)) >> 32) as usize;
            order.swap(i, j);
        }
        order
    }
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
        let mut p = noise.permutation(1000);
        assert_ne!(p, (0..1000).collect::<Vec<i64>>());
        p.sort();
        assert_eq!(p, (0..1000).collect::<Vec<i64>>());
        assert_eq!(Noise::new(1, 2).sample(NoiseKind::Uniform, 8), Noise::new(1, 2).sample(NoiseKind::Uniform, 8));
        assert_ne!(Noise::new(1, 2).sample(NoiseKind::Uniform, 8), Noise::new(1, 3).sample(NoiseKind::Uniform, 8));
    }
}
