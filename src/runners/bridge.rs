//! Where env buffers meet the learner's tensors.
//!
//! On the CPU backend the envs and burn's flex tensors share host memory, so crossing is a copy in RAM and
//! no bytes are transferred. On wgpu the envs and burn share one wgpu device and queue ([`super::link`]): env
//! fields, random draws, permutations, GAE and V-trace move between env buffers, kernels and tensors by device-side
//! copies, and the host sees a handful of kernel parameters and the iteration's summary scalars. Every byte that
//! does cross is counted and reported in each result.

use super::Envs;
use super::{Noise, NoiseKind};
use crate::config::{EnvironmentConfig, ResourcesConfig};
use crate::envs::{Backend, Device as EnvDevice, EnvBatch, Field, Space};
use crate::returns::{
    gae_reference, lambda_returns_reference, vtrace_reference, GaeParams, HostInputs, ReturnInputs, VtraceParams,
};
use crate::Error;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::cell::Cell;

/// One env step's fields as learner tensors.
pub struct Step {
    /// `[N, obs_dim]`: the observation to act on next (a new episode's first where one ended).
    pub obs: Tensor<2>,
    /// `[N, obs_dim]`: the last observation of the episode that ended, where one did.
    pub final_obs: Tensor<2>,
    /// `[N]` each; the flags are 0 or 1.
    pub reward: Tensor<1>,
    pub terminated: Tensor<1>,
    pub truncated: Tensor<1>,
    /// Image observations of emulators on the host (Atari): the same frames as they crossed, u8 pixels packed 4
    /// per i32 word, for storage in the env's own dtype.
    pub packed: Option<Packed>,
}

/// Frames as packed words `[N, ⌈obs bytes / 4⌉]` (byte k of a row in bits 8·(k mod 4) of word k / 4).
pub struct Packed {
    pub obs: Tensor<2, Int>,
    pub final_obs: Tensor<2, Int>,
}

/// The envs' device, the learner's burn device, and the byte counter of the path between them.
pub struct Bridge {
    env_device: EnvDevice,
    device: Device,
    /// `device` without autodiff: where rollout data and inference tensors live.
    inner: Device,
    /// Host-side bytes written into (`.0`) and read from (`.1`) the learner's tensors, when those live on a GPU.
    learner_bytes: Cell<(u64, u64)>,
    #[cfg(feature = "wgpu")]
    link: Option<super::link::WgpuLink>,
}

