// pendulum.wgsl — Pendulum-v1 step and reset; the GPU twin of `pendulum.rs` (its `Env` impl is the spec).
// State [N, 2] = (th, thdot); obs [N, 3] = (cos th, sin th, thdot); action f32 torque as its u32 bits, clipped
// to ±max_torque. One thread per env (see batch_step.wgsl). Semi-implicit Euler as in Gymnasium's pendulum.py.

struct EnvParams {
    max_speed: f32,
    max_torque: f32,
    dt: f32,
    g: f32,
    m: f32,
    l: f32,
    _pad0: u32,
    _pad1: u32,
}

const STATE_DIM: u32 = 2u;
const OBS_DIM: u32 = 3u;

const PI: f32 = 3.14159265358979323846;

// ((x + π) mod 2π) - π with a floored modulo, as NumPy's `%`.
fn angle_normalize(x: f32) -> f32 {
    let y = x + PI;
    return y - 2.0 * PI * floor(y * (0.5 / PI)) - PI;
}

fn env_reset(rng: ptr<function, Rng>) -> State {
    var s: State;
    s[0] = rng_uniform(rng, -PI, PI);
    s[1] = rng_uniform(rng, -1.0, 1.0);
    return s;
}

fn env_step(s: State, action: u32, rng: ptr<function, Rng>) -> Transition {
    let p = params;
    let u = clamp(bitcast<f32>(action), -p.max_torque, p.max_torque);
    let th = s[0];
    let thdot = s[1];
    let th_n = angle_normalize(th);
    let costs = th_n * th_n + 0.1 * thdot * thdot + 0.001 * (u * u);
    let newthdot = clamp(
        thdot + (3.0 * p.g / (2.0 * p.l) * sin(th) + 3.0 / (p.m * p.l * p.l) * u) * p.dt,
        -p.max_speed,
        p.max_speed,
    );
    let newth = th + newthdot * p.dt;
    return Transition(State(newth, newthdot), -costs, false);
}

fn env_observe(s: State) -> Obs {
    return Obs(cos(s[0]), sin(s[0]), s[1]);
}

fn env_valid_action(action: u32) -> bool {
    return true;
}

fn env_random_action(bits: u32) -> u32 {
    let p = params;
    return bitcast<u32>(-p.max_torque + 2.0 * p.max_torque * unit(bits));
}
