//! The CUDA backend: one GPU opened through the driver API (cudarc, loaded at run time, so building needs no
//! toolkit), env kernels compiled by NVRTC once per env and cached, and `CudaBatch`, which keeps every buffer of
//! a batch on the GPU and steps it with `batch_step.cu`.
//!
//! cudarc panics on its first call into a library it cannot load, so [`CudaContext::new`] looks for libcuda and
//! libnvrtc before calling either and answers [`Error::Backend`] where one is missing. Every copy and launch goes
//! to the context's default stream, so they run in the order they were issued.

use super::layout::{self, BatchParams, Slot, FLOAT_ROWS, F_DONE_RETURN, INT_ROWS, I_DONE_COUNT, I_ELAPSED};
use super::TransferCounter;
use crate::batch::{BatchKernel, Field};
use crate::device::{BufferInner, DeviceBuffer};
use crate::env::{Env, EnvSpec};
use crate::error::{Error, Result};
use cudarc::driver::{self as cu, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{self, CompileError, CompileOptions, Ptx};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const RNG_CUH: &str = include_str!("rng.cuh");
const BATCH_PRELUDE_CUH: &str = include_str!("batch_prelude.cuh");
const BATCH_STEP_CU: &str = include_str!("batch_step.cu");
/// The line of an env's `.cu` where `rng.cuh` and `batch_prelude.cuh` go.
const PRELUDE_MARKER: &str = "// @prelude";
/// Threads per block in every batch kernel (their `__launch_bounds__(256)`).
const BLOCK: u32 = 256;
/// One NVIDIA GPU opened for compute, with its default stream.
pub struct CudaContext {
    ctx: Arc<cu::CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    compute_capability: (i32, i32),
    driver_version: (i32, i32),
    nvrtc_version: (i32, i32),
    modules: Mutex<HashMap<&'static str, Arc<BatchFunctions>>>,
    pub(crate) counter: TransferCounter,
}

/// The entry points of one env's compiled batch module (each holds the module alive).
struct BatchFunctions {
    step: CudaFunction,
    step_random: CudaFunction,
    reset: CudaFunction,
}

impl CudaContext {
    /// Opens GPU `ordinal`. Needs the NVIDIA driver (libcuda) and NVRTC (libnvrtc) at run time; where either is
    /// missing, or the driver sees no such GPU, the answer is [`Error::Backend`], never a panic.
    pub fn new(ordinal: usize) -> Result<Self> {
        // SAFETY: `is_culib_present` only tries to dlopen the candidate names of libcuda (running its
        // initialisers, as any later use would) and closes them again; it calls nothing inside the library.
        if !unsafe { cu::sys::is_culib_present() } {
            return Err(Error::Backend(
                "no CUDA driver found (libcuda.so): install the NVIDIA driver, or add the directory holding \
                 libcuda.so to LD_LIBRARY_PATH"
                    .into(),
            ));
        }
        // SAFETY: as above, for libnvrtc.
        if !unsafe { nvrtc::sys::is_culib_present() } {
            return Err(Error::Backend(
                "no NVRTC found (libnvrtc.so), which compiles Myriad's CUDA kernels at run time: install the CUDA \
                 runtime compiler (e.g. the `cuda-nvrtc-12-x` package or the `nvidia-cuda-nvrtc-cu12` wheel), or \
                 add the directory holding libnvrtc.so to LD_LIBRARY_PATH"
                    .into(),
            ));
        }
        let driver_version = driver_version()?;
        let nvrtc_version = nvrtc_version()?;
        let count = cu::CudaContext::device_count().map_err(|e| {
            Error::Backend(format!(
                "the CUDA driver (CUDA {}.{}) found no usable GPU: {e}",
                driver_version.0, driver_version.1
            ))
        })?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Backend(format!("no CUDA device {ordinal}: the driver sees {count} GPU(s)")));
        }
        let ctx = cu::CudaContext::new(ordinal)
            .map_err(|e| Error::Backend(format!("cannot open CUDA device {ordinal}: {e}")))?;
        let name = ctx.name().map_err(|e| Error::Backend(format!("cannot query CUDA device {ordinal}: {e}")))?;
        let compute_capability =
            ctx.compute_capability().map_err(|e| Error::Backend(format!("cannot query CUDA device {ordinal}: {e}")))?;
        let stream = ctx.default_stream();
        Ok(Self {
            ctx,
            stream,
            name,
            compute_capability,
            driver_version,
            nvrtc_version,
            modules: Mutex::new(HashMap::new()),
            counter: TransferCounter::default(),
        })
    }

    /// E.g. `NVIDIA H100 80GB HBM3 (compute 9.0, device 0, driver CUDA 12.4, NVRTC 12.8)`.
    pub fn describe(&self) -> String {
        let (cc, d, r) = (self.compute_capability, self.driver_version, self.nvrtc_version);
        format!(
            "{} (compute {}.{}, device {}, driver CUDA {}.{}, NVRTC {}.{})",
            self.name,
            cc.0,
            cc.1,
            self.ctx.ordinal(),
            d.0,
            d.1,
            r.0,
            r.1
        )
    }

    /// The GPU's free memory in bytes, as the driver reports it (`cuMemGetInfo`); `None` where the query fails.
    pub fn available_memory(&self) -> Option<u64> {
        self.ctx.mem_get_info().ok().map(|(free, _total)| free as u64)
    }

    /// The stream every copy and launch of this context goes to, for work that must be ordered with it.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    pub fn sync(&self) -> Result<()> {
        self.stream.synchronize().map_err(|e| Error::Device(format!("CUDA synchronize failed: {e}")))
    }

    /// A device buffer holding `words` (counted as host→device bytes). An empty one still gets one word, as the
    /// driver allocates nothing smaller.
    pub fn upload(&self, words: &[u32]) -> Result<CudaSlice<u32>> {
        if words.is_empty() {
            return self.zeros(1);
        }
        let slice = self.stream.clone_htod(words).map_err(|e| transfer_error("upload", e))?;
        self.counter.add_to_device(words.len() * 4);
        Ok(slice)
    }

    /// Copies `len` words starting at word `offset` of `buffer` to the host (counted as device→host bytes);
    /// waits for the stream, so earlier launches have finished and their errors surface here.
    pub fn read(&self, buffer: &CudaSlice<u32>, offset: usize, len: usize) -> Result<Vec<u32>> {
        let view = buffer.try_slice(offset..offset + len).ok_or_else(|| {
            Error::Shape(format!("read of words {offset}..{} from a CUDA buffer of {}", offset + len, buffer.len()))
        })?;
        let mut out = vec![0u32; len];
        self.stream.memcpy_dtoh(&view, &mut out).map_err(|e| transfer_error("read-back", e))?;
        self.sync()?;
        self.counter.add_to_host(len * 4);
        Ok(out)
    }

    /// Overwrites words `offset..offset + words.len()` of `buffer` (counted as host→device bytes).
    fn write(&self, buffer: &mut CudaSlice<u32>, offset: usize, words: &[u32]) -> Result<()> {
        let capacity = buffer.len();
        let mut view = buffer.try_slice_mut(offset..offset + words.len()).ok_or_else(|| {
            Error::Shape(format!("write of words {offset}..{} into a CUDA buffer of {capacity}", offset + words.len()))
        })?;
        self.stream.memcpy_htod(words, &mut view).map_err(|e| transfer_error("upload", e))?;
        self.counter.add_to_device(words.len() * 4);
        Ok(())
    }

    pub(crate) fn zeros(&self, len: usize) -> Result<CudaSlice<u32>> {
        self.stream
            .alloc_zeros::<u32>(len.max(1))
            .map_err(|e| Error::Device(format!("cannot allocate {} bytes on the GPU: {e}", len.max(1) * 4)))
    }

    /// Zeroes words `range` of `buffer` on the device.
    fn clear(&self, buffer: &mut CudaSlice<u32>, range: std::ops::Range<usize>) -> Result<()> {
        let mut view = buffer.slice_mut(range);
        self.stream.memset_zeros(&mut view).map_err(|e| Error::Device(format!("CUDA memset failed: {e}")))
    }

    /// Compiles CUDA `source` with NVRTC and loads its kernel `entry`.
    pub fn kernel(&self, name: &str, source: &str, entry: &str) -> Result<CudaFunction> {
        let ptx = self.compile(name, source)?;
        let module = self.ctx.load_module(ptx).map_err(|e| self.load_error(name, e))?;
        module.load_function(entry).map_err(|e| Error::Device(format!("{name} has no kernel `{entry}`: {e}")))
    }

    /// The batch kernels of env `E`, compiled on first use.
    fn batch_functions<E: Env>(&self) -> Result<Arc<BatchFunctions>> {
        let name = std::any::type_name::<E>();
        // A panic while compiling leaves the map as it was, so a poisoned lock is still usable.
        let mut cache = self.modules.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(f) = cache.get(name) {
            return Ok(f.clone());
        }
        let source = batch_source(E::CUDA).map_err(|e| Error::Device(format!("the CUDA code of {name}: {e}")))?;
        let ptx = self.compile(name, &source)?;
        let module = self.ctx.load_module(ptx).map_err(|e| self.load_error(name, e))?;
        let function = |entry: &str| {
            module
                .load_function(entry)
                .map_err(|e| Error::Device(format!("the CUDA module of {name} has no kernel `{entry}`: {e}")))
        };
        let functions = Arc::new(BatchFunctions {
            step: function("step")?,
            step_random: function("step_random")?,
            reset: function("reset")?,
        });
        cache.insert(name, functions.clone());
        Ok(functions)
    }

    /// NVRTC → PTX for this GPU's architecture. FMA contraction is off (`--fmad=false`): the CPU twin, the
    /// specification, rounds every product and sum on its own.
    fn compile(&self, name: &str, source: &str) -> Result<Ptx> {
        let options = |arch: Option<String>| CompileOptions {
            fmad: Some(false),
            options: arch.into_iter().collect(),
            name: Some(format!("{name}.cu")),
            ..Default::default()
        };
        let (major, minor) = self.compute_capability;
        match nvrtc::compile_ptx_with_opts(source, options(Some(format!("--gpu-architecture=compute_{major}{minor}"))))
        {
            Ok(ptx) => Ok(ptx),
            // An NVRTC older than the GPU does not know its architecture; PTX for NVRTC's default one still runs
            // there, compiled by the driver.
            Err(CompileError::CompileError { nvrtc: e, .. })
                if e.0 == nvrtc::sys::nvrtcResult::NVRTC_ERROR_INVALID_OPTION =>
            {
                nvrtc::compile_ptx_with_opts(source, options(None)).map_err(|e| compile_error(name, e))
            }
            Err(e) => Err(compile_error(name, e)),
        }
    }

    fn load_error(&self, name: &str, e: DriverError) -> Error {
        let (d, r) = (self.driver_version, self.nvrtc_version);
        let hint = if e.0 == cu::sys::CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION {
            format!(
                " (the PTX of NVRTC {}.{} is newer than this driver, CUDA {}.{}, accepts: update the driver or use \
                 an NVRTC no newer than it)",
                r.0, r.1, d.0, d.1
            )
        } else {
            String::new()
        };
        Error::Device(format!("loading the CUDA kernels of {name}: {e}{hint}"))
    }
}