impl Bridge {
    pub fn new(resources: &ResourcesConfig) -> Result<Self, Error> {
        #[cfg(feature = "wgpu")]
        let mut link = None;
        let (env_device, device) = match resources.backend {
            // burn's `flex` CPU backend: im2col + gemm convolutions, SIMD and multi-threaded matrix products.
            Backend::Cpu => (EnvDevice::Cpu, Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => {
                let _ = resources.device;
                let (envs, device, wgpu_link) = super::link::WgpuLink::open()?;
                link = Some(wgpu_link);
                (envs, device)
            }
            #[cfg(not(feature = "wgpu"))]
            Backend::Wgpu => {
                return Err(Error::Config("this build of Myriad was compiled without the `wgpu` feature".into()))
            }
            Backend::Cuda => {
                return Err(Error::Config(
                    "the PPO learner runs on cpu or wgpu; burn's CUDA backend is not part of this build (envs and \
                     GAE run on CUDA with `--features cuda`)"
                        .into(),
                ))
            }
        };
        let inner = device.clone();
        Ok(Self {
            env_device,
            device: device.autodiff(),
            inner,
            learner_bytes: Cell::new((0, 0)),
            #[cfg(feature = "wgpu")]
            link,
        })
    }

    /// The device the envs run on.
    pub fn env_device(&self) -> &EnvDevice {
        &self.env_device
    }

    /// The learner's burn device (autodiff enabled).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Host → device and device → host bytes so far, envs and learner together.
    pub fn transfers(&self) -> (u64, u64) {
        let (env_in, env_out) = self.env_device.transfers();
        let (in_, out) = self.learner_bytes.get();
        (env_in + in_, env_out + out)
    }

    /// The learner's device without autodiff: where rollout data, replay buffers and inference tensors live.
    pub fn inner(&self) -> &Device {
        &self.inner
    }

    /// The current observations as packed words (Atari), or `None` for envs whose observations are f32.
    pub fn obs_packed(&self, envs: &Envs) -> Option<Tensor<2, Int>> {
        match envs {
            Envs::Batch(_) | Envs::Host(_) => None,
            #[cfg(feature = "atari")]
            Envs::Atari(atari) => Some(self.atari_obs_words(atari)),
        }
    }

    /// Counts bytes written into (`to_learner`) and read from (`from_learner`) the learner's tensors by the host,
    /// when those live on a GPU.
    pub fn count(&self, to_learner: usize, from_learner: usize) {
        if self.env_device.backend() != Backend::Cpu {
            let (a, b) = self.learner_bytes.get();
            self.learner_bytes.set((a + to_learner as u64, b + from_learner as u64));
        }
    }

    /// The current observations `[N, obs_dim]` as a learner tensor.
    pub fn obs(&self, envs: &mut Envs) -> Result<Tensor<2>, Error> {
        match envs {
            Envs::Batch(batch) => self.field(batch, Field::Obs),
            #[cfg(feature = "atari")]
            Envs::Atari(atari) => Ok(self.atari_obs(atari)),
            Envs::Host(host) => Ok(self.host_obs(host)),
        }
    }

    /// Steps the envs with env-space actions `[N, action_dim]` and returns the step's fields.
    pub fn step(&self, envs: &mut Envs, actions: Tensor<2>) -> Result<Step, Error> {
        match envs {
            Envs::Batch(batch) => self.step_batch(batch, actions),
            #[cfg(feature = "atari")]
            Envs::Atari(atari) => self.atari_step(atari, actions),
            Envs::Host(host) => self.host_step(host, actions),
        }
    }

    /// `[episodes finished, sum of their returns, sum of their lengths]` since the last call, as a learner
    /// tensor (reduced on the device on wgpu; Atari: whole games, unclipped scores); the sums are cleared.
    pub fn episode_sums(&self, envs: &mut Envs) -> Result<Tensor<1>, Error> {
        match envs {
            Envs::Batch(batch) => self.episode_sums_batch(batch),
            #[cfg(feature = "atari")]
            Envs::Atari(atari) => Ok(self.atari_episode_sums(atari)),
            Envs::Host(host) => Ok(self.host_episode_sums(host)),
        }
    }

    /// An f32 `[N, obs_dim]` field of the batch (`Obs` or `FinalObs`) as a learner tensor.
    fn field(&self, env: &mut EnvBatch, field: Field) -> Result<Tensor<2>, Error> {
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return link.field(env, field, env.spec().obs_dim());
        }
        let values = env.read_f32(field)?;
        let shape = [env.num_envs(), env.spec().obs_dim()];
        Ok(Tensor::from_data(TensorData::new(values, shape), &self.inner))
    }

