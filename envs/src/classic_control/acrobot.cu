// acrobot.cu — Acrobot-v1 step and reset; the CUDA twin of `acrobot.wgsl` and `acrobot.rs` (the spec).
// State [N, 4] = (theta1, theta2, dtheta1, dtheta2); obs [N, 6] = (cos theta1, sin theta1, cos theta2,
// sin theta2, dtheta1, dtheta2); action unsigned in {0, 1, 2} = torque {-1, 0, +1}.
// One thread per env (see batch_step.cu). One RK4 step of the "book" dynamics as in Gymnasium's acrobot.py.

#define STATE_DIM 4
#define OBS_DIM 6

struct EnvParams {
    float dt, link_length_1, link_mass_1, link_mass_2, link_com_pos_1, link_com_pos_2, link_moi, gravity;
    float max_vel_1, max_vel_2;
    unsigned _pad0, _pad1;
};

// @prelude

#define ACROBOT_PI 3.14159265358979323846f

// Gymnasium's wrap(x, -pi, pi) without its loops: whole turns counted by ceil, so +-pi stay put.
__device__ float acrobot_wrap(float x) {
    float turns_down = fmaxf(ceilf((x - ACROBOT_PI) * (0.5f / ACROBOT_PI)), 0.0f);
    float turns_up = fmaxf(ceilf((-ACROBOT_PI - x) * (0.5f / ACROBOT_PI)), 0.0f);
    return x - turns_down * (2.0f * ACROBOT_PI) + turns_up * (2.0f * ACROBOT_PI);
}

// Gymnasium's _dsdt ("book" dynamics) of y = (theta1, theta2, dtheta1, dtheta2) into dy; cos(t - pi/2) is
// written sin t.
__device__ void acrobot_dsdt(const EnvParams& p, const float* y, float a, float* dy) {
    float m1 = p.link_mass_1, m2 = p.link_mass_2, l1 = p.link_length_1;
    float lc1 = p.link_com_pos_1, lc2 = p.link_com_pos_2, i1 = p.link_moi, i2 = p.link_moi, g = p.gravity;
    float sin2, cos2;
    sincosf(y[1], &sin2, &cos2);
    float d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2.0f * l1 * lc2 * cos2) + i1 + i2;
    float d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos2) + i2;
    float phi2 = m2 * lc2 * g * sinf(y[0] + y[1]);
    float phi1 = -m2 * l1 * lc2 * y[3] * y[3] * sin2 - 2.0f * m2 * l1 * lc2 * y[3] * y[2] * sin2
        + (m1 * lc1 + m2 * l1) * g * sinf(y[0])
        + phi2;
    float ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * y[2] * y[2] * sin2 - phi2)
        / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
    float ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    dy[0] = y[2];
    dy[1] = y[3];
    dy[2] = ddtheta1;
    dy[3] = ddtheta2;
}

__device__ State env_reset(const EnvParams& p, Rng& rng) {
    State s;
    for (int k = 0; k < 4; k++) s.v[k] = rng_uniform(rng, -0.1f, 0.1f);
    return s;
}

__device__ Transition env_step(const EnvParams& p, const State& s, unsigned action, Rng& rng) {
    float torque = (float)action - 1.0f;
    float h = p.dt, h2 = p.dt / 2.0f;
    float k1[4], k2[4], k3[4], k4[4], y[4];
    acrobot_dsdt(p, s.v, torque, k1);
    for (int k = 0; k < 4; k++) y[k] = s.v[k] + h2 * k1[k];
    acrobot_dsdt(p, y, torque, k2);
    for (int k = 0; k < 4; k++) y[k] = s.v[k] + h2 * k2[k];
    acrobot_dsdt(p, y, torque, k3);
    for (int k = 0; k < 4; k++) y[k] = s.v[k] + h * k3[k];
    acrobot_dsdt(p, y, torque, k4);
    for (int k = 0; k < 4; k++) y[k] = s.v[k] + h / 6.0f * (k1[k] + 2.0f * k2[k] + 2.0f * k3[k] + k4[k]);
    Transition t;
    t.s.v[0] = acrobot_wrap(y[0]);
    t.s.v[1] = acrobot_wrap(y[1]);
    t.s.v[2] = fminf(fmaxf(y[2], -p.max_vel_1), p.max_vel_1);
    t.s.v[3] = fminf(fmaxf(y[3], -p.max_vel_2), p.max_vel_2);
    t.terminated = -cosf(t.s.v[0]) - cosf(t.s.v[1] + t.s.v[0]) > 1.0f;
    t.reward = t.terminated ? 0.0f : -1.0f;
    return t;
}

__device__ Obs env_observe(const EnvParams& p, const State& s) {
    Obs o;
    sincosf(s.v[0], &o.v[1], &o.v[0]);
    sincosf(s.v[1], &o.v[3], &o.v[2]);
    o.v[4] = s.v[2];
    o.v[5] = s.v[3];
    return o;
}

__device__ bool env_valid_action(const EnvParams& p, unsigned action) { return action < 3u; }

__device__ unsigned env_random_action(const EnvParams& p, unsigned bits) { return below(bits, 3u); }