/// The CUDA source of one env's batch module: the env's `.cu` with `rng.cuh` and `batch_prelude.cuh` in place of
/// its prelude marker, then `batch_step.cu`.
pub(crate) fn batch_source(env_cu: &str) -> std::result::Result<String, String> {
    let markers = env_cu.matches(PRELUDE_MARKER).count();
    if markers != 1 {
        return Err(format!("it must hold the line `{PRELUDE_MARKER}` exactly once, not {markers} times"));
    }
    let prelude = format!("{RNG_CUH}\n{BATCH_PRELUDE_CUH}");
    Ok(format!("{}\n{BATCH_STEP_CU}", env_cu.replacen(PRELUDE_MARKER, &prelude, 1)))
}

fn compile_error(name: &str, e: CompileError) -> Error {
    match e {
        CompileError::CompileError { nvrtc, options, log } => Error::Device(format!(
            "NVRTC could not compile the CUDA kernels of {name} ({nvrtc}, options {options:?}):\n{}",
            log.to_string_lossy().trim_end()
        )),
        other => Error::Device(format!("NVRTC failed on the CUDA kernels of {name}: {other}")),
    }
}

fn transfer_error(what: &str, e: DriverError) -> Error {
    Error::Device(format!("CUDA {what} failed: {e}"))
}

