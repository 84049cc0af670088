//! The wgpu backend: a device and queue on one adapter, compute pipelines built once per env and cached, and
//! `WgpuBatch`, which keeps every buffer of a batch on the device and steps it with `batch_step.wgsl`.

use super::layout::{self, BatchParams, Slot, FLOAT_ROWS, F_DONE_RETURN, INT_ROWS, I_DONE_COUNT, I_ELAPSED};
use super::TransferCounter;
use crate::batch::{BatchKernel, Field};
use crate::device::{BufferInner, DeviceBuffer};
use crate::env::{Env, EnvSpec};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

const RNG_WGSL: &str = include_str!("rng.wgsl");
const BATCH_STEP_WGSL: &str = include_str!("batch_step.wgsl");
/// Threads per workgroup in every batch kernel (`@workgroup_size(64)`).
const WORKGROUP: u32 = 64;
/// The largest workgroup count of one grid dimension.
const MAX_GROUPS_X: u32 = 65_535;

/// Workgroups `(x, y)` covering `threads` threads: one row up to 65535 groups, then a 2-D grid whose shaders
/// index `x + y * groups_x * workgroup`.
fn grid(threads: u32, workgroup: u32) -> (u32, u32) {
    let groups = threads.div_ceil(workgroup).max(1);
    if groups <= MAX_GROUPS_X {
        (groups, 1)
    } else {
        (MAX_GROUPS_X, groups.div_ceil(MAX_GROUPS_X))
    }
}

/// A byte range of a wgpu buffer, often one the batch does not own (a learner's tensor, say).
#[derive(Clone, Copy, Debug)]
pub struct WgpuRange<'a> {
    pub buffer: &'a wgpu::Buffer,
    /// Start, in bytes (a multiple of 4).
    pub offset: u64,
    /// Length, in bytes (a multiple of 4).
    pub size: u64,
}

impl<'a> WgpuRange<'a> {
    /// The first `words` 4-byte words of `buffer`.
    pub fn words(buffer: &'a wgpu::Buffer, words: usize) -> Self {
        Self { buffer, offset: 0, size: words as u64 * 4 }
    }
}

/// Records a device-side copy of `src` into `dst`; sizes must match and be word-aligned.
fn record_copy(encoder: &mut wgpu::CommandEncoder, src: WgpuRange, dst: WgpuRange) -> Result<()> {
    if src.size != dst.size || !(src.offset | dst.offset | src.size).is_multiple_of(4) {
        return Err(Error::Shape(format!(
            "device copy of {} bytes at {} into {} bytes at {}: sizes differ or are not 4-byte aligned",
            src.size, src.offset, dst.size, dst.offset
        )));
    }
    if src.offset + src.size > src.buffer.size() || dst.offset + dst.size > dst.buffer.size() {
        return Err(Error::Shape(format!(
            "device copy of {} bytes runs past the end of a buffer ({} at {}, {} at {})",
            src.size,
            src.buffer.size(),
            src.offset,
            dst.buffer.size(),
            dst.offset
        )));
    }
    if src.size > 0 {
        encoder.copy_buffer_to_buffer(src.buffer, src.offset, dst.buffer, dst.offset, src.size);
    }
    Ok(())
}

/// One wgpu adapter opened for compute.
pub struct WgpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    opened: Option<(wgpu::Instance, wgpu::Adapter)>,
    pipelines: Mutex<HashMap<String, Arc<BatchPipelines>>>,
    pub(crate) counter: TransferCounter,
}

/// The compiled entry points of one env's batch module.
struct BatchPipelines {
    layout: wgpu::BindGroupLayout,
    step: wgpu::ComputePipeline,
    step_random: wgpu::ComputePipeline,
    reset: wgpu::ComputePipeline,
}

