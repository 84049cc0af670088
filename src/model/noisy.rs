//! Noisy linear layers (Fortunato et al. 2017, "Noisy Networks for Exploration", factorised Gaussian noise):
//!
//! y = x·(μ_w + σ_w ⊙ ε_w) + μ_b + σ_b ⊙ ε_b,  with ε_w[i, j] = f(ε_in[i])·f(ε_out[j]), ε_b = f(ε_out),
//! f(x) = sign(x)·√|x|, and ε_in `[in]`, ε_out `[out]` standard normal.
//!
//! Initialisation as in the paper's §3.2: μ ~ U(−1/√in, 1/√in), σ = σ0/√in. The noisy term is computed without
//! forming ε_w: x·(σ_w ⊙ f(ε_in) f(ε_out)ᵀ) = ((x ⊙ f(ε_in))·σ_w) ⊙ f(ε_out).
//!
//! For a standard normal ε, E f(ε) = 0 and E f(ε)² = E|ε| = √(2/π); so each weight's noise σ_ij·f(ε_in_i)·
//! f(ε_out_j) has mean 0 and standard deviation σ_ij·√(2/π) (the two factors are independent), and each bias's
//! σ_j·(2/π)^¼.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

/// One draw of a noisy layer's factorised noise, already through f(x) = sign(x)·√|x|.
#[derive(Clone, Debug)]
pub struct LayerNoise {
    /// `[in]`: f(ε_in).
    pub eps_in: Tensor<1>,
    /// `[out]`: f(ε_out).
    pub eps_out: Tensor<1>,
}

impl LayerNoise {
    /// The noise of a `d_input` → `d_output` layer from `d_input + d_output` standard normals (ε_in first).
    ///
    /// # Shapes
    /// - `normals`: `[d_input + d_output]`
    pub fn from_normals(normals: Tensor<1>, d_input: usize, d_output: usize) -> LayerNoise {
        assert_eq!(
            normals.dims()[0],
            d_input + d_output,
            "a {d_input} → {d_output} layer takes {} normals",
            d_input + d_output
        );
        let f = |x: Tensor<1>| x.clone().sign() * x.abs().sqrt();
        LayerNoise {
            eps_in: f(normals.clone().narrow(0, 0, d_input)),
            eps_out: f(normals.narrow(0, d_input, d_output)),
        }
    }
}

/// A linear layer with learned, factorised Gaussian weight and bias noise. Weights are `[in, out]`, as burn's
/// `Linear` stores them.
#[derive(Module, Debug)]
pub struct NoisyLinear {
    /// `[in, out]`: μ_w.
    pub weight_mu: Param<Tensor<2>>,
    /// `[in, out]`: σ_w.
    pub weight_sigma: Param<Tensor<2>>,
    /// `[out]`: μ_b.
    pub bias_mu: Param<Tensor<1>>,
    /// `[out]`: σ_b.
    pub bias_sigma: Param<Tensor<1>>,
}

impl NoisyLinear {
    /// A `d_input` → `d_output` layer with μ ~ U(−1/√in, 1/√in) and σ = `sigma0`/√in.
    pub fn new(d_input: usize, d_output: usize, sigma0: f64, device: &Device) -> NoisyLinear {
        let bound = 1.0 / (d_input as f64).sqrt();
        let mu = Initializer::Uniform { min: -bound, max: bound };
        let sigma = Initializer::Constant { value: sigma0 * bound };
        NoisyLinear {
            weight_mu: mu.init([d_input, d_output], device),
            weight_sigma: sigma.init([d_input, d_output], device),
            bias_mu: mu.init([d_output], device),
            bias_sigma: sigma.init([d_output], device),
        }
    }

    /// Input width.
    pub fn d_input(&self) -> usize {
        self.weight_mu.dims()[0]
    }

    /// Output width.
    pub fn d_output(&self) -> usize {
        self.weight_mu.dims()[1]
    }

