// pendulum.cu — Pendulum-v1 step and reset; the CUDA twin of `pendulum.wgsl` and `pendulum.rs` (the spec).
// State [N, 2] = (th, thdot); obs [N, 3] = (cos th, sin th, thdot); action f32 torque as its unsigned bits,
// clipped to ±max_torque. One thread per env (see batch_step.cu).

#define STATE_DIM 2
#define OBS_DIM 3

struct EnvParams {
    float max_speed, max_torque, dt, g, m, l;
    unsigned _pad0, _pad1;
};

// @prelude

#define PENDULUM_PI 3.14159265358979323846f

// ((x + pi) mod 2pi) - pi with a floored modulo, as NumPy's `%`.
__device__ float pendulum_angle_normalize(float x) {
    float y = x + PENDULUM_PI;
    return y - 2.0f * PENDULUM_PI * floorf(y * (0.5f / PENDULUM_PI)) - PENDULUM_PI;
}

__device__ State env_reset(const EnvParams& p, Rng& rng) {
    State s;
    s.v[0] = rng_uniform(rng, -PENDULUM_PI, PENDULUM_PI);
    s.v[1] = rng_uniform(rng, -1.0f, 1.0f);
    return s;
}

__device__ Transition env_step(const EnvParams& p, const State& s, unsigned action, Rng& rng) {
    float u = fminf(fmaxf(__uint_as_float(action), -p.max_torque), p.max_torque);
    float th = s.v[0], thdot = s.v[1];
    float th_n = pendulum_angle_normalize(th);
    float costs = th_n * th_n + 0.1f * thdot * thdot + 0.001f * (u * u);
    float newthdot = thdot + (3.0f * p.g / (2.0f * p.l) * sinf(th) + 3.0f / (p.m * p.l * p.l) * u) * p.dt;
    newthdot = fminf(fmaxf(newthdot, -p.max_speed), p.max_speed);
    Transition t;
    t.s.v[0] = th + newthdot * p.dt;
    t.s.v[1] = newthdot;
    t.reward = -costs;
    t.terminated = false;
    return t;
}

__device__ Obs env_observe(const EnvParams& p, const State& s) {
    Obs o;
    sincosf(s.v[0], &o.v[1], &o.v[0]);
    o.v[2] = s.v[1];
    return o;
}

__device__ bool env_valid_action(const EnvParams& p, unsigned action) { return true; }

__device__ unsigned env_random_action(const EnvParams& p, unsigned bits) {
    return __float_as_uint(-p.max_torque + 2.0f * p.max_torque * unit(bits));
}
