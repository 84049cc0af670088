// vtrace.wgsl — V-trace off-policy value targets and policy-gradient advantages (Espeholt et al. 2018, "IMPALA:
// Scalable Distributed Deep-RL with Importance Weighted Actor-Learner Architectures", eq. 1 and section 4.2), with
// Gymnasium's terminated/truncated split.
//
// Inputs, time-major, N = p.num_envs, T = p.horizon:
//   rewards       f32 [T, N]    reward of step t
//   values        f32 [T, N]    V(s_t)
//   dones         u32 [2, T, N] row 0: terminated_t, row 1: truncated_t (0 or 1)
//   final_values  f32 [T, N]    V(final observation of step t); read only where truncated_t && !terminated_t
//   last_values   f32 [N]       V(s_T), the observation after the rollout
//   log_probs     f32 [2, T, N] row 0: log μ(a_t|s_t) of the behaviour policy, row 1: log π(a_t|s_t) of the target
// Outputs: vs f32 [T, N] (the V-trace targets v_s), pg_advantages f32 [T, N].
// Threads: one per env, looping backwards over T; 64 per workgroup.
// Equation, with ratio_t = exp(log π_t − log μ_t):
//   ρ_t = min(ρ̄, ratio_t),   c_t = λ · min(c̄, ratio_t),   ρpg_t = min(ρ̄_pg, ratio_t)
//   boot_t(x) = 0 if terminated_t, else V(final obs) if truncated_t, else x_{t+1} (x_T = last_values)
//   δ_t = ρ_t · (r_t + γ · boot_t(V) − V(s_t))
//   a_t = δ_t + γ · c_t · (1 − (terminated_t or truncated_t)) · a_{t+1},   a_T = 0;   vs_t = V(s_t) + a_t
//   pg_advantages_t = ρpg_t · (r_t + γ · boot_t(vs) − V(s_t))
// A terminated step does not bootstrap; a truncated one bootstraps from its kept final observation; either ends
// the trace, because s_{t+1} then belongs to the next episode. The host passes an infinite threshold (no clip)
// as f32::MAX, so min() needs no infinity in the shader.

struct Params {
    num_envs: u32,
    horizon: u32,
    gamma: f32,
    lambda: f32,
    clip_rho: f32,
    clip_pg_rho: f32,
    clip_c: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rewards: array<f32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read> dones: array<u32>;
@group(0) @binding(4) var<storage, read> final_values: array<f32>;
@group(0) @binding(5) var<storage, read> last_values: array<f32>;
@group(0) @binding(6) var<storage, read> log_probs: array<f32>;
@group(0) @binding(7) var<storage, read_write> vs: array<f32>;
@group(0) @binding(8) var<storage, read_write> pg_advantages: array<f32>;

@compute @workgroup_size(64)
fn vtrace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    let n = p.num_envs;
    if i >= n {
        return;
    }
    let plane = p.horizon * n;
    var next_value = last_values[i];
    var next_vs = last_values[i];
    var next_a = 0.0;
    for (var k = 0u; k < p.horizon; k++) {
        let t = p.horizon - 1u - k;
        let at = t * n + i;
        let terminated = dones[at] != 0u;
        let truncated = dones[plane + at] != 0u;
        let ratio = exp(log_probs[plane + at] - log_probs[at]);
        let rho = min(p.clip_rho, ratio);
        let c = p.lambda * min(p.clip_c, ratio);
        let rho_pg = min(p.clip_pg_rho, ratio);
        let boot_value = select(select(next_value, final_values[at], truncated), 0.0, terminated);
        let boot_vs = select(select(next_vs, final_values[at], truncated), 0.0, terminated);
        let v = values[at];
        let delta = rho * (rewards[at] + p.gamma * boot_value - v);
        let a = delta + p.gamma * c * select(next_a, 0.0, terminated || truncated);
        let vs_t = v + a;
        vs[at] = vs_t;
        pg_advantages[at] = rho_pg * (rewards[at] + p.gamma * boot_vs - v);
        next_value = v;
        next_vs = vs_t;
        next_a = a;
    }
}
