// batch_prelude.cuh — the types an env's CUDA code is written against; the CUDA twin of batch_step.wgsl's
// `State`, `Obs` and `Transition`.
//
// Inserted, after rng.cuh, in place of the env's prelude marker line, i.e. after its STATE_DIM, OBS_DIM and
// EnvParams and before its env_reset, env_step, env_observe, env_valid_action and env_random_action.

struct State {
    float v[STATE_DIM];
};

struct Obs {
    float v[OBS_DIM];
};

// One step's outcome: the next state, its reward and whether it ended the episode (truncation is the batch's).
struct Transition {
    State s;
    float reward;
    bool terminated;
};
