//! λ-returns, the targets of Q(λ) as PQN uses them (Gallici et al. 2024, "Simplifying Deep Temporal Difference
//! Learning"; Sutton & Barto §12.1), over time-major `[T, N]` rollouts with the shared inputs, where the values
//! are the bootstrap values (PQN: max_a Q(s, a)):
//!
//! G_t = r_t + γ · { 0 if terminated_t;  V(final obs) if truncated_t;  (1 − λ)·V(s_{t+1}) + λ·G_{t+1} otherwise },
//! with V(s_T) = `last_values` and G_T = V(s_T).
//!
//! The GAE kernels compute exactly this as their `returns` output (A_t + V(s_t) obeys the same recursion, with
//! the same boundary rules), so on a device λ-returns run on `kernels/gae.wgsl` and `kernels/cuda/gae.cu`;
//! [`lambda_returns_reference`], the direct recursion, is the specification the tests hold every device to.

use super::HostInputs;

/// The CPU specification: writes `returns` `[T, N]` (slices time-major as in [`HostInputs`]).
pub fn lambda_returns_reference(
    gamma: f32,
    lambda: f32,
    horizon: usize,
    n: usize,
    inputs: &HostInputs,
    returns: &mut [f32],
) {
    inputs.check(horizon, n);
    assert_eq!(returns.len(), horizon * n);
    // G_{t+1} and V(s_{t+1}) of the step after t, per env.
    let mut next_return = inputs.last_values.to_vec();
    let mut next_value = inputs.last_values.to_vec();
    for t in (0..horizon).rev() {
        for i in 0..n {
            let at = t * n + i;
            let tail = if inputs.terminated[at] != 0 {
                0.0
            } else if inputs.truncated[at] != 0 {
                inputs.final_values[at]
            } else {
                (1.0 - lambda) * next_value[i] + lambda * next_return[i]
            };
            returns[at] = inputs.rewards[at] + gamma * tail;
            next_return[i] = returns[at];
            next_value[i] = inputs.values[at];
        }
    }
}
