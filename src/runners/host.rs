//! Envs stepped on the host by code outside Myriad: a Python `gymnasium.vector.VectorEnv`, a simulator with an API
//! of its own. Such a batch implements [`HostBatch`] and is registered under an id with [`register_host_env`];
//! every algorithm then trains on that id as on Myriad's own envs. Each step the sampled actions come to the host
//! (`4·N·A` bytes), the batch steps, and one f32 buffer goes up holding, in order, the observations `[N, D]`, the
//! final observations `[N, D]`, then reward, terminated and truncated `[N]` each.
//!
//! A host batch autoresets in the step that ends an episode (Gymnasium's `AutoresetMode.SAME_STEP`): `obs` holds
//! the next episode's first observation and `final_obs` the one the episode ended on.

use super::bridge::{Bridge, Step};
use crate::envs::{registry, EnvConfig, EnvSpec};
use crate::Error;
use burn::tensor::Tensor;
use std::sync::{Arc, PoisonError, RwLock};

/// One step of `N` host envs, written by [`HostBatch::step`] into buffers the caller keeps.
#[derive(Clone, Debug, Default)]
pub struct HostOutputs {
    /// `[N, D]`: the observations to act on next (a new episode's first where one ended).
    pub obs: Vec<f32>,
    /// `[N, D]`: where an episode ended, the observation it ended on; the other rows are not read.
    pub final_obs: Vec<f32>,
    /// `[N]` each.
    pub reward: Vec<f32>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
}

/// A batch of `N` envs stepped on the host. Its spec's observation space is a flat f32 `Box` of `D` values (a
/// Discrete observation is one value, its index); actions arrive as `[N, A]` f32 (a Discrete action as its index).
pub trait HostBatch {
    fn spec(&self) -> &EnvSpec;
    fn num_envs(&self) -> usize;
    /// Resets every env, env i from a stream keyed by `(seed, i)`, writing the first observations `[N, D]`.
    fn reset(&mut self, seed: u64, obs: &mut Vec<f32>) -> Result<(), Error>;
    /// Steps every env with `actions` `[N, A]`, autoresetting those whose episodes end.
    fn step(&mut self, actions: &[f32], out: &mut HostOutputs) -> Result<(), Error>;
}

/// Makes a [`HostBatch`] of `n` envs with the env's kwargs (`environment.env_config`), reset with `seed`.
pub type HostFactory = Arc<dyn Fn(&EnvConfig, usize, u64) -> Result<Box<dyn HostBatch>, Error> + Send + Sync>;

struct HostEntry {
    id: String,
    factory: HostFactory,
    /// Whether the factory may run on a thread other than the one that registered it (asynchronous runners).
    any_thread: bool,
}

static HOST_ENVS: RwLock<Vec<HostEntry>> = RwLock::new(Vec::new());

/// Registers host envs under `id` for every algorithm; registering an id again replaces its factory. Ids of
/// Myriad's envs (built-in or registered) and of the Atari families are refused. `any_thread = false` keeps the
/// envs on the learner's thread: the asynchronous runners (IMPALA, APPO) then refuse the id.
pub fn register_host_env(id: &str, any_thread: bool, factory: HostFactory) -> Result<(), Error> {
    if id.trim().is_empty() || id.chars().any(char::is_control) || id.chars().count() > 200 {
        return Err(Error::Config(format!("a host env id must be 1 to 200 printable characters, not {id:?}")));
    }
    if super::is_atari_id(id) || registry::lookup(id).is_ok() {
        return Err(Error::Config(format!(
            "cannot register host env `{}`: the id names one of Myriad's envs; choose another id",
            crate::algo::clip(id, 100)
        )));
    }
    let mut envs = HOST_ENVS.write().unwrap_or_else(PoisonError::into_inner);
    envs.retain(|e| e.id != id);
    envs.push(HostEntry { id: id.to_string(), factory, any_thread });
    Ok(())
}

/// The factory registered under `id`, and whether it may run on any thread.
pub fn host_env(id: &str) -> Option<(HostFactory, bool)> {
    let envs = HOST_ENVS.read().unwrap_or_else(PoisonError::into_inner);
    envs.iter().find(|e| e.id == id).map(|e| (e.factory.clone(), e.any_thread))
}

/// Host envs with the statistics of the episodes they finished.
pub struct HostEnvs {
    batch: Box<dyn HostBatch>,
    spec: EnvSpec,
    obs: Vec<f32>,
    out: HostOutputs,
    /// The running return and length of each env's episode.
    running: Vec<(f64, u32)>,
    /// Episodes finished since the last `take_sums`: count, summed return, summed length.
    sums: (u64, f64, f64),
}

