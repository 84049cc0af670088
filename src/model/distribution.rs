//! Action distributions over a batch, parameterised by the model's outputs (`inputs`, `[B, K]`).
//!
//! Sampling draws its noise on the tensors' device, so actions never leave it. Discrete actions are carried as
//! f32 indices `[B, 1]` so that every action batch is a float `[B, A]` tensor.

use crate::envs::spaces::Space;
use crate::runners::NoiseKind;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};
use std::f64::consts::PI;

/// Categorical over `n` actions; inputs are logits `[B, n]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Categorical {
    pub n: usize,
}

/// Diagonal Gaussian over `dim` values in the policy's space; inputs are `[B, 2·dim]`: means then log-stds.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagGaussian {
    pub dim: usize,
}

/// The distribution a model's head parameterises for one action space.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionDist {
    Categorical(Categorical),
    DiagGaussian(DiagGaussian),
}

impl ActionDist {
    pub fn for_space(space: &Space, free_log_std: bool) -> Result<Self, String> {
        match space {
            Space::Discrete { n } if free_log_std => {
                Err(format!("free_log_std applies to Box actions, the action space is Discrete({n})"))
            }
            Space::Discrete { n } => Ok(ActionDist::Categorical(Categorical { n: *n as usize })),
            Space::Box { shape, .. } if shape.len() == 1 => {
                Ok(ActionDist::DiagGaussian(DiagGaussian { dim: shape[0] }))
            }
            Space::Box { shape, .. } => Err(format!("Box actions must be 1-D for a diagonal Gaussian, got {shape:?}")),
        }
    }

    /// Width of the distribution inputs, `K`.
    pub fn input_width(&self) -> usize {
        match self {
            ActionDist::Categorical(c) => c.n,
            ActionDist::DiagGaussian(g) => 2 * g.dim,
        }
    }

    /// Width of one action, `A`.
    pub fn action_width(&self) -> usize {
        match self {
            ActionDist::Categorical(_) => 1,
            ActionDist::DiagGaussian(g) => g.dim,
        }
    }

    /// The noise `sample` consumes: its kind and its width per row.
    pub fn noise(&self) -> (NoiseKind, usize) {
        match self {
            ActionDist::Categorical(c) => (NoiseKind::Uniform, c.n),
            ActionDist::DiagGaussian(g) => (NoiseKind::Normal, g.dim),
        }
    }

    /// A random action per row, `[B, A]`, from `noise` `[B, width]` of the kind [`ActionDist::noise`] names.
    pub fn sample(&self, inputs: Tensor<2>, noise: Tensor<2>) -> Tensor<2> {
        match self {
            ActionDist::Categorical(_) => {
                // Gumbel-max: argmax(logits + G), G = -ln(-ln U), is a draw from softmax(logits).
                let gumbel = noise.log().neg().log().neg();
                (inputs + gumbel).argmax(1).float()
            }
            ActionDist::DiagGaussian(g) => {
                let (mean, log_std) = split(inputs, g.dim);
                mean + log_std.exp() * noise
            }
        }
    }

    /// The most likely action per row, `[B, A]` (`explore = false`).
    pub fn mode(&self, inputs: Tensor<2>) -> Tensor<2> {
        match self {
            ActionDist::Categorical(_) => inputs.argmax(1).float(),
            ActionDist::DiagGaussian(g) => split(inputs, g.dim).0,
        }
    }

    /// log π(a), `[B]`.
    pub fn log_prob(&self, inputs: Tensor<2>, actions: Tensor<2>) -> Tensor<1> {
        match self {
            ActionDist::Categorical(_) => {
                let index: Tensor<2, Int> = actions.int();
                log_softmax(inputs, 1).gather(1, index).squeeze_dim(1)
            }
            ActionDist::DiagGaussian(g) => {
                let (mean, log_std) = split(inputs, g.dim);
                let z = (actions - mean) / log_std.clone().exp();
                let per_dim = z.square().mul_scalar(-0.5) - log_std - 0.5 * (2.0 * PI).ln();
                per_dim.sum_dim(1).squeeze_dim(1)
            }
        }
    }

    /// Entropy per row, `[B]`.
    pub fn entropy(&self, inputs: Tensor<2>) -> Tensor<1> {
        match self {
            ActionDist::Categorical(_) => {
                let logp = log_softmax(inputs, 1);
                (logp.clone().exp() * logp).sum_dim(1).squeeze_dim::<1>(1).neg()
            }
            ActionDist::DiagGaussian(g) => {
                let (_, log_std) = split(inputs, g.dim);
                (log_std + 0.5 * (2.0 * PI * std::f64::consts::E).ln()).sum_dim(1).squeeze_dim(1)
            }
        }
    }