impl WgpuContext {
    /// Opens the default adapter (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF` select another).
    pub fn new() -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance),
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
        .map_err(|e| {
            Error::Backend(format!(
                "no wgpu adapter found ({e}); install a Vulkan, Metal or DX12 driver (on Linux without a GPU, \
                 Mesa's software Vulkan: `apt-get install mesa-vulkan-drivers`)"
            ))
        })?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(
            adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("myriad"),
                // Everything the adapter offers (f16, subgroups, ...), so a learner sharing this device can use it;
                // not mappable primary buffers (they slow ordinary storage buffers on discrete GPUs), nor the
                // experimental features, which a device cannot enable without opting into experimental APIs.
                required_features: adapter
                    .features()
                    .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS | wgpu::Features::all_experimental_mask()),
                required_limits: adapter.limits(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            }),
        )
        .map_err(|e| Error::Backend(format!("cannot open wgpu device on {}: {e}", info.name)))?;
        let mut ctx = Self::with_device(&adapter, device, queue)?;
        ctx.opened = Some((instance, adapter));
        Ok(ctx)
    }

    /// Another handle on the same device and queue with its own transfer counter and kernel cache, so that each
    /// user of a shared device (one learner each) counts only its own bytes.
    pub fn sibling(&self) -> Self {
        Self {
            device: self.device.clone(),
            queue: self.queue.clone(),
            info: self.info.clone(),
            opened: self.opened.clone(),
            pipelines: Mutex::new(HashMap::new()),
            counter: TransferCounter::default(),
        }
    }

    /// The instance and adapter this context opened its device on (`None` for a device opened elsewhere).
    pub fn opened_on(&self) -> Option<(&wgpu::Instance, &wgpu::Adapter)> {
        self.opened.as_ref().map(|(i, a)| (i, a))
    }

    fn with_device(adapter: &wgpu::Adapter, device: wgpu::Device, queue: wgpu::Queue) -> Result<Self> {
        let info = adapter.get_info();
        let storage = device.limits().max_storage_buffers_per_shader_stage;
        if storage < 7 {
            return Err(Error::Backend(format!(
                "wgpu device on {} allows {storage} storage buffers per stage; Myriad needs 7",
                info.name
            )));
        }
        Ok(Self {
            device,
            queue,
            info,
            opened: None,
            pipelines: Mutex::new(HashMap::new()),
            counter: TransferCounter::default(),
        })
    }

    /// Copies each source range to its destination on the device, in one submission on this queue.
    pub fn copy(&self, copies: &[(WgpuRange, WgpuRange)]) -> Result<()> {
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("copy") });
        for (src, dst) in copies {
            record_copy(&mut encoder, *src, *dst)?;
        }
        self.queue.submit([encoder.finish()]);
        Ok(())
    }

    pub fn describe(&self) -> String {
        format!("{} ({:?}, {:?})", self.info.name, self.info.backend, self.info.device_type)
    }

    /// Bytes a batch may use on this adapter: the host's available memory where the adapter is the CPU (a
    /// software renderer such as llvmpipe) or an integrated GPU, both of which allocate from host memory;
    /// `None` on a discrete or virtual GPU, whose budget wgpu does not report.
    pub fn available_memory(&self) -> Option<u64> {
        match self.info.device_type {
            wgpu::DeviceType::Cpu | wgpu::DeviceType::IntegratedGpu => super::host_available_memory(),
            wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::VirtualGpu | wgpu::DeviceType::Other => None,
        }
    }

    /// The largest buffer a batch may allocate and bind as storage on this device: the smaller of the device's
    /// `max_buffer_size` and `max_storage_buffer_binding_size`.
    pub fn max_buffer_bytes(&self) -> u64 {
        let limits = self.device.limits();
        limits.max_buffer_size.min(limits.max_storage_buffer_binding_size)
    }

    pub fn sync(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Device(format!("wgpu poll failed: {e}")))
    }

    /// A storage buffer initialised with `words` (counted as host→device bytes).
    pub fn storage_buffer(&self, label: &str, words: &[u32]) -> wgpu::Buffer {
        self.counter.add_to_device(words.len() * 4);
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(words),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        })
    }

    pub(crate) fn zeroed(&self, label: &str, words: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (words.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn uniform(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        self.counter.add_to_device(bytes.len());
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }

    fn write(&self, buffer: &wgpu::Buffer, offset_words: usize, bytes: &[u8]) {
        self.counter.add_to_device(bytes.len());
        self.queue.write_buffer(buffer, (offset_words * 4) as u64, bytes);
    }

    /// Copies `words` 4-byte values starting at word `offset` of `buffer` to the host.
    pub fn read(&self, buffer: &wgpu::Buffer, offset: usize, words: usize) -> Result<Vec<u32>> {
        let size = (words * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("myriad read-back"),
            size: size.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read") });
        encoder.copy_buffer_to_buffer(buffer, (offset * 4) as u64, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..size);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.sync()?;
        rx.recv()
            .map_err(|_| Error::Device("wgpu read-back was dropped".into()))?
            .map_err(|e| Error::Device(format!("wgpu read-back failed: {e}")))?;
        let view = slice.get_mapped_range().map_err(|e| Error::Device(format!("wgpu read-back failed: {e}")))?;
        let out = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        staging.unmap();
        self.counter.add_to_host(words * 4);
        Ok(out)
    }

    /// A uniform buffer holding `bytes` (counted as host→device bytes).
    pub fn uniform_buffer(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        self.uniform(label, bytes)
    }

    /// Compiles entry point `entry` of WGSL `source` with a layout taken from the shader; shader errors are
    /// `Error::Device`.
    pub fn kernel(&self, label: &str, source: &str, entry: &str) -> Result<wgpu::ComputePipeline> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        match pollster::block_on(scope.pop()) {
            Some(err) => Err(Error::Device(format!("building the WGSL kernel {label}: {err}"))),
            None => Ok(pipeline),
        }
    }

    /// Runs `pipeline` once over `threads` threads of `workgroup` each (a 2-D grid past 65535 groups: the
    /// shader's index is `x + y * groups_x * workgroup`), binding `buffers` to group 0 in order.
    pub fn launch(&self, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer], threads: u32, workgroup: u32) {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let (x, y) = grid(threads, workgroup);
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        self.queue.submit([encoder.finish()]);
    }

    /// The batch pipelines of env `E`, compiled on first use.
    fn batch_pipelines<E: Env>(&self) -> Result<Arc<BatchPipelines>> {
        let name = std::any::type_name::<E>();
        let mut cache = self.pipelines.lock().expect("pipeline cache poisoned");
        if let Some(p) = cache.get(name) {
            return Ok(p.clone());
        }
        let source = format!("{RNG_WGSL}\n{}\n{BATCH_STEP_WGSL}", E::WGSL);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let uniform = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: false },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let mut entries = vec![uniform(0), uniform(1)];
        entries.extend((2..=8).map(storage));
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(name), entries: &entries });
        let pipeline_layout = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("{name}::{entry}")),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let pipelines = BatchPipelines {
            step: pipeline("step"),
            step_random: pipeline("step_random"),
            reset: pipeline("reset"),
            layout,
        };
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!("building the WGSL kernels of {name}: {err}")));
        }
        let pipelines = Arc::new(pipelines);
        cache.insert(name.to_string(), pipelines.clone());
        Ok(pipelines)
    }
}

