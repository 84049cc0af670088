//! The model catalog: fully connected actor-critic networks (RLlib's `fcnet_*` options) built with burn, and the
//! action distributions their outputs parameterise.

mod distribution;
mod mlp;

pub use distribution::{ActionDist, Categorical, DiagGaussian};
pub use mlp::{ActorCritic, ModelOutput};

use crate::envs::spaces::Space;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Hidden-layer nonlinearity (`fcnet_activation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Tanh,
    Relu,
    Silu,
}

/// RLlib's model config for fully connected networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden layer sizes of the policy trunk (and of the separate value trunk).
    pub fcnet_hiddens: Vec<usize>,
    /// Nonlinearity after each hidden layer.
    pub fcnet_activation: Activation,
    /// Share the hidden layers between policy and value function (one trunk, two heads).
    pub vf_share_layers: bool,
    /// Box actions: a state-independent learned log-std instead of one output per action dimension.
    pub free_log_std: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            fcnet_hiddens: vec![256, 256],
            fcnet_activation: Activation::Tanh,
            vf_share_layers: false,
            free_log_std: false,
        }
    }
}

/// How observations enter the network: Box values as they are, Discrete indices one-hot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObsEncoding {
    Raw { dim: usize },
    OneHot { n: usize },
}

impl ObsEncoding {
    pub fn for_space(space: &Space) -> Result<Self, String> {
        match space {
            Space::Box { shape, .. } if shape.len() == 1 => Ok(ObsEncoding::Raw { dim: shape[0] }),
            Space::Box { shape, .. } => {
                Err(format!("the fully connected model takes 1-D Box observations, this space has shape {shape:?}"))
            }
            Space::Discrete { n } => Ok(ObsEncoding::OneHot { n: *n as usize }),
        }
    }

    /// Network input width.
    pub fn width(self) -> usize {
        match self {
            ObsEncoding::Raw { dim } => dim,
            ObsEncoding::OneHot { n } => n,
        }
    }
}

impl ModelConfig {
    /// Checks sizes and builds the actor-critic for these spaces on `device`, its initial weights drawn from
    /// `seed`.
    pub fn init(
        &self,
        observation_space: &Space,
        action_space: &Space,
        device: &Device,
        seed: u64,
    ) -> Result<ActorCritic, String> {
        if self.fcnet_hiddens.iter().any(|&h| h == 0) {
            return Err(format!("rl_module.fcnet_hiddens must be positive sizes, got {:?}", self.fcnet_hiddens));
        }
        let encoding = ObsEncoding::for_space(observation_space)?;
        let dist = ActionDist::for_space(action_space, self.free_log_std)?;
        // burn's initialisers draw from the backend's generator, which the whole process shares: seed it and draw
        // under one lock, so that models built on other threads cannot interleave their draws.
        static INIT: Mutex<()> = Mutex::new(());
        let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        device.seed(seed);
        Ok(ActorCritic::new(self, encoding, dist, device))
    }
}