    /// KL(old ‖ new) per row, `[B]`.
    pub fn kl(&self, old: Tensor<2>, new: Tensor<2>) -> Tensor<1> {
        match self {
            ActionDist::Categorical(_) => {
                let (logp_old, logp_new) = (log_softmax(old, 1), log_softmax(new, 1));
                (logp_old.clone().exp() * (logp_old - logp_new)).sum_dim(1).squeeze_dim(1)
            }
            ActionDist::DiagGaussian(g) => {
                let (mean_old, log_std_old) = split(old, g.dim);
                let (mean_new, log_std_new) = split(new, g.dim);
                let var_new = log_std_new.clone().mul_scalar(2.0).exp();
                let num = log_std_old.clone().mul_scalar(2.0).exp() + (mean_old - mean_new).square();
                (log_std_new - log_std_old + num / var_new.mul_scalar(2.0) - 0.5).sum_dim(1).squeeze_dim(1)
            }
        }
    }
}

/// `[B, 2·dim]` → (means, log-stds), each `[B, dim]`.
fn split(inputs: Tensor<2>, dim: usize) -> (Tensor<2>, Tensor<2>) {
    (inputs.clone().narrow(1, 0, dim), inputs.narrow(1, dim, dim))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t2(rows: &[&[f32]]) -> Tensor<2> {
        let (r, c) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows.iter().flat_map(|row| row.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [r, c]), &Device::flex())
    }

    fn host(x: Tensor<1>) -> Vec<f32> {
        x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < 1e-4, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn categorical_matches_closed_forms() {
        let d = ActionDist::Categorical(Categorical { n: 3 });
        let logits: [[f64; 3]; 2] = [[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]];
        let probs = |l: &[f64; 3]| {
            let z: f64 = l.iter().map(|v| v.exp()).sum();
            l.map(|v| v.exp() / z)
        };
        let (p0, p1) = (probs(&logits[0]), probs(&logits[1]));
        let inputs = t2(&[&[0.5, -1.0, 2.0], &[0.0, 0.0, 0.0]]);
        close(&host(d.log_prob(inputs.clone(), t2(&[&[2.0], &[1.0]]))), &[p0[2].ln(), p1[1].ln()]);
        let h = |p: &[f64; 3]| -p.iter().map(|q| q * q.ln()).sum::<f64>();
        close(&host(d.entropy(inputs.clone())), &[h(&p0), h(&p1)]);
        let kl01: f64 = p1.iter().zip(&p0).map(|(a, b)| a * (a / b).ln()).sum();
        close(&host(d.kl(t2(&[&[0.0, 0.0, 0.0]]), t2(&[&[0.5, -1.0, 2.0]]))), &[kl01]);
        close(&host(d.mode(inputs).reshape([-1])), &[2.0, 0.0]);
    }

    #[test]
    fn categorical_samples_follow_the_probabilities() {
        let d = ActionDist::Categorical(Categorical { n: 3 });
        let device = Device::flex();
        let n = 20_000;
        let row = [0.0f32, 1.0, -1.0];
        let flat: Vec<f32> = (0..n).flat_map(|_| row).collect();
        let uniforms = crate::runners::Noise::new(7, 0).sample(NoiseKind::Uniform, 3 * n);
        let noise = Tensor::from_data(TensorData::new(uniforms, [n, 3]), &device);
        let samples = host(d.sample(Tensor::from_data(TensorData::new(flat, [n, 3]), &device), noise).reshape([-1]));
        let z: f64 = row.iter().map(|v| (*v as f64).exp()).sum();
        for k in 0..3 {
            let freq = samples.iter().filter(|&&a| a == k as f32).count() as f64 / n as f64;
            let p = (row[k] as f64).exp() / z;
            assert!((freq - p).abs() < 0.015, "action {k}: {freq} vs {p}");
        }
    }

    #[test]
    fn gaussian_matches_closed_forms() {
        let d = ActionDist::DiagGaussian(DiagGaussian { dim: 2 });
        // means (0.5, -1), log-stds (0.1, -0.3)
        let inputs = t2(&[&[0.5, -1.0, 0.1, -0.3]]);
        let a = [0.2f64, -0.4];
        let (mu, ls) = ([0.5f64, -1.0], [0.1f64, -0.3]);
        let lp: f64 =
            (0..2).map(|i| -0.5 * ((a[i] - mu[i]) / ls[i].exp()).powi(2) - ls[i] - 0.5 * (2.0 * PI).ln()).sum();
        close(&host(d.log_prob(inputs.clone(), t2(&[&[0.2, -0.4]]))), &[lp]);
        let h: f64 = ls.iter().map(|l| l + 0.5 * (2.0 * PI * std::f64::consts::E).ln()).sum();
        close(&host(d.entropy(inputs.clone())), &[h]);
        let (mu2, ls2) = ([0.0f64, 0.0], [0.0f64, 0.2]);
        let kl: f64 = (0..2)
            .map(|i| {
                ls2[i] - ls[i] + ((2.0 * ls[i]).exp() + (mu[i] - mu2[i]).powi(2)) / (2.0 * (2.0 * ls2[i]).exp()) - 0.5
            })
            .sum();
        close(&host(d.kl(inputs, t2(&[&[0.0, 0.0, 0.0, 0.2]]))), &[kl]);
    }
}