/// The driver's CUDA version as (major, minor); only called once libcuda is known to load.
fn driver_version() -> Result<(i32, i32)> {
    let mut v: std::ffi::c_int = 0;
    // SAFETY: libcuda is present (checked by the caller); cuDriverGetVersion writes one int through a valid
    // pointer and needs no cuInit.
    unsafe { cu::sys::cuDriverGetVersion(&mut v) }
        .result()
        .map_err(|e| Error::Backend(format!("cannot query the CUDA driver's version: {e}")))?;
    Ok((v / 1000, (v % 1000) / 10))
}

/// NVRTC's version as (major, minor); only called once libnvrtc is known to load.
fn nvrtc_version() -> Result<(i32, i32)> {
    let (mut major, mut minor): (std::ffi::c_int, std::ffi::c_int) = (0, 0);
    // SAFETY: libnvrtc is present (checked by the caller); nvrtcVersion writes two ints through valid pointers.
    unsafe { nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| Error::Backend(format!("cannot query NVRTC's version: {e}")))?;
    Ok((major, minor))
}

#[derive(Clone, Copy, Debug)]
enum Kernel {
    Step,
    StepRandom,
    Reset,
}

pub(crate) struct CudaBatch {
    ctx: Arc<CudaContext>,
    functions: Arc<BatchFunctions>,
    args: BatchParams,
    n: usize,
    state_dim: usize,
    obs_dim: usize,
    env_params: CudaSlice<u8>,
    state: CudaSlice<u32>,
    obs: CudaSlice<u32>,
    final_obs: CudaSlice<u32>,
    floats: CudaSlice<u32>,
    ints: CudaSlice<u32>,
    actions: CudaSlice<u32>,
    status: CudaSlice<u32>,
}

