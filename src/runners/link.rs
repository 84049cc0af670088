//! The wgpu learner's data path: burn's wgpu runtime and the envs share one wgpu device and one queue, so env
//! fields, kernel outputs and the learner's tensors move by device-side copies in queue order, never through
//! the host.
//!
//! Why this design: burn 0.22 accepts an existing wgpu device (`Device::wgpu_options().setup(..)`) and hands out
//! the wgpu buffer behind a tensor (`get_resource` on its compute client). So the envs keep their WGSL kernels
//! and buffers, and each crossing is a `copy_buffer_to_buffer` recorded on the shared queue. Ordering: burn
//! records its work in its own encoder and submits it on flush; before a submission of ours reads or writes a
//! tensor's buffer, [`Bound::of`] flushes burn's pending work, and burn's later work is submitted after ours. A
//! bound tensor's memory stays allocated while the [`Bound`] lives. burn keeps a stream per thread and the flush
//! submits the calling thread's: a learner's tensors are made and bound on the thread that runs it.

use super::{Noise, NoiseKind, Step};
use crate::envs::device::wgpu::{WgpuContext, WgpuRange};
use crate::envs::{Device as EnvDevice, DeviceBuffer, EnvBatch, Field};
use crate::returns::{Gae, GaeBuffers, GaeParams, ReturnInputs, Vtrace, VtraceBuffers, VtraceParams};
use crate::Error;
use burn::backend::wgpu::{AutoCompiler, CubeTensor, WgpuResource, WgpuSetup};
use burn::backend::Cube;
use burn::tensor::{Device, Int, Tensor};
use cubecl_runtime::storage::ManagedResource;
use cubecl_wgpu::WgpuServer;
use std::cell::{RefCell, RefMut};
use std::sync::{Arc, OnceLock};

const NOISE_WGSL: &str = include_str!("../../kernels/noise.wgsl");
const PERMUTATION_WGSL: &str = include_str!("../../kernels/permutation.wgsl");

/// The envs' wgpu device, registered with burn as an existing setup so its tensors live on the same device and
/// queue; opened once per process (each registration is a new burn runtime).
fn shared() -> Result<(Device, EnvDevice), Error> {
    static SHARED: OnceLock<Result<(Device, EnvDevice), String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let envs = EnvDevice::wgpu().map_err(|e| e.to_string())?;
            let ctx = envs.wgpu_context().expect("a wgpu device has a wgpu context");
            let (instance, adapter) = ctx.opened_on().expect("a device this process opened knows its adapter");
            let setup = WgpuSetup {
                instance: instance.clone(),
                adapter: adapter.clone(),
                device: ctx.device.clone(),
                queue: ctx.queue.clone(),
                backend: adapter.get_info().backend,
            };
            let device = Device::wgpu_options()
                .setup(setup)
                .init()
                .map_err(|e| format!("burn cannot run on the envs' wgpu device: {e}"))?;
            Ok((device, envs))
        })
        .clone()
        .map_err(Error::Device)
}

/// A learner tensor's bytes on the shared device, held in place while this lives.
struct Bound {
    resource: ManagedResource<WgpuResource>,
    size: u64,
}

impl Bound {
    /// Flushes burn's pending work on `tensor` and pins its buffer. The tensor must be contiguous 4-byte values.
    fn of(tensor: CubeTensor) -> Result<Self, Error> {
        let fail = |what: String| Error::Device(format!("binding a learner tensor to the env device: {what}"));
        if !tensor.is_contiguous() || tensor.dtype.size() != 4 {
            return Err(fail(format!("needs contiguous 4-byte values, got {:?} strided", tensor.dtype)));
        }
        let size = tensor.meta.shape().num_elements() as u64 * 4;
        let resource = tensor
            .client
            .get_resource::<WgpuServer<AutoCompiler>>(tensor.handle.clone())
            .map_err(|e| fail(format!("{e:?}")))?;
        tensor.client.flush().map_err(|e| fail(format!("{e:?}")))?;
        Ok(Self { resource, size })
    }

