//! What the device estimators (`Gae`, `Vtrace`) share on the host side: shape checks and the device memory
//! behind a [`DeviceBuffer`], with errors that name the estimator.

use super::HostInputs;
use myriad_envs::{DeviceBuffer, Error, Result};

/// An estimator, by the name its errors give.
#[derive(Clone, Copy)]
pub(crate) struct Op(pub &'static str);

impl Op {
    /// `[T, N]` must be non-empty and small enough that `[2, T, N]` indices fit a u32.
    pub fn check_shape(self, horizon: usize, num_envs: usize) -> Result<()> {
        let plane = horizon.saturating_mul(num_envs);
        if horizon == 0 || num_envs == 0 || plane > u32::MAX as usize / 2 {
            return Err(Error::Shape(format!("{} over [{horizon}, {num_envs}] is empty or too large", self.0)));
        }
        Ok(())
    }

    /// Each `(name, values held, values expected)` must match; the error names the first buffer that does not.
    pub fn check_lengths(self, (t, n): (usize, usize), lengths: &[(&str, usize, usize)]) -> Result<()> {
        for &(name, got, want) in lengths {
            if got != want {
                return Err(Error::Shape(format!(
                    "{} over [{t}, {n}]: {name} has {got} values, expected {want}",
                    self.0
                )));
            }
        }
        Ok(())
    }

    pub fn not_on(self, device: &str) -> Error {
        Error::Shape(format!("{} buffers are not on the {device}", self.0))
    }

    pub fn cpu_f32(self, b: &DeviceBuffer) -> Result<&[f32]> {
        b.cpu_words().map(bytemuck::cast_slice).ok_or_else(|| self.not_on("CPU"))
    }

    pub fn cpu_f32_mut(self, b: &mut DeviceBuffer) -> Result<&mut [f32]> {
        b.cpu_words_mut().map(bytemuck::cast_slice_mut).ok_or_else(|| self.not_on("CPU"))
    }

    /// The rollout fields of CPU buffers as the references' [`HostInputs`] (`dones`: `[2, T, N]`, terminated
    /// then truncated); the caller has checked their lengths.
    pub fn cpu_inputs<'a>(
        self,
        [rewards, values, dones, final_values, last_values]: [&'a DeviceBuffer; 5],
    ) -> Result<HostInputs<'a>> {
        let dones = dones.cpu_words().ok_or_else(|| self.not_on("CPU"))?;
        let (terminated, truncated) = dones.split_at(dones.len() / 2);
        Ok(HostInputs {
            rewards: self.cpu_f32(rewards)?,
            values: self.cpu_f32(values)?,
            terminated,
            truncated,
            final_values: self.cpu_f32(final_values)?,
            last_values: self.cpu_f32(last_values)?,
        })
    }

    #[cfg(feature = "wgpu")]
    pub fn wgpu(self, b: &DeviceBuffer) -> Result<&wgpu::Buffer> {
        b.wgpu_buffer().ok_or_else(|| self.not_on("wgpu device"))
    }

    #[cfg(feature = "cuda")]
    pub fn cuda(self, b: &DeviceBuffer) -> Result<&cudarc::driver::CudaSlice<u32>> {
        b.cuda_slice().ok_or_else(|| self.not_on("CUDA device"))
    }

    #[cfg(feature = "cuda")]
    pub fn cuda_mut(self, b: &mut DeviceBuffer) -> Result<&mut cudarc::driver::CudaSlice<u32>> {
        b.cuda_slice_mut().ok_or_else(|| self.not_on("CUDA device"))
    }
}
