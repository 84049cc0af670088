//! Q(s, a) for Box actions (SAC's critics): an MLP [`Torso`] over the observation and the action concatenated,
//! then one linear output. [`Critics`] holds one or two of them (`twin_q`, Fujimoto et al. 2018), each with its
//! own weights, valued by their minimum.

use super::{ModelConfig, ObsEncoding, Torso};
use crate::envs::spaces::Space;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// One critic, `[B, obs_dim]` and `[B, A]` → `[B]`.
#[derive(Module, Debug)]
pub struct ContinuousQ {
    torso: Torso,
    out: Linear,
}

impl ContinuousQ {
    /// The critic `model` describes for 1-D Box observations and `action_dim` action values.
    pub fn new(
        model: &ModelConfig,
        observation_space: &Space,
        action_dim: usize,
        device: &Device,
    ) -> Result<Self, String> {
        let ObsEncoding::Raw { dim } = ObsEncoding::for_space(observation_space)? else {
            return Err(format!("Q(s, a) critics take 1-D Box observations, not {observation_space:?}"));
        };
        let width = dim + action_dim;
        let input = Space::bounded(vec![f32::NEG_INFINITY; width], vec![f32::INFINITY; width]);
        let torso = Torso::new(model, &input, false, device)?;
        let out = LinearConfig::new(torso.width(), 1).init(device);
        Ok(Self { torso, out })
    }

    /// # Shapes
    /// - `obs`: `[B, obs_dim]`, `actions`: `[B, A]`
    /// - returns `[B]`
    pub fn forward(&self, obs: Tensor<2>, actions: Tensor<2>) -> Tensor<1> {
        let x = Tensor::cat(vec![obs, actions], 1);
        self.out.forward(self.torso.forward(x)).squeeze_dim::<1>(1)
    }
}

/// One or two critics with their own weights.
#[derive(Module, Debug)]
pub struct Critics {
    qs: Vec<ContinuousQ>,
}

impl Critics {
    /// `count` critics (1, or 2 for twin Q), drawn one after the other.
    pub fn new(
        count: usize,
        model: &ModelConfig,
        observation_space: &Space,
        action_dim: usize,
        device: &Device,
    ) -> Result<Self, String> {
        let qs = (0..count.max(1))
            .map(|_| ContinuousQ::new(model, observation_space, action_dim, device))
            .collect::<Result<_, _>>()?;
        Ok(Self { qs })
    }

    /// Each critic's Q(s, a), `[B]` each.
    pub fn each(&self, obs: Tensor<2>, actions: Tensor<2>) -> Vec<Tensor<1>> {
        self.qs.iter().map(|q| q.forward(obs.clone(), actions.clone())).collect()
    }

    /// min_j Q_j(s, a), `[B]`.
    pub fn min(&self, obs: Tensor<2>, actions: Tensor<2>) -> Tensor<1> {
        let mut qs = self.each(obs, actions).into_iter();
        let first = qs.next().expect("at least one critic");
        qs.fold(first, |m, q| m.min_pair(q))
    }
}
