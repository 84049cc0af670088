//! `EnvBatch`: N copies of one env stepped together on a device, with Gymnasium's TimeLimit and same-step
//! autoreset.
//!
//! | after `step`, env i   | `terminated` | `truncated` | `obs`                  | `final_obs`       | reward           |
//! |-----------------------|--------------|-------------|------------------------|-------------------|------------------|
//! | episode goes on       | false        | false       | next observation       | unchanged         | of the step      |
//! | terminal state        | true         | either      | first obs of new episode | last observation | of the step      |
//! | time limit reached    | false        | true        | first obs of new episode | last observation | of the step      |
//!
//! Truncation is `elapsed_steps >= max_episode_steps` after the step, as Gymnasium's `TimeLimit` has it, so a step
//! can be both terminated and truncated. Learners bootstrap from `final_obs` where `truncated && !terminated`.
//! With autoreset off (`set_autoreset(false)`), done envs keep their final state and observation.

use crate::device::{Backend, Device, DeviceBuffer};
use crate::env::EnvSpec;
use crate::error::{clip, Error, Result};

/// A named per-env buffer of the batch, for reading back to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Field {
    /// f32 `[N, state_dim]`.
    State,
    /// f32 `[N, obs_dim]`.
    Obs,
    /// f32 `[N, obs_dim]`, valid where the last step ended an episode.
    FinalObs,
    /// f32 `[N]`.
    Reward,
    /// u32 `[N]`, 0 or 1.
    Terminated,
    /// u32 `[N]`, 0 or 1.
    Truncated,
    /// u32 `[N]`: steps of the running episode.
    Elapsed,
    /// f32 `[N]`: return of the running episode.
    EpisodeReturn,
    /// u32 `[N]`: length of the running episode.
    EpisodeLength,
    /// u32 `[N]`: episodes finished since the last `take_episode_stats`.
    DoneCount,
    /// f32 `[N]`: sum of the returns of those episodes.
    DoneReturn,
    /// u32 `[N]`: sum of the lengths of those episodes.
    DoneLength,
    /// u32 `[N]`: the env's random-draw counter.
    RngCounter,
}

impl Field {
    pub const ALL: [Field; 13] = [
        Field::State,
        Field::Obs,
        Field::FinalObs,
        Field::Reward,
        Field::Terminated,
        Field::Truncated,
        Field::Elapsed,
        Field::EpisodeReturn,
        Field::EpisodeLength,
        Field::DoneCount,
        Field::DoneReturn,
        Field::DoneLength,
        Field::RngCounter,
    ];
}

/// A batch's fields at one moment (see [`EnvBatch::snapshot`]), as 4-byte words.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchSnapshot {
    pub env: String,
    pub num_envs: usize,
    pub fields: Vec<(Field, Vec<u32>)>,
}

/// Finished episodes since the last `take_episode_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct EpisodeStats {
    pub episodes: u64,
    pub return_mean: f64,
    pub length_mean: f64,
}

impl EpisodeStats {
    /// The summary of `count` episodes whose returns and lengths sum to `returns` and `lengths` (sums reduced
    /// on a device).
    pub fn from_sums(count: f32, returns: f32, lengths: f32) -> Self {
        let episodes = count.round().max(0.0) as u64;
        if episodes == 0 {
            return Self::default();
        }
        let n = episodes as f64;
        Self { episodes, return_mean: returns as f64 / n, length_mean: lengths as f64 / n }
    }
}

/// The per-backend half of a batch. Words are 4-byte values (`u32`, or f32 bits).
pub(crate) trait BatchKernel: Send {
    fn reset(&mut self, seed: u64) -> Result<()>;
    fn step(&mut self, actions: &DeviceBuffer) -> Result<()>;
    fn step_random(&mut self, steps: u32) -> Result<()>;
    fn set_autoreset(&mut self, on: bool) -> Result<()>;
    /// CPU backend: whether steps run on rayon's pool (the default) or on the calling thread. Other backends
    /// step on their device either way.
    fn set_inline(&mut self, inline: bool) {
        let _ = inline;
    }
    fn set_state(&mut self, state: &[f32], elapsed: &[u32]) -> Result<()>;
    fn read(&self, field: Field) -> Result<Vec<u32>>;
    /// Overwrites one field with `words` (its exact length).
    fn write(&mut self, field: Field, words: &[u32]) -> Result<()>;
    /// Zeroes the finished-episode sums.
    fn clear_done_stats(&mut self) -> Result<()>;
    /// Bit 0: an invalid action was passed to `step` since the last reset.
    fn status(&self) -> Result<u32>;
    /// The wgpu batch behind this kernel, if it is one.
    #[cfg(feature = "wgpu")]
    fn as_wgpu(&mut self) -> Option<&mut crate::device::wgpu::WgpuBatch> {
        None
    }
}