    fn float<const D: usize>(tensor: &Tensor<D>) -> Result<Self, Error> {
        let primitive = tensor
            .clone()
            .try_into_primitive::<Cube>()
            .map_err(|e| Error::Device(format!("a learner tensor is not on burn's wgpu backend: {e:?}")))?;
        Self::of(primitive)
    }

    fn int<const D: usize>(tensor: &Tensor<D, Int>) -> Result<Self, Error> {
        let primitive = tensor
            .clone()
            .try_into_primitive::<Cube>()
            .map_err(|e| Error::Device(format!("a learner tensor is not on burn's wgpu backend: {e:?}")))?;
        Self::of(primitive)
    }

    fn range(&self) -> WgpuRange<'_> {
        let r = self.resource.resource();
        WgpuRange { buffer: &r.buffer, offset: r.offset, size: self.size }
    }
}

/// The kernels and scratch buffers of the wgpu data path.
pub struct WgpuLink {
    ctx: Arc<WgpuContext>,
    envs: EnvDevice,
    device: Device,
    noise: wgpu::ComputePipeline,
    permutation: wgpu::ComputePipeline,
    /// The GAE kernel of the last `[T, N]` and parameters asked for.
    gae: RefCell<Option<(Key<GaeParams>, Gae)>>,
    /// The V-trace kernel of the last `[T, N]` and parameters asked for.
    vtrace: RefCell<Option<(Key<VtraceParams>, Vtrace)>>,
}

/// What a return kernel is built for: `(horizon, num_envs, params)`.
type Key<P> = (usize, usize, P);

/// The kernel in `cache` if it was built for `key`, else the one `build` makes, kept in its place.
fn cached<'a, P: Copy + PartialEq, K>(
    cache: &'a RefCell<Option<(Key<P>, K)>>,
    key: Key<P>,
    build: impl FnOnce() -> crate::envs::Result<K>,
) -> Result<RefMut<'a, K>, Error> {
    let mut cached = cache.borrow_mut();
    if cached.as_ref().map(|(k, _)| *k) != Some(key) {
        *cached = Some((key, build()?));
    }
    Ok(RefMut::map(cached, |c| &mut c.as_mut().expect("built above").1))
}

impl WgpuLink {
    /// Opens the shared device: `(env device, burn device without autodiff, link)`. The env device is this
    /// link's own handle on the shared device, with its own byte counter, so learners in one process count
    /// apart.
    pub fn open() -> Result<(EnvDevice, Device, Self), Error> {
        let (device, shared_envs) = shared()?;
        let ctx = Arc::new(shared_envs.wgpu_context().expect("the shared env device is a wgpu device").sibling());
        let envs = EnvDevice::Wgpu(ctx.clone());
        let rng = crate::envs::rng::WGSL;
        let noise = ctx.kernel("noise", &format!("{rng}\n{NOISE_WGSL}"), "noise")?;
        let permutation = ctx.kernel("permutation", &format!("{rng}\n{PERMUTATION_WGSL}"), "permutation")?;
        let (gae, vtrace) = (RefCell::new(None), RefCell::new(None));
        let link = Self { ctx, envs: envs.clone(), device: device.clone(), noise, permutation, gae, vtrace };
        Ok((envs, device, link))
    }

    /// `words` 4-byte values must fit one storage binding of this device (and u32 indices).
    fn check_words(&self, what: &str, words: usize) -> Result<(), Error> {
        let limit = (self.ctx.device.limits().max_storage_buffer_binding_size / 4).min(u32::MAX as u64 / 2);
        if words as u64 > limit {
            return Err(Error::Config(format!(
                "{what} need {words} values in one buffer; this wgpu device binds at most {limit} (use fewer envs \
                 or a shorter rollout)"
            )));
        }
        Ok(())
    }

    fn zeros(&self, shape: [usize; 2]) -> Tensor<2> {
        Tensor::zeros(shape, &self.device)
    }