pub(crate) struct WgpuBatch {
    ctx: Arc<WgpuContext>,
    pipelines: Arc<BatchPipelines>,
    params: BatchParams,
    n: usize,
    state_dim: usize,
    obs_dim: usize,
    action_dim: usize,
    batch_uniform: wgpu::Buffer,
    state: wgpu::Buffer,
    obs: wgpu::Buffer,
    final_obs: wgpu::Buffer,
    floats: wgpu::Buffer,
    ints: wgpu::Buffer,
    actions: wgpu::Buffer,
    status: wgpu::Buffer,
    _env_uniform: wgpu::Buffer,
    /// Every buffer of the batch, bound once for all its kernels.
    group: wgpu::BindGroup,
}

impl WgpuBatch {
    pub(crate) fn new<E: Env>(ctx: &Arc<WgpuContext>, params: &E::Params, spec: &EnvSpec, n: usize) -> Result<Self> {
        let pipelines = ctx.batch_pipelines::<E>()?;
        let (sd, od) = (spec.state_dim, spec.obs_dim());
        let max_bytes = ctx.max_buffer_bytes();
        let widest = (n as u64).saturating_mul(sd.max(od).max(INT_ROWS).max(spec.action_dim()) as u64 * 4);
        if widest > max_bytes {
            return Err(Error::Shape(format!(
                "{n} envs of {} need {widest} bytes in one buffer; this adapter binds at most {max_bytes} (use \
                 fewer envs)",
                spec.id,
            )));
        }
        let batch =
            BatchParams { num_envs: n as u32, max_steps: spec.max_episode_steps, autoreset: 1, ..Default::default() };
        let batch_uniform = ctx.uniform("batch params", bytemuck::bytes_of(&batch));
        let env_uniform = ctx.uniform("env params", bytemuck::bytes_of(params));
        // An allocation the adapter refuses is an error of this call, not a panic of wgpu's default handler.
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let state = ctx.zeroed("state", n * sd);
        let obs = ctx.zeroed("obs", n * od);
        let final_obs = ctx.zeroed("final_obs", n * od);
        let floats = ctx.zeroed("floats", n * FLOAT_ROWS);
        let ints = ctx.zeroed("ints", n * INT_ROWS);
        let actions = ctx.zeroed("actions", n * spec.action_dim());
        let status = ctx.zeroed("status", 1);
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(Error::OutOfMemory(format!(
                "{n} envs of {}: the adapter cannot allocate the batch's buffers ({err}); use fewer envs",
                spec.id
            )));
        }
        let group = bind_group(
            &ctx.device,
            &pipelines.layout,
            [&batch_uniform, &env_uniform, &state, &obs, &final_obs, &floats, &ints, &actions, &status],
        );
        Ok(Self {
            ctx: ctx.clone(),
            pipelines,
            params: batch,
            n,
            state_dim: sd,
            obs_dim: od,
            action_dim: spec.action_dim(),
            batch_uniform,
            state,
            obs,
            final_obs,
            floats,
            ints,
            actions,
            status,
            _env_uniform: env_uniform,
            group,
        })
    }

    fn write_params(&mut self) {
        self.ctx.write(&self.batch_uniform, 0, bytemuck::bytes_of(&self.params));
    }

    /// One submission: the copies or clears `prepare` records, then `pipeline` over every env.
    fn dispatch(&self, pipeline: &wgpu::ComputePipeline, prepare: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let mut encoder =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("batch") });
        prepare(&mut encoder);
        self.record_pass(&mut encoder, pipeline);
        self.ctx.queue.submit([encoder.finish()]);
    }

    /// Records `pipeline` over every env, with the batch's bind group.
    fn record_pass(&self, encoder: &mut wgpu::CommandEncoder, pipeline: &wgpu::ComputePipeline) {
        let (x, y) = grid(self.n as u32, WORKGROUP);
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("batch"), timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &self.group, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }

    /// `field` as a byte range of the batch's buffers.
    fn field_bytes(&self, field: Field) -> WgpuRange<'_> {
        let (buffer, offset, words) = self.field_range(field);
        WgpuRange { buffer, offset: offset as u64 * 4, size: words as u64 * 4 }
    }

    /// One submission: `actions` copied into the batch, one step, then each field copied to its destination.
    pub(crate) fn step_linked(&mut self, actions: WgpuRange, outputs: &[(Field, WgpuRange)]) -> Result<()> {
        let own = WgpuRange::words(&self.actions, self.n * self.action_dim);
        let mut encoder =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("linked step") });
        record_copy(&mut encoder, actions, own)?;
        self.record_pass(&mut encoder, &self.pipelines.step);
        for (field, dst) in outputs {
            record_copy(&mut encoder, self.field_bytes(*field), *dst)?;
        }
        self.ctx.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Copies each field to its destination on the device, in one submission.
    pub(crate) fn copy_out(&self, outputs: &[(Field, WgpuRange)]) -> Result<()> {
        let copies: Vec<_> = outputs.iter().map(|(field, dst)| (self.field_bytes(*field), *dst)).collect();
        self.ctx.copy(&copies)
    }

    fn field_range(&self, field: Field) -> (&wgpu::Buffer, usize, usize) {
        let n = self.n;
        match layout::slot(field) {
            Slot::State => (&self.state, 0, n * self.state_dim),
            Slot::Obs => (&self.obs, 0, n * self.obs_dim),
            Slot::FinalObs => (&self.final_obs, 0, n * self.obs_dim),
            Slot::Float(row) => (&self.floats, row * n, n),
            Slot::Int(row) => (&self.ints, row * n, n),
        }
    }
}