    fn step_batch(&self, env: &mut EnvBatch, actions: Tensor<2>) -> Result<Step, Error> {
        let discrete = matches!(env.spec().action_space, Space::Discrete { .. });
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return link.step(env, actions, discrete);
        }
        let values = self.to_vec(actions.reshape([-1]))?;
        let words: Vec<u32> = if discrete {
            values.iter().map(|&a| a as u32).collect()
        } else {
            values.iter().map(|a| a.to_bits()).collect()
        };
        let buffer = env.upload_actions(&words)?;
        env.step(&buffer)?;
        let (obs, final_obs) = (self.field(env, Field::Obs)?, self.field(env, Field::FinalObs)?);
        let flag =
            |f| -> Result<Tensor<1>, Error> { Ok(self.from_vec(env.read(f)?.into_iter().map(|w| w as f32).collect())) };
        Ok(Step {
            obs,
            final_obs,
            reward: self.from_vec(env.read_f32(Field::Reward)?),
            terminated: flag(Field::Terminated)?,
            truncated: flag(Field::Truncated)?,
            packed: None,
        })
    }

    /// `steps` successive draws of `rows × width` values of `kind` from `noise`, as a `[steps · rows, width]`
    /// learner tensor (row block t is step t's).
    pub fn noise(
        &self,
        noise: &mut Noise,
        (kind, width): (NoiseKind, usize),
        rows: usize,
        steps: usize,
    ) -> Result<Tensor<2>, Error> {
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return link.noise(noise, (kind, width), rows, steps);
        }
        let values = noise.sample_rows(kind, rows * width, steps);
        Ok(Tensor::from_data(TensorData::new(values, [steps * rows, width]), &self.inner))
    }

    /// A pseudo-random permutation of `0..n` (`Noise::permutation`) as a learner index tensor.
    pub fn permutation(&self, noise: &mut Noise, n: usize) -> Result<Tensor<1, Int>, Error> {
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return link.permutation(noise, n);
        }
        Ok(Tensor::from_data(TensorData::new(noise.permutation(n), [n]), &self.inner))
    }

    /// GAE over a time-major `[T·N]` rollout, on the learner's device: the wgpu kernel on wgpu, the CPU
    /// reference (the kernels' specification) on the CPU.
    pub fn gae(
        &self,
        params: GaeParams,
        (horizon, n): (usize, usize),
        inputs: ReturnInputs,
    ) -> Result<(Tensor<1>, Tensor<1>), Error> {
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return link.gae(params, (horizon, n), &inputs);
        }
        let host = HostRollout::read(self, inputs)?;
        let (mut advantages, mut returns) = (vec![0.0; horizon * n], vec![0.0; horizon * n]);
        gae_reference(params, horizon, n, &host.inputs(), &mut advantages, &mut returns);
        Ok((self.from_vec(advantages), self.from_vec(returns)))
    }

    /// λ-returns (`crate::returns::lambda`) over a time-major `[T·N]` rollout whose values are bootstrap values,
    /// on the learner's device: the GAE kernel's returns on wgpu, the λ-return reference on the CPU.
    pub fn lambda_returns(
        &self,
        params: GaeParams,
        (horizon, n): (usize, usize),
        inputs: ReturnInputs,
    ) -> Result<Tensor<1>, Error> {
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return Ok(link.gae(params, (horizon, n), &inputs)?.1);
        }
        let host = HostRollout::read(self, inputs)?;
        let mut returns = vec![0.0; horizon * n];
        lambda_returns_reference(params.gamma, params.lambda, horizon, n, &host.inputs(), &mut returns);
        Ok(self.from_vec(returns))
    }

    /// V-trace over a time-major `[T·N]` rollout with the behaviour and target policies' log-probabilities of
    /// the actions taken (`[T·N]` each), on the learner's device: the wgpu kernel on wgpu, the CPU reference on
    /// the CPU. Returns `(vs, pg_advantages)`, `[T·N]` each.
    pub fn vtrace(
        &self,
        params: VtraceParams,
        (horizon, n): (usize, usize),
        inputs: ReturnInputs,
        behaviour_log_probs: Tensor<1>,
        target_log_probs: Tensor<1>,
    ) -> Result<(Tensor<1>, Tensor<1>), Error> {
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return link.vtrace(params, (horizon, n), &inputs, behaviour_log_probs, target_log_probs);
        }
        // Validates the shape and parameters as the device paths do (on the CPU this builds nothing).
        crate::returns::Vtrace::new(&EnvDevice::Cpu, horizon, n, params)?;
        let host = HostRollout::read(self, inputs)?;
        let (behaviour, target) = (self.to_vec(behaviour_log_probs)?, self.to_vec(target_log_probs)?);
        let (mut vs, mut pg_advantages) = (vec![0.0; horizon * n], vec![0.0; horizon * n]);
        vtrace_reference(params, horizon, n, &host.inputs(), &behaviour, &target, &mut vs, &mut pg_advantages);
        Ok((self.from_vec(vs), self.from_vec(pg_advantages)))
    }

    fn episode_sums_batch(&self, env: &mut EnvBatch) -> Result<Tensor<1>, Error> {
        #[cfg(feature = "wgpu")]
        if let Some(link) = &self.link {
            return link.episode_sums(env);
        }
        let stats = env.take_episode_stats()?;
        let count = stats.episodes as f64;
        let sums = [count, stats.return_mean * count, stats.length_mean * count].map(|v| v as f32);
        Ok(self.from_vec(sums.to_vec()))
    }

    pub fn from_vec(&self, values: Vec<f32>) -> Tensor<1> {
        self.count(values.len() * 4, 0);
        let n = values.len();
        Tensor::from_data(TensorData::new(values, [n]), &self.inner)
    }

    /// Copies a learner tensor to the host.
    pub fn to_vec(&self, x: Tensor<1>) -> Result<Vec<f32>, Error> {
        let values = x
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Device(format!("reading a learner tensor failed: {e:?}")))?;
        self.count(0, values.len() * 4);
        Ok(values)
    }
}

/// A rollout's fields read to the host, for the CPU references.
struct HostRollout {
    rewards: Vec<f32>,
    values: Vec<f32>,
    terminated: Vec<u32>,
    truncated: Vec<u32>,
    final_values: Vec<f32>,
    last_values: Vec<f32>,
}

impl HostRollout {
    fn read(bridge: &Bridge, inputs: ReturnInputs) -> Result<Self, Error> {
        let host = |x: Tensor<1>| bridge.to_vec(x);
        let flags = |x: Tensor<1>| -> Result<Vec<u32>, Error> { Ok(host(x)?.into_iter().map(|d| d as u32).collect()) };
        Ok(Self {
            rewards: host(inputs.rewards)?,
            values: host(inputs.values)?,
            terminated: flags(inputs.terminated)?,
            truncated: flags(inputs.truncated)?,
            final_values: host(inputs.final_values)?,
            last_values: host(inputs.last_values)?,
        })
    }

