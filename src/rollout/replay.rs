//! The replay buffer of DQN-family learners, on the learner's device: a time-major ring of `capacity_steps` rows
//! of `N` envs, slot s = t·N + i for row t (the step's time modulo the capacity) and env i.
//!
//! Each slot keeps the observation, the action (a discrete index as one f32, or a Box action's values), the reward, `terminated`, `truncated` and the kept next
//! observation (the env's final observation where the step ended an episode, else the next one). A push writes one
//! row in place with `slice_assign`; nothing crosses to the host. Sampling takes start slots chosen by the caller
//! (uniformly with [`ReplayBuffer::sample_uniform`], or by priority), uploads the `B·n` slot indices of their
//! n-step windows as one i32 buffer, gathers the windows' rows on the device and reduces them with
//! [`nstep_targets`]: nothing proportional to the buffer's size moves.
//!
//! Which slots start windows is the [`Ring`]'s arithmetic: the kept rows less the newest n − 1.
//!
//! Pixel observations can be stored as u8 packed 4 per i32 word ([`ObsStorage::PackedU8`]) and are scaled to
//! f32 / 255 when sampled.

use super::obs::{ObsStorage, StoredObs};
use super::ring::{Pushed, Ring};
use crate::returns::nstep_targets;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// One step of `N` envs.
#[derive(Clone, Debug)]
pub struct ReplayStep {
    /// `[N, ..]`: the observations the actions were chosen at.
    pub obs: StoredObs,
    /// `[N, ..]`: the kept final observation where the step ended an episode, else the next observation.
    pub next_obs: StoredObs,
    /// `[N, A]`: discrete action indices as f32 (`A = 1`), or Box actions in the policy's space.
    pub actions: Tensor<2>,
    /// `[N]`.
    pub rewards: Tensor<1>,
    /// `[N]`: 0 or 1.
    pub terminated: Tensor<1>,
    /// `[N]`: 0 or 1.
    pub truncated: Tensor<1>,
}

/// A sampled batch with its n-step targets.
pub struct ReplaySample {
    /// `[B, obs_dim]` f32: the observations at the start slots.
    pub obs: Tensor<2>,
    /// `[B, A]`: the actions taken there, as stored (discrete: indices as f32, see [`ReplaySample::indices`]).
    pub actions: Tensor<2>,
    /// `[B]`: G = Σ_{k<m} γ^k r_k.
    pub returns: Tensor<1>,
    /// `[B]`: 0 where the window ended by termination, else γ^m.
    pub discounts: Tensor<1>,
    /// `[B, obs_dim]` f32: the kept next observation of the window's last step.
    pub boot_obs: Tensor<2>,
}

impl ReplaySample {
    /// `[B]`: discrete actions as indices.
    pub fn indices(&self) -> Tensor<1, Int> {
        self.actions.clone().narrow(1, 0, 1).squeeze_dim::<1>(1).int()
    }
}

/// A time-major replay ring on one device.
pub struct ReplayBuffer {
    /// Which slots are written and which start windows.
    pub(super) ring: Ring,
    pub(super) storage: ObsStorage,
    pub(super) device: Device,
    /// `[slots, width]` each.
    pub(super) obs: StoredObs,
    pub(super) next_obs: StoredObs,
    /// `[slots, A]`.
    pub(super) actions: Tensor<2>,
    /// `[slots]` each.
    pub(super) rewards: Tensor<1>,
    pub(super) terminated: Tensor<1>,
    pub(super) truncated: Tensor<1>,
}

impl ReplayBuffer {
    /// An empty ring of `capacity_steps` rows of `num_envs` slots, sampled with `n_step`-step windows, keeping
    /// actions of `action_width` values (1 for discrete indices).
    pub fn new(
        capacity_steps: usize,
        num_envs: usize,
        n_step: usize,
        obs: ObsStorage,
        action_width: usize,
        device: &Device,
    ) -> Result<ReplayBuffer, String> {
        let ring = Ring::new(capacity_steps, num_envs, n_step)?;
        if obs.width() == 0 {
            return Err(format!("replay of {obs:?} observations stores nothing"));
        }
        if action_width == 0 {
            return Err("replay of actions with no values".into());
        }
        let slots = ring.capacity();
        let column = || Tensor::<1>::zeros([slots], device);
        Ok(ReplayBuffer {
            ring,
            storage: obs,
            device: device.clone(),
            obs: StoredObs::zeros(obs, slots, device),
            next_obs: StoredObs::zeros(obs, slots, device),
            actions: Tensor::zeros([slots, action_width], device),
            rewards: column(),
            terminated: column(),
            truncated: column(),
        })
    }

