// cartpole.cu — CartPole-v1 step and reset; the CUDA twin of `cartpole.wgsl` and `cartpole.rs` (the spec).
// State [N, 4] = (x, x_dot, theta, theta_dot); obs [N, 4] = state; action unsigned in {0, 1}.
// One thread per env (see batch_step.cu).

#define STATE_DIM 4
#define OBS_DIM 4

struct EnvParams {
    float gravity, masscart, masspole, length, force_mag, tau, theta_threshold_radians, x_threshold;
    unsigned sutton_barto_reward, _pad0, _pad1, _pad2;
};

// @prelude

__device__ State env_reset(const EnvParams& p, Rng& rng) {
    State s;
    for (int k = 0; k < 4; k++) s.v[k] = rng_uniform(rng, -0.05f, 0.05f);
    return s;
}

__device__ Transition env_step(const EnvParams& p, const State& s, unsigned action, Rng& rng) {
    float total_mass = p.masspole + p.masscart;
    float polemass_length = p.masspole * p.length;
    float force = action == 1u ? p.force_mag : -p.force_mag;
    float x = s.v[0], x_dot = s.v[1], theta = s.v[2], theta_dot = s.v[3];
    float sintheta, costheta;
    sincosf(theta, &sintheta, &costheta);
    float temp = (force + polemass_length * theta_dot * theta_dot * sintheta) / total_mass;
    float thetaacc = (p.gravity * sintheta - costheta * temp)
        / (p.length * (4.0f / 3.0f - p.masspole * costheta * costheta / total_mass));
    float xacc = temp - polemass_length * thetaacc * costheta / total_mass;
    Transition t;
    t.s.v[0] = x + p.tau * x_dot;
    t.s.v[1] = x_dot + p.tau * xacc;
    t.s.v[2] = theta + p.tau * theta_dot;
    t.s.v[3] = theta_dot + p.tau * thetaacc;
    t.terminated = t.s.v[0] < -p.x_threshold || t.s.v[0] > p.x_threshold
        || t.s.v[2] < -p.theta_threshold_radians || t.s.v[2] > p.theta_threshold_radians;
    t.reward = p.sutton_barto_reward ? (t.terminated ? -1.0f : 0.0f) : 1.0f;
    return t;
}

__device__ Obs env_observe(const EnvParams& p, const State& s) {
    Obs o;
    for (int k = 0; k < 4; k++) o.v[k] = s.v[k];
    return o;
}

__device__ bool env_valid_action(const EnvParams& p, unsigned action) { return action < 2u; }

__device__ unsigned env_random_action(const EnvParams& p, unsigned bits) { return below(bits, 2u); }
