//! The contract every environment fulfils: parameters apart from state, a scalar CPU `reset`/`step` that is the
//! specification, and GPU kernels (WGSL, CUDA) that implement the same step one thread per env.

use crate::config::EnvConfig;
use crate::error::Result;
use crate::rng::Stream;
use crate::spaces::Space;
use bytemuck::Pod;
use serde::Serialize;

/// What a batch needs to know about an env instance: its id, spaces and time limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnvSpec {
    /// The Gymnasium id the env was made with.
    pub id: String,
    pub observation_space: Space,
    pub action_space: Space,
    /// TimeLimit: an episode is truncated once it has run this many steps.
    pub max_episode_steps: u32,
    /// Gymnasium's `reward_threshold`, where it defines one.
    pub reward_threshold: Option<f32>,
    /// f32 values of internal state per env (Gymnasium's `env.unwrapped.state`).
    pub state_dim: usize,
}

impl EnvSpec {
    pub fn obs_dim(&self) -> usize {
        self.observation_space.flat_dim()
    }

    pub fn action_dim(&self) -> usize {
        self.action_space.flat_dim()
    }
}

/// One environment family. `Params` holds constants and kwargs, `State` the per-env dynamics; step and reset are
/// pure functions of (params, state, action, random stream).
pub trait Env: Send + Sync + Sized + 'static {
    /// Constants, limits and kwargs, Gymnasium's values by default. Also the GPU kernels' `EnvParams` uniform,
    /// field for field.
    type Params: Pod + Send + Sync + std::fmt::Debug;
    /// Per-env dynamics, f32 fields only, laid out as Gymnasium's `env.unwrapped.state`.
    type State: Pod + Send + Sync;
    /// One env's action: `u32` for `Discrete`, `f32` for a one-dimensional `Box`.
    type Action: Pod + Send + Sync + Default;

    /// f32 values per observation (the flat dimension of the observation space).
    const OBS_DIM: usize;

    /// The WGSL functions of this env (`env_reset`, `env_step`, `env_observe`, `env_random_action`); see
    /// `device/batch_step.wgsl` for the contract.
    ///
    /// An env without GPU kernels (a custom env added with [`register`](crate::register), say) sets
    /// `const WGSL: &'static str = "";` and `const CUDA: &'static str = "";`. It then runs on the CPU backend
    /// only: `make` on a wgpu or CUDA device is an [`Error::NoKernel`](crate::Error::NoKernel), and
    /// [`EnvInfo::has_kernel`](crate::EnvInfo::has_kernel) tells a learner so up front.
    const WGSL: &'static str;
    /// The CUDA C twin of `WGSL`; see `device/batch_step.cu`. Empty where the env has no CUDA kernel.
    const CUDA: &'static str;

    /// Reads the typed params from Gymnasium-style kwargs (`id` picks registered variants such as 8x8 maps).
    fn params(id: &str, config: &EnvConfig) -> Result<(Self::Params, Option<u32>)>;
    /// Spaces, time limit and dimensions of an instance with these params.
    fn spec(id: &str, params: &Self::Params, max_episode_steps: Option<u32>) -> EnvSpec;

    /// A fresh episode's state.
    fn reset(p: &Self::Params, rng: &mut Stream) -> Self::State;
    /// One transition: `(next state, reward, terminated)`. Truncation is the batch's business (TimeLimit).
    fn step(p: &Self::Params, s: &Self::State, a: Self::Action, rng: &mut Stream) -> (Self::State, f32, bool);
    /// The observation of a state, written into `obs` (length `obs_dim`).
    fn observe(p: &Self::Params, s: &Self::State, obs: &mut [f32]);
    /// Whether `a` lies in the action space (discrete envs check `a < n`; continuous actions are clipped instead).
    fn valid_action(_p: &Self::Params, _a: &Self::Action) -> bool {
        true
    }
    /// A uniformly random action made from 32 random bits (for random-action rollouts and benchmarks).
    fn random_action(p: &Self::Params, bits: u32) -> Self::Action;
}
