//! V-trace (Espeholt et al. 2018, IMPALA) with Gymnasium's terminated/truncated split: `vtrace_reference` is the
//! specification; `Vtrace` runs it on a device (`kernels/vtrace.wgsl`, `kernels/cuda/vtrace.cu`; the CPU backend
//! runs the reference) over device buffers, with no host transfer.
//!
//! Off-policy corrected value targets `vs` and policy-gradient advantages from the behaviour policy's and the
//! target policy's log-probabilities of the actions taken. Episode boundaries are treated as in GAE: a terminated
//! step does not bootstrap, a truncated one bootstraps from the value of its kept final observation, and either
//! ends the trace. See `kernels/vtrace.wgsl` for the equation. On-policy with no clipping, `vs` are GAE(λ)'s
//! returns.

use super::buffers::Op;
use super::HostInputs;
use bytemuck::{Pod, Zeroable};
use myriad_envs::{Device, DeviceBuffer, Error, Result};

/// Discounting and importance-weight clipping of V-trace.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VtraceParams {
    /// Discount factor γ.
    pub gamma: f32,
    /// Trace decay λ, multiplying c_t (RLlib's `lambda_`; 1 in IMPALA).
    pub lambda: f32,
    /// ρ̄, the clip of the importance weights of the value targets (`f32::INFINITY`: no clip).
    pub clip_rho_threshold: f32,
    /// ρ̄ of the policy-gradient advantages (`f32::INFINITY`: no clip).
    pub clip_pg_rho_threshold: f32,
    /// c̄, the clip of the trace coefficients (1 in IMPALA; `f32::INFINITY`: no clip).
    pub clip_c_threshold: f32,
}

impl Default for VtraceParams {
    fn default() -> Self {
        Self { gamma: 0.99, lambda: 1.0, clip_rho_threshold: 1.0, clip_pg_rho_threshold: 1.0, clip_c_threshold: 1.0 }
    }
}

/// The rollout fields the V-trace kernel reads, time-major device buffers (`T` = horizon, `N` = envs). The
/// kernel takes the two flags in one buffer and the two log-probabilities in another (a shader binds at most
/// eight storage buffers).
pub struct VtraceBuffers<'a> {
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
    /// f32 `[2, T, N]`: log μ(a_t|s_t) of the behaviour policy, then log π(a_t|s_t) of the target policy.
    pub log_probs: &'a DeviceBuffer,
}

/// The CPU specification. Slices are time-major as in [`HostInputs`], log-probabilities `[T, N]` each; writes `vs`
/// and `pg_advantages` `[T, N]`.
#[allow(clippy::too_many_arguments)]
pub fn vtrace_reference(
    p: VtraceParams,
    horizon: usize,
    n: usize,
    inputs: &HostInputs,
    behaviour_log_probs: &[f32],
    target_log_probs: &[f32],
    vs: &mut [f32],
    pg_advantages: &mut [f32],
) {
    let plane = horizon * n;
    inputs.check(horizon, n);
    assert!(behaviour_log_probs.len() == plane && target_log_probs.len() == plane);
    assert!(vs.len() == plane && pg_advantages.len() == plane);
    // The kernels' thresholds, so that an unclipped ratio that overflows clips alike everywhere.
    let (clip_rho, clip_pg_rho, clip_c) =
        (finite(p.clip_rho_threshold), finite(p.clip_pg_rho_threshold), finite(p.clip_c_threshold));
    let mut next_value = inputs.last_values.to_vec();
    let mut next_vs = inputs.last_values.to_vec();
    let mut next_a = vec![0.0f32; n];
    for t in (0..horizon).rev() {
        let row = t * n..(t + 1) * n;
        let (terminated, truncated) = (&inputs.terminated[row.clone()], &inputs.truncated[row.clone()]);
        let (r, v, fv) = (&inputs.rewards[row.clone()], &inputs.values[row.clone()], &inputs.final_values[row.clone()]);
        let (mu, pi) = (&behaviour_log_probs[row.clone()], &target_log_probs[row.clone()]);
        let (vs_out, pg_out) = (&mut vs[row.clone()], &mut pg_advantages[row]);
        for i in 0..n {
            let (term, trunc) = (terminated[i] != 0, truncated[i] != 0);
            let ratio = (pi[i] - mu[i]).exp();
            let (rho, c, rho_pg) = (clip_rho.min(ratio), p.lambda * clip_c.min(ratio), clip_pg_rho.min(ratio));
            let boot = |next: f32| {
                if term {
                    0.0
                } else if trunc {
                    fv[i]
                } else {
                    next
                }
            };
            let delta = rho * (r[i] + p.gamma * boot(next_value[i]) - v[i]);
            let a = delta + p.gamma * c * if term || trunc { 0.0 } else { next_a[i] };
            vs_out[i] = v[i] + a;
            pg_out[i] = rho_pg * (r[i] + p.gamma * boot(next_vs[i]) - v[i]);
            next_value[i] = v[i];
            next_vs[i] = vs_out[i];
            next_a[i] = a;
        }
    }
}

/// A clip threshold as the kernels take it: infinity (no clip) becomes `f32::MAX`, so `min` needs no infinity on
/// any backend.
fn finite(threshold: f32) -> f32 {
    threshold.min(f32::MAX)
}

/// The estimator's name in errors.
const OP: Op = Op("V-trace");

