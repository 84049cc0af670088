//! # myriad-envs
//!
//! Batched reinforcement-learning environments with Gymnasium's semantics, stepped on the CPU (rayon),
//! on any wgpu adapter (WGSL) or on an NVIDIA GPU (CUDA, feature `cuda`), usable without any learner:
//!
//! ```no_run
//! use myriad_envs::{make, Device, EnvConfig, Field};
//! let device = Device::cpu();
//! let mut envs = make("CartPole-v1", &EnvConfig::new(), 4096, &device)?;
//! envs.reset(0)?;
//! envs.step_random(100)?;
//! let obs = envs.read_f32(Field::Obs)?; // [4096, 4]
//! # Ok::<(), myriad_envs::Error>(())
//! ```
//!
//! Each env is a scalar CPU `reset`/`step` (the [`Env`] trait, the specification) plus WGSL and CUDA kernels
//! implementing the same step one thread per env. See [`batch`] for the autoreset contract and [`rng`] for how
//! random numbers are keyed. Your own env is an [`Env`] added under your own id with [`register`]; one without
//! GPU kernels runs on the CPU backend.

pub mod batch;
pub mod classic_control;
pub mod config;
mod cpu;
pub mod device;
pub mod env;
pub mod error;
pub mod math;
pub mod registry;
pub mod rng;
pub mod spaces;
pub mod toy_text;
pub mod trace;

pub use batch::{BatchSnapshot, EnvBatch, EpisodeStats, Field};
pub use config::EnvConfig;
pub use device::{Backend, Device, DeviceBuffer};
pub use env::{Env, EnvSpec};
pub use error::{Error, Result};
pub use registry::{make, register, registered, EnvInfo};
pub use spaces::Space;

impl Device {
    /// The host CPU.
    pub fn cpu() -> Device {
        Device::Cpu
    }
}
