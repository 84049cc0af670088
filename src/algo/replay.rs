//! The replay of the off-policy learners (the DQN family, SAC): the device ring ([`ReplayBuffer`]) with, under
//! prioritized replay, its host sum tree ([`PrioritizedSampler`]) kept in step with what the ring holds; the
//! checks of `replay_buffer_config`; and what a checkpoint keeps of both (`replay.bin`).

use crate::algo::dqn::{ReplayBufferConfig, ReplayKind};
use crate::rollout::{ObsStorage, PrioritizedSampler, ReplayBuffer, ReplaySample, ReplayStep};
use crate::runners::{Bridge, Noise, NoiseKind};
use crate::Error;
use burn::tensor::Tensor;
use std::path::Path;

impl ReplayBufferConfig {
    /// Checks the replay's values for `num_envs` envs, batches of `batch` and `n_step`-step windows; returns the
    /// ring's rows (`capacity / num_envs`).
    pub fn validate(&self, num_envs: usize, batch: usize, n_step: usize) -> Result<usize, Error> {
        let rows = self.capacity / num_envs;
        if rows <= n_step || self.capacity < batch {
            return Err(Error::Config(format!(
                "training.replay_buffer_config.capacity ({}) must hold a batch of {batch} and more than n_step \
                 ({n_step}) steps of each of the {num_envs} envs",
                self.capacity
            )));
        }
        self.prioritized_replay_beta
            .validate("training.replay_buffer_config.prioritized_replay_beta", 0.0..=1.0)
            .map_err(Error::Config)?;
        for (name, v) in [
            ("training.replay_buffer_config.prioritized_replay_alpha", self.prioritized_replay_alpha),
            ("training.replay_buffer_config.prioritized_replay_eps", self.prioritized_replay_eps),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(Error::Config(format!("{name} = {v} is outside [0, 1]")));
            }
        }
        Ok(rows)
    }
}

/// A replayed minibatch.
pub struct Drawn {
    /// The B start slots, for the priority update.
    pub starts: Vec<u32>,
    /// The transitions with their n-step targets.
    pub sample: ReplaySample,
    /// Prioritized replay: `[B]` importance weights on the device.
    pub weights: Option<Tensor<1>>,
}

/// The ring and, under prioritized replay, its sum tree.
pub struct Replay {
    buffer: ReplayBuffer,
    prioritized: Option<PrioritizedSampler>,
}

impl Replay {
    /// An empty replay of `rows` rows of `num_envs` envs on the bridge's device, refused up front if it does not
    /// fit there.
    pub fn new(
        config: &ReplayBufferConfig,
        (rows, num_envs, n_step): (usize, usize, usize),
        storage: ObsStorage,
        action_width: usize,
        bridge: &Bridge,
    ) -> Result<Self, Error> {
        let what = format!("the replay buffer ({} slots)", rows as u128 * num_envs as u128);
        bridge.env_device().check_fits(&what, ReplayBuffer::bytes_for(rows, num_envs, storage, action_width))?;
        let buffer =
            ReplayBuffer::new(rows, num_envs, n_step, storage, action_width, bridge.inner()).map_err(Error::Config)?;
        let prioritized = (config.kind == ReplayKind::Prioritized)
            .then(|| PrioritizedSampler::new(rows * num_envs, config.prioritized_replay_alpha));
        Ok(Self { buffer, prioritized })
    }

    /// Valid start slots now.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// No valid start slot yet.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    pub fn is_prioritized(&self) -> bool {
        self.prioritized.is_some()
    }

    /// Writes one step of every env; the sum tree drops the overwritten slots and takes the newly valid ones.
    pub fn push(&mut self, step: ReplayStep) -> Result<(), Error> {
        let pushed = self.buffer.push(step).map_err(Error::Device)?;
        if let Some(p) = &mut self.prioritized {
            p.remove_slots(pushed.written);
            p.add_slots(pushed.ready);
        }
        Ok(())
    }

    /// `batch` transitions with their n-step targets under `gamma`: uniform draws, or the sum tree's proportional
    /// draws with importance weights (exponent `beta`). Only the B start indices (and, prioritized, B weights)
    /// cross to the device; they are counted on `bridge`.
    pub fn draw(
        &self,
        noise: &mut Noise,
        batch: usize,
        beta: f64,
        gamma: f64,
        bridge: &Bridge,
    ) -> Result<Drawn, Error> {
        let (starts, weights) = match &self.prioritized {
            None => (self.buffer.sample_uniform(&noise.words(batch)), None),
            Some(p) => {
                let (slots, weights) = p.sample(&noise.sample(NoiseKind::Uniform, batch), beta, self.buffer.len());
                (slots, Some(weights))
            }
        };
        let (sample, uploaded) = self.buffer.sample(&starts, gamma).map_err(Error::Device)?;
        bridge.count(uploaded as usize, 0);
        let weights = weights.map(|w| bridge.from_vec(w));
        Ok(Drawn { starts, sample, weights })
    }

    /// Prioritized replay: the drawn slots' priorities become |δ| + `eps` (`td_abs` `[B]`, read to the host);
    /// uniform replay reads nothing.
    pub fn update_priorities(
        &mut self,
        starts: &[u32],
        td_abs: Tensor<1>,
        eps: f64,
        bridge: &Bridge,
    ) -> Result<(), Error> {
        if let Some(p) = &mut self.prioritized {
            p.update(starts, &bridge.to_vec(td_abs)?, eps);
        }
        Ok(())
    }

    /// Writes `replay.bin` into a checkpoint folder; returns its name.
    pub fn save(&self, dir: &Path) -> Result<String, Error> {
        self.buffer
            .save(self.prioritized.as_ref(), &dir.join("replay.bin"))
            .map_err(|e| Error::Io(format!("writing a checkpoint (replay.bin): {e}")))?;
        Ok("replay.bin".into())
    }

    /// Loads a checkpoint folder's `replay.bin`, if it has one (runs saved without their buffer start empty).
    pub fn load(&mut self, dir: &Path) -> Result<(), Error> {
        let path = dir.join("replay.bin");
        if path.is_file() {
            self.buffer
                .load(self.prioritized.as_mut(), &path)
                .map_err(|e| Error::Checkpoint(format!("{} is unreadable or corrupt: {e}", path.display())))?;
        }
        Ok(())
    }
}

/// Gradient updates an iteration of `sampled` env steps owes: `training_intensity × sampled / train_batch_size`,
/// the fraction carried over in `debt`; one per iteration when `training_intensity` is unset.
pub fn updates_owed(training_intensity: Option<f64>, train_batch_size: usize, sampled: u64, debt: &mut f64) -> u64 {
    match training_intensity {
        None => 1,
        Some(intensity) => {
            let owed = *debt + intensity * sampled as f64 / train_batch_size as f64;
            let whole = owed.floor();
            *debt = owed - whole;
            whole as u64
        }
    }
}
