// mountain_car.cu — MountainCar-v0 step and reset; the CUDA twin of `mountain_car.wgsl` and `mountain_car.rs`
// (the spec), after Gymnasium's `classic_control/mountain_car.py` (Moore, 1990).
// State [N, 2] = (position, velocity); obs [N, 2] = state; action unsigned in {0, 1, 2} (push left, none, right).
// One thread per env (see batch_step.cu).

#define STATE_DIM 2
#define OBS_DIM 2

struct EnvParams {
    float min_position, max_position, max_speed, goal_position, goal_velocity, force, gravity;
    unsigned _pad0;
};

// @prelude

__device__ State env_reset(const EnvParams& p, Rng& rng) {
    State s;
    s.v[0] = rng_uniform(rng, -0.6f, -0.4f);
    s.v[1] = 0.0f;
    return s;
}

__device__ Transition env_step(const EnvParams& p, const State& s, unsigned action, Rng& rng) {
    float velocity = s.v[1] + ((float)action - 1.0f) * p.force + cosf(3.0f * s.v[0]) * (-p.gravity);
    velocity = fminf(fmaxf(velocity, -p.max_speed), p.max_speed);
    float position = fminf(fmaxf(s.v[0] + velocity, p.min_position), p.max_position);
    // The left wall is inelastic.
    if (position == p.min_position && velocity < 0.0f) velocity = 0.0f;
    Transition t;
    t.s.v[0] = position;
    t.s.v[1] = velocity;
    t.terminated = position >= p.goal_position && velocity >= p.goal_velocity;
    t.reward = -1.0f;
    return t;
}

__device__ Obs env_observe(const EnvParams& p, const State& s) {
    Obs o;
    for (int k = 0; k < 2; k++) o.v[k] = s.v[k];
    return o;
}

__device__ bool env_valid_action(const EnvParams& p, unsigned action) { return action < 3u; }

__device__ unsigned env_random_action(const EnvParams& p, unsigned bits) { return below(bits, 3u); }