/// N environments of one id on one device.
pub struct EnvBatch {
    spec: EnvSpec,
    num_envs: usize,
    device: Device,
    kernel: Box<dyn BatchKernel>,
}

impl EnvBatch {
    pub(crate) fn new(spec: EnvSpec, num_envs: usize, device: Device, kernel: Box<dyn BatchKernel>) -> Self {
        Self { spec, num_envs, device, kernel }
    }

    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Resets every env; env i draws from the stream keyed by `(seed, i)`.
    pub fn reset(&mut self, seed: u64) -> Result<()> {
        self.kernel.reset(seed)
    }

    /// Steps every env with `actions` (a device buffer on this batch's device: `u32 [N]` for Discrete,
    /// `f32 [N, action_dim]` for Box). No host transfer happens.
    ///
    /// An invalid discrete action is an error: on the CPU before anything is stepped; on a GPU the kernel leaves
    /// that env unchanged and flags it, and the error is reported by the next `check` or host read.
    pub fn step(&mut self, actions: &DeviceBuffer) -> Result<()> {
        if actions.backend() != self.device.backend() {
            return Err(Error::Shape(format!(
                "actions live on {}, the batch on {}",
                actions.backend(),
                self.device.backend()
            )));
        }
        let want = self.num_envs * self.spec.action_dim();
        if actions.len() != want {
            return Err(Error::Shape(format!(
                "{} expects {want} action values ({} envs × {}), got {}",
                self.spec.id,
                self.num_envs,
                self.spec.action_dim(),
                actions.len()
            )));
        }
        self.kernel.step(actions)
    }

    /// `steps` steps with uniformly random actions drawn on the device (one launch on GPUs).
    pub fn step_random(&mut self, steps: u32) -> Result<()> {
        self.kernel.step_random(steps)
    }

    /// Turns same-step autoreset on (the default) or off.
    pub fn set_autoreset(&mut self, on: bool) -> Result<()> {
        self.kernel.set_autoreset(on)
    }

    /// CPU backend: steps every chunk of envs on the calling thread (`true`) instead of rayon's pool (`false`, the
    /// default). Handing a step to rayon's workers costs tens of microseconds, and the woken workers spin for a
    /// while on cores the caller may need; a caller stepping a small batch one step at a time from a busy thread
    /// (Python) is better off inline. Results do not depend on it. Other backends ignore it.
    pub fn set_inline(&mut self, inline: bool) {
        self.kernel.set_inline(inline)
    }

    /// Overwrites every env's internal state (`[N, state_dim]`, Gymnasium's `env.unwrapped.state`) and elapsed
    /// step count, as trace replay needs.
    pub fn set_state(&mut self, state: &[f32], elapsed: &[u32]) -> Result<()> {
        let want = self.num_envs * self.spec.state_dim;
        if state.len() != want || elapsed.len() != self.num_envs {
            return Err(Error::Shape(format!(
                "set_state expects {want} state values and {} elapsed counts, got {} and {}",
                self.num_envs,
                state.len(),
                elapsed.len()
            )));
        }
        self.kernel.set_state(state, elapsed)
    }

    /// Fails if an invalid action was passed to `step` since the last reset.
    pub fn check(&self) -> Result<()> {
        if self.kernel.status()? & 1 != 0 {
            let n = match self.spec.action_space {
                crate::spaces::Space::Discrete { n } => n,
                _ => 0,
            };
            return Err(Error::InvalidAction(format!(
                "an action outside Discrete({n}) was passed to {}; those envs were not stepped",
                self.spec.id
            )));
        }
        Ok(())
    }

    /// Copies a per-env buffer to the host as 4-byte words.
    pub fn read(&self, field: Field) -> Result<Vec<u32>> {
        self.check()?;
        self.kernel.read(field)
    }

    /// Every field of every env, for a checkpoint: restoring it into a batch of the same env, size and seed makes
    /// the batch continue exactly as this one would.
    pub fn snapshot(&self) -> Result<BatchSnapshot> {
        let fields = Field::ALL.iter().map(|&f| Ok((f, self.read(f)?))).collect::<Result<Vec<_>>>()?;
        Ok(BatchSnapshot { env: self.spec.id.clone(), num_envs: self.num_envs, fields })
    }

