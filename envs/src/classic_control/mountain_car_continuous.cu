// mountain_car_continuous.cu — MountainCarContinuous-v0 step and reset; the CUDA twin of
// `mountain_car_continuous.wgsl` and `mountain_car_continuous.rs` (the spec), after Gymnasium's
// `classic_control/continuous_mountain_car.py` (Moore, 1990).
// State [N, 2] = (position, velocity); obs [N, 2] = state; action: one float push, passed as its unsigned bits,
// clipped to [min_action, max_action] for the dynamics but penalised unclipped. One thread per env
// (see batch_step.cu).

#define STATE_DIM 2
#define OBS_DIM 2

struct EnvParams {
    float min_action, max_action, min_position, max_position, max_speed, goal_position, goal_velocity, power,
        gravity;
    unsigned _pad0, _pad1, _pad2;
};

// @prelude

__device__ State env_reset(const EnvParams& p, Rng& rng) {
    State s;
    s.v[0] = rng_uniform(rng, -0.6f, -0.4f);
    s.v[1] = 0.0f;
    return s;
}

__device__ Transition env_step(const EnvParams& p, const State& s, unsigned action_bits, Rng& rng) {
    float action = __uint_as_float(action_bits);
    float force = fminf(fmaxf(action, p.min_action), p.max_action);
    float velocity = s.v[1] + force * p.power - p.gravity * cosf(3.0f * s.v[0]);
    velocity = fminf(fmaxf(velocity, -p.max_speed), p.max_speed);
    float position = fminf(fmaxf(s.v[0] + velocity, p.min_position), p.max_position);
    // The left wall is inelastic.
    if (position == p.min_position && velocity < 0.0f) velocity = 0.0f;
    Transition t;
    t.s.v[0] = position;
    t.s.v[1] = velocity;
    t.terminated = position >= p.goal_position && velocity >= p.goal_velocity;
    // The penalty uses the unclipped action.
    t.reward = (t.terminated ? 100.0f : 0.0f) - action * action * 0.1f;
    return t;
}

__device__ Obs env_observe(const EnvParams& p, const State& s) {
    Obs o;
    for (int k = 0; k < 2; k++) o.v[k] = s.v[k];
    return o;
}

__device__ bool env_valid_action(const EnvParams& p, unsigned action_bits) { return true; }

__device__ unsigned env_random_action(const EnvParams& p, unsigned bits) {
    return __float_as_uint(p.min_action + (p.max_action - p.min_action) * unit(bits));
}