/// `kernels/vtrace.wgsl`'s `Params` uniform, field for field; thresholds through [`finite`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct KernelParams {
    num_envs: u32,
    horizon: u32,
    gamma: f32,
    lambda: f32,
    clip_rho: f32,
    clip_pg_rho: f32,
    clip_c: f32,
    _pad: u32,
}
const _: () = assert!(std::mem::size_of::<KernelParams>() == 32);

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
        params: KernelParams,
    },
}

/// V-trace for rollouts of one shape on one device; the kernel is built once.
pub struct Vtrace {
    device: Device,
    horizon: usize,
    num_envs: usize,
    params: VtraceParams,
    kernel: Kernel,
}

impl Vtrace {
    pub fn new(device: &Device, horizon: usize, num_envs: usize, params: VtraceParams) -> Result<Self> {
        OP.check_shape(horizon, num_envs)?;
        if !(0.0..=1.0).contains(&params.gamma) || !(0.0..=1.0).contains(&params.lambda) {
            return Err(Error::Shape(format!("V-trace needs gamma and lambda in [0, 1], got {params:?}")));
        }
        let thresholds = [params.clip_rho_threshold, params.clip_pg_rho_threshold, params.clip_c_threshold];
        if thresholds.iter().any(|&x| x.is_nan() || x <= 0.0) {
            return Err(Error::Shape(format!(
                "V-trace needs clip thresholds > 0 (f32::INFINITY for no clip), got {params:?}"
            )));
        }
        let kp = KernelParams {
            num_envs: num_envs as u32,
            horizon: horizon as u32,
            gamma: params.gamma,
            lambda: params.lambda,
            clip_rho: finite(params.clip_rho_threshold),
            clip_pg_rho: finite(params.clip_pg_rho_threshold),
            clip_c: finite(params.clip_c_threshold),
            _pad: 0,
        };
        let kernel = match device {
            Device::Cpu => Kernel::Cpu,
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => Kernel::Wgpu {
                pipeline: ctx.kernel("vtrace", include_str!("../../kernels/vtrace.wgsl"), "vtrace")?,
                uniform: ctx.uniform_buffer("vtrace params", bytemuck::bytes_of(&kp)),
            },
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => Kernel::Cuda {
                function: ctx.kernel("vtrace", include_str!("../../kernels/cuda/vtrace.cu"), "vtrace")?,
                params: kp,
            },
        };
        Ok(Self { device: device.clone(), horizon, num_envs, params, kernel })
    }

    /// Writes `vs` and `pg_advantages` (f32 `[T, N]`, on this device) from `inputs`.
    pub fn compute(
        &self,
        inputs: &VtraceBuffers,
        vs: &mut DeviceBuffer,
        pg_advantages: &mut DeviceBuffer,
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
                ("log_probs", inputs.log_probs.len(), 2 * plane),
                ("vs", vs.len(), plane),
                ("pg_advantages", pg_advantages.len(), plane),
            ],
        )?;
        match &self.kernel {
            Kernel::Cpu => {
                let host = OP.cpu_inputs([
                    inputs.rewards,
                    inputs.values,
                    inputs.dones,
                    inputs.final_values,
                    inputs.last_values,
                ])?;
                let (behaviour, target) = OP.cpu_f32(inputs.log_probs)?.split_at(plane);
                let (vs, pg) = (OP.cpu_f32_mut(vs)?, OP.cpu_f32_mut(pg_advantages)?);
                vtrace_reference(self.params, t, n, &host, behaviour, target, vs, pg);
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
                    OP.wgpu(inputs.log_probs)?,
                    OP.wgpu(vs)?,
                    OP.wgpu(pg_advantages)?,
                ];
                ctx.launch(pipeline, &buffers, n as u32, 64);
                Ok(())
            }
            #[cfg(feature = "cuda")]
            Kernel::Cuda { function, params: kp } => {
                use cudarc::driver::{LaunchConfig, PushKernelArg};
                let Device::Cuda(ctx) = &self.device else { unreachable!("a CUDA kernel lives on a CUDA device") };
                let (rewards, values, dones, fv, lv, lp) = (
                    OP.cuda(inputs.rewards)?,
                    OP.cuda(inputs.values)?,
                    OP.cuda(inputs.dones)?,
                    OP.cuda(inputs.final_values)?,
                    OP.cuda(inputs.last_values)?,
                    OP.cuda(inputs.log_probs)?,
                );
                let (vs, pg) = (OP.cuda_mut(vs)?, OP.cuda_mut(pg_advantages)?);
                let stream = ctx.stream();
                let mut launch = stream.launch_builder(function);
                launch.arg(&kp.num_envs).arg(&kp.horizon).arg(&kp.gamma).arg(&kp.lambda);
                launch.arg(&kp.clip_rho).arg(&kp.clip_pg_rho).arg(&kp.clip_c);
                launch.arg(rewards).arg(values).arg(dones).arg(fv).arg(lv).arg(lp).arg(vs).arg(pg);
                let blocks = kp.num_envs.div_ceil(256);
                let cfg = LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
                // SAFETY: the arguments match `kernels/cuda/vtrace.cu`'s `vtrace` in order and type (two u32, five
                // f32, eight device pointers); every buffer was checked above to hold its [T, N] (or [N],
                // [2, T, N]) words, and threads with i >= num_envs return first.
                unsafe { launch.launch(cfg) }
                    .map_err(|e| Error::Device(format!("launching the CUDA kernel `vtrace`: {e}")))?;
                Ok(())
            }
        }
    }
}
