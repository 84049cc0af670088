// batch_step.cu — the batch around one env's step: TimeLimit, same-step autoreset, episode statistics. The CUDA
// twin of batch_step.wgsl, with the same buffers, the same rows and the same order of random draws.
//
// Composed by `cuda.rs`: the env's .cu with its prelude marker line replaced by rng.cuh + batch_prelude.cuh,
// then this file.
// The env code defines `EnvParams`, `STATE_DIM`, `OBS_DIM` and
//   env_reset(p, rng) -> State, env_step(p, s, action_bits, rng) -> Transition, env_observe(p, s) -> Obs,
//   env_valid_action(p, action_bits) -> bool, env_random_action(p, bits) -> unsigned (f32 actions as their bits).
//
// Kernel arguments (the same for `step`, `step_random` and `reset`; N = num_envs):
//   num_envs, max_steps (TimeLimit), autoreset (0 or 1), steps (step_random's count), seed_lo, seed_hi  u32
//   params     EnvParams, one copy in device memory
//   state      f32 [N, STATE_DIM]      obs, final_obs  f32 [N, OBS_DIM]
//   floats     f32 [3, N]: reward, episode return so far, sum of finished episodes' returns
//   ints       u32 [9, N]: terminated, truncated, elapsed steps, rng key, rng counter, episode length so far,
//                          finished episodes, sum of finished episodes' lengths, action-stream counter
//   actions    u32 [N] (f32 bits for Box actions)      status  u32 [1], bit 0: an invalid action was seen
// Threads: one per env, 256 per block, a 1-D grid of ceil(N / 256) blocks; i = blockIdx.x * 256 + threadIdx.x.
// Step of env i with action a (a valid):
//   (s', r, term) = env_step(s, a);  elapsed' = elapsed + 1;  trunc = elapsed' >= max_steps;
//   return' = return + r;  length' = length + 1;  obs = observe(s').
// Autoreset: an env that terminates or truncates writes its last observation to final_obs, adds return' and
// length' to the finished sums, zeroes elapsed, return and length, and is reset in the same step from its own
// stream, so `obs` holds the first observation of the next episode. With autoreset off it keeps s' and counts on.
// An invalid discrete action leaves env i untouched and sets status bit 0 (atomicOr).

enum FloatRow : unsigned { F_REWARD = 0u, F_EP_RETURN = 1u, F_DONE_RETURN = 2u, FLOAT_ROWS = 3u };

enum IntRow : unsigned {
    I_TERMINATED = 0u,
    I_TRUNCATED = 1u,
    I_ELAPSED = 2u,
    I_KEY = 3u,
    I_COUNTER = 4u,
    I_EP_LENGTH = 5u,
    I_DONE_COUNT = 6u,
    I_DONE_LENGTH = 7u,
    I_ACTION_COUNTER = 8u,
    INT_ROWS = 9u
};

// The kernel arguments, gathered so the helpers below take one parameter.
struct Batch {
    unsigned num_envs, max_steps, autoreset;
    const EnvParams* params;
    float* state;
    float* obs;
    float* final_obs;
    float* floats;
    unsigned* ints;
    unsigned* actions;
    unsigned* status;
};

// Element (row, i) of a [rows, N] buffer; 64-bit so that no index wraps however large N is.
__device__ __forceinline__ unsigned long long batch_at(const Batch& b, unsigned row, unsigned i) {
    return (unsigned long long)row * b.num_envs + i;
}

__device__ __forceinline__ State batch_load_state(const Batch& b, unsigned i) {
    State s;
    for (unsigned k = 0u; k < STATE_DIM; k++) s.v[k] = b.state[(unsigned long long)i * STATE_DIM + k];
    return s;
}

__device__ __forceinline__ void batch_store_state(const Batch& b, unsigned i, const State& s) {
    for (unsigned k = 0u; k < STATE_DIM; k++) b.state[(unsigned long long)i * STATE_DIM + k] = s.v[k];
}

__device__ __forceinline__ void batch_write_obs(float* out, unsigned i, const Obs& o) {
    for (unsigned k = 0u; k < OBS_DIM; k++) out[(unsigned long long)i * OBS_DIM + k] = o.v[k];
}