impl HostEnvs {
    /// `n` envs of the host env registered as `id`, reset with `seed`; their spec carries `id`, the name runs and
    /// checkpoints know them by.
    pub fn new(id: &str, factory: &HostFactory, config: &EnvConfig, n: usize, seed: u64) -> Result<HostEnvs, Error> {
        let mut batch = factory(config, n, seed)?;
        if batch.num_envs() != n {
            return Err(Error::Config(format!(
                "host env {id} made {} envs where {n} were asked for",
                batch.num_envs()
            )));
        }
        let spec = EnvSpec { id: id.to_string(), ..batch.spec().clone() };
        let mut obs = Vec::new();
        batch.reset(seed, &mut obs)?;
        let envs =
            HostEnvs { batch, spec, obs, out: HostOutputs::default(), running: vec![(0.0, 0); n], sums: (0, 0.0, 0.0) };
        envs.check_obs(&envs.obs, "reset")?;
        Ok(envs)
    }

    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    pub fn num_envs(&self) -> usize {
        self.running.len()
    }

    /// Starts new episodes in every env, seeded with `seed`.
    pub fn restart(&mut self, seed: u64) -> Result<(), Error> {
        self.batch.reset(seed, &mut self.obs)?;
        self.check_obs(&self.obs, "reset")?;
        self.running.iter_mut().for_each(|r| *r = (0.0, 0));
        Ok(())
    }

    fn check_obs(&self, obs: &[f32], what: &str) -> Result<(), Error> {
        let expected = self.num_envs() * self.spec.obs_dim();
        if obs.len() != expected {
            return Err(Error::Env(crate::envs::Error::Shape(format!(
                "host env {}: {what} gave {} observation values for {} envs of {} (expected {expected})",
                self.spec.id,
                obs.len(),
                self.num_envs(),
                self.spec.obs_dim()
            ))));
        }
        Ok(())
    }

    /// Steps every env, checks the outputs' shapes and counts finished episodes; returns whether any ended.
    fn step(&mut self, actions: &[f32]) -> Result<bool, Error> {
        self.batch.step(actions, &mut self.out)?;
        let n = self.num_envs();
        self.check_obs(&self.out.obs, "step")?;
        let out = &self.out;
        if out.reward.len() != n || out.terminated.len() != n || out.truncated.len() != n {
            return Err(Error::Env(crate::envs::Error::Shape(format!(
                "host env {}: a step gave {} rewards, {} terminations and {} truncations for {n} envs",
                self.spec.id,
                out.reward.len(),
                out.terminated.len(),
                out.truncated.len()
            ))));
        }
        let ended = out.terminated.iter().zip(&out.truncated).any(|(a, b)| *a || *b);
        if ended {
            self.check_obs(&out.final_obs, "step's final observations")?;
        }
        for i in 0..n {
            let r = &mut self.running[i];
            r.0 += out.reward[i] as f64;
            r.1 += 1;
            if out.terminated[i] || out.truncated[i] {
                self.sums.0 += 1;
                self.sums.1 += r.0;
                self.sums.2 += r.1 as f64;
                *r = (0.0, 0);
            }
        }
        std::mem::swap(&mut self.obs, &mut self.out.obs);
        Ok(ended)
    }

    /// Episodes finished since the last call: `[count, summed return, summed length]`.
    pub fn take_sums(&mut self) -> [f32; 3] {
        let (n, total, length) = std::mem::take(&mut self.sums);
        [n as f32, total as f32, length as f32]
    }
}

impl Bridge {
    /// The current observations `[N, D]` of host envs as a learner tensor.
    pub(super) fn host_obs(&self, envs: &HostEnvs) -> Tensor<2> {
        let (n, d) = (envs.num_envs(), envs.spec.obs_dim());
        self.from_vec(envs.obs.clone()).reshape([n, d])
    }

    /// Steps host envs with env-space actions `[N, A]` and uploads the step in one buffer.
    pub(super) fn host_step(&self, envs: &mut HostEnvs, actions: Tensor<2>) -> Result<Step, Error> {
        let actions = self.to_vec(actions.reshape([-1]))?;
        let ended = envs.step(&actions)?;
        let (n, d) = (envs.num_envs(), envs.spec.obs_dim());
        let out = &envs.out;
        let mut values = Vec::with_capacity(2 * n * d + 3 * n);
        values.extend_from_slice(&envs.obs);
        values.extend_from_slice(if ended { &out.final_obs } else { &envs.obs });
        values.extend_from_slice(&out.reward);
        values.extend(out.terminated.iter().map(|&t| t as u8 as f32));
        values.extend(out.truncated.iter().map(|&t| t as u8 as f32));
        let buffer = self.from_vec(values);
        let field = |k: usize| buffer.clone().narrow(0, 2 * n * d + k * n, n);
        Ok(Step {
            obs: buffer.clone().narrow(0, 0, n * d).reshape([n, d]),
            final_obs: buffer.clone().narrow(0, n * d, n * d).reshape([n, d]),
            reward: field(0),
            terminated: field(1),
            truncated: field(2),
            packed: None,
        })
    }

    /// Episodes finished since the last call, `[count, summed return, summed length]`, as a learner tensor.
    pub(super) fn host_episode_sums(&self, envs: &mut HostEnvs) -> Tensor<1> {
        self.from_vec(envs.take_sums().to_vec())
    }
}