    /// Resets with `seed` (which fixes the random streams' keys) and writes back every field of `snapshot`.
    pub fn restore(&mut self, seed: u64, snapshot: &BatchSnapshot) -> Result<()> {
        if snapshot.env != self.spec.id || snapshot.num_envs != self.num_envs {
            return Err(Error::Shape(format!(
                "a snapshot of {} × {} cannot restore a batch of {} × {}",
                snapshot.num_envs,
                clip(&snapshot.env),
                self.num_envs,
                self.spec.id
            )));
        }
        self.kernel.reset(seed)?;
        for (field, words) in &snapshot.fields {
            let want = self.kernel.read(*field)?.len();
            if words.len() != want {
                return Err(Error::Shape(format!(
                    "snapshot field {field:?} has {} words, expected {want}",
                    words.len()
                )));
            }
            self.kernel.write(*field, words)?;
        }
        Ok(())
    }

    /// Copies an f32 buffer (`State`, `Obs`, `FinalObs`, `Reward`, `EpisodeReturn`, `DoneReturn`) to the host.
    pub fn read_f32(&self, field: Field) -> Result<Vec<f32>> {
        Ok(self.read(field)?.into_iter().map(f32::from_bits).collect())
    }

    /// Copies a flag buffer (`Terminated`, `Truncated`) to the host.
    pub fn read_bool(&self, field: Field) -> Result<Vec<bool>> {
        Ok(self.read(field)?.into_iter().map(|w| w != 0).collect())
    }

    /// Summary of the episodes finished since the last call; the sums are reset.
    pub fn take_episode_stats(&mut self) -> Result<EpisodeStats> {
        self.check()?;
        let count: u64 = self.kernel.read(Field::DoneCount)?.iter().map(|&c| c as u64).sum();
        let ret: f64 = self.kernel.read(Field::DoneReturn)?.iter().map(|&r| f32::from_bits(r) as f64).sum();
        let len: u64 = self.kernel.read(Field::DoneLength)?.iter().map(|&l| l as u64).sum();
        self.kernel.clear_done_stats()?;
        if count == 0 {
            return Ok(EpisodeStats::default());
        }
        Ok(EpisodeStats { episodes: count, return_mean: ret / count as f64, length_mean: len as f64 / count as f64 })
    }

    /// Steps with actions read from `actions` (a range of a buffer on the batch's own wgpu device, e.g. a
    /// learner's tensor) and copies each of `outputs`' fields to its range, all on the device in one submission
    /// on the device's queue: no host round trip.
    #[cfg(feature = "wgpu")]
    pub fn step_linked(
        &mut self,
        actions: crate::device::wgpu::WgpuRange,
        outputs: &[(Field, crate::device::wgpu::WgpuRange)],
    ) -> Result<()> {
        self.wgpu_kernel()?.step_linked(actions, outputs)
    }

    /// Copies each of `outputs`' fields to its range on the batch's wgpu device (no host round trip).
    #[cfg(feature = "wgpu")]
    pub fn copy_linked(&mut self, outputs: &[(Field, crate::device::wgpu::WgpuRange)]) -> Result<()> {
        self.wgpu_kernel()?.copy_out(outputs)
    }

    #[cfg(feature = "wgpu")]
    fn wgpu_kernel(&mut self) -> Result<&mut crate::device::wgpu::WgpuBatch> {
        let backend = self.device.backend();
        self.kernel
            .as_wgpu()
            .ok_or_else(|| Error::Shape(format!("device-side copies need a wgpu batch; this one runs on {backend}")))
    }

    /// Checks for invalid actions, then clears the finished-episode sums (for callers that reduce
    /// `DoneCount`/`DoneReturn`/`DoneLength` on the device themselves).
    pub fn clear_episode_stats(&mut self) -> Result<()> {
        self.check()?;
        self.kernel.clear_done_stats()
    }

    /// Blocks until the device has finished the queued work.
    pub fn sync(&self) -> Result<()> {
        self.device.sync()
    }

    /// Uploads host actions into a device buffer for `step` (u32 words; f32 actions as their bits).
    pub fn upload_actions(&self, words: &[u32]) -> Result<DeviceBuffer> {
        self.device.upload("actions", words)
    }

    /// The backend the batch runs on.
    pub fn backend(&self) -> Backend {
        self.device.backend()
    }
}
