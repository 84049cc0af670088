//! Advantage and return estimators over time-major `[T, N]` rollouts, each a CPU reference plus device kernels.

pub mod distributional;
pub mod gae;
pub mod nstep;

pub use distributional::{c51_project, c51_project_reference};
pub use gae::{gae_reference, Gae, GaeInputs, GaeParams};
pub use nstep::{nstep_reference, nstep_targets, NStep, NStepReference};
