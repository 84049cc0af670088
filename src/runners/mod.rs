//! Env runners: drive a batched env with a policy. The [`Bridge`] moves env fields into the learner's tensors and
//! actions back; [`evaluate`] plays whole episodes for evaluation.

#[cfg(feature = "atari")]
mod atari;
mod bridge;
mod envs;
#[cfg(feature = "wgpu")]
mod link;
mod noise;

#[cfg(feature = "atari")]
pub use atari::AtariEnvs;
pub use bridge::{ActionMap, Bridge, Step};
pub use envs::{is_atari_id, Envs};
pub use noise::{Noise, NoiseKind};

use crate::envs::EnvConfig;
use crate::model::ActorCritic;
use crate::Error;
use serde::Serialize;

/// Returns of a set of evaluation episodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalSummary {
    pub episodes: usize,
    pub return_mean: f64,
    pub return_std: f64,
    pub length_mean: f64,
}

/// Plays `episodes` episodes at once, one per env of a fresh batch seeded with `seed`, and summarises the first
/// episode of each env (Atari: the first whole game, unclipped score, whatever the life-loss setting).
/// `explore = false` takes the most likely action.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    policy: &ActorCritic,
    env_id: &str,
    env_config: &EnvConfig,
    bridge: &Bridge,
    actions: &ActionMap,
    episodes: usize,
    explore: bool,
    seed: u64,
) -> Result<EvalSummary, Error> {
    if episodes == 0 {
        return Err(Error::Config("evaluation needs at least one episode".into()));
    }
    let mut env = Envs::make(env_id, env_config, episodes, bridge.env_device(), seed)?;
    let limit = match env.spec().max_episode_steps {
        0 => 1_000_000,
        steps => steps as usize,
    };
    let dist = policy.dist().clone();
    let mut noise = Noise::new(seed, u64::MAX);
    let (mut done, mut returns, mut lengths) = (vec![false; episodes], vec![0.0f64; episodes], vec![0u32; episodes]);
    let mut obs = bridge.obs(&mut env)?;
    for _ in 0..limit {
        let out = policy.forward(obs);
        let chosen = if explore {
            let eps = bridge.noise(&mut noise, dist.noise(), episodes, 1)?;
            dist.sample(out.dist_inputs, eps)
        } else {
            dist.mode(out.dist_inputs)
        };
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