    fn inputs(&self) -> HostInputs<'_> {
        HostInputs {
            rewards: &self.rewards,
            values: &self.values,
            terminated: &self.terminated,
            truncated: &self.truncated,
            final_values: &self.final_values,
            last_values: &self.last_values,
        }
    }
}

/// Maps the policy's actions to the env's action space: Discrete indices as they are; Box actions rescaled from
/// [-1, 1] to the bounds (`normalize_actions`) or clipped to them (`clip_actions`), as RLlib does.
pub struct ActionMap {
    scale: Option<(Tensor<2>, Tensor<2>)>,
    clip: Option<(Tensor<2>, Tensor<2>)>,
}

impl ActionMap {
    pub fn new(space: &Space, env: &EnvironmentConfig, device: &Device) -> Result<Self, Error> {
        let device = device.clone().inner();
        let row = |v: &[f32]| Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), &device);
        match space {
            Space::Discrete { .. } => Ok(Self { scale: None, clip: None }),
            Space::Box { low, high, .. } => {
                let finite = low.iter().chain(high).all(|v| v.is_finite());
                let scale = (env.normalize_actions && finite).then(|| {
                    let half: Vec<f32> = low.iter().zip(high).map(|(l, h)| 0.5 * (h - l)).collect();
                    let mid: Vec<f32> = low.iter().zip(high).map(|(l, h)| 0.5 * (h + l)).collect();
                    (row(&half), row(&mid))
                });
                let clip = (env.clip_actions && scale.is_none()).then(|| (row(low), row(high)));
                Ok(Self { scale, clip })
            }
        }
    }

    /// `[N, A]` policy actions → `[N, A]` env actions.
    pub fn to_env(&self, actions: Tensor<2>) -> Tensor<2> {
        if let Some((half, mid)) = &self.scale {
            return actions.clamp(-1.0, 1.0) * half.clone() + mid.clone();
        }
        if let Some((low, high)) = &self.clip {
            return actions.max_pair(low.clone()).min_pair(high.clone());
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envs::rng::{draw, unit};

    /// On the CPU backend `Bridge::vtrace` reads the learner's tensors (flags as 0.0 / 1.0) into the reference.
    #[test]
    fn vtrace_on_the_cpu_backend_is_the_reference() {
        let bridge = Bridge::new(&ResourcesConfig::default()).unwrap();
        let (t, n) = (9, 5);
        let plane = t * n;
        let f = |c: usize| unit(draw(0xfeed, c as u32)) * 2.0 - 1.0;
        let field = |offset: usize, len: usize| (0..len).map(|i| f(offset + i)).collect::<Vec<f32>>();
        let (rewards, values, final_values) = (field(0, plane), field(1000, plane), field(2000, plane));
        let (last_values, behaviour, target) = (field(3000, n), field(4000, plane), field(5000, plane));
        let flag =
            |offset: usize| (0..plane).map(|i| draw(0xfeed, (offset + i) as u32).is_multiple_of(6) as u32).collect();
        let (terminated, truncated): (Vec<u32>, Vec<u32>) = (flag(6000), flag(7000));
        let params = VtraceParams { gamma: 0.9, lambda: 0.8, clip_rho_threshold: 1.2, ..VtraceParams::default() };
        let host = HostInputs {
            rewards: &rewards,
            values: &values,
            terminated: &terminated,
            truncated: &truncated,
            final_values: &final_values,
            last_values: &last_values,
        };
        let (mut vs, mut pg) = (vec![0.0; plane], vec![0.0; plane]);
        vtrace_reference(params, t, n, &host, &behaviour, &target, &mut vs, &mut pg);
        let tensor = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), bridge.inner());
        let flags = |v: &[u32]| tensor(&v.iter().map(|&d| d as f32).collect::<Vec<f32>>());
        let inputs = || ReturnInputs {
            rewards: tensor(&rewards),
            values: tensor(&values),
            terminated: flags(&terminated),
            truncated: flags(&truncated),
            final_values: tensor(&final_values),
            last_values: tensor(&last_values),
        };
        let (got_vs, got_pg) = bridge.vtrace(params, (t, n), inputs(), tensor(&behaviour), tensor(&target)).unwrap();
        assert_eq!(bridge.to_vec(got_vs).unwrap(), vs);
        assert_eq!(bridge.to_vec(got_pg).unwrap(), pg);
        let bad = VtraceParams { clip_c_threshold: 0.0, ..params };
        assert!(bridge.vtrace(bad, (t, n), inputs(), tensor(&behaviour), tensor(&target)).is_err());
    }
}