    fn int_zeros(&self, n: usize) -> Tensor<1, Int> {
        Tensor::zeros([n], &self.device)
    }

    /// An f32 `[N, width]` field of the batch as a new tensor.
    pub fn field(&self, env: &mut EnvBatch, field: Field, width: usize) -> Result<Tensor<2>, Error> {
        let out = self.zeros([env.num_envs(), width]);
        let bound = Bound::float(&out)?;
        env.copy_linked(&[(field, bound.range())])?;
        Ok(out)
    }

    /// Steps `env` with `actions` (`[N, A]`, env space; Discrete indices are converted to integers on the device)
    /// and returns the step's fields as tensors, in one submission.
    pub fn step(&self, env: &mut EnvBatch, actions: Tensor<2>, discrete: bool) -> Result<Step, Error> {
        let (n, obs_dim) = (env.num_envs(), env.spec().obs_dim());
        let action_words =
            if discrete { Bound::int(&actions.reshape([-1]).int())? } else { Bound::float(&actions.reshape([-1]))? };
        let (obs, final_obs, reward) = (self.zeros([n, obs_dim]), self.zeros([n, obs_dim]), self.zeros([n, 1]));
        let (terminated, truncated) = (self.int_zeros(n), self.int_zeros(n));
        let bound = [Bound::float(&obs)?, Bound::float(&final_obs)?, Bound::float(&reward)?];
        let flags = [Bound::int(&terminated)?, Bound::int(&truncated)?];
        env.step_linked(
            action_words.range(),
            &[
                (Field::Obs, bound[0].range()),
                (Field::FinalObs, bound[1].range()),
                (Field::Reward, bound[2].range()),
                (Field::Terminated, flags[0].range()),
                (Field::Truncated, flags[1].range()),
            ],
        )?;
        Ok(Step {
            obs,
            final_obs,
            reward: reward.reshape([n]),
            terminated: terminated.float(),
            truncated: truncated.float(),
            packed: None,
        })
    }

    /// `steps` successive rows of `rows × width` draws (as `steps` calls of `Noise::sample` would give), drawn
    /// on the device: `[steps · rows, width]`.
    pub fn noise(
        &self,
        noise: &mut Noise,
        (kind, width): (NoiseKind, usize),
        rows: usize,
        steps: usize,
    ) -> Result<Tensor<2>, Error> {
        let count = rows * width;
        self.check_words("noise draws", count * steps + count)?;
        let (key, counter, stride) = noise.reserve_rows(kind, count, steps);
        let params = [key, counter, count as u32, steps as u32, stride, (kind == NoiseKind::Normal) as u32, 0, 0];
        let out = self.zeros([steps * rows, width]);
        self.launch_into(&self.noise, "noise", &params, count * steps, &Bound::float(&out)?)?;
        Ok(out)
    }

    /// The permutation of `0..n` that `Noise::permutation` gives, computed on the device.
    pub fn permutation(&self, noise: &mut Noise, n: usize) -> Result<Tensor<1, Int>, Error> {
        self.check_words("a permutation", n)?;
        let key = noise.permutation_key();
        let params = [key, n as u32, super::noise::permutation_half_bits(n as u32), 0];
        let out = self.int_zeros(n);
        self.launch_into(&self.permutation, "permutation", &params, n, &Bound::int(&out)?)?;
        Ok(out)
    }

    /// Runs a kernel with one uniform (`params`) and one output of `words` values, one thread each, and copies
    /// the output into `dst`.
    fn launch_into(
        &self,
        pipeline: &wgpu::ComputePipeline,
        label: &str,
        params: &[u32],
        words: usize,
        dst: &Bound,
    ) -> Result<(), Error> {
        let scratch = self.envs.zeros(label, words)?;
        let uniform = self.ctx.uniform_buffer(label, bytemuck::cast_slice(params));
        self.ctx.launch(pipeline, &[&uniform, wgpu_buffer(&scratch)], words as u32, 64);
        Ok(self.ctx.copy(&[(WgpuRange::words(wgpu_buffer(&scratch), words), dst.range())])?)
    }