impl CudaBatch {
    pub(crate) fn new<E: Env>(ctx: &Arc<CudaContext>, params: &E::Params, spec: &EnvSpec, n: usize) -> Result<Self> {
        let num_envs = u32::try_from(n).map_err(|_| Error::Shape(format!("{n} envs do not fit one CUDA grid")))?;
        let functions = ctx.batch_functions::<E>()?;
        let (sd, od) = (spec.state_dim, spec.obs_dim());
        let params_bytes = bytemuck::bytes_of(params);
        let env_params =
            ctx.stream.clone_htod(params_bytes).map_err(|e| transfer_error("upload of the env params", e))?;
        ctx.counter.add_to_device(params_bytes.len());
        Ok(Self {
            functions,
            args: BatchParams { num_envs, max_steps: spec.max_episode_steps, autoreset: 1, ..Default::default() },
            n,
            state_dim: sd,
            obs_dim: od,
            env_params,
            state: ctx.zeros(n * sd)?,
            obs: ctx.zeros(n * od)?,
            final_obs: ctx.zeros(n * od)?,
            floats: ctx.zeros(n * FLOAT_ROWS)?,
            ints: ctx.zeros(n * INT_ROWS)?,
            actions: ctx.zeros(n * spec.action_dim())?,
            status: ctx.zeros(1)?,
            ctx: ctx.clone(),
        })
    }

