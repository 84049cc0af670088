// batch_step.wgsl — the batch around one env's step: TimeLimit, same-step autoreset, episode statistics.
//
// Appended to an env's WGSL, which defines `EnvParams`, `STATE_DIM`, `OBS_DIM` and
//   env_reset(rng) -> State, env_step(s, action_bits, rng) -> Transition, env_observe(s) -> Obs,
//   env_valid_action(action_bits) -> bool, env_random_action(bits) -> u32 (f32 actions as their bits).
//
// Buffers (N = batch.num_envs, all time-invariant in size):
//   state      f32 [N, STATE_DIM]      obs, final_obs  f32 [N, OBS_DIM]
//   floats     f32 [3, N]: reward, episode return so far, sum of finished episodes' returns
//   ints       u32 [9, N]: terminated, truncated, elapsed steps, rng key, rng counter, episode length so far,
//                          finished episodes, sum of finished episodes' lengths, action-stream counter
//   actions    u32 [N] (f32 bits for Box actions)      status  u32 [1], bit 0: an invalid action was seen
// Threads: one per env, 64 per workgroup; a 2-D grid past 65535 workgroups (i = x + y * 64 * groups_x).
// Autoreset: an env that terminates or truncates writes its last observation to final_obs, adds its episode
// to the finished sums and is reset in the same step, so `obs` holds the first observation of the next episode.

struct BatchParams {
    num_envs: u32,
    max_steps: u32,
    autoreset: u32,
    steps: u32,
    seed_lo: u32,
    seed_hi: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> batch: BatchParams;
@group(0) @binding(1) var<uniform> params: EnvParams;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
@group(0) @binding(3) var<storage, read_write> obs: array<f32>;
@group(0) @binding(4) var<storage, read_write> final_obs: array<f32>;
@group(0) @binding(5) var<storage, read_write> floats: array<f32>;
@group(0) @binding(6) var<storage, read_write> ints: array<u32>;
@group(0) @binding(7) var<storage, read_write> actions: array<u32>;
@group(0) @binding(8) var<storage, read_write> status: array<atomic<u32>>;

alias State = array<f32, STATE_DIM>;
alias Obs = array<f32, OBS_DIM>;

struct Transition {
    s: State,
    reward: f32,
    terminated: bool,
}

const F_REWARD: u32 = 0u;
const F_EP_RETURN: u32 = 1u;
const F_DONE_RETURN: u32 = 2u;
const I_TERMINATED: u32 = 0u;
const I_TRUNCATED: u32 = 1u;
const I_ELAPSED: u32 = 2u;
const I_KEY: u32 = 3u;
const I_COUNTER: u32 = 4u;
const I_EP_LENGTH: u32 = 5u;
const I_DONE_COUNT: u32 = 6u;
const I_DONE_LENGTH: u32 = 7u;
const I_ACTION_COUNTER: u32 = 8u;

fn at(row: u32, i: u32) -> u32 {
    return row * batch.num_envs + i;
}

fn env_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

fn load_state(i: u32) -> State {
    var s: State;
    for (var k = 0u; k < STATE_DIM; k++) {
        s[k] = state[i * STATE_DIM + k];
    }
    return s;
}

fn store_state(i: u32, s: State) {
    for (var k = 0u; k < STATE_DIM; k++) {
        state[i * STATE_DIM + k] = s[k];
    }
}

fn write_obs(i: u32, s: State) {
    let o = env_observe(s);
    for (var k = 0u; k < OBS_DIM; k++) {
        obs[i * OBS_DIM + k] = o[k];
    }
}

fn step_one(i: u32, action: u32) {
    if !env_valid_action(action) {
        atomicOr(&status[0], 1u);
        return;
    }
    var rng = Rng(ints[at(I_KEY, i)], ints[at(I_COUNTER, i)]);
    let t = env_step(load_state(i), action, &rng);
    let elapsed = ints[at(I_ELAPSED, i)] + 1u;
    let truncated = elapsed >= batch.max_steps;
    let ep_return = floats[at(F_EP_RETURN, i)] + t.reward;
    let ep_length = ints[at(I_EP_LENGTH, i)] + 1u;
    floats[at(F_REWARD, i)] = t.reward;
    ints[at(I_TERMINATED, i)] = u32(t.terminated);
    ints[at(I_TRUNCATED, i)] = u32(truncated);
    store_state(i, t.s);
    write_obs(i, t.s);
    if batch.autoreset != 0u && (t.terminated || truncated) {
        for (var k = 0u; k < OBS_DIM; k++) {
            final_obs[i * OBS_DIM + k] = obs[i * OBS_DIM + k];
        }
        ints[at(I_DONE_COUNT, i)] += 1u;
        floats[at(F_DONE_RETURN, i)] += ep_return;
        ints[at(I_DONE_LENGTH, i)] += ep_length;
        floats[at(F_EP_RETURN, i)] = 0.0;
        ints[at(I_EP_LENGTH, i)] = 0u;
        ints[at(I_ELAPSED, i)] = 0u;
        let s = env_reset(&rng);
        store_state(i, s);
        write_obs(i, s);
    } else {
        floats[at(F_EP_RETURN, i)] = ep_return;
        ints[at(I_EP_LENGTH, i)] = ep_length;
        ints[at(I_ELAPSED, i)] = elapsed;
    }
    ints[at(I_COUNTER, i)] = rng.counter;
}

fn random_action(i: u32) -> u32 {
    let c = ints[at(I_ACTION_COUNTER, i)];
    ints[at(I_ACTION_COUNTER, i)] = c + 1u;
    return env_random_action(draw(action_key(ints[at(I_KEY, i)]), c));
}

@compute @workgroup_size(64)
fn step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = env_index(gid, groups);
    if i >= batch.num_envs {
        return;
    }
    step_one(i, actions[i]);
}

@compute @workgroup_size(64)
fn sample_actions(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = env_index(gid, groups);
    if i >= batch.num_envs {
        return;
    }
    actions[i] = random_action(i);
}

// `batch.steps` steps with uniformly random actions, fused in one launch (for rollouts and benchmarks).
@compute @workgroup_size(64)
fn step_random(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = env_index(gid, groups);
    if i >= batch.num_envs {
        return;
    }
    for (var t = 0u; t < batch.steps; t++) {
        let a = random_action(i);
        actions[i] = a;
        step_one(i, a);
    }
}

@compute @workgroup_size(64)
fn reset(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = env_index(gid, groups);
    if i >= batch.num_envs {
        return;
    }
    var rng = Rng(stream_key(batch.seed_lo, batch.seed_hi, i), 0u);
    let s = env_reset(&rng);
    store_state(i, s);
    write_obs(i, s);
    for (var row = 0u; row < 3u; row++) {
        floats[at(row, i)] = 0.0;
    }
    for (var row = 0u; row < 9u; row++) {
        ints[at(row, i)] = 0u;
    }
    ints[at(I_KEY, i)] = rng.key;
    ints[at(I_COUNTER, i)] = rng.counter;
}