fn bind_group(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, buffers: [&wgpu::Buffer; 9]) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("batch"), layout, entries: &entries })
}

impl BatchKernel for WgpuBatch {
    fn reset(&mut self, seed: u64) -> Result<()> {
        self.params.seed_lo = seed as u32;
        self.params.seed_hi = (seed >> 32) as u32;
        self.write_params();
        self.dispatch(&self.pipelines.reset, |encoder| {
            encoder.clear_buffer(&self.status, 0, None);
            encoder.clear_buffer(&self.final_obs, 0, None);
        });
        Ok(())
    }

    fn step(&mut self, actions: &DeviceBuffer) -> Result<()> {
        let BufferInner::Wgpu(buffer) = &actions.inner else {
            return Err(Error::Shape("actions are not a wgpu buffer".into()));
        };
        // The step reads the batch's own action buffer; a device-side copy keeps one cached bind group.
        let bytes = (actions.len() * 4) as u64;
        self.dispatch(&self.pipelines.step, |encoder| {
            encoder.copy_buffer_to_buffer(buffer, 0, &self.actions, 0, bytes)
        });
        Ok(())
    }

    fn step_random(&mut self, steps: u32) -> Result<()> {
        if self.params.steps != steps {
            self.params.steps = steps;
            self.write_params();
        }
        self.dispatch(&self.pipelines.step_random, |_| {});
        Ok(())
    }