    /// GAE with `kernels/gae.wgsl` on the learner's tensors (`[T·N]`, `last_values` `[N]`) → (advantages,
    /// returns) `[T·N]`.
    pub fn gae(
        &self,
        params: GaeParams,
        (horizon, num_envs): (usize, usize),
        inputs: &ReturnInputs,
    ) -> Result<(Tensor<1>, Tensor<1>), Error> {
        let gae = cached(&self.gae, (horizon, num_envs, params), || Gae::new(&self.envs, horizon, num_envs, params))?;
        self.returns_kernel((horizon, num_envs), inputs, [], ["advantages", "returns"], |[r, v, d, f, l], [], a, b| {
            gae.compute(&GaeBuffers { rewards: r, values: v, dones: d, final_values: f, last_values: l }, a, b)
        })
    }

    /// V-trace with `kernels/vtrace.wgsl` on the learner's tensors (`[T·N]`, `last_values` `[N]`) → (vs,
    /// pg_advantages) `[T·N]`. The kernel reads the two log-probabilities from one buffer, behaviour then target.
    pub fn vtrace(
        &self,
        params: VtraceParams,
        (horizon, num_envs): (usize, usize),
        inputs: &ReturnInputs,
        behaviour_log_probs: Tensor<1>,
        target_log_probs: Tensor<1>,
    ) -> Result<(Tensor<1>, Tensor<1>), Error> {
        let vtrace =
            cached(&self.vtrace, (horizon, num_envs, params), || Vtrace::new(&self.envs, horizon, num_envs, params))?;
        let log_probs = Tensor::cat(vec![behaviour_log_probs, target_log_probs], 0);
        let (extra, outputs) = ([("log probs", &log_probs)], ["vs", "pg advantages"]);
        self.returns_kernel((horizon, num_envs), inputs, extra, outputs, |[r, v, d, f, l], [lp], a, b| {
            let buffers =
                VtraceBuffers { rewards: r, values: v, dones: d, final_values: f, last_values: l, log_probs: lp };
            vtrace.compute(&buffers, a, b)
        })
    }

    /// Runs a return kernel on the learner's tensors: copies the rollout fields of `inputs` (the two flags into
    /// one buffer, terminated then truncated) and the `extra` tensors into scratch buffers of the env device, has
    /// `kernel` write two `[T·N]` outputs into scratch buffers, and copies those into new tensors.
    fn returns_kernel<const K: usize>(
        &self,
        (horizon, num_envs): (usize, usize),
        inputs: &ReturnInputs,
        extra: [(&str, &Tensor<1>); K],
        outputs: [&str; 2],
        kernel: impl FnOnce(
            [&DeviceBuffer; 5],
            [&DeviceBuffer; K],
            &mut DeviceBuffer,
            &mut DeviceBuffer,
        ) -> crate::envs::Result<()>,
    ) -> Result<(Tensor<1>, Tensor<1>), Error> {
        let ReturnInputs { rewards, values, final_values, last_values, .. } = inputs;
        let dones = Tensor::cat(vec![inputs.terminated.clone(), inputs.truncated.clone()], 0).int();
        let plane = horizon * num_envs;
        let mut bound = vec![
            ("rewards", Bound::float(rewards)?, plane),
            ("values", Bound::float(values)?, plane),
            ("dones", Bound::int(&dones)?, 2 * plane),
            ("final values", Bound::float(final_values)?, plane),
            ("last values", Bound::float(last_values)?, num_envs),
        ];
        for (name, tensor) in extra {
            bound.push((name, Bound::float(tensor)?, tensor.dims()[0]));
        }
        let scratch =
            bound.iter().map(|&(name, _, words)| self.envs.zeros(name, words)).collect::<Result<Vec<_>, _>>()?;
        let copies: Vec<_> = bound
            .iter()
            .zip(&scratch)
            .map(|((_, t, _), b)| (t.range(), WgpuRange::words(wgpu_buffer(b), b.len())))
            .collect();
        self.ctx.copy(&copies)?;
        let (mut out_a, mut out_b) = (self.envs.zeros(outputs[0], plane)?, self.envs.zeros(outputs[1], plane)?);
        kernel(std::array::from_fn(|k| &scratch[k]), std::array::from_fn(|k| &scratch[5 + k]), &mut out_a, &mut out_b)?;
        let (a, b) = (self.zeros([plane, 1]), self.zeros([plane, 1]));
        let (bound_a, bound_b) = (Bound::float(&a)?, Bound::float(&b)?);
        self.ctx.copy(&[
            (WgpuRange::words(wgpu_buffer(&out_a), plane), bound_a.range()),
            (WgpuRange::words(wgpu_buffer(&out_b), plane), bound_b.range()),
        ])?;
        Ok((a.reshape([plane]), b.reshape([plane])))
    }

