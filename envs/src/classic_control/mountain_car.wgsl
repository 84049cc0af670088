// mountain_car.wgsl — MountainCar-v0 step and reset; the GPU twin of `mountain_car.rs` (its `Env` impl is the
// spec), after Gymnasium's `classic_control/mountain_car.py` (Moore, 1990).
// State [N, 2] = (position, velocity); obs [N, 2] = state; action u32 in {0, 1, 2} (push left, none, right).
// One thread per env (see batch_step.wgsl).

struct EnvParams {
    min_position: f32,
    max_position: f32,
    max_speed: f32,
    goal_position: f32,
    goal_velocity: f32,
    force: f32,
    gravity: f32,
    _pad0: u32,
}

const STATE_DIM: u32 = 2u;
const OBS_DIM: u32 = 2u;

fn env_reset(rng: ptr<function, Rng>) -> State {
    return State(rng_uniform(rng, -0.6, -0.4), 0.0);
}

fn env_step(s: State, action: u32, rng: ptr<function, Rng>) -> Transition {
    let p = params;
    var velocity = s[1] + (f32(action) - 1.0) * p.force + cos(3.0 * s[0]) * (-p.gravity);
    velocity = clamp(velocity, -p.max_speed, p.max_speed);
    let position = clamp(s[0] + velocity, p.min_position, p.max_position);
    // The left wall is inelastic.
    velocity = select(velocity, 0.0, position == p.min_position && velocity < 0.0);
    let terminated = position >= p.goal_position && velocity >= p.goal_velocity;
    return Transition(State(position, velocity), -1.0, terminated);
}

fn env_observe(s: State) -> Obs {
    return s;
}

fn env_valid_action(action: u32) -> bool {
    return action < 3u;
}

fn env_random_action(bits: u32) -> u32 {
    return below(bits, 3u);
}
