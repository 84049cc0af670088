//! Generalised Advantage Estimation with Gymnasium's terminated/truncated split: `gae_reference` is the
//! specification; `Gae` runs it on a device (`kernels/gae.wgsl`, `kernels/cuda/gae.cu`; the CPU backend runs the
//! reference) over device buffers, with no host transfer.
//!
//! A terminated step does not bootstrap; a truncated step bootstraps from the value of its kept final
//! observation; either ends the trace (the next observation belongs to a new episode). See `kernels/gae.wgsl`
//! for the equation.

use super::buffers::Op;
use super::HostInputs;
use bytemuck::{Pod, Zeroable};
use myriad_envs::{Device, DeviceBuffer, Error, Result};

/// Discounting of GAE.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GaeParams {
    /// Discount factor γ.
    pub gamma: f32,
    /// Trace decay λ (1 gives Monte-Carlo returns, 0 one-step TD).
    pub lambda: f32,
}

impl Default for GaeParams {
    fn default() -> Self {
        Self { gamma: 0.99, lambda: 0.95 }
    }
}

/// The rollout fields the GAE kernel reads, time-major device buffers (`T` = horizon, `N` = envs). The kernel
/// takes the two flags in one buffer; learners pass them named, in [`super::ReturnInputs`].
pub struct GaeBuffers<'a> {
    /// f32 `[T, N]`.
    pub rewards: &'a DeviceBuffer,
    /// f32 `[T, N]`: V(s_t).
    pub values: &'a DeviceBuffer,
    /// u32 `[2, T, N]`: terminated, then truncated (0 or 1).
    pub dones: &'a DeviceBuffer,
    /// f32 `[T, N]`: V(final observation), read where truncated and not terminated.
    pub final_values: &'a DeviceBuffer,
    /// f32 `[N]`: V(s_T).
    pub last_values: &'a DeviceBuffer,
}

impl GaeBuffers<'_> {
    /// The five rollout fields in the order the kernels bind them.
    fn all(&self) -> [&DeviceBuffer; 5] {
        [self.rewards, self.values, self.dones, self.final_values, self.last_values]
    }
}

/// The CPU specification. Slices are time-major as in [`HostInputs`]; writes `advantages` and `returns` `[T, N]`.
pub fn gae_reference(
    p: GaeParams,
    horizon: usize,
    n: usize,
    inputs: &HostInputs,
    advantages: &mut [f32],
    returns: &mut [f32],
) {
    let plane = horizon * n;
    inputs.check(horizon, n);
    assert!(advantages.len() == plane && returns.len() == plane);
    let mut next_value = inputs.last_values.to_vec();
    let mut next_adv = vec![0.0f32; n];
    for t in (0..horizon).rev() {
        let row = t * n..(t + 1) * n;
        let (terminated, truncated) = (&inputs.terminated[row.clone()], &inputs.truncated[row.clone()]);
        let (r, v, fv) = (&inputs.rewards[row.clone()], &inputs.values[row.clone()], &inputs.final_values[row.clone()]);
        let (adv_out, ret_out) = (&mut advantages[row.clone()], &mut returns[row]);
        for i in 0..n {
            let (term, trunc) = (terminated[i] != 0, truncated[i] != 0);
            let bootstrap = if trunc && !term { fv[i] } else { next_value[i] };
            let delta = r[i] + p.gamma * if term { 0.0 } else { bootstrap } - v[i];
            let adv = delta + p.gamma * p.lambda * if term || trunc { 0.0 } else { next_adv[i] };
            adv_out[i] = adv;
            ret_out[i] = adv + v[i];
            next_value[i] = v[i];
            next_adv[i] = adv;
        }
    }
}

/// The estimator's name in errors.
const OP: Op = Op("GAE");

/// `kernels/gae.wgsl`'s `Params` uniform, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct KernelParams {
    num_envs: u32,
    horizon: u32,
    gamma: f32,
    lambda: f32,
}
const _: () = assert!(std::mem::size_of::<KernelParams>() == 16);

enum Kernel {
    Cpu,
    #[cfg(feature = "wgpu")]
    Wgpu {
        pipeline: wgpu::ComputePipeline,
        uniform: wgpu::Buffer,
    },
    #[cfg(feature = "cuda")]
    Cuda {
        function: cudarc::driver::CudaFunction,
    },
}

/// GAE for rollouts of one shape on one device; the kernel is built once.
pub struct Gae {
    device: Device,
    horizon: usize,
    num_envs: usize,
    params: GaeParams,
    kernel: Kernel,
}

