//! Where an on-policy learner's batches come from (Sebulba's trajectory pipeline, actor → learner): a rollout
//! collected in lockstep on the learner's thread, or fragments of the runner threads ([`AsyncRunners`]) joined
//! into one batch on the learner's device. The synchronous loop is the case with no queue.

use super::{AsyncRunners, Behaviour, Bridge, Noise, SyncRunner};
use crate::rollout::RolloutStorage;
use crate::Error;
use burn::tensor::Tensor;

/// The source of a learner's batches.
#[allow(clippy::large_enum_variant)] // one per run, never moved in a loop
pub enum Collector<P> {
    /// Envs stepped on the learner's thread, with the learner's current weights.
    Lockstep { runner: SyncRunner, rollout: RolloutStorage },
    /// Runner threads acting with the weights they last received.
    Threads(AsyncRunners<P>),
}

/// B trajectories of T steps, time-major rows (step t of trajectory j at row t·B + j), on the learner's device.
pub struct Batch {
    pub steps: RolloutStorage,
    /// `[B, obs_dim]`: the observation after each trajectory's last step.
    pub last_obs: Tensor<2>,
    /// Per trajectory: learner version − behaviour version (0 in lockstep).
    pub lags: Vec<u64>,
    /// `[episodes finished, sum of their returns, sum of their lengths]` while the batch was collected.
    pub episodes: [f32; 3],
}

impl<P: Behaviour + Clone + Send + 'static> Collector<P> {
    /// The next batch: in lockstep, one rollout acted by `policy` with draws from `noise`; with threads,
    /// `fragments` fragments from the queue, their lag measured against the learner's `version`.
    pub fn gather(
        &mut self,
        bridge: &Bridge,
        policy: &P,
        noise: &mut Noise,
        fragments: usize,
        version: u64,
    ) -> Result<Batch, Error> {
        match self {
            Collector::Lockstep { runner, rollout } => {
                let (n, horizon) = (rollout.num_envs(), rollout.horizon());
                let eps = bridge.noise(noise, policy.noise(), n, horizon)?;
                let last_obs = runner.collect(bridge, policy, eps, rollout)?;
                let sums = bridge.to_vec(runner.episode_sums(bridge)?)?;
                Ok(Batch { steps: rollout.clone(), last_obs, lags: vec![0; n], episodes: [sums[0], sums[1], sums[2]] })
            }
            Collector::Threads(runners) => {
                let (mut parts, mut last, mut lags, mut episodes) = (Vec::new(), Vec::new(), Vec::new(), [0.0f32; 3]);
                while parts.len() < fragments {
                    let fragment = runners.next_fragment()?;
                    let n = fragment.steps.num_envs();
                    lags.extend(std::iter::repeat_n(version.saturating_sub(fragment.version), n));
                    for (sum, v) in episodes.iter_mut().zip(fragment.episodes) {
                        *sum += v;
                    }
                    last.push(fragment.last_obs);
                    parts.push(fragment.steps);
                }
                let inner = bridge.inner();
                let steps = RolloutStorage::join_envs(parts, inner);
                let last_obs = Tensor::cat(last, 0).to_device(inner);
                // The fragments cross from the runners' host memory (counted where the learner is a GPU).
                let words = |dims: [usize; 2]| dims[0] * dims[1];
                let bytes = 4 * (2 * words(steps.obs.dims()) + words(steps.actions.dims()) + words(last_obs.dims()))
                    + 4 * 5 * steps.reward.dims()[0];
                bridge.count(bytes, 0);
                Ok(Batch { steps, last_obs, lags, episodes })
            }
        }
    }

    /// Hands new weights (version `version`) to the runner threads; nothing in lockstep.
    pub fn publish(&self, version: u64, policy: impl FnOnce() -> P) {
        if let Collector::Threads(runners) = self {
            runners.publish(version, policy());
        }
    }

    /// Runner threads restarted after a failure (0 in lockstep).
    pub fn restarts(&self) -> u64 {
        match self {
            Collector::Threads(runners) => runners.restarts(),
            Collector::Lockstep { .. } => 0,
        }
    }

    /// The lockstep runner, if there is one.
    pub fn runner(&self) -> Option<&SyncRunner> {
        match self {
            Collector::Lockstep { runner, .. } => Some(runner),
            Collector::Threads(_) => None,
        }
    }

    /// The lockstep runner, for restoring a checkpoint.
    pub fn runner_mut(&mut self) -> Option<&mut SyncRunner> {
        match self {
            Collector::Lockstep { runner, .. } => Some(runner),
            Collector::Threads(_) => None,
        }
    }
}