    /// The bytes [`ReplayBuffer::new`] allocates on the device (saturating at `u64::MAX`).
    pub fn bytes_for(capacity_steps: usize, num_envs: usize, obs: ObsStorage, action_width: usize) -> u64 {
        let slots = capacity_steps as u128 * num_envs as u128;
        let bytes = slots * (2 * obs.width() as u128 + action_width as u128 + 3) * 4;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// Values per stored action.
    pub fn action_width(&self) -> usize {
        self.actions.dims()[1]
    }

    /// Slots: `capacity_steps · num_envs`.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Valid start slots now.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// No valid start slot yet.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The slot arithmetic: envs per row, steps per window, which slots start windows.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Whether `slot` can start a window now.
    pub fn is_valid_start(&self, slot: u32) -> bool {
        self.ring.is_valid_start(slot)
    }

    /// Maps random 32-bit words to valid start slots, uniformly over them ([`Ring::sample_uniform`]).
    ///
    /// # Panics
    /// If no slot is valid yet.
    pub fn sample_uniform(&self, draws: &[u32]) -> Vec<u32> {
        self.ring.sample_uniform(draws)
    }

    /// Writes one step of every env into the next row, in place on the device.
    pub fn push(&mut self, step: ReplayStep) -> Result<Pushed, String> {
        let (n, width) = (self.ring.num_envs(), self.storage.width());
        for (name, obs) in [("obs", &step.obs), ("next_obs", &step.next_obs)] {
            if !obs.is(self.storage) {
                return Err(format!("replay stores {:?}, the step's {name} is another kind", self.storage));
            }
            if obs.dims() != [n, width] {
                return Err(format!("replay {name} rows are [{n}, {width}], got {:?}", obs.dims()));
            }
        }
        if step.actions.dims() != [n, self.action_width()] {
            return Err(format!("replay actions are [{n}, {}], got {:?}", self.action_width(), step.actions.dims()));
        }
        for (name, t) in [("rewards", &step.rewards), ("terminated", &step.terminated), ("truncated", &step.truncated)]
        {
            if t.dims() != [n] {
                return Err(format!("replay {name} are [{n}], got {:?}", t.dims()));
            }
        }
        let rows = self.ring.next_row();
        self.obs.write(rows.clone(), step.obs);
        self.next_obs.write(rows.clone(), step.next_obs);
        let width = self.action_width();
        self.actions.inplace(|c| c.slice_assign([rows.clone(), 0..width], step.actions));
        for (column, values) in [
            (&mut self.rewards, step.rewards),
            (&mut self.terminated, step.terminated),
            (&mut self.truncated, step.truncated),
        ] {
            column.inplace(|c| c.slice_assign([rows.clone()], values));
        }
        Ok(self.ring.advance())
    }

    /// The batch starting at `starts` (valid start slots) with its n-step targets under `gamma`, and the bytes
    /// uploaded (the `B·n` window slot indices as i32).
    pub fn sample(&self, starts: &[u32], gamma: f64) -> Result<(ReplaySample, u64), String> {
        let (b, n) = (starts.len(), self.ring.n_step());
        if b == 0 {
            return Err("sampling an empty batch".into());
        }
        let window = self.ring.windows(starts)?;
        let uploaded = (window.len() * std::mem::size_of::<i32>()) as u64;
        let slots = Tensor::<1, Int>::from_data(TensorData::new(window, [b * n]), &self.device);
        let gather = |column: &Tensor<1>| column.clone().select(0, slots.clone()).reshape([b, n]);
        let targets = nstep_targets(gather(&self.rewards), gather(&self.terminated), gather(&self.truncated), gamma);
        let slots = slots.reshape([b, n]);
        let first = slots.clone().narrow(1, 0, 1).reshape([b]); // [B]
        let boot = slots.gather(1, targets.last.unsqueeze_dim(1)).reshape([b]); // [B]: the slot of step m − 1
        let sample = ReplaySample {
            obs: self.obs.read(first.clone(), self.storage),
            actions: self.actions.clone().select(0, first),
            returns: targets.returns,
            discounts: targets.discounts,
            boot_obs: self.next_obs.read(boot, self.storage),
        };
        Ok((sample, uploaded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::returns::nstep_reference;
    use crate::rollout::pack;
    use crate::runners::{Noise, NoiseKind};

    /// One env step on the host: per env its obs, next obs, action, reward, terminated, truncated.
    #[derive(Clone)]
    struct HostStep {
        obs: Vec<Vec<f32>>,
        next_obs: Vec<Vec<f32>>,
        actions: Vec<f32>,
        rewards: Vec<f32>,
        terminated: Vec<f32>,
        truncated: Vec<f32>,
    }

    fn upload(step: &HostStep, device: &Device) -> ReplayStep {
        let (n, dim) = (step.actions.len(), step.obs[0].len());
        let rows =
            |rows: &[Vec<f32>]| StoredObs::F32(Tensor::from_data(TensorData::new(rows.concat(), [n, dim]), device));
        let column = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [n]), device);
        ReplayStep {
            obs: rows(&step.obs),
            next_obs: rows(&step.next_obs),
            actions: column(&step.actions).unsqueeze_dim(1),
            rewards: column(&step.rewards),
            terminated: column(&step.terminated),
            truncated: column(&step.truncated),
        }
    }

    /// Steps of `envs` envs whose episodes end where `ends(t, i)` says (terminated, truncated); the observation
    /// after an ended step is a fresh one, the kept final observation is 1000 + its value.
    fn history(steps: usize, envs: usize, ends: impl Fn(usize, usize) -> (bool, bool)) -> Vec<HostStep> {
        let mut noise = Noise::new(4, 0);
        let value = |t: usize, i: usize| (10 * t + i) as f32;
        (0..steps)
            .map(|t| {
                let flags: Vec<(bool, bool)> = (0..envs).map(|i| ends(t, i)).collect();
                HostStep {
                    obs: (0..envs).map(|i| vec![value(t, i), -value(t, i)]).collect(),
                    next_obs: (0..envs)
                        .map(|i| {
                            let ended = flags[i].0 || flags[i].1;
                            let v = value(t + 1, i) + if ended { 1000.0 } else { 0.0 };
                            vec![v, -v]
                        })
                        .collect(),
                    actions: (0..envs).map(|i| ((t + i) % 4) as f32).collect(),
                    rewards: noise.sample(NoiseKind::Normal, envs),
                    terminated: flags.iter().map(|f| f.0 as u8 as f32).collect(),
                    truncated: flags.iter().map(|f| f.1 as u8 as f32).collect(),
                }
            })
            .collect()
    }

    fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    /// Every valid start slot, oldest row first.
    fn valid_starts(buffer: &ReplayBuffer) -> Vec<u32> {
        (0..buffer.capacity() as u32).filter(|&s| buffer.is_valid_start(s)).collect()
    }

    #[test]
    fn ring_keeps_the_newest_rows() {
        let device = Device::flex();
        let mut buffer = ReplayBuffer::new(3, 2, 1, ObsStorage::F32 { dim: 2 }, 1, &device).unwrap();
        let steps = history(5, 2, |_, _| (false, false));
        let mut pushed = Vec::new();
        for step in &steps {
            pushed.push(buffer.push(upload(step, &device)).unwrap());
        }
        assert_eq!(pushed[3], Pushed { written: 0..2, ready: 0..2 });
        assert_eq!(buffer.len(), 6);
        let starts = valid_starts(&buffer);
        let (sample, _) = buffer.sample(&starts, 0.9).unwrap();
        let mut firsts: Vec<f32> = host(sample.obs).chunks(2).map(|r| r[0]).collect();
        firsts.sort_by(f32::total_cmp);
        assert_eq!(firsts, [20.0, 21.0, 30.0, 31.0, 40.0, 41.0]);
    }

    #[test]
    fn nstep_windows_match_the_reference() {
        let device = Device::flex();
        let (cap, envs, n, gamma) = (7usize, 3usize, 3usize, 0.9);
        let ends = |t: usize, i: usize| match (t, i) {
            (4, 0) | (9, 2) => (true, i == 2),
            (8, 0) | (5, 1) | (6, 1) => (false, true),
            _ => (false, false),
        };
        let steps = history(12, envs, ends);
        let mut buffer = ReplayBuffer::new(cap, envs, n, ObsStorage::F32 { dim: 2 }, 1, &device).unwrap();
        for step in &steps {
            buffer.push(upload(step, &device)).unwrap();
        }
        let starts = valid_starts(&buffer);
        assert_eq!(starts.len(), (cap - (n - 1)) * envs);
        let (sample, uploaded) = buffer.sample(&starts, gamma).unwrap();
        assert_eq!(uploaded, (starts.len() * n * 4) as u64);
        let (mut rewards, mut terminated, mut truncated) = (Vec::new(), Vec::new(), Vec::new());
        let mut times = Vec::new();
        for &s in &starts {
            let (row, i) = (s as usize / envs, s as usize % envs);
            let time = (steps.len() - cap..steps.len()).find(|t| t % cap == row).unwrap();
            times.push((time, i));
            for step in &steps[time..time + n] {
                rewards.push(step.rewards[i]);
                terminated.push(step.terminated[i]);
                truncated.push(step.truncated[i]);
            }
        }
        let want = nstep_reference(&rewards, &terminated, &truncated, n, gamma);
        assert!(want.last.iter().any(|&l| l < n - 1), "some windows end early");
        let (returns, discounts) = (host(sample.returns), host(sample.discounts));
        let (obs, boot, actions) = (host(sample.obs), host(sample.boot_obs), host(sample.actions));
        for (k, &(time, i)) in times.iter().enumerate() {
            assert!((returns[k] - want.returns[k]).abs() < 1e-5, "return of t = {time}, env {i}");
            assert!((discounts[k] - want.discounts[k]).abs() < 1e-6, "discount of t = {time}, env {i}");
            assert_eq!(obs[2 * k..2 * k + 2], steps[time].obs[i][..]);
            assert_eq!(actions[k], steps[time].actions[i]);
            assert_eq!(boot[2 * k..2 * k + 2], steps[time + want.last[k]].next_obs[i][..], "boot obs of t = {time}");
        }
    }

    #[test]
    fn packed_u8_round_trips_exactly() {
        let device = Device::flex();
        let (bytes, envs) = (7usize, 2usize);
        let mut buffer = ReplayBuffer::new(4, envs, 1, ObsStorage::PackedU8 { bytes }, 1, &device).unwrap();
        let frame = |t: usize, salt: usize| -> Vec<u8> {
            (0..envs * bytes).map(|k| ((k * 37 + t * 101 + salt) % 256) as u8).collect()
        };
        let packed = |raw: &[u8]| {
            let mut words = Vec::new();
            pack(raw, bytes, &mut words);
            StoredObs::Packed(Tensor::from_data(TensorData::new(words, [envs, bytes.div_ceil(4)]), &device))
        };
        for t in 0..3 {
            let zeros = Tensor::<1>::zeros([envs], &device);
            let step = ReplayStep {
                obs: packed(&frame(t, 0)),
                next_obs: packed(&frame(t, 200)),
                actions: zeros.clone().unsqueeze_dim(1),
                rewards: zeros.clone(),
                terminated: zeros.clone(),
                truncated: zeros,
            };
            buffer.push(step).unwrap();
        }
        let starts = valid_starts(&buffer);
        let (sample, _) = buffer.sample(&starts, 0.99).unwrap();
        let scale = |raw: Vec<u8>| raw.into_iter().map(|b| b as f32 / 255.0).collect::<Vec<f32>>();
        let (want_obs, want_next) = (
            (0..3).flat_map(|t| scale(frame(t, 0))).collect::<Vec<_>>(),
            (0..3).flat_map(|t| scale(frame(t, 200))).collect::<Vec<_>>(),
        );
        assert_eq!(host(sample.obs), want_obs);
        assert_eq!(host(sample.boot_obs), want_next);
    }

    #[test]
    fn upload_is_b_times_n_words_whatever_the_capacity() {
        let device = Device::flex();
        let steps = history(10, 2, |t, i| (t == 3 && i == 1, false));
        for cap in [5usize, 1000] {
            let mut buffer = ReplayBuffer::new(cap, 2, 3, ObsStorage::F32 { dim: 2 }, 1, &device).unwrap();
            for step in &steps {
                buffer.push(upload(step, &device)).unwrap();
            }
            let starts = buffer.sample_uniform(&[1, 2_000_000_000, 3_000_000_000, 4_000_000_000, 77]);
            let (_, uploaded) = buffer.sample(&starts, 0.99).unwrap();
            assert_eq!(uploaded, 5 * 3 * 4, "capacity {cap}");
        }
    }

    #[test]
    fn bad_uses_are_errors() {
        let device = Device::flex();
        assert!(ReplayBuffer::new(2, 1, 3, ObsStorage::F32 { dim: 2 }, 1, &device).is_err());
        assert!(ReplayBuffer::new(4, 0, 1, ObsStorage::F32 { dim: 2 }, 1, &device).is_err());
        let mut buffer = ReplayBuffer::new(4, 2, 2, ObsStorage::F32 { dim: 2 }, 1, &device).unwrap();
        let steps = history(2, 2, |_, _| (false, false));
        buffer.push(upload(&steps[0], &device)).unwrap();
        assert!(buffer.sample(&[0], 0.9).is_err(), "one step does not fill a 2-step window");
        buffer.push(upload(&steps[1], &device)).unwrap();
        assert!(buffer.sample(&[0, 1], 0.9).is_ok());
        assert!(buffer.sample(&[2], 0.9).is_err(), "the newest row");
        let narrow = history(1, 3, |_, _| (false, false));
        assert!(buffer.push(upload(&narrow[0], &device)).is_err(), "three envs into a two-env buffer");
    }
}
