// vtrace.cu — V-trace targets and policy-gradient advantages; the CUDA twin of `kernels/vtrace.wgsl` (shapes,
// thread mapping and equation are stated there) and of `vtrace_reference` in `src/returns/vtrace.rs` (the
// specification). Infinite clip thresholds arrive as FLT_MAX. One thread per env looping backwards over T; 256
// threads per block, 1-D grid.

extern "C" __global__ void __launch_bounds__(256) vtrace(
    unsigned num_envs, unsigned horizon, float gamma, float lambda, float clip_rho, float clip_pg_rho,
    float clip_c, const float* rewards, const float* values, const unsigned* dones, const float* final_values,
    const float* last_values, const float* log_probs, float* vs, float* pg_advantages) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= num_envs) return;
    unsigned long long n = num_envs;
    unsigned long long plane = (unsigned long long)horizon * n;
    float next_value = last_values[i];
    float next_vs = last_values[i];
    float next_a = 0.0f;
    for (unsigned k = 0; k < horizon; k++) {
        unsigned long long at = (unsigned long long)(horizon - 1u - k) * n + i;
        bool terminated = dones[at] != 0u;
        bool truncated = dones[plane + at] != 0u;
        float ratio = expf(__fsub_rn(log_probs[plane + at], log_probs[at]));
        float rho = fminf(clip_rho, ratio);
        float c = __fmul_rn(lambda, fminf(clip_c, ratio));
        float rho_pg = fminf(clip_pg_rho, ratio);
        float boot_value = terminated ? 0.0f : (truncated ? final_values[at] : next_value);
        float boot_vs = terminated ? 0.0f : (truncated ? final_values[at] : next_vs);
        float v = values[at];
        float r = rewards[at];
        float delta = __fmul_rn(rho, __fsub_rn(__fadd_rn(r, __fmul_rn(gamma, boot_value)), v));
        float carry = (terminated || truncated) ? 0.0f : next_a;
        float a = __fadd_rn(delta, __fmul_rn(__fmul_rn(gamma, c), carry));
        float vs_t = __fadd_rn(v, a);
        vs[at] = vs_t;
        pg_advantages[at] = __fmul_rn(rho_pg, __fsub_rn(__fadd_rn(r, __fmul_rn(gamma, boot_vs)), v));
        next_value = v;
        next_vs = vs_t;
        next_a = a;
    }
}
