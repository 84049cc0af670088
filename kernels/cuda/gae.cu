// gae.cu — Generalised Advantage Estimation; the CUDA twin of `kernels/gae.wgsl` (shapes, thread mapping and
// equation are stated there) and of `gae_reference` in `src/returns/gae.rs` (the specification).
// One thread per env looping backwards over T; 256 threads per block, 1-D grid.

extern "C" __global__ void __launch_bounds__(256) gae(
    unsigned num_envs, unsigned horizon, float gamma, float lambda,
    const float* rewards, const float* values, const unsigned* dones, const float* final_values,
    const float* last_values, float* advantages, float* returns) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= num_envs) return;
    unsigned long long n = num_envs;
    unsigned long long plane = (unsigned long long)horizon * n;
    float next_value = last_values[i];
    float next_adv = 0.0f;
    for (unsigned k = 0; k < horizon; k++) {
        unsigned long long at = (unsigned long long)(horizon - 1u - k) * n + i;
        bool terminated = dones[at] != 0u;
        bool truncated = dones[plane + at] != 0u;
        float bootstrap = (truncated && !terminated) ? final_values[at] : next_value;
        float delta = __fsub_rn(__fadd_rn(rewards[at], __fmul_rn(gamma, terminated ? 0.0f : bootstrap)), values[at]);
        float adv = __fadd_rn(delta, __fmul_rn(__fmul_rn(gamma, lambda), (terminated || truncated) ? 0.0f : next_adv));
        advantages[at] = adv;
        returns[at] = __fadd_rn(adv, values[at]);
        next_value = values[at];
        next_adv = adv;
    }
}
