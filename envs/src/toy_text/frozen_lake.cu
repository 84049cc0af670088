// frozen_lake.cu — FrozenLake-v1 step and reset; the CUDA twin of `frozen_lake.wgsl` and `frozen_lake.rs` (the
// spec), after Gymnasium's `toy_text/frozen_lake.py`.
// State [N, 1] = the agent's cell row * ncol + col as an exact float; obs [N, 1] = state; action unsigned in
// {0..3} (left, down, right, up). One thread per env (see batch_step.cu). Each step draws one uniform u and moves
// in direction [(a-1)%4, a, (a+1)%4][argmax(cumsum([fail, success_rate, fail]) > u)] when slippery, a otherwise;
// holes and the goal are absorbing with reward 0.

#define STATE_DIM 1
#define OBS_DIM 1

#define CELL_HOLE 1u
#define CELL_GOAL 2u
#define CELL_START 3u

struct EnvParams {
    // Row-major cells, one byte each (cell i: byte i % 4 of map[i / 16][(i / 4) % 4]), F=0, H=1, G=2, S=3.
    unsigned map[64][4];
    unsigned nrow, ncol, is_slippery;
    float success_rate;
    // Rewards for reaching the goal, a hole, a frozen (or start) cell.
    float reward_schedule[3];
    unsigned num_starts;
};

// @prelude

__device__ unsigned map_cell(const EnvParams& p, unsigned i) {
    unsigned word = p.map[(i >> 4) & 63u][(i >> 2) & 3u];
    return (word >> ((i & 3u) * 8u)) & 0xffu;
}

__device__ State env_reset(const EnvParams& p, Rng& rng) {
    unsigned k = rng_below(rng, p.num_starts);
    unsigned n = min(p.nrow * p.ncol, 1024u);
    unsigned seen = 0u, start = 0u;
    for (unsigned i = 0u; i < n; i++) {
        if (map_cell(p, i) == CELL_START) {
            if (seen == k) {
                start = i;
                break;
            }
            seen++;
        }
    }
    State s;
    s.v[0] = (float)start;
    return s;
}

__device__ Transition env_step(const EnvParams& p, const State& s, unsigned action, Rng& rng) {
    float u = rng_uniform(rng, 0.0f, 1.0f);
    unsigned ncol = max(p.ncol, 1u);
    unsigned here = min((unsigned)fmaxf(s.v[0], 0.0f), max(p.nrow * p.ncol, 1u) - 1u);
    // The last bucket takes the rest, as cumsum's last entry is 1.
    float fail = (1.0f - p.success_rate) * 0.5f;
    unsigned slip = (unsigned)(u >= fail) + (unsigned)(u >= fail + p.success_rate);
    unsigned k = p.is_slippery ? slip : 1u;
    unsigned dir = (action + 3u + k) & 3u;
    unsigned row = here / ncol, col = here % ncol;
    if (dir == 0u) col = max(col, 1u) - 1u;
    else if (dir == 1u) row = min(row + 1u, max(p.nrow, 1u) - 1u);
    else if (dir == 2u) col = min(col + 1u, ncol - 1u);
    else row = max(row, 1u) - 1u;
    unsigned next = row * ncol + col;
    unsigned letter = map_cell(p, next);
    float reward = letter == CELL_GOAL ? p.reward_schedule[0]
                 : letter == CELL_HOLE ? p.reward_schedule[1]
                                       : p.reward_schedule[2];
    // Holes and the goal are absorbing: stay, reward 0, terminated.
    unsigned here_letter = map_cell(p, here);
    bool stuck = here_letter == CELL_HOLE || here_letter == CELL_GOAL;
    Transition t;
    t.s.v[0] = (float)(stuck ? here : next);
    t.reward = stuck ? 0.0f : reward;
    t.terminated = stuck || letter == CELL_HOLE || letter == CELL_GOAL;
    return t;
}

__device__ Obs env_observe(const EnvParams& p, const State& s) {
    Obs o;
    o.v[0] = s.v[0];
    return o;
}

__device__ bool env_valid_action(const EnvParams& p, unsigned action) { return action < 4u; }

__device__ unsigned env_random_action(const EnvParams& p, unsigned bits) { return below(bits, 4u); }