    /// The layer with this draw of noise, or with its mean weights (`None`: greedy evaluation).
    ///
    /// # Shapes
    /// - `x`: `[B, in]`
    /// - `noise`: ε_in `[in]`, ε_out `[out]`
    /// - returns `[B, out]`
    pub fn forward(&self, x: Tensor<2>, noise: Option<&LayerNoise>) -> Tensor<2> {
        let mean = x.clone().matmul(self.weight_mu.val()) + self.bias_mu.val().unsqueeze_dim::<2>(0);
        let Some(LayerNoise { eps_in, eps_out }) = noise else { return mean };
        let eps_in = eps_in.clone().unsqueeze_dim::<2>(0); // [1, in]
        let eps_out = eps_out.clone().unsqueeze_dim::<2>(0); // [1, out]
        let weight_noise = (x * eps_in).matmul(self.weight_sigma.val()) * eps_out.clone(); // [B, out]
        let bias_noise = self.bias_sigma.val().unsqueeze_dim::<2>(0) * eps_out; // [1, out]
        mean + weight_noise + bias_noise
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::{Noise, NoiseKind};
    use burn::tensor::TensorData;

    fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn initialisation_follows_the_paper() {
        let layer = NoisyLinear::new(16, 3, 0.5, &Device::flex());
        assert!(host(layer.weight_mu.val()).iter().chain(&host(layer.bias_mu.val())).all(|w| w.abs() <= 0.25));
        assert!(host(layer.weight_sigma.val()).iter().chain(&host(layer.bias_sigma.val())).all(|&s| s == 0.125));
    }

    #[test]
    fn noise_is_f_of_the_normals() {
        let device = Device::flex();
        let normals = Noise::new(3, 0).sample(NoiseKind::Normal, 7);
        let noise = LayerNoise::from_normals(Tensor::from_data(TensorData::new(normals.clone(), [7]), &device), 4, 3);
        let f: Vec<f32> = normals.iter().map(|x| x.signum() * x.abs().sqrt()).collect();
        let (eps_in, eps_out) = (host(noise.eps_in), host(noise.eps_out));
        for (got, want) in eps_in.iter().chain(&eps_out).zip(&f) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    /// Reads the effective weight and bias noise through `forward`: rows of the identity give W + noise, a row of
    /// zeros gives the bias; the noiseless forward is subtracted.
    #[test]
    fn weight_noise_has_the_factorised_statistics() {
        let device = Device::flex();
        let (d_in, d_out, sigma0) = (4usize, 3usize, 0.5);
        let layer = NoisyLinear::new(d_in, d_out, sigma0, &device);
        let sigma = (sigma0 / (d_in as f64).sqrt()) as f32;
        let mut eye = vec![0.0f32; (d_in + 1) * d_in];
        (0..d_in).for_each(|i| eye[i * d_in + i] = 1.0);
        let x = Tensor::<2>::from_data(TensorData::new(eye, [d_in + 1, d_in]), &device);
        let mean = host(layer.forward(x.clone(), None));
        let mut stream = Noise::new(11, 0);
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            let normals = stream.sample(NoiseKind::Normal, d_in + d_out);
            let noise = LayerNoise::from_normals(
                Tensor::from_data(TensorData::new(normals.clone(), [d_in + d_out]), &device),
                d_in,
                d_out,
            );
            let y = host(layer.forward(x.clone(), Some(&noise)));
            let diff: Vec<f32> = y.iter().zip(&mean).map(|(a, b)| a - b).collect();
            let bias = &diff[d_in * d_out..];
            let f = |v: f32| v.signum() * v.abs().sqrt();
            for i in 0..d_in {
                for j in 0..d_out {
                    let w = diff[i * d_out + j] - bias[j];
                    // the draw itself: σ·f(ε_in_i)·f(ε_out_j)
                    let want = sigma * f(normals[i]) * f(normals[d_in + j]);
                    assert!((w - want).abs() < 1e-5, "weight noise {w} vs {want}");
                    weights.push((w / sigma) as f64);
                }
            }
            biases.extend(bias.iter().map(|b| (b / sigma) as f64));
        }
        let stats = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64)
        };
        let two_over_pi = 2.0 / std::f64::consts::PI;
        let (w_mean, w_var) = stats(&weights);
        assert!(w_mean.abs() < 4.0 * (two_over_pi / weights.len() as f64).sqrt(), "weight noise mean {w_mean}");
        assert!((w_var / two_over_pi - 1.0).abs() < 0.08, "weight noise variance {w_var} vs 2/π");
        let (b_mean, b_var) = stats(&biases);
        assert!(b_mean.abs() < 4.0 * (two_over_pi.sqrt() / biases.len() as f64).sqrt(), "bias noise mean {b_mean}");
        assert!((b_var / two_over_pi.sqrt() - 1.0).abs() < 0.08, "bias noise variance {b_var} vs √(2/π)");
    }
}
