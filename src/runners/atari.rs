//! Atari envs for a learner: emulators on CPU threads ([`AtariBatch`]) whose u8 frames cross to the learner's
//! device in one upload per step.
//!
//! Each step the sampled actions come to the host (`4·N` bytes: the emulators run there), the batch steps, and
//! one `i32` buffer goes up holding, in order, the observations `[N, W]` (4 pixels per word, little-endian; `W =
//! ⌈obs bytes / 4⌉`), the final observations `[N, W]` (only when some env was truncated: nothing else
//! bootstraps from them), then reward, terminated and truncated `[N]` each. On the device the words are split
//! into bytes with shifts and masks and scaled to [0, 1]: the learner sees f32 `[N, obs bytes]`.

use super::bridge::{Bridge, Packed, Step};
use crate::envs::{EnvConfig, EnvSpec, Space};
use crate::rollout::{pack, unpack};
use crate::Error;
use burn::tensor::{Int, Tensor, TensorData};
use myriad_atari::AtariBatch;

/// Atari envs with the statistics of the games they finished.
pub struct AtariEnvs {
    id: String,
    config: EnvConfig,
    batch: AtariBatch,
    spec: EnvSpec,
    /// `(env, score, length)` of the games finished in the last step.
    finished: Vec<(usize, f32, u32)>,
    /// Games finished since the last `take_sums`: count, summed score, summed length.
    sums: (u64, f64, f64),
}

impl AtariEnvs {
    pub fn new(id: &str, config: &EnvConfig, n: usize, seed: u64) -> Result<AtariEnvs, Error> {
        let batch = AtariBatch::new(id, config, n, 0, seed)?;
        let s = batch.spec();
        let dim = s.observation_bytes();
        let max_episode_steps = match &s.config.preprocessing {
            Some(p) => p.max_episode_steps,
            None => s.config.ale.max_episode_steps,
        };
        let spec = EnvSpec {
            id: id.to_string(),
            // The learner's view: u8 pixels scaled to [0, 1] on the device.
            observation_space: Space::Box {
                low: vec![0.0; dim],
                high: vec![1.0; dim],
                shape: s.observation_shape.clone(),
            },
            action_space: s.action_space.clone(),
            max_episode_steps,
            reward_threshold: None,
            state_dim: 0,
        };
        Ok(AtariEnvs { id: id.into(), config: config.clone(), batch, spec, finished: Vec::new(), sums: (0, 0.0, 0.0) })
    }

    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    pub fn num_envs(&self) -> usize {
        self.batch.num_envs()
    }

    /// Every emulator's state, as JSON (a checkpoint's `atari.json`).
    pub fn save_json(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(&self.batch.save_states())
            .map_err(|e| Error::Io(format!("encoding the Atari env states: {e}")))
    }

    /// Continues the games saved by [`AtariEnvs::save_json`] of a batch of the same id, config and size.
    pub fn load_json(&mut self, json: &[u8]) -> Result<(), Error> {
        let states: Vec<myriad_atari::AtariEnvState> =
            serde_json::from_slice(json).map_err(|e| Error::Io(format!("decoding the Atari env states: {e}")))?;
        self.batch.load_states(&states)?;
        self.finished.clear();
        self.sums = (0, 0.0, 0.0);
        Ok(())
    }

    /// Starts new games in every env, seeded with `seed`.
    pub fn restart(&mut self, seed: u64) -> Result<(), Error> {
        self.batch = AtariBatch::new(&self.id, &self.config, self.batch.num_envs(), 0, seed)?;
        self.finished.clear();
        Ok(())
    }

    /// `(env, unclipped score, length)` of the games that ended in the last step.
    pub fn finished_games(&self) -> &[(usize, f32, u32)] {
        &self.finished
    }

    /// Games finished since the last call: `[count, summed score, summed length]`.
    pub fn take_sums(&mut self) -> [f32; 3] {
        let (n, score, length) = std::mem::take(&mut self.sums);
        [n as f32, score as f32, length as f32]
    }
}

impl Bridge {
    fn upload_words(&self, words: Vec<i32>) -> Tensor<1, Int> {
        self.count(words.len() * 4, 0);
        let len = words.len();
        Tensor::from_data(TensorData::new(words, [len]), self.inner())
    }

    /// The current observations as learner tensors `[N, obs bytes]` in [0, 1].
    pub(super) fn atari_obs(&self, envs: &AtariEnvs) -> Tensor<2> {
        unpack(self.atari_obs_words(envs), envs.batch.spec().observation_bytes())
    }

    /// The current observations as packed words `[N, ⌈obs bytes / 4⌉]` on the learner's device.
    pub(super) fn atari_obs_words(&self, envs: &AtariEnvs) -> Tensor<2, Int> {
        let (n, dim) = (envs.num_envs(), envs.batch.spec().observation_bytes());
        let mut words = Vec::with_capacity(n * dim.div_ceil(4));
        pack(envs.batch.observations(), dim, &mut words);
        self.upload_words(words).reshape([n, dim.div_ceil(4)])
    }

    /// Steps the emulators with the policy's actions `[N, 1]` and uploads the step in one buffer.
    pub(super) fn atari_step(&self, envs: &mut AtariEnvs, actions: Tensor<2>) -> Result<Step, Error> {
        let actions: Vec<u32> = self.to_vec(actions.reshape([-1]))?.into_iter().map(|a| a as u32).collect();
        let out = envs.batch.step(&actions)?;
        envs.finished.clear();
        envs.finished.extend_from_slice(&out.finished_games);
        for &(_, score, length) in &out.finished_games {
            envs.sums.0 += 1;
            envs.sums.1 += score as f64;
            envs.sums.2 += length as f64;
        }
        let (n, dim) = (envs.num_envs(), envs.batch.spec().observation_bytes());
        let w = dim.div_ceil(4);
        let out = envs.batch.outputs();
        let any_truncated = out.truncated.iter().any(|&t| t);
        let mut words = Vec::with_capacity(n * w * (1 + any_truncated as usize) + 3 * n);
        pack(envs.batch.observations(), dim, &mut words);
        if any_truncated {
            pack(envs.batch.final_observations(), dim, &mut words);
        }
        words.extend(out.reward.iter().map(|&r| r as i32));
        words.extend(out.terminated.iter().map(|&t| t as i32));
        words.extend(out.truncated.iter().map(|&t| t as i32));
        let frames = (1 + any_truncated as usize) * n * w;
        let buffer = self.upload_words(words);
        let obs_words = buffer.clone().narrow(0, 0, n * w).reshape([n, w]);
        let final_words =
            if any_truncated { buffer.clone().narrow(0, n * w, n * w).reshape([n, w]) } else { obs_words.clone() };
        let obs = unpack(obs_words.clone(), dim);
        let final_obs = if any_truncated { unpack(final_words.clone(), dim) } else { obs.clone() };
        let field = |k: usize| buffer.clone().narrow(0, frames + k * n, n).float();
        let packed = Some(Packed { obs: obs_words, final_obs: final_words });
        Ok(Step { obs, final_obs, reward: field(0), terminated: field(1), truncated: field(2), packed })
    }

    /// Games finished since the last call, `[count, summed score, summed length]`, as a learner tensor.
    pub(super) fn atari_episode_sums(&self, envs: &mut AtariEnvs) -> Tensor<1> {
        self.from_vec(envs.take_sums().to_vec())
    }
}