    fn set_autoreset(&mut self, on: bool) -> Result<()> {
        self.params.autoreset = on as u32;
        self.write_params();
        Ok(())
    }

    fn set_state(&mut self, state: &[f32], elapsed: &[u32]) -> Result<()> {
        self.ctx.write(&self.state, 0, bytemuck::cast_slice(state));
        self.ctx.write(&self.ints, I_ELAPSED * self.n, bytemuck::cast_slice(elapsed));
        Ok(())
    }

    fn read(&self, field: Field) -> Result<Vec<u32>> {
        let (buffer, offset, words) = self.field_range(field);
        self.ctx.read(buffer, offset, words)
    }

    fn write(&mut self, field: Field, words: &[u32]) -> Result<()> {
        let (buffer, offset, _) = self.field_range(field);
        self.ctx.write(buffer, offset, bytemuck::cast_slice(words));
        Ok(())
    }

    fn clear_done_stats(&mut self) -> Result<()> {
        let n = self.n as u64 * 4;
        let mut encoder =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("clear") });
        encoder.clear_buffer(&self.floats, F_DONE_RETURN as u64 * n, Some(n));
        encoder.clear_buffer(&self.ints, I_DONE_COUNT as u64 * n, Some(2 * n));
        self.ctx.queue.submit([encoder.finish()]);
        Ok(())
    }

    fn status(&self) -> Result<u32> {
        Ok(self.ctx.read(&self.status, 0, 1)?[0])
    }

    fn as_wgpu(&mut self) -> Option<&mut WgpuBatch> {
        Some(self)
    }
}
