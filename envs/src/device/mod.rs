//! The device layer: where batches live (CPU, a wgpu adapter, a CUDA GPU), typed buffers on it, and the
//! host↔device byte counters that prove nothing crosses inside a step.
//!
//! A backend that is not compiled in, or has no hardware here, is an [`Error::Backend`] with the reason.

use crate::error::{clip, Error, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(any(feature = "wgpu", feature = "cuda"))]
use std::sync::Arc;

#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod layout;
#[cfg(feature = "wgpu")]
pub mod wgpu;

/// Which kind of device a batch runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Rust on the host's cores (rayon over chunks of envs).
    Cpu,
    /// WGSL compute shaders on any wgpu adapter (Vulkan, Metal, DX12).
    Wgpu,
    /// CUDA C compiled at run time by NVRTC, on an NVIDIA GPU.
    Cuda,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Cpu, Backend::Wgpu, Backend::Cuda];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Backend::Cpu),
            "wgpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            _ => Err(Error::Backend(format!("unknown backend `{}` (expected cpu, wgpu or cuda)", clip(s)))),
        }
    }
}

/// Bytes moved between host and device, counted at every upload and download.
#[derive(Debug, Default)]
pub struct TransferCounter {
    to_device: AtomicU64,
    to_host: AtomicU64,
}

impl TransferCounter {
    pub fn add_to_device(&self, bytes: usize) {
        self.to_device.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub fn add_to_host(&self, bytes: usize) {
        self.to_host.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    /// `(host→device, device→host)` bytes so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.to_device.load(Ordering::Relaxed), self.to_host.load(Ordering::Relaxed))
    }
}

/// A handle to one device. Cheap to clone; clones share the device, its queue and its counters.
#[derive(Clone)]
pub enum Device {
    Cpu,
    #[cfg(feature = "wgpu")]
    Wgpu(Arc<wgpu::WgpuContext>),
    #[cfg(feature = "cuda")]
    Cuda(Arc<cuda::CudaContext>),
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.describe())
    }
}

impl Device {
    /// Opens the first device of `backend`.
    pub fn new(backend: Backend) -> Result<Device> {
        match backend {
            Backend::Cpu => Ok(Device::Cpu),
            Backend::Wgpu => Self::wgpu(),
            Backend::Cuda => Self::cuda(0),
        }
    }

    /// The default wgpu adapter (a hardware one where present; `WGPU_BACKEND`/`WGPU_ADAPTER_NAME` choose).
    pub fn wgpu() -> Result<Device> {
        #[cfg(feature = "wgpu")]
        {
            Ok(Device::Wgpu(Arc::new(wgpu::WgpuContext::new()?)))
        }
        #[cfg(not(feature = "wgpu"))]
        {
            Err(Error::Backend("this build of Myriad was compiled without the `wgpu` feature".into()))
        }
    }

    /// The wgpu context of a wgpu device.
    #[cfg(feature = "wgpu")]
    pub fn wgpu_context(&self) -> Option<&Arc<wgpu::WgpuContext>> {
        match self {
            Device::Wgpu(ctx) => Some(ctx),
            _ => None,
        }
    }

    /// CUDA device `ordinal`; needs an NVIDIA driver (libcuda) and NVRTC at run time, no toolkit at build time.
    pub fn cuda(ordinal: usize) -> Result<Device> {
        #[cfg(feature = "cuda")]
        {
            Ok(Device::Cuda(Arc::new(cuda::CudaContext::new(ordinal)?)))
        }
        #[cfg(not(feature = "cuda"))]
        {
            let _ = ordinal;
            Err(Error::Backend(
                "this build of Myriad was compiled without the `cuda` feature (rebuild with `--features cuda`)".into(),
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Device::Cpu => Backend::Cpu,
            #[cfg(feature = "wgpu")]
            Device::Wgpu(_) => Backend::Wgpu,
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => Backend::Cuda,
        }
    }

    /// A line naming the device, e.g. `wgpu: llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn describe(&self) -> String {
        match self {
            Device::Cpu => format!("cpu: {} threads", rayon::current_num_threads()),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => format!("wgpu: {}", ctx.describe()),
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => format!("cuda: {}", ctx.describe()),
        }
    }

    /// Blocks until all work queued on the device has finished.
    pub fn sync(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => ctx.sync(),
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => ctx.sync(),
        }
    }

    /// `(host→device, device→host)` bytes moved so far on this device (always zero on the CPU).
    pub fn transfers(&self) -> (u64, u64) {
        match self {
            Device::Cpu => (0, 0),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => ctx.counter.totals(),
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => ctx.counter.totals(),
        }
    }

