// frozen_lake.wgsl — FrozenLake-v1 step and reset; the GPU twin of `frozen_lake.rs` (its `Env` impl is the
// spec), after Gymnasium's `toy_text/frozen_lake.py`.
// State [N, 1] = the agent's cell row * ncol + col as an exact f32; obs [N, 1] = state; action u32 in {0..3}
// (left, down, right, up). One thread per env (see batch_step.wgsl). Each step draws one uniform u and moves in
// direction [(a-1)%4, a, (a+1)%4][argmax(cumsum([fail, success_rate, fail]) > u)] when slippery, a otherwise;
// holes and the goal are absorbing with reward 0.

struct EnvParams {
    // Row-major cells, one byte each (cell i: byte i % 4 of map[i / 16][(i / 4) % 4]), F=0, H=1, G=2, S=3.
    map: array<vec4<u32>, 64>,
    nrow: u32,
    ncol: u32,
    is_slippery: u32,
    success_rate: f32,
    // Rewards for reaching the goal, a hole, a frozen (or start) cell; offset 1040 as in `frozen_lake.rs`.
    reward_schedule: vec3<f32>,
    num_starts: u32,
}

const STATE_DIM: u32 = 1u;
const OBS_DIM: u32 = 1u;

const CELL_HOLE: u32 = 1u;
const CELL_GOAL: u32 = 2u;
const CELL_START: u32 = 3u;

fn map_cell(i: u32) -> u32 {
    let word = params.map[(i >> 4u) & 63u][(i >> 2u) & 3u];
    return (word >> ((i & 3u) * 8u)) & 0xffu;
}

fn env_reset(rng: ptr<function, Rng>) -> State {
    let k = rng_below(rng, params.num_starts);
    let n = min(params.nrow * params.ncol, 1024u);
    var seen = 0u;
    var start = 0u;
    for (var i = 0u; i < n; i++) {
        if map_cell(i) == CELL_START {
            if seen == k {
                start = i;
                break;
            }
            seen += 1u;
        }
    }
    return State(f32(start));
}

fn env_step(s: State, action: u32, rng: ptr<function, Rng>) -> Transition {
    let u = rng_uniform(rng, 0.0, 1.0);
    let ncol = max(params.ncol, 1u);
    let here = min(u32(max(s[0], 0.0)), max(params.nrow * params.ncol, 1u) - 1u);
    // The last bucket takes the rest, as cumsum's last entry is 1.
    let fail = (1.0 - params.success_rate) * 0.5;
    let slip = u32(u >= fail) + u32(u >= fail + params.success_rate);
    let k = select(1u, slip, params.is_slippery != 0u);
    let dir = (action + 3u + k) & 3u;
    var row = here / ncol;
    var col = here % ncol;
    if dir == 0u {
        col = max(col, 1u) - 1u;
    } else if dir == 1u {
        row = min(row + 1u, max(params.nrow, 1u) - 1u);
    } else if dir == 2u {
        col = min(col + 1u, ncol - 1u);
    } else {
        row = max(row, 1u) - 1u;
    }
    let next = row * ncol + col;
    let letter = map_cell(next);
    var reward = params.reward_schedule[2];
    reward = select(reward, params.reward_schedule[0], letter == CELL_GOAL);
    reward = select(reward, params.reward_schedule[1], letter == CELL_HOLE);
    // Holes and the goal are absorbing: stay, reward 0, terminated.
    let here_letter = map_cell(here);
    let stuck = here_letter == CELL_HOLE || here_letter == CELL_GOAL;
    let terminated = stuck || letter == CELL_HOLE || letter == CELL_GOAL;
    reward = select(reward, 0.0, stuck);
    return Transition(State(f32(select(next, here, stuck))), reward, terminated);
}

fn env_observe(s: State) -> Obs {
    return s;
}

fn env_valid_action(action: u32) -> bool {
    return action < 4u;
}

fn env_random_action(bits: u32) -> u32 {
    return below(bits, 4u);
}
