// gae.wgsl — Generalised Advantage Estimation (Schulman et al. 2016, "High-Dimensional Continuous Control Using
// Generalized Advantage Estimation", eq. 16), with Gymnasium's terminated/truncated split.
//
// Inputs, time-major, N = p.num_envs, T = p.horizon:
//   rewards       f32 [T, N]   reward of step t
//   values        f32 [T, N]   V(s_t)
//   dones         u32 [2, T, N] row 0: terminated_t, row 1: truncated_t (0 or 1)
//   final_values  f32 [T, N]   V(final observation of step t); read only where truncated_t && !terminated_t
//   last_values   f32 [N]      V(s_T), the observation after the rollout
// Outputs: advantages f32 [T, N], returns f32 [T, N] (= advantages + values).
// Threads: one per env, looping backwards over T; 64 per workgroup.
// Equation: next_t = V(final obs) if truncated_t and not terminated_t, else last_values if t = T-1, else V(s_{t+1});
//   δ_t = r_t + γ · next_t · (1 - terminated_t) - V(s_t)
//   A_t = δ_t + γλ · (1 - (terminated_t or truncated_t)) · A_{t+1},   A_T = 0.
// A terminated step does not bootstrap; a truncated one bootstraps from its kept final observation; either ends
// the trace, because s_{t+1} then belongs to the next episode.

struct Params {
    num_envs: u32,
    horizon: u32,
    gamma: f32,
    lambda: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rewards: array<f32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read> dones: array<u32>;
@group(0) @binding(4) var<storage, read> final_values: array<f32>;
@group(0) @binding(5) var<storage, read> last_values: array<f32>;
@group(0) @binding(6) var<storage, read_write> advantages: array<f32>;
@group(0) @binding(7) var<storage, read_write> returns: array<f32>;

@compute @workgroup_size(64)
fn gae(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    let n = p.num_envs;
    if i >= n {
        return;
    }
    let plane = p.horizon * n;
    var next_value = last_values[i];
    var next_adv = 0.0;
    for (var k = 0u; k < p.horizon; k++) {
        let t = p.horizon - 1u - k;
        let at = t * n + i;
        let terminated = dones[at] != 0u;
        let truncated = dones[plane + at] != 0u;
        let bootstrap = select(next_value, final_values[at], truncated && !terminated);
        let delta = rewards[at] + p.gamma * select(bootstrap, 0.0, terminated) - values[at];
        let adv = delta + p.gamma * p.lambda * select(next_adv, 0.0, terminated || truncated);
        advantages[at] = adv;
        returns[at] = adv + values[at];
        next_value = values[at];
        next_adv = adv;
    }
}
