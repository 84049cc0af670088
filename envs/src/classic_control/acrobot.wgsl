// acrobot.wgsl — Acrobot-v1 step and reset; the GPU twin of `acrobot.rs` (its `Env` impl is the spec).
// State [N, 4] = (theta1, theta2, dtheta1, dtheta2); obs [N, 6] = (cos theta1, sin theta1, cos theta2,
// sin theta2, dtheta1, dtheta2); action u32 in {0, 1, 2} = torque {-1, 0, +1}. One thread per env (see
// batch_step.wgsl). One RK4 step of the "book" dynamics (Sutton & Barto) as in Gymnasium's acrobot.py.

struct EnvParams {
    dt: f32,
    link_length_1: f32,
    link_mass_1: f32,
    link_mass_2: f32,
    link_com_pos_1: f32,
    link_com_pos_2: f32,
    link_moi: f32,
    gravity: f32,
    max_vel_1: f32,
    max_vel_2: f32,
    _pad0: u32,
    _pad1: u32,
}

const STATE_DIM: u32 = 4u;
const OBS_DIM: u32 = 6u;

const PI: f32 = 3.14159265358979323846;

// Gymnasium's wrap(x, -π, π) without its loops: whole turns counted by ceil, so ±π stay put.
fn wrap(x: f32) -> f32 {
    let turns_down = max(ceil((x - PI) * (0.5 / PI)), 0.0);
    let turns_up = max(ceil((-PI - x) * (0.5 / PI)), 0.0);
    return x - turns_down * (2.0 * PI) + turns_up * (2.0 * PI);
}

// Gymnasium's _dsdt ("book" dynamics); cos(θ - π/2) is written sin θ.
fn dsdt(s: vec4<f32>, a: f32) -> vec4<f32> {
    let p = params;
    let m1 = p.link_mass_1;
    let m2 = p.link_mass_2;
    let l1 = p.link_length_1;
    let lc1 = p.link_com_pos_1;
    let lc2 = p.link_com_pos_2;
    let i1 = p.link_moi;
    let i2 = p.link_moi;
    let g = p.gravity;
    let sin2 = sin(s.y);
    let cos2 = cos(s.y);
    let d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * cos2) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos2) + i2;
    let phi2 = m2 * lc2 * g * sin(s.x + s.y);
    let phi1 = -m2 * l1 * lc2 * s.w * s.w * sin2 - 2.0 * m2 * l1 * lc2 * s.w * s.z * sin2
        + (m1 * lc1 + m2 * l1) * g * sin(s.x)
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * s.z * s.z * sin2 - phi2)
        / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    return vec4<f32>(s.z, s.w, ddtheta1, ddtheta2);
}

fn env_reset(rng: ptr<function, Rng>) -> State {
    var s: State;
    for (var k = 0u; k < 4u; k++) {
        s[k] = rng_uniform(rng, -0.1, 0.1);
    }
    return s;
}

fn env_step(s: State, action: u32, rng: ptr<function, Rng>) -> Transition {
    let p = params;
    let torque = f32(action) - 1.0;
    let y = vec4<f32>(s[0], s[1], s[2], s[3]);
    let h = p.dt;
    let h2 = p.dt / 2.0;
    let k1 = dsdt(y, torque);
    let k2 = dsdt(y + h2 * k1, torque);
    let k3 = dsdt(y + h2 * k2, torque);
    let k4 = dsdt(y + h * k3, torque);
    let ny = y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    let n = State(
        wrap(ny.x),
        wrap(ny.y),
        clamp(ny.z, -p.max_vel_1, p.max_vel_1),
        clamp(ny.w, -p.max_vel_2, p.max_vel_2),
    );
    let terminated = -cos(n[0]) - cos(n[1] + n[0]) > 1.0;
    return Transition(n, select(-1.0, 0.0, terminated), terminated);
}

fn env_observe(s: State) -> Obs {
    return Obs(cos(s[0]), sin(s[0]), cos(s[1]), sin(s[1]), s[2], s[3]);
}

fn env_valid_action(action: u32) -> bool {
    return action < 3u;
}

fn env_random_action(bits: u32) -> u32 {
    return below(bits, 3u);
}