impl Gae {
    pub fn new(device: &Device, horizon: usize, num_envs: usize, params: GaeParams) -> Result<Self> {
        OP.check_shape(horizon, num_envs)?;
        if !(0.0..=1.0).contains(&params.gamma) || !(0.0..=1.0).contains(&params.lambda) {
            return Err(Error::Shape(format!("GAE needs gamma and lambda in [0, 1], got {params:?}")));
        }
        let kp = KernelParams {
            num_envs: num_envs as u32,
            horizon: horizon as u32,
            gamma: params.gamma,
            lambda: params.lambda,
        };
        let kernel = match device {
            Device::Cpu => Kernel::Cpu,
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => Kernel::Wgpu {
                pipeline: ctx.kernel("gae", include_str!("../../kernels/gae.wgsl"), "gae")?,
                uniform: ctx.uniform_buffer("gae params", bytemuck::bytes_of(&kp)),
            },
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => {
                let _ = kp;
                Kernel::Cuda { function: ctx.kernel("gae", include_str!("../../kernels/cuda/gae.cu"), "gae")? }
            }
        };
        Ok(Self { device: device.clone(), horizon, num_envs, params, kernel })
    }

    /// Writes `advantages` and `returns` (f32 `[T, N]`, on this device) from `inputs`.
    pub fn compute(
        &self,
        inputs: &GaeBuffers,
        advantages: &mut DeviceBuffer,
        returns: &mut DeviceBuffer,
    ) -> Result<()> {
        let (t, n) = (self.horizon, self.num_envs);
        let plane = t * n;
        OP.check_lengths(
            (t, n),
            &[
                ("rewards", inputs.rewards.len(), plane),
                ("values", inputs.values.len(), plane),
                ("dones", inputs.dones.len(), 2 * plane),
                ("final_values", inputs.final_values.len(), plane),
                ("last_values", inputs.last_values.len(), n),
                ("advantages", advantages.len(), plane),
                ("returns", returns.len(), plane),
            ],
        )?;
        match &self.kernel {
            Kernel::Cpu => {
                let host = OP.cpu_inputs(inputs.all())?;
                let (adv, ret) = (OP.cpu_f32_mut(advantages)?, OP.cpu_f32_mut(returns)?);
                gae_reference(self.params, t, n, &host, adv, ret);
                Ok(())
            }
            #[cfg(feature = "wgpu")]
            Kernel::Wgpu { pipeline, uniform } => {
                let Device::Wgpu(ctx) = &self.device else { unreachable!("a wgpu kernel lives on a wgpu device") };
                let buffers = [
                    uniform,
                    OP.wgpu(inputs.rewards)?,
                    OP.wgpu(inputs.values)?,
                    OP.wgpu(inputs.dones)?,
                    OP.wgpu(inputs.final_values)?,
                    OP.wgpu(inputs.last_values)?,
                    OP.wgpu(advantages)?,
                    OP.wgpu(returns)?,
                ];
                ctx.launch(pipeline, &buffers, n as u32, 64);
                Ok(())
            }
            #[cfg(feature = "cuda")]
            Kernel::Cuda { function } => {
                use cudarc::driver::{LaunchConfig, PushKernelArg};
                let Device::Cuda(ctx) = &self.device else { unreachable!("a CUDA kernel lives on a CUDA device") };
                let (rewards, values, dones, fv, lv) = (
                    OP.cuda(inputs.rewards)?,
                    OP.cuda(inputs.values)?,
                    OP.cuda(inputs.dones)?,
                    OP.cuda(inputs.final_values)?,
                    OP.cuda(inputs.last_values)?,
                );
                let adv = OP.cuda_mut(advantages)?;
                let ret = OP.cuda_mut(returns)?;
                let (nu, tu) = (n as u32, t as u32);
                let stream = ctx.stream();
                let mut launch = stream.launch_builder(function);
                launch.arg(&nu).arg(&tu).arg(&self.params.gamma).arg(&self.params.lambda);
                launch.arg(rewards).arg(values).arg(dones).arg(fv).arg(lv).arg(adv).arg(ret);
                let cfg =
                    LaunchConfig { grid_dim: (nu.div_ceil(256), 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
                // SAFETY: the arguments match `kernels/cuda/gae.cu`'s `gae` in order and type (two u32, two f32,
                // seven device pointers); every buffer was checked above to hold its [T, N] (or [N], [2, T, N])
                // words, and threads with i >= num_envs return first.
                unsafe { launch.launch(cfg) }
                    .map_err(|e| Error::Device(format!("launching the CUDA kernel `gae`: {e}")))?;
                Ok(())
            }
        }
    }
}