    /// `[episodes finished, sum of their returns, sum of their lengths]` since the last call, reduced on the
    /// device; the batch's sums are then cleared.
    pub fn episode_sums(&self, env: &mut EnvBatch) -> Result<Tensor<1>, Error> {
        let n = env.num_envs();
        let (count, length, ret) = (self.int_zeros(n), self.int_zeros(n), self.zeros([n, 1]));
        let (c, l, r) = (Bound::int(&count)?, Bound::int(&length)?, Bound::float(&ret)?);
        env.copy_linked(&[
            (Field::DoneCount, c.range()),
            (Field::DoneLength, l.range()),
            (Field::DoneReturn, r.range()),
        ])?;
        env.clear_episode_stats()?;
        Ok(Tensor::cat(vec![count.float().sum(), ret.sum(), length.float().sum()], 0))
    }
}

fn wgpu_buffer(buffer: &DeviceBuffer) -> &wgpu::Buffer {
    buffer.wgpu_buffer().expect("buffers of the shared device are wgpu buffers")
}

#[cfg(test)]
mod tests {
    //! Each kernel of the link against its CPU twin, on random inputs, through the shared device (Mesa lavapipe in
    //! CI).
    use super::*;
    use crate::envs::rng::{draw, unit};
    use crate::returns::{gae_reference, vtrace_reference, HostInputs};
    use burn::tensor::TensorData;

