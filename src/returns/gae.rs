//! Generalised Advantage Estimation with Gymnasium's terminated/truncated split: `gae_reference` is the
//! specification; `Gae` runs it on a device (`kernels/gae.wgsl`, `kernels/cuda/gae.cu`; the CPU backend runs the
//! reference) over device buffers, with no host transfer.
//!
//! A terminated step does not bootstrap; a truncated step bootstraps from the value of its kept final
//! observation; either ends the trace (the next observation belongs to a new episode). See `kernels/gae.wgsl`
//! for the equation.

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
        if horizon == 0 || num_envs == 0 || horizon * num_envs > u32::MAX as usize / 2 {
            return Err(Error::Shape(format!("GAE over [{horizon}, {num_envs}] is empty or too large")));
        }
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
        let shapes = [
            ("rewards", inputs.rewards.len(), plane),
            ("values", inputs.values.len(), plane),
            ("dones", inputs.dones.len(), 2 * plane),
            ("final_values", inputs.final_values.len(), plane),
            ("last_values", inputs.last_values.len(), n),
            ("advantages", advantages.len(), plane),
            ("returns", returns.len(), plane),
        ];
        for (name, got, want) in shapes {
            if got != want {
                return Err(Error::Shape(format!("GAE over [{t}, {n}]: {name} has {got} values, expected {want}")));
            }
        }
        match &self.kernel {
            Kernel::Cpu => {
                let f = cpu_f32;
                let dones = inputs.dones.cpu_words().ok_or_else(|| not_on("CPU"))?;
                let (rewards, values, fv, lv) =
                    (f(inputs.rewards)?, f(inputs.values)?, f(inputs.final_values)?, f(inputs.last_values)?);
                let adv = advantages.cpu_words_mut().ok_or_else(|| not_on("CPU"))?;
                let ret = returns.cpu_words_mut().ok_or_else(|| not_on("CPU"))?;
                let (adv, ret) = (bytemuck::cast_slice_mut(adv), bytemuck::cast_slice_mut(ret));
                let (terminated, truncated) = dones.split_at(plane);
                let host = HostInputs { rewards, values, terminated, truncated, final_values: fv, last_values: lv };
                gae_reference(self.params, t, n, &host, adv, ret);
                Ok(())
            }
            #[cfg(feature = "wgpu")]
            Kernel::Wgpu { pipeline, uniform } => {
                let Device::Wgpu(ctx) = &self.device else { unreachable!("a wgpu kernel lives on a wgpu device") };
                let b = wgpu_buffer;
                let buffers = [
                    uniform,
                    b(inputs.rewards)?,
                    b(inputs.values)?,
                    b(inputs.dones)?,
                    b(inputs.final_values)?,
                    b(inputs.last_values)?,
                    b(advantages)?,
                    b(returns)?,
                ];
                ctx.launch(pipeline, &buffers, n as u32, 64);
                Ok(())
            }
            #[cfg(feature = "cuda")]
            Kernel::Cuda { function } => {
                use cudarc::driver::{LaunchConfig, PushKernelArg};
                let Device::Cuda(ctx) = &self.device else { unreachable!("a CUDA kernel lives on a CUDA device") };
                let s = cuda_slice;
                let (rewards, values, dones, fv, lv) = (
                    s(inputs.rewards)?,
                    s(inputs.values)?,
                    s(inputs.dones)?,
                    s(inputs.final_values)?,
                    s(inputs.last_values)?,
                );
                let adv = advantages.cuda_slice_mut().ok_or_else(|| not_on("CUDA device"))?;
                let ret = returns.cuda_slice_mut().ok_or_else(|| not_on("CUDA device"))?;
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

fn not_on(device: &str) -> Error {
    Error::Shape(format!("GAE buffers are not on the {device}"))
}

fn cpu_f32(b: &DeviceBuffer) -> Result<&[f32]> {
    b.cpu_words().map(bytemuck::cast_slice).ok_or_else(|| not_on("CPU"))
}

#[cfg(feature = "wgpu")]
fn wgpu_buffer(b: &DeviceBuffer) -> Result<&wgpu::Buffer> {
    b.wgpu_buffer().ok_or_else(|| not_on("wgpu device"))
}

#[cfg(feature = "cuda")]
fn cuda_slice(b: &DeviceBuffer) -> Result<&cudarc::driver::CudaSlice<u32>> {
    b.cuda_slice().ok_or_else(|| not_on("CUDA device"))
}
