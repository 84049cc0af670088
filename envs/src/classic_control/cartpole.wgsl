// cartpole.wgsl — CartPole-v1 step and reset; the GPU twin of `cartpole.rs` (its `Env` impl is the spec).
// State [N, 4] = (x, x_dot, theta, theta_dot); obs [N, 4] = state; action u32 in {0, 1}. One thread per env
// (see batch_step.wgsl). Euler integration of Barto, Sutton & Anderson (1983) as in Gymnasium.

struct EnvParams {
    gravity: f32,
    masscart: f32,
    masspole: f32,
    length: f32,
    force_mag: f32,
    tau: f32,
    theta_threshold_radians: f32,
    x_threshold: f32,
    sutton_barto_reward: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const STATE_DIM: u32 = 4u;
const OBS_DIM: u32 = 4u;

fn env_reset(rng: ptr<function, Rng>) -> State {
    var s: State;
    for (var k = 0u; k < 4u; k++) {
        s[k] = rng_uniform(rng, -0.05, 0.05);
    }
    return s;
}

fn env_step(s: State, action: u32, rng: ptr<function, Rng>) -> Transition {
    let p = params;
    let total_mass = p.masspole + p.masscart;
    let polemass_length = p.masspole * p.length;
    let force = select(-p.force_mag, p.force_mag, action == 1u);
    let x = s[0];
    let x_dot = s[1];
    let theta = s[2];
    let theta_dot = s[3];
    let sintheta = sin(theta);
    let costheta = cos(theta);
    let temp = (force + polemass_length * theta_dot * theta_dot * sintheta) / total_mass;
    let thetaacc = (p.gravity * sintheta - costheta * temp)
        / (p.length * (4.0 / 3.0 - p.masspole * costheta * costheta / total_mass));
    let xacc = temp - polemass_length * thetaacc * costheta / total_mass;
    let n = State(x + p.tau * x_dot, x_dot + p.tau * xacc, theta + p.tau * theta_dot, theta_dot + p.tau * thetaacc);
    let terminated = n[0] < -p.x_threshold || n[0] > p.x_threshold
        || n[2] < -p.theta_threshold_radians || n[2] > p.theta_threshold_radians;
    var reward = 1.0;
    if p.sutton_barto_reward != 0u {
        reward = select(0.0, -1.0, terminated);
    }
    return Transition(n, reward, terminated);
}

fn env_observe(s: State) -> Obs {
    return s;
}

fn env_valid_action(action: u32) -> bool {
    return action < 2u;
}

fn env_random_action(bits: u32) -> u32 {
    return below(bits, 2u);
}
