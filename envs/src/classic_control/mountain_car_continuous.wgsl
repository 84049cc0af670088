// mountain_car_continuous.wgsl — MountainCarContinuous-v0 step and reset; the GPU twin of
// `mountain_car_continuous.rs` (its `Env` impl is the spec), after Gymnasium's
// `classic_control/continuous_mountain_car.py` (Moore, 1990).
// State [N, 2] = (position, velocity); obs [N, 2] = state; action: one f32 push, passed as its u32 bits, clipped
// to [min_action, max_action] for the dynamics but penalised unclipped. One thread per env (see batch_step.wgsl).

struct EnvParams {
    min_action: f32,
    max_action: f32,
    min_position: f32,
    max_position: f32,
    max_speed: f32,
    goal_position: f32,
    goal_velocity: f32,
    power: f32,
    gravity: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const STATE_DIM: u32 = 2u;
const OBS_DIM: u32 = 2u;

fn env_reset(rng: ptr<function, Rng>) -> State {
    return State(rng_uniform(rng, -0.6, -0.4), 0.0);
}

fn env_step(s: State, action_bits: u32, rng: ptr<function, Rng>) -> Transition {
    let p = params;
    let action = bitcast<f32>(action_bits);
    let force = clamp(action, p.min_action, p.max_action);
    var velocity = s[1] + force * p.power - p.gravity * cos(3.0 * s[0]);
    velocity = clamp(velocity, -p.max_speed, p.max_speed);
    let position = clamp(s[0] + velocity, p.min_position, p.max_position);
    // The left wall is inelastic.
    velocity = select(velocity, 0.0, position == p.min_position && velocity < 0.0);
    let terminated = position >= p.goal_position && velocity >= p.goal_velocity;
    // The penalty uses the unclipped action.
    let reward = select(0.0, 100.0, terminated) - action * action * 0.1;
    return Transition(State(position, velocity), reward, terminated);
}

fn env_observe(s: State) -> Obs {
    return s;
}

fn env_valid_action(action_bits: u32) -> bool {
    return true;
}

fn env_random_action(bits: u32) -> u32 {
    let p = params;
    return bitcast<u32>(p.min_action + (p.max_action - p.min_action) * unit(bits));
}