    fn link() -> Option<WgpuLink> {
        match WgpuLink::open() {
            Ok((_, _, link)) => Some(link),
            Err(e) => {
                assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter: {e}");
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn noise_kernel_matches_its_cpu_twin() {
        let Some(link) = link() else { return };
        for (kind, width, rows, steps) in [(NoiseKind::Uniform, 1, 37, 5), (NoiseKind::Normal, 3, 33, 4)] {
            let (mut cpu, mut gpu) = (Noise::new(3, 9), Noise::new(3, 9));
            let want = cpu.sample_rows(kind, rows * width, steps);
            let got = host(link.noise(&mut gpu, (kind, width), rows, steps).unwrap());
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                // WGSL promises about 2^-11 absolute for sin/cos and a little more for log near 1.
                let tol = if kind == NoiseKind::Uniform { 0.0 } else { 1e-3 * (1.0 + w.abs()) };
                assert!((g - w).abs() <= tol, "{kind:?} draw {i}: device {g}, CPU {w}");
            }
            // Both streams moved on by the same number of draws.
            assert_eq!(cpu.sample(NoiseKind::Uniform, 4), gpu.sample(NoiseKind::Uniform, 4));
        }
    }

    /// A linked step (actions from a tensor, fields copied into tensors on the device) leaves exactly what a step
    /// through the host leaves in the batch, through terminations (CartPole) and truncations (Pendulum).
    #[test]
    fn linked_steps_equal_host_steps() {
        let Some(link) = link() else { return };
        let n = 16;
        for (id, steps) in [("CartPole-v1", 120), ("Pendulum-v1", 210)] {
            let config = crate::envs::EnvConfig::new();
            let mut linked = crate::envs::make(id, &config, n, &link.envs).unwrap();
            let mut host_side = crate::envs::make(id, &config, n, &link.envs).unwrap();
            linked.reset(3).unwrap();
            host_side.reset(3).unwrap();
            let discrete = matches!(linked.spec().action_space, crate::envs::Space::Discrete { .. });
            for step in 0..steps {
                let draws = (0..n as u32).map(|i| unit(draw(step, i)));
                let actions: Vec<f32> = if discrete {
                    draws.map(|u| (u * 2.0).floor()).collect()
                } else {
                    draws.map(|u| u * 4.0 - 2.0).collect()
                };
                let tensor = Tensor::<2>::from_data(TensorData::new(actions.clone(), [n, 1]), &link.device);
                let got = link.step(&mut linked, tensor, discrete).unwrap();
                let words: Vec<u32> = actions.iter().map(|&a| if discrete { a as u32 } else { a.to_bits() }).collect();
                host_side.step(&host_side.upload_actions(&words).unwrap()).unwrap();
                let flag = |f| host_side.read(f).unwrap().into_iter().map(|w| w as f32).collect::<Vec<f32>>();
                assert_eq!(host(got.obs), host_side.read_f32(Field::Obs).unwrap(), "{id} step {step}: obs");
                assert_eq!(host(got.final_obs), host_side.read_f32(Field::FinalObs).unwrap(), "{id} step {step}");
                assert_eq!(host(got.reward), host_side.read_f32(Field::Reward).unwrap(), "{id} step {step}");
                assert_eq!(host(got.terminated), flag(Field::Terminated), "{id} step {step}: terminated");
                assert_eq!(host(got.truncated), flag(Field::Truncated), "{id} step {step}: truncated");
            }
            let sums = host(link.episode_sums(&mut linked).unwrap());
            let stats = host_side.take_episode_stats().unwrap();
            assert!(stats.episodes >= n as u64, "{id}: {stats:?}");
            assert_eq!(sums[0] as u64, stats.episodes, "{id}");
            let count = stats.episodes as f64;
            assert!(
                (sums[1] as f64 - stats.return_mean * count).abs() <= 1e-4 * (1.0 + (stats.return_mean * count).abs())
            );
            assert_eq!(sums[2] as f64, (stats.length_mean * count).round(), "{id}");
            // Both batches' sums were cleared.
            assert_eq!(host(link.episode_sums(&mut linked).unwrap()), vec![0.0; 3]);
        }
    }

    #[test]
    fn permutation_kernel_matches_its_cpu_twin() {
        let Some(link) = link() else { return };
        for n in [1, 2, 7, 64, 1000, 70_001] {
            let (mut cpu, mut gpu) = (Noise::new(5, n as u64), Noise::new(5, n as u64));
            let want = cpu.permutation(n);
            let got = link.permutation(&mut gpu, n).unwrap();
            let got: Vec<i64> = got.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
            assert_eq!(got, want, "n = {n}");
        }
    }

    #[test]
    fn gae_through_the_link_matches_the_reference() {
        let Some(link) = link() else { return };
        let (t, n) = (23, 45);
        let plane = t * n;
        let key = 0xbeef;
        let f = |c: u32| unit(draw(key, c)) * 2.0 - 1.0;
        let rewards: Vec<f32> = (0..plane as u32).map(f).collect();
        let values: Vec<f32> = (0..plane as u32).map(|i| f(i + 100_000)).collect();
        let final_values: Vec<f32> = (0..plane as u32).map(|i| f(i + 200_000)).collect();
        let last_values: Vec<f32> = (0..n as u32).map(|i| f(i + 300_000)).collect();
        // Terminations, truncations and both, about one step in eight each.
        let dones: Vec<u32> = (0..2 * plane as u32).map(|i| draw(key, i + 400_000).is_multiple_of(8) as u32).collect();
        let params = GaeParams { gamma: 0.97, lambda: 0.9 };
        let (mut adv, mut ret) = (vec![0.0; plane], vec![0.0; plane]);
        let (terminated, truncated) = dones.split_at(plane);
        let host_inputs = HostInputs {
            rewards: &rewards,
            values: &values,
            terminated,
            truncated,
            final_values: &final_values,
            last_values: &last_values,
        };
        gae_reference(params, t, n, &host_inputs, &mut adv, &mut ret);
        let tensor = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &link.device);
        let flags = |v: &[u32]| tensor(&v.iter().map(|&d| d as f32).collect::<Vec<f32>>());
        let inputs = ReturnInputs {
            rewards: tensor(&rewards),
            values: tensor(&values),
            terminated: flags(terminated),
            truncated: flags(truncated),
            final_values: tensor(&final_values),
            last_values: tensor(&last_values),
        };
        let (a, r) = link.gae(params, (t, n), &inputs).unwrap();
        for (name, got, want) in [("advantages", host(a), adv), ("returns", host(r), ret)] {
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{name}[{i}]: device {g}, CPU {w}");
            }
        }
    }