    /// Bytes a batch may use on this device, where the device tells: on the CPU the host's available memory
    /// ([`host_available_memory`]; `None` off Linux); on a wgpu adapter that is the CPU itself (a software
    /// renderer such as llvmpipe) or an integrated GPU, which share the host's memory, the same, and `None` on a
    /// discrete GPU (wgpu reports no memory budget); on CUDA the driver's free memory.
    pub fn available_memory(&self) -> Option<u64> {
        match self {
            Device::Cpu => host_available_memory(),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => ctx.available_memory(),
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => ctx.available_memory(),
        }
    }

    /// The largest single buffer this device can allocate and bind, where it has such a limit: on wgpu the
    /// smaller of the adapter's `max_buffer_size` and `max_storage_buffer_binding_size`; `None` on the CPU and
    /// CUDA.
    pub fn max_buffer_bytes(&self) -> Option<u64> {
        match self {
            Device::Cpu => None,
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => Some(ctx.max_buffer_bytes()),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => None,
        }
    }

    /// Fails with [`Error::OutOfMemory`] where `bytes` exceed [`available_memory`](Self::available_memory), with a
    /// message such as "1000000 envs of CartPole-v1 need 12.3 GiB but the CPU has 9.8 GiB available; use fewer
    /// envs". Passes where the device does not tell its memory.
    pub fn check_fits(&self, what: &str, bytes: u64) -> Result<()> {
        match self.available_memory() {
            Some(available) if bytes > available => {
                let owner = match self {
                    Device::Cpu => "the CPU".to_string(),
                    #[allow(unreachable_patterns)]
                    _ => format!("the device ({})", self.describe()),
                };
                Err(Error::OutOfMemory(format!(
                    "{} need {} but {owner} has {} available; use fewer envs",
                    clip(what),
                    format_bytes(bytes),
                    format_bytes(available)
                )))
            }
            _ => Ok(()),
        }
    }

    /// A device buffer holding `words` (4-byte values: `u32`, `i32` or `f32` bits).
    pub fn upload(&self, label: &str, words: &[u32]) -> Result<DeviceBuffer> {
        let inner = match self {
            Device::Cpu => {
                let mut host = Vec::new();
                host.try_reserve_exact(words.len()).map_err(|_| alloc_error(label, std::mem::size_of_val(words)))?;
                host.extend_from_slice(words);
                BufferInner::Cpu(host)
            }
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => BufferInner::Wgpu(ctx.storage_buffer(label, words)),
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => BufferInner::Cuda(ctx.upload(words)?),
        };
        let _ = label;
        Ok(DeviceBuffer { inner, len: words.len() })
    }

    /// A device buffer of f32 values.
    pub fn upload_f32(&self, label: &str, values: &[f32]) -> Result<DeviceBuffer> {
        self.upload(label, bytemuck::cast_slice(values))
    }

    /// A device buffer of `words` zeros, allocated on the device (no transfer).
    pub fn zeros(&self, label: &str, words: usize) -> Result<DeviceBuffer> {
        let inner = match self {
            Device::Cpu => BufferInner::Cpu(try_filled(words, 0, label)?),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(ctx) => BufferInner::Wgpu(ctx.zeroed(label, words)),
            #[cfg(feature = "cuda")]
            Device::Cuda(ctx) => BufferInner::Cuda(ctx.zeros(words)?),
        };
        let _ = label;
        Ok(DeviceBuffer { inner, len: words })
    }

    /// Copies a buffer of this device to the host (counted as device→host bytes).
    pub fn read(&self, buffer: &DeviceBuffer) -> Result<Vec<u32>> {
        match (self, &buffer.inner) {
            (Device::Cpu, BufferInner::Cpu(words)) => Ok(words.clone()),
            #[cfg(feature = "wgpu")]
            (Device::Wgpu(ctx), BufferInner::Wgpu(b)) => ctx.read(b, 0, buffer.len),
            #[cfg(feature = "cuda")]
            (Device::Cuda(ctx), BufferInner::Cuda(b)) => ctx.read(b, 0, buffer.len),
            #[allow(unreachable_patterns)]
            _ => Err(Error::Shape(format!("a {} buffer read on {}", buffer.backend(), self.backend()))),
        }
    }

    /// Copies an f32 buffer of this device to the host.
    pub fn read_f32(&self, buffer: &DeviceBuffer) -> Result<Vec<f32>> {
        Ok(self.read(buffer)?.into_iter().map(f32::from_bits).collect())
    }
}

/// The host's available memory in bytes: `MemAvailable` of `/proc/meminfo` on Linux, `None` elsewhere or where
/// it cannot be read. (A container's cgroup limit is not consulted.)
pub fn host_available_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let rest = meminfo.lines().find_map(|line| line.strip_prefix("MemAvailable:"))?;
    let mut parts = rest.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = match parts.next() {
        None => 1,
        Some("kB") => 1024,
        Some(_) => return None,
    };
    value.checked_mul(unit)
}

