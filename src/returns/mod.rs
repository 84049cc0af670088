//! Advantage and return estimators over time-major `[T, N]` rollouts, each a CPU reference plus device kernels.

pub mod gae;

pub use gae::{gae_reference, Gae, GaeInputs, GaeParams};
