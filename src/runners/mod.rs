//! Env runners: drive a batched env with a policy. The [`Bridge`] moves env fields into the learner's tensors and
//! actions back; [`SyncRunner`] owns a batch with its action mapping and current observations; [`evaluate`] plays
//! whole episodes with any algorithm's [`Policy`]; [`AsyncRunners`] are runner threads acting with the weights
//! they last received; [`Stream`] names every random stream of a run.

mod asynchronous;
#[cfg(feature = "atari")]
mod atari;
mod bridge;
mod collector;
mod envs;
mod host;
#[cfg(feature = "wgpu")]
mod link;
mod noise;
mod streams;
mod sync;

pub use asynchronous::{AsyncRunners, Fragment, RunnerSettings};
#[cfg(feature = "atari")]
pub use atari::AtariEnvs;
pub use bridge::{ActionMap, Bridge, Step};
pub use collector::{Batch, Collector};
pub use envs::{is_atari_id, register_env, Envs};
pub use host::{host_env, register_host_env, HostBatch, HostEnvs, HostFactory, HostOutputs};
pub use noise::{Noise, NoiseKind};
pub use streams::Stream;
pub use sync::SyncRunner;

use crate::config::EnvironmentConfig;
use crate::Error;
use burn::tensor::Tensor;
use serde::Serialize;

/// What evaluation and inference need of a trained network: actions for a batch of observations.
pub trait Policy {
    /// Actions `[B, A]` in the policy's space (before [`ActionMap`]) for observations `[B, obs_dim]`. With
    /// `explore` the policy acts as it does in training (sampled, or ε-greedy); without it, greedily. Random draws
    /// come from `noise`, on the bridge's device.
    fn act(&self, obs: Tensor<2>, explore: bool, noise: &mut Noise, bridge: &Bridge) -> Result<Tensor<2>, Error>;
}

/// What on-policy collection keeps of one step of every env, as the acting policy computed it.
pub struct Acted {
    /// `[N, A]` in the policy's space.
    pub actions: Tensor<2>,
    /// `[N]`: log μ(a | s) of the behaviour policy.
    pub log_prob: Tensor<1>,
    /// `[N]`: V(s).
    pub value: Tensor<1>,
    /// `[N, K]`: the distribution's inputs.
    pub dist_inputs: Tensor<2>,
}

/// A policy that acts while collecting on-policy rollouts: PPO's, and the behaviour policy μ of IMPALA's
/// runners.
pub trait Behaviour {
    /// What its sampler draws per env and step: the kind and the width.
    fn noise(&self) -> (NoiseKind, usize);
    /// Acts on observations `[N, obs_dim]`, sampling with one row of draws per env, `eps` `[N, width]`.
    fn act(&self, obs: Tensor<2>, eps: Tensor<2>) -> Acted;
}

/// Actions for observations given on the host, for inference outside the training loop (the Python package's
/// `compute_actions`). `obs` holds `[B, obs_dim]` values as the learner sees them (Atari frames scaled to
/// [0, 1]); the actions come back `[B, A]` flattened in the env's own space: discrete actions as indices, Box
/// actions mapped to the bounds as in training. `explore` acts as in training, drawing from `noise`.
pub fn act_on_host(
    policy: &dyn Policy,
    environment: &EnvironmentConfig,
    spec: &crate::envs::EnvSpec,
    bridge: &Bridge,
    obs: Vec<f32>,
    explore: bool,
    noise: &mut Noise,
) -> Result<Vec<f32>, Error> {
    let dim = spec.obs_dim();
    if obs.is_empty() || !obs.len().is_multiple_of(dim) {
        return Err(Error::Config(format!(
            "observations of {} hold {dim} values each; got {} values, not a whole number of them",
            spec.id,
            obs.len()
        )));
    }
    let rows = obs.len() / dim;
    let obs = bridge.from_vec(obs).reshape([rows, dim]);
    let actions = ActionMap::new(&spec.action_space, environment, bridge.device())?;
    let chosen = actions.to_env(policy.act(obs, explore, noise, bridge)?);
    bridge.to_vec(chosen.reshape([-1]))
}

/// Returns of a set of evaluation episodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalSummary {
    pub episodes: usize,
    pub return_mean: f64,
    pub return_std: f64,
    pub length_mean: f64,
}

/// Plays `episodes` episodes at once, one per env of a fresh batch of `environment.env` seeded with `seed`, and
/// summarises the first episode of each env (Atari: the first whole game, unclipped score, whatever the
/// life-loss setting). `explore = false` acts greedily.
pub fn evaluate(
    policy: &dyn Policy,
    environment: &EnvironmentConfig,
    bridge: &Bridge,
    episodes: usize,
    explore: bool,
    seed: u64,
) -> Result<EvalSummary, Error> {
    if episodes == 0 {
        return Err(Error::Config("evaluation needs at least one episode".into()));
    }
    let env_config = environment.kwargs()?;
    let mut env = Envs::make(&environment.env, &env_config, episodes, bridge.env_device(), seed)?;
    let actions = ActionMap::new(&env.spec().action_space, environment, bridge.device())?;
    let limit = match env.spec().max_episode_steps {
        0 => 1_000_000,
        steps => steps as usize,
    };
    let mut noise = Stream::EvaluationActions.noise(seed);
    let (mut done, mut returns, mut lengths) = (vec![false; episodes], vec![0.0f64; episodes], vec![0u32; episodes]);
    let mut obs = bridge.obs(&mut env)?;
    for _ in 0..limit {
        let chosen = policy.act(obs, explore, &mut noise, bridge)?;
        let step = bridge.step(&mut env, actions.to_env(chosen))?;
        #[cfg(feature = "atari")]
        if let Envs::Atari(atari) = &env {
            for &(i, score, length) in atari.finished_games() {
                if !done[i] {
                    (returns[i], lengths[i], done[i]) = (score as f64, length, true);
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
            obs = step.obs;
            continue;
        }
        let reward = bridge.to_vec(step.reward)?;
        let (terminated, truncated) = (bridge.to_vec(step.terminated)?, bridge.to_vec(step.truncated)?);
        for i in 0..episodes {
            if !done[i] {
                returns[i] += reward[i] as f64;
                lengths[i] += 1;
                done[i] = terminated[i] != 0.0 || truncated[i] != 0.0;
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        obs = step.obs;
    }
    let n = episodes as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    Ok(EvalSummary {
        episodes,
        return_mean: mean,
        return_std: std,
        length_mean: lengths.iter().map(|&l| l as f64).sum::<f64>() / n,
    })
}
