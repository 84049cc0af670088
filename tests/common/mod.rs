//! Helpers shared by the integration tests: one test body, stamped out per device.

#![allow(dead_code)]

use myriad::envs::Device;

/// The wgpu device, or `None` (test skipped) where no adapter exists, unless `MYRIAD_REQUIRE_WGPU=1` makes a
/// missing adapter a failure.
pub fn wgpu_device() -> Option<Device> {
    match Device::wgpu() {
        Ok(d) => Some(d),
        Err(e) if std::env::var("MYRIAD_REQUIRE_WGPU").is_ok_and(|v| v == "1") => {
            panic!("MYRIAD_REQUIRE_WGPU=1 but no wgpu device: {e}")
        }
        Err(e) => {
            eprintln!("skipping wgpu test: {e}");
            None
        }
    }
}

/// The CUDA device where the `cuda` feature is on and a driver and GPU exist, unless `MYRIAD_REQUIRE_CUDA=1`
/// makes a missing one a failure.
pub fn cuda_device() -> Option<Device> {
    match Device::cuda(0) {
        Ok(d) => Some(d),
        Err(e) if std::env::var("MYRIAD_REQUIRE_CUDA").is_ok_and(|v| v == "1") => {
            panic!("MYRIAD_REQUIRE_CUDA=1 but no CUDA device: {e}")
        }
        Err(_) => None,
    }
}

/// Every device present: the CPU, then wgpu and CUDA where available.
pub fn devices() -> Vec<Device> {
    let mut devices = vec![Device::cpu()];
    devices.extend(wgpu_device());
    devices.extend(cuda_device());
    devices
}