/// A byte count for messages: `12.3 GiB`, `512.0 MiB`, `4.0 KiB`, `100 bytes`.
pub(crate) fn format_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 6] =
        [("EiB", 1 << 60), ("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    match UNITS.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) => format!("{:.1} {unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} bytes"),
    }
}

fn alloc_error(what: &str, bytes: usize) -> Error {
    Error::OutOfMemory(format!("cannot allocate {} on the host for {}", format_bytes(bytes as u64), clip(what)))
}

/// A host vector of `len` copies of `value`, allocated fallibly: where the allocator refuses, an
/// [`Error::OutOfMemory`] naming `what` instead of an abort.
pub(crate) fn try_filled<T: Clone>(len: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| alloc_error(what, len.saturating_mul(std::mem::size_of::<T>())))?;
    v.resize(len, value);
    Ok(v)
}

/// A buffer of 4-byte words on a device. Its length is fixed at creation.
pub struct DeviceBuffer {
    pub(crate) inner: BufferInner,
    len: usize,
}

pub(crate) enum BufferInner {
    Cpu(Vec<u32>),
    #[cfg(feature = "wgpu")]
    Wgpu(::wgpu::Buffer),
    #[cfg(feature = "cuda")]
    Cuda(cudarc::driver::CudaSlice<u32>),
}

impl DeviceBuffer {
    /// Number of 4-byte words.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The backend the buffer lives on.
    pub fn backend(&self) -> Backend {
        match self.inner {
            BufferInner::Cpu(_) => Backend::Cpu,
            #[cfg(feature = "wgpu")]
            BufferInner::Wgpu(_) => Backend::Wgpu,
            #[cfg(feature = "cuda")]
            BufferInner::Cuda(_) => Backend::Cuda,
        }
    }

    /// The words of a CPU buffer.
    pub fn cpu_words(&self) -> Option<&[u32]> {
        match &self.inner {
            BufferInner::Cpu(w) => Some(w),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The words of a CPU buffer, mutably.
    pub fn cpu_words_mut(&mut self) -> Option<&mut [u32]> {
        match &mut self.inner {
            BufferInner::Cpu(w) => Some(w),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The underlying CUDA allocation, for passing it to other kernels.
    #[cfg(feature = "cuda")]
    pub fn cuda_slice(&self) -> Option<&cudarc::driver::CudaSlice<u32>> {
        match &self.inner {
            BufferInner::Cuda(b) => Some(b),
            _ => None,
        }
    }

    /// The underlying CUDA allocation, mutably.
    #[cfg(feature = "cuda")]
    pub fn cuda_slice_mut(&mut self) -> Option<&mut cudarc::driver::CudaSlice<u32>> {
        match &mut self.inner {
            BufferInner::Cuda(b) => Some(b),
            _ => None,
        }
    }

    /// The underlying wgpu buffer, for binding it in other kernels (burn, learners).
    #[cfg(feature = "wgpu")]
    pub fn wgpu_buffer(&self) -> Option<&::wgpu::Buffer> {
        match &self.inner {
            BufferInner::Wgpu(b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_in_bytes() {
        let meminfo = "MemTotal:       24683772 kB\nMemFree:        21560876 kB\nMemAvailable:   22695300 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(22_695_300 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_cpu_reports_its_available_memory() {
        let available = Device::Cpu.available_memory().expect("/proc/meminfo has MemAvailable");
        assert!(available > 0);
        assert_eq!(Device::Cpu.max_buffer_bytes(), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn check_fits_refuses_more_than_is_available() {
        Device::Cpu.check_fits("a small batch", 4096).unwrap();
        let err = Device::Cpu.check_fits("1000000 envs of CartPole-v1", u64::MAX / 2).unwrap_err();
        assert!(matches!(err, Error::OutOfMemory(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with("not enough memory: 1000000 envs of CartPole-v1 need 8.0 EiB"), "{message}");
        assert!(message.contains("but the CPU has") && message.ends_with("available; use fewer envs"), "{message}");
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(format_bytes(100), "100 bytes");
        assert_eq!(format_bytes(4096), "4.0 KiB");
        assert_eq!(format_bytes(13_207_024_435), "12.3 GiB");
    }

    #[test]
    fn a_refused_host_allocation_is_an_error() {
        let err = try_filled(usize::MAX / 2, 0u32, "a test buffer").unwrap_err();
        assert!(matches!(err, Error::OutOfMemory(_)) && err.to_string().contains("a test buffer"), "{err:?}");
        assert_eq!(try_filled(3, 7u32, "three words").unwrap(), vec![7, 7, 7]);
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn a_wgpu_adapter_reports_its_buffer_limit() {
        let Ok(device) = Device::wgpu() else { return };
        assert!(device.max_buffer_bytes().is_some_and(|b| b > 0));
        let ctx = device.wgpu_context().unwrap();
        if ctx.describe().ends_with("Cpu)") {
            assert!(device.available_memory().is_some_and(|b| b > 0), "{}", ctx.describe());
        }
    }
}
