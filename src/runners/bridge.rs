//! Where env buffers meet the learner's tensors.
//!
//! On the CPU backend the envs and burn's ndarray tensors share host memory, so crossing is a copy in RAM and
//! no bytes are transferred. On wgpu the envs and the model run on the GPU but on separate wgpu devices (ours and
//! burn's), so observations, rewards and actions cross through the host each step; those bytes are counted and
//! reported in every result.

use super::{Noise, NoiseKind};
use crate::config::{EnvironmentConfig, ResourcesConfig};
use crate::envs::{Backend, Device as EnvDevice, EnvBatch, Field, Space};
use crate::Error;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::cell::Cell;

/// The envs' device, the learner's burn device, and the byte counter of the path between them.
pub struct Bridge {
    env_device: EnvDevice,
    device: Device,
    /// `device` without autodiff: where rollout data and inference tensors live.
    inner: Device,
    /// Host-side bytes written into (`.0`) and read from (`.1`) the learner's tensors, when those live on a GPU.
    learner_bytes: Cell<(u64, u64)>,
    learner_on_host: bool,
}

impl Bridge {
    pub fn new(resources: &ResourcesConfig) -> Result<Self, Error> {
        let (env_device, device) = match resources.backend {
            // burn 0.22 marks ndarray deprecated in favour of its new `flex` backend; ndarray is the CPU backend
            // this crate is built and tested with.
            #[allow(deprecated)]
            Backend::Cpu => (EnvDevice::Cpu, Device::ndarray()),
            Backend::Wgpu => wgpu_devices(resources.device)?,
            Backend::Cuda => {
                return Err(Error::Config(
                    "the PPO learner runs on cpu or wgpu; burn's CUDA backend is not part of this build (envs and \
                     GAE run on CUDA with `--features cuda`)"
                        .into(),
                ))
            }
        };
        let learner_on_host = resources.backend == Backend::Cpu;
        let inner = device.clone();
        Ok(Self { env_device, device: device.autodiff(), inner, learner_bytes: Cell::new((0, 0)), learner_on_host })
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

    fn count(&self, to_learner: usize, from_learner: usize) {
        if !self.learner_on_host {
            let (a, b) = self.learner_bytes.get();
            self.learner_bytes.set((a + to_learner as u64, b + from_learner as u64));
        }
    }

    /// An f32 `[N, obs_dim]` field of the batch (`Obs` or `FinalObs`) as a learner tensor.
    pub fn obs(&self, env: &EnvBatch, field: Field) -> Result<Tensor<2>, Error> {
        let values = env.read_f32(field)?;
        let shape = [env.num_envs(), env.spec().obs_dim()];
        self.count(values.len() * 4, 0);
        Ok(Tensor::from_data(TensorData::new(values, shape), &self.inner))
    }

    /// Reward, terminated and truncated of the last step, each `[N]` f32.
    pub fn outcome(&self, env: &EnvBatch) -> Result<(Tensor<1>, Tensor<1>, Tensor<1>), Error> {
        let reward = env.read_f32(Field::Reward)?;
        let flag = |f| -> Result<Vec<f32>, Error> { Ok(env.read(f)?.into_iter().map(|w| w as f32).collect()) };
        let (terminated, truncated) = (flag(Field::Terminated)?, flag(Field::Truncated)?);
        Ok((self.from_vec(reward), self.from_vec(terminated), self.from_vec(truncated)))
    }

    /// Steps `env` with env-space actions `[N, action_dim]`.
    pub fn step(&self, env: &mut EnvBatch, actions: Tensor<2>) -> Result<(), Error> {
        let values = self.to_vec(actions.reshape([-1]))?;
        let words: Vec<u32> = match env.spec().action_space {
            Space::Discrete { .. } => values.iter().map(|&a| a as u32).collect(),
            Space::Box { .. } => values.iter().map(|a| a.to_bits()).collect(),
        };
        let buffer = env.upload_actions(&words)?;
        env.step(&buffer)?;
        Ok(())
    }

    /// `rows × width` draws of `kind` from `noise`, as a `[rows, width]` learner tensor.
    pub fn noise(&self, noise: &mut Noise, (kind, width): (NoiseKind, usize), rows: usize) -> Tensor<2> {
        let values = noise.sample(kind, rows * width);
        self.count(values.len() * 4, 0);
        Tensor::from_data(TensorData::new(values, [rows, width]), &self.inner)
    }

    /// A random permutation of `0..n` as a learner index tensor.
    pub fn permutation(&self, noise: &mut Noise, n: usize) -> Tensor<1, Int> {
        let order = noise.permutation(n);
        self.count(n * 8, 0);
        Tensor::from_data(TensorData::new(order, [n]), &self.inner)
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

#[cfg(feature = "wgpu")]
fn wgpu_devices(index: usize) -> Result<(EnvDevice, Device), Error> {
    let env_device = EnvDevice::wgpu()?;
    let _ = index;
    Ok((env_device, Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_devices(_index: usize) -> Result<(EnvDevice, Device), Error> {
    Err(Error::Config("this build of Myriad was compiled without the `wgpu` feature".into()))
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
