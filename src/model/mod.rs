//! The model catalog: fully connected actor-critic networks (RLlib's `fcnet_*` options) for vector observations,
//! convolutional encoders (Nature CNN, IMPALA CNN; `conv_filters`, `conv_type`, `post_fcnet_hiddens`) for image
//! observations, built with burn, and the action distributions their outputs parameterise.

mod cnn;
mod critic;
mod distribution;
mod mlp;
mod noisy;
mod q;
mod squashed;
mod torso;

pub use cnn::{ConvEncoder, ConvType};
pub use critic::{ContinuousQ, Critics};
pub use distribution::{ActionDist, Categorical, DiagGaussian};
pub use mlp::{ActorCritic, ModelOutput};
pub use noisy::{LayerNoise, NoisyLinear};
pub use q::{HeadNoise, QHeadConfig, QNetwork, QOutput};
pub use squashed::{squashed_log_prob, SquashedGaussian, SquashedSample, LOG_STD_MAX, LOG_STD_MIN};
pub use torso::{iota, one_hot, Torso};

use crate::envs::spaces::Space;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::Path;
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
    /// Image observations: `[[filters, kernel, stride], ...]` per convolution (empty: the `conv_type`'s default,
    /// Nature `[[32, 8, 4], [64, 4, 2], [64, 3, 1]]`, IMPALA filters 16, 32, 32).
    pub conv_filters: Vec<[usize; 3]>,
    /// Image observations: `nature` (plain convolutions) or `impala` (residual stacks).
    pub conv_type: ConvType,
    /// Image observations: fully connected ReLU layers after the convolutions, shared by the policy and value
    /// heads.
    pub post_fcnet_hiddens: Vec<usize>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            fcnet_hiddens: vec![256, 256],
            fcnet_activation: Activation::Tanh,
            vf_share_layers: false,
            free_log_std: false,
            conv_filters: Vec::new(),
            conv_type: ConvType::Nature,
            post_fcnet_hiddens: vec![512],
        }
    }
}

/// How observations enter the network: Box values as they are, Discrete indices one-hot, `[C, H, W]` Boxes
/// through a convolutional encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObsEncoding {
    Raw { dim: usize },
    OneHot { n: usize },
    Image { channels: usize, height: usize, width: usize },
}

impl ObsEncoding {
    pub fn for_space(space: &Space) -> Result<Self, String> {
        match space {
            Space::Box { shape, .. } if shape.len() == 1 => Ok(ObsEncoding::Raw { dim: shape[0] }),
            Space::Box { shape, .. } if shape.len() == 3 => {
                Ok(ObsEncoding::Image { channels: shape[0], height: shape[1], width: shape[2] })
            }
            Space::Box { shape, .. } => Err(format!(
                "the models take 1-D Box observations or [C, H, W] images, this space has shape {shape:?} (Atari: \
                 grayscale_obs=True gives [stack, H, W])"
            )),
            Space::Discrete { n } => Ok(ObsEncoding::OneHot { n: *n as usize }),
        }
    }

    /// Network input width.
    pub fn width(self) -> usize {
        match self {
            ObsEncoding::Raw { dim } => dim,
            ObsEncoding::OneHot { n } => n,
            ObsEncoding::Image { channels, height, width } => channels * height * width,
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
        seeded(device, seed, || ActorCritic::new(self, encoding, dist, device).map(materialize))
    }
}

/// Runs `build` with burn's generator seeded by `seed`. burn's initialisers draw from the backend's generator,
/// which the whole process shares: it is seeded and drawn from under one lock, so that models built on other
/// threads cannot interleave their draws.
pub fn seeded<T>(device: &Device, seed: u64, build: impl FnOnce() -> T) -> T {
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    build()
}

/// `module` with every parameter drawn now. burn initialises parameters lazily, at their first use; a module
/// built inside [`seeded`] and passed through this draws its weights under that seed and lock, not later from
/// whatever the shared generator holds then.
pub fn materialize<M: burn::module::Module>(module: M) -> M {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::tensor::Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
    module
}

/// Loads `model.bpk` from a checkpoint folder into a module of the same layout.
pub fn load_weights<M: burn::module::Module>(model: M, dir: &Path) -> Result<M, crate::Error> {
    load_weights_from(model, &dir.join("model.bpk"))
}

/// Loads a burnpack file into a module of the same layout.
pub fn load_weights_from<M: burn::module::Module>(model: M, path: &Path) -> Result<M, crate::Error> {
    let corrupt = |e: &dyn std::fmt::Display| {
        crate::Error::Checkpoint(format!("{} is unreadable or corrupt: {e}", path.display()))
    };
    let record = burn::store::ModuleRecord::load(&path).map_err(|e| corrupt(&e))?;
    model.try_load_record(record).map_err(|e| corrupt(&e))
}

/// The shape of every float parameter of `module`, in the module's visiting order: what a checkpoint's manifest
/// records as the model's layout.
pub fn layout_of<M: burn::module::Module>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl burn::module::ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::tensor::Tensor<D>>) {
            self.0.push(param.shape().to_vec());
        }
    }
    let mut shapes = Shapes(Vec::new());
    module.visit(&mut shapes);
    shapes.0
}
