//! SAC's actor (Haarnoja et al. 2018): a [`Torso`] and a squashed Gaussian head. The head gives a mean and a
//! log-std per action dimension (the log-std clamped to [`LOG_STD_MIN`], [`LOG_STD_MAX`]); an action is
//! a = tanh(u) with u = μ + σ·ε, ε ~ N(0, I), so it lies in (-1, 1) and the env's [`crate::runners::ActionMap`]
//! scales it to the Box bounds. The log-density carries the change-of-variables correction,
//!
//!   log π(a | s) = Σ_d [ log N(u_d; μ_d, σ_d) − log(1 − tanh²(u_d)) ],
//!
//! with log(1 − tanh²(u)) written as 2·(ln 2 − u − softplus(−2u)), finite for every u.

use super::mlp::tanh;
use super::{ModelConfig, Torso};
use crate::envs::spaces::Space;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor};
use std::f64::consts::{LN_2, PI};

/// The lowest log-std the head gives.
pub const LOG_STD_MIN: f64 = -20.0;
/// The highest log-std the head gives.
pub const LOG_STD_MAX: f64 = 2.0;

/// Observations → a tanh-squashed diagonal Gaussian over `[-1, 1]^A`.
#[derive(Module, Debug)]
pub struct SquashedGaussian {
    torso: Torso,
    /// Features → means then log-stds, `[B, 2·A]`.
    head: Linear,
    #[module(skip)]
    dim: usize,
}

/// A reparameterised draw: the actions and their log-densities, both differentiable in the actor's weights.
pub struct SquashedSample {
    /// `[B, A]` in (-1, 1).
    pub actions: Tensor<2>,
    /// `[B]`: log π(a | s).
    pub log_prob: Tensor<1>,
}

impl SquashedGaussian {
    /// The actor `model` (`fcnet_hiddens`, `fcnet_activation`) describes for these observations and `dim`
    /// action values.
    pub fn new(model: &ModelConfig, observation_space: &Space, dim: usize, device: &Device) -> Result<Self, String> {
        if dim == 0 {
            return Err("a squashed Gaussian needs at least one action value".into());
        }
        let torso = Torso::new(model, observation_space, false, device)?;
        let head = LinearConfig::new(torso.width(), 2 * dim).init(device);
        Ok(Self { torso, head, dim })
    }

    /// Action values, `A`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `(μ, log σ)`, each `[B, A]`, log σ clamped to [LOG_STD_MIN, LOG_STD_MAX].
    pub fn dist_inputs(&self, obs: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let out = self.head.forward(self.torso.forward(obs));
        let mean = out.clone().narrow(1, 0, self.dim);
        let log_std = out.narrow(1, self.dim, self.dim).clamp(LOG_STD_MIN, LOG_STD_MAX);
        (mean, log_std)
    }

    /// a = tanh(μ + σ·ε) for standard normals `eps` `[B, A]`, with log π(a | s).
    pub fn sample(&self, obs: Tensor<2>, eps: Tensor<2>) -> SquashedSample {
        let (mean, log_std) = self.dist_inputs(obs);
        let u = mean + log_std.clone().exp() * eps.clone();
        let log_prob = squashed_log_prob(u.clone(), eps, log_std);
        SquashedSample { actions: tanh(u), log_prob }
    }

    /// The greedy action tanh(μ), `[B, A]`.
    pub fn greedy(&self, obs: Tensor<2>) -> Tensor<2> {
        tanh(self.dist_inputs(obs).0)
    }
}

/// log π(tanh(u) | s) per row, `[B]`, for pre-squash values `u = μ + σ·ε` given with their `eps` and log σ
/// (each `[B, A]`).
pub fn squashed_log_prob(u: Tensor<2>, eps: Tensor<2>, log_std: Tensor<2>) -> Tensor<1> {
    let gaussian = (eps.square().mul_scalar(-0.5) - log_std).sub_scalar(0.5 * (2.0 * PI).ln());
    // log(1 − tanh²(u)) = 2·(ln 2 − u − softplus(−2u))
    let log_det = (u.clone().sub_scalar(LN_2) + softplus(u.mul_scalar(-2.0), 1.0)).mul_scalar(-2.0);
    (gaussian - log_det).sum_dim(1).squeeze_dim::<1>(1)
}