    #[test]
    fn vtrace_through_the_link_matches_the_reference() {
        let Some(link) = link() else { return };
        let (t, n) = (23, 45);
        let plane = t * n;
        let key = 0xcafe;
        let f = |c: u32| unit(draw(key, c)) * 2.0 - 1.0;
        let field = |offset: u32, len: usize| (0..len as u32).map(|i| f(i + offset)).collect::<Vec<f32>>();
        let (rewards, values, final_values) = (field(0, plane), field(100_000, plane), field(200_000, plane));
        let last_values = field(300_000, n);
        // Log-probabilities in [-1, 1]: ratios between e^-2 and e^2, on both sides of every clip.
        let (behaviour, target) = (field(500_000, plane), field(600_000, plane));
        // Terminations, truncations and both, about one step in eight each.
        let dones: Vec<u32> = (0..2 * plane as u32).map(|i| draw(key, i + 400_000).is_multiple_of(8) as u32).collect();
        let params = VtraceParams {
            gamma: 0.97,
            lambda: 0.9,
            clip_rho_threshold: 1.0,
            clip_pg_rho_threshold: 1.5,
            clip_c_threshold: f32::INFINITY,
        };
        let (mut vs, mut pg) = (vec![0.0; plane], vec![0.0; plane]);
        let (terminated, truncated) = dones.split_at(plane);
        let host_inputs = HostInputs {
            rewards: &rewards,
            values: &values,
            terminated,
            truncated,
            final_values: &final_values,
            last_values: &last_values,
        };
        vtrace_reference(params, t, n, &host_inputs, &behaviour, &target, &mut vs, &mut pg);
        let tensor = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &link.device);
        let flags = |v: &[u32]| tensor(&v.iter().map(|&d| d as f32).collect::<Vec<f32>>());
        let inputs = ReturnInputs {
            rewards: tensor(&rewards),
            values: tensor(&values),
            terminated: flags(terminated),
            truncated: flags(truncated),
            final_values: tensor(&final_values),
            last_values: tensor(&last_values),
        };
        let (got_vs, got_pg) = link.vtrace(params, (t, n), &inputs, tensor(&behaviour), tensor(&target)).unwrap();
        for (name, got, want) in [("vs", host(got_vs), vs), ("pg_advantages", host(got_pg), pg)] {
            assert_eq!(got.len(), want.len(), "{name}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{name}[{i}]: device {g}, CPU {w}");
            }
        }
        // GAE and V-trace kernels are cached side by side: GAE still runs after V-trace on the same link.
        let (a, _) = link.gae(GaeParams::default(), (t, n), &inputs).unwrap();
        assert_eq!(host(a).len(), plane);
    }
}