__device__ void batch_step_one(const Batch& b, unsigned i, unsigned action) {
    const EnvParams& p = *b.params;
    if (!env_valid_action(p, action)) {
        atomicOr(b.status, 1u);
        return;
    }
    Rng rng;
    rng.key = b.ints[batch_at(b, I_KEY, i)];
    rng.counter = b.ints[batch_at(b, I_COUNTER, i)];
    State s = batch_load_state(b, i);
    Transition t = env_step(p, s, action, rng);
    unsigned elapsed = b.ints[batch_at(b, I_ELAPSED, i)] + 1u;
    bool truncated = elapsed >= b.max_steps;
    float ep_return = b.floats[batch_at(b, F_EP_RETURN, i)] + t.reward;
    unsigned ep_length = b.ints[batch_at(b, I_EP_LENGTH, i)] + 1u;
    b.floats[batch_at(b, F_REWARD, i)] = t.reward;
    b.ints[batch_at(b, I_TERMINATED, i)] = t.terminated ? 1u : 0u;
    b.ints[batch_at(b, I_TRUNCATED, i)] = truncated ? 1u : 0u;
    batch_store_state(b, i, t.s);
    Obs o = env_observe(p, t.s);
    batch_write_obs(b.obs, i, o);
    if (b.autoreset != 0u && (t.terminated || truncated)) {
        batch_write_obs(b.final_obs, i, o);
        b.ints[batch_at(b, I_DONE_COUNT, i)] += 1u;
        b.floats[batch_at(b, F_DONE_RETURN, i)] += ep_return;
        b.ints[batch_at(b, I_DONE_LENGTH, i)] += ep_length;
        b.floats[batch_at(b, F_EP_RETURN, i)] = 0.0f;
        b.ints[batch_at(b, I_EP_LENGTH, i)] = 0u;
        b.ints[batch_at(b, I_ELAPSED, i)] = 0u;
        State s0 = env_reset(p, rng);
        batch_store_state(b, i, s0);
        batch_write_obs(b.obs, i, env_observe(p, s0));
    } else {
        b.floats[batch_at(b, F_EP_RETURN, i)] = ep_return;
        b.ints[batch_at(b, I_EP_LENGTH, i)] = ep_length;
        b.ints[batch_at(b, I_ELAPSED, i)] = elapsed;
    }
    b.ints[batch_at(b, I_COUNTER, i)] = rng.counter;
}

// Draw number c of env i's action stream (keyed apart from its dynamics stream), then c + 1.
__device__ __forceinline__ unsigned batch_random_action(const Batch& b, unsigned i) {
    unsigned c = b.ints[batch_at(b, I_ACTION_COUNTER, i)];
    b.ints[batch_at(b, I_ACTION_COUNTER, i)] = c + 1u;
    return env_random_action(*b.params, draw(action_key(b.ints[batch_at(b, I_KEY, i)]), c));
}

#define BATCH_KERNEL_ARGS                                                                                     \
    unsigned num_envs, unsigned max_steps, unsigned autoreset, unsigned steps, unsigned seed_lo,              \
        unsigned seed_hi, const EnvParams *params, float *state, float *obs, float *final_obs, float *floats, \
        unsigned *ints, unsigned *actions, unsigned *status

#define BATCH_FROM_ARGS {num_envs, max_steps, autoreset, params, state, obs, final_obs, floats, ints, actions, status}

// One step of every env with the actions in `actions`.
extern "C" __global__ void __launch_bounds__(256) step(BATCH_KERNEL_ARGS) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= num_envs) return;
    Batch b = BATCH_FROM_ARGS;
    batch_step_one(b, i, actions[i]);
}

// `steps` steps with uniformly random actions, fused in one launch (for rollouts and benchmarks); the last
// actions are left in `actions`.
extern "C" __global__ void __launch_bounds__(256) step_random(BATCH_KERNEL_ARGS) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= num_envs) return;
    Batch b = BATCH_FROM_ARGS;
    for (unsigned t = 0u; t < steps; t++) {
        unsigned a = batch_random_action(b, i);
        actions[i] = a;
        batch_step_one(b, i, a);
    }
}

// A fresh episode for every env from the stream keyed by (seed, i); every row of floats and ints is zeroed
// but the rng key and counter. (The host clears final_obs and status.)
extern "C" __global__ void __launch_bounds__(256) reset(BATCH_KERNEL_ARGS) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= num_envs) return;
    Batch b = BATCH_FROM_ARGS;
    Rng rng;
    rng.key = stream_key(seed_lo, seed_hi, i);
    rng.counter = 0u;
    State s = env_reset(*params, rng);
    batch_store_state(b, i, s);
    batch_write_obs(obs, i, env_observe(*params, s));
    for (unsigned row = 0u; row < FLOAT_ROWS; row++) floats[batch_at(b, row, i)] = 0.0f;
    for (unsigned row = 0u; row < INT_ROWS; row++) ints[batch_at(b, row, i)] = 0u;
    ints[batch_at(b, I_KEY, i)] = rng.key;
    ints[batch_at(b, I_COUNTER, i)] = rng.counter;
}