    /// Launches `kernel` over all envs, one thread each, reading actions from `user_actions` or, where `None`,
    /// from the batch's own buffer.
    fn launch(&mut self, kernel: Kernel, user_actions: Option<&CudaSlice<u32>>) -> Result<()> {
        let functions = self.functions.clone();
        let (function, entry) = match kernel {
            Kernel::Step => (&functions.step, "step"),
            Kernel::StepRandom => (&functions.step_random, "step_random"),
            Kernel::Reset => (&functions.reset, "reset"),
        };
        let cfg = LaunchConfig {
            grid_dim: (self.args.num_envs.div_ceil(BLOCK), 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let a = self.args;
        let stream = self.ctx.stream.clone();
        let mut launch = stream.launch_builder(function);
        launch.arg(&a.num_envs).arg(&a.max_steps).arg(&a.autoreset).arg(&a.steps).arg(&a.seed_lo).arg(&a.seed_hi);
        launch.arg(&self.env_params);
        launch.arg(&mut self.state).arg(&mut self.obs).arg(&mut self.final_obs);
        launch.arg(&mut self.floats).arg(&mut self.ints);
        match user_actions {
            Some(actions) => launch.arg(actions),
            None => launch.arg(&mut self.actions),
        };
        launch.arg(&mut self.status);
        // SAFETY: the 14 arguments match `batch_step.cu`'s BATCH_KERNEL_ARGS in order and type (six u32 by value,
        // then device pointers). Every buffer was allocated on this context for this batch's `n` envs: state
        // [n, STATE_DIM], obs and final_obs [n, OBS_DIM], floats [3, n], ints [9, n], status [1], env params one
        // `E::Params` (the `EnvParams` the module was compiled with), actions at least `n` words (checked by
        // `step`); threads with i >= num_envs return first, so no access leaves these bounds. All launches and
        // copies share one stream, so none races another.
        unsafe { launch.launch(cfg) }
            .map_err(|e| Error::Device(format!("launching the CUDA kernel `{entry}`: {e}")))?;
        Ok(())
    }

    fn field_range(&self, field: Field) -> (&CudaSlice<u32>, usize, usize) {
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

impl BatchKernel for CudaBatch {
    fn reset(&mut self, seed: u64) -> Result<()> {
        self.args.seed_lo = seed as u32;
        self.args.seed_hi = (seed >> 32) as u32;
        self.ctx.clear(&mut self.status, 0..1)?;
        let len = self.final_obs.len();
        self.ctx.clear(&mut self.final_obs, 0..len)?;
        self.launch(Kernel::Reset, None)
    }

    fn step(&mut self, actions: &DeviceBuffer) -> Result<()> {
        let BufferInner::Cuda(slice) = &actions.inner else {
            return Err(Error::Shape("actions are not a CUDA buffer".into()));
        };
        // The kernel reads the caller's buffer in place; it must live on this GPU's context.
        if **slice.context() != *self.ctx.ctx {
            return Err(Error::Shape(format!(
                "actions live on CUDA device {}, the batch on device {}",
                slice.context().ordinal(),
                self.ctx.ctx.ordinal()
            )));
        }
        if slice.len() < self.n {
            return Err(Error::Shape(format!("{} envs need {} action words, got {}", self.n, self.n, slice.len())));
        }
        self.launch(Kernel::Step, Some(slice))
    }

    fn step_random(&mut self, steps: u32) -> Result<()> {
        if steps == 0 {
            return Ok(());
        }
        self.args.steps = steps;
        self.launch(Kernel::StepRandom, None)
    }

    fn set_autoreset(&mut self, on: bool) -> Result<()> {
        // A kernel argument, passed at every launch: nothing to upload.
        self.args.autoreset = on as u32;
        Ok(())
    }

    fn set_state(&mut self, state: &[f32], elapsed: &[u32]) -> Result<()> {
        self.ctx.write(&mut self.state, 0, bytemuck::cast_slice(state))?;
        self.ctx.write(&mut self.ints, I_ELAPSED * self.n, elapsed)
    }

    fn read(&self, field: Field) -> Result<Vec<u32>> {
        let (buffer, offset, words) = self.field_range(field);
        self.ctx.read(buffer, offset, words)
    }

    fn write(&mut self, field: Field, words: &[u32]) -> Result<()> {
        let n = self.n;
        let (buffer, offset) = match layout::slot(field) {
            Slot::State => (&mut self.state, 0),
            Slot::Obs => (&mut self.obs, 0),
            Slot::FinalObs => (&mut self.final_obs, 0),
            Slot::Float(row) => (&mut self.floats, row * n),
            Slot::Int(row) => (&mut self.ints, row * n),
        };
        self.ctx.write(buffer, offset, words)
    }

    fn clear_done_stats(&mut self) -> Result<()> {
        let n = self.n;
        self.ctx.clear(&mut self.floats, F_DONE_RETURN * n..(F_DONE_RETURN + 1) * n)?;
        self.ctx.clear(&mut self.ints, I_DONE_COUNT * n..(I_DONE_COUNT + 2) * n)
    }

    fn status(&self) -> Result<u32> {
        Ok(self.ctx.read(&self.status, 0, 1)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic_control::{Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum};
    use crate::toy_text::FrozenLake;
    use crate::{Device, EnvConfig};

    /// Every env's CUDA code, by id, as the registry compiles it.
    fn env_sources() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CartPole", CartPole::CUDA),
            ("MountainCar", MountainCar::CUDA),
            ("MountainCarContinuous", MountainCarContinuous::CUDA),
            ("Pendulum", Pendulum::CUDA),
            ("Acrobot", Acrobot::CUDA),
            ("FrozenLake", FrozenLake::CUDA),
        ]
    }

    fn driver_present() -> bool {
        // SAFETY: only dlopens and closes the candidate names of libcuda.
        unsafe { cu::sys::is_culib_present() }
    }

    #[test]
    fn opening_a_gpu_fails_cleanly_without_a_driver() {
        let present = driver_present();
        for result in [CudaContext::new(0).map(|_| ()), Device::cuda(0).map(|_| ())] {
            match result {
                Err(Error::Backend(msg)) => {
                    if !present {
                        assert!(msg.starts_with("no CUDA driver found (libcuda.so): "), "{msg}");
                    }
                }
                Err(other) => panic!("expected Error::Backend, got {other:?}"),
                Ok(()) => assert!(present, "a CUDA context opened without libcuda"),
            }
        }
        // Where a GPU does open, a batch is made on it.
        if let Ok(gpu) = Device::cuda(0) {
            let made = crate::make("CartPole-v1", &EnvConfig::new(), 4, &gpu);
            assert!(made.is_ok(), "{:?}", made.err());
        }
    }

    #[test]
    fn every_env_composes_into_one_source_with_the_three_kernels() {
        let envs = env_sources();
        // Every env .cu file in the crate is in the list above.
        // The run-time variable first: a test binary reused from another checkout keeps its compile-time path.
        let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let src = std::path::Path::new(&root).join("src");
        let mut on_disk = 0;
        for family in std::fs::read_dir(&src).unwrap() {
            let dir = family.unwrap().path();
            if !dir.is_dir() || dir.ends_with("device") {
                continue;
            }
            on_disk += std::fs::read_dir(&dir)
                .unwrap()
                .filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|e| e == "cu"))
                .count();
        }
        assert_eq!(on_disk, envs.len(), "an env .cu file is missing from env_sources()");

        for (id, cu) in envs {
            let source = batch_source(cu).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(!source.contains(PRELUDE_MARKER), "{id}: a prelude marker is left");
            assert!(!source.contains('\0'), "{id}: NVRTC takes the source as a C string");
            for kernel in ["step", "step_random", "reset"] {
                let definition = format!("extern \"C\" __global__ void __launch_bounds__({BLOCK}) {kernel}(");
                assert_eq!(source.matches(&definition).count(), 1, "{id}: kernel `{kernel}` with {BLOCK} threads");
            }
            // Declaration order: the env's dimensions and params, then the RNG and the prelude types, then the
            // env functions, then the batch kernels.
            let at = |needle: &str| source.find(needle).unwrap_or_else(|| panic!("{id}: no `{needle}`"));
            assert!(at("#define STATE_DIM") < at("struct State {"), "{id}");
            assert!(at("#define OBS_DIM") < at("struct Obs {"), "{id}");
            assert!(at("struct EnvParams {") < at("struct Rng {"), "{id}");
            assert!(at("struct Rng {") < at("struct Transition {"), "{id}");
            assert!(at("struct Transition {") < at("env_reset(const EnvParams& p, Rng& rng)"), "{id}");
            assert!(at("env_random_action(") < at("struct Batch {"), "{id}");
        }
        assert!(batch_source("#define STATE_DIM 1\n").is_err(), "a source without the marker is refused");
    }

    /// A CUDA device, or `None` (test skipped) where there is none, unless `MYRIAD_REQUIRE_CUDA=1`.
    fn cuda_device() -> Option<Device> {
        match Device::cuda(0) {
            Ok(d) => Some(d),
            Err(e) if std::env::var("MYRIAD_REQUIRE_CUDA").is_ok_and(|v| v == "1") => {
                panic!("MYRIAD_REQUIRE_CUDA=1 but no CUDA device: {e}")
            }
            Err(e) => {
                eprintln!("skipping CUDA test: {e}");
                None
            }
        }
    }

    /// The trace-replay tolerance: the GPU's sincosf and the CPU's `math::sin_cos` differ by a few ulp.
    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-4 + 1e-4 * b.abs()
    }

    /// On a GPU: resets match the CPU bit for bit, one step matches within float tolerance, FrozenLake matches
    /// exactly over many random steps, invalid actions are flagged and a step moves no bytes to or from the host.
    #[test]
    fn batches_match_the_cpu_on_a_gpu() {
        let Some(gpu) = cuda_device() else { return };
        let cpu = Device::cpu();
        let n = 1000;
        let ids = ["CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1", "Acrobot-v1"];
        for id in ids.into_iter().chain(["FrozenLake-v1", "FrozenLake8x8-v1"]) {
            let mut c = crate::make(id, &EnvConfig::new(), n, &cpu).unwrap();
            let mut g = crate::make(id, &EnvConfig::new(), n, &gpu).unwrap();
            c.reset(42).unwrap();
            g.reset(42).unwrap();
            assert_eq!(c.read(Field::State).unwrap(), g.read(Field::State).unwrap(), "{id}: reset state");
            assert_eq!(c.read(Field::RngCounter).unwrap(), g.read(Field::RngCounter).unwrap(), "{id}");
            for (x, y) in c.read_f32(Field::Obs).unwrap().iter().zip(g.read_f32(Field::Obs).unwrap()) {
                assert!(close(*x, y), "{id}: reset obs {x} vs {y}");
            }
            // One step with the same host actions.
            let words: Vec<u32> = match c.spec().action_space {
                crate::Space::Discrete { n: k } => (0..n as u32).map(|i| i % k).collect(),
                _ => (0..n).map(|i| (i as f32 / n as f32 - 0.5).to_bits()).collect(),
            };
            c.step(&c.upload_actions(&words).unwrap()).unwrap();
            let actions = g.upload_actions(&words).unwrap();
            g.sync().unwrap();
            let before = gpu.transfers();
            g.step(&actions).unwrap();
            g.sync().unwrap();
            assert_eq!(gpu.transfers(), before, "{id}: a step moved bytes between host and GPU");
            for field in [Field::State, Field::Obs, Field::Reward, Field::EpisodeReturn] {
                for (x, y) in c.read_f32(field).unwrap().iter().zip(g.read_f32(field).unwrap()) {
                    assert!(close(*x, y), "{id}: {field:?} {x} vs {y}");
                }
            }
            for field in [Field::Terminated, Field::Truncated, Field::Elapsed, Field::RngCounter] {
                assert_eq!(c.read(field).unwrap(), g.read(field).unwrap(), "{id}: {field:?}");
            }
        }
        // FrozenLake's dynamics are exact integer maths on both sides: whole random rollouts agree bit for bit.
        for id in ["FrozenLake-v1", "FrozenLake8x8-v1"] {
            let mut c = crate::make(id, &EnvConfig::new(), n, &cpu).unwrap();
            let mut g = crate::make(id, &EnvConfig::new(), n, &gpu).unwrap();
            c.reset(7).unwrap();
            g.reset(7).unwrap();
            c.step_random(300).unwrap();
            g.step_random(300).unwrap();
            for field in Field::ALL {
                assert_eq!(c.read(field).unwrap(), g.read(field).unwrap(), "{id}: {field:?}");
            }
            let stats = g.take_episode_stats().unwrap();
            assert_eq!(stats, c.take_episode_stats().unwrap(), "{id}");
            assert!(stats.episodes > 0, "{id}");
            assert_eq!(g.read(Field::DoneCount).unwrap(), vec![0; n], "{id}: stats cleared");
        }
        // An invalid action leaves its env alone and is reported.
        let mut g = crate::make("CartPole-v1", &EnvConfig::new(), 4, &gpu).unwrap();
        g.reset(0).unwrap();
        let state = g.read(Field::State).unwrap();
        g.step(&g.upload_actions(&[0, 1, 2, 1]).unwrap()).unwrap();
        assert!(matches!(g.check(), Err(Error::InvalidAction(_))));
        g.reset(0).unwrap();
        assert_eq!(g.read(Field::State).unwrap(), state, "reset clears the flag and restores the seeded state");
    }
}
