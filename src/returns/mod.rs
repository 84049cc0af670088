//! Advantage and return estimators over time-major `[T, N]` rollouts, each a CPU reference (the specification) plus
//! device kernels. They share one signature: rewards, values, `terminated`, `truncated` with the value of the
//! kept final observation where an episode was truncated, and the values of the last observations; named, never
//! packed into one mask.

mod buffers;
pub mod distributional;
pub mod gae;
pub mod lambda;
pub mod nstep;
pub mod vtrace;

pub use distributional::{c51_project, c51_project_reference};
pub use gae::{gae_reference, Gae, GaeBuffers, GaeParams};
pub use lambda::lambda_returns_reference;
pub use nstep::{nstep_reference, nstep_targets, NStep, NStepReference};
pub use vtrace::{vtrace_reference, Vtrace, VtraceBuffers, VtraceParams};

use burn::tensor::Tensor;

/// A rollout's fields as learner tensors, time-major `[T·N]` (flags 0 or 1).
pub struct ReturnInputs {
    pub rewards: Tensor<1>,
    /// V(s_t).
    pub values: Tensor<1>,
    pub terminated: Tensor<1>,
    pub truncated: Tensor<1>,
    /// V(final observation): the bootstrap where a step was truncated and not terminated.
    pub final_values: Tensor<1>,
    /// `[N]`: V(s_T), the bootstrap after the last step.
    pub last_values: Tensor<1>,
}

/// The same fields on the host, for the CPU references.
pub struct HostInputs<'a> {
    pub rewards: &'a [f32],
    pub values: &'a [f32],
    pub terminated: &'a [u32],
    pub truncated: &'a [u32],
    pub final_values: &'a [f32],
    pub last_values: &'a [f32],
}

impl HostInputs<'_> {
    /// Panics unless every field has `[T, N]` values (`last_values`: `[N]`).
    pub fn check(&self, horizon: usize, n: usize) {
        let plane = horizon * n;
        assert!(self.rewards.len() == plane && self.values.len() == plane && self.final_values.len() == plane);
        assert!(self.terminated.len() == plane && self.truncated.len() == plane && self.last_values.len() == n);
    }
}
