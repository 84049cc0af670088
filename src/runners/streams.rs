//! Every random stream of a run, named in one place. A run has one seed (`debugging.seed`); each purpose below
//! derives its own stream from it, so that draws of one purpose never shift another's, a resumed run draws what
//! the uninterrupted one would have, and no other file holds a bare seed constant.

use super::Noise;

/// A purpose that draws random numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The training envs' resets and dynamics (env i of the batch draws from `stream_key(seed, i)`).
    TrainingEnvs,
    /// The network's initial weights.
    ModelInit,
    /// A second network's initial weights (SAC's critics beside its actor).
    CriticInit,
    /// Iteration k's learner draws: sampled actions, minibatch permutations, exploration, noisy-net noise.
    Iteration(u64),
    /// Iteration k's replay sampling (which transitions train, prioritized draws).
    Replay(u64),
    /// The env batch of the evaluation that follows iteration k.
    EvaluationEnvs(u64),
    /// Actions drawn while evaluating with exploration, in a batch seeded with the given seed.
    EvaluationActions,
    /// Actions drawn by `compute_actions(explore=True)` of the Python package, outside the training loop.
    InferenceActions,
    /// Atari and host envs: the new episodes a resume starts when a checkpoint holds no env states.
    EnvRestart,
    /// The envs of asynchronous runner thread `runner` in its `generation`-th start (0 first, then one per
    /// restart).
    RunnerEnvs { runner: u32, generation: u32 },
    /// The actions that runner thread samples for its `fragment`-th fragment in that start.
    RunnerActions { runner: u32, generation: u32, fragment: u64 },
}

/// Salts that set the streams of [`Noise`] apart.
const LEARNER_SALT: u64 = 0x5eed_0f_1ea7;
const REPLAY_SALT: u64 = 0x7e91_a7_5a3d;
const EVALUATION_SALT: u64 = 0xe7a1_0a_c7e5;
const INFERENCE_SALT: u64 = 0x1f3e_7e_5ce0;
const OTHER_SALT: u64 = 0x0b5e_ed_0f_f5;
/// Offsets of derived env-batch seeds.
const EVALUATION_OFFSET: u64 = 1_000_003;
const ENV_RESTART_OFFSET: u64 = 0x5eed_0000_0000;
const RUNNER_OFFSET: u64 = 0x7a1e_0000_0000_0000;
const RUNNER_ACTIONS_SALT: u64 = 0x000a_c710_a5ee;
const CRITIC_INIT_SALT: u64 = 0x51ac;

impl Stream {
    /// The seed of an env batch or an initialiser for this purpose in a run seeded with `seed`.
    pub fn seed(self, seed: u64) -> u64 {
        match self {
            Stream::TrainingEnvs | Stream::ModelInit => seed,
            Stream::EvaluationEnvs(k) => seed.wrapping_add(EVALUATION_OFFSET).wrapping_add(k << 20),
            Stream::EnvRestart => seed.wrapping_add(ENV_RESTART_OFFSET),
            Stream::CriticInit => seed ^ CRITIC_INIT_SALT,
            // Runner r's envs take seeds r·2^32 + generation·2^24 + i above the run's (env i of its batch), so
            // no two runners nor two starts of one runner replay the same episodes.
            Stream::RunnerEnvs { runner, generation } => seed
                .wrapping_add(RUNNER_OFFSET)
                .wrapping_add((runner as u64) << 32)
                .wrapping_add((generation as u64) << 24),
            Stream::RunnerActions { .. } => seed,
            Stream::Iteration(_) | Stream::Replay(_) | Stream::EvaluationActions | Stream::InferenceActions => seed,
        }
    }

    /// The counter-based draws of this purpose in a run seeded with `seed`.
    pub fn noise(self, seed: u64) -> Noise {
        match self {
            Stream::Iteration(k) => Noise::new(seed ^ LEARNER_SALT, k),
            Stream::Replay(k) => Noise::new(seed ^ REPLAY_SALT, k),
            Stream::EvaluationActions => Noise::new(seed ^ EVALUATION_SALT, 0),
            Stream::InferenceActions => Noise::new(seed ^ INFERENCE_SALT, 0),
            Stream::RunnerActions { runner, generation, fragment } => {
                Noise::new(seed ^ RUNNER_ACTIONS_SALT ^ ((runner as u64) << 48) ^ ((generation as u64) << 32), fragment)
            }
            other => Noise::new(other.seed(seed) ^ OTHER_SALT, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::NoiseKind;

    #[test]
    fn streams_differ_by_purpose_and_iteration() {
        let draw = |s: Stream| s.noise(3).sample(NoiseKind::Uniform, 4);
        let all = [
            Stream::Iteration(0),
            Stream::Iteration(1),
            Stream::Replay(0),
            Stream::Replay(1),
            Stream::EvaluationActions,
            Stream::InferenceActions,
            Stream::RunnerActions { runner: 0, generation: 0, fragment: 0 },
            Stream::RunnerActions { runner: 1, generation: 0, fragment: 0 },
            Stream::RunnerActions { runner: 0, generation: 1, fragment: 0 },
            Stream::RunnerActions { runner: 0, generation: 0, fragment: 1 },
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(draw(*a), draw(*b), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(draw(Stream::Replay(5)), draw(Stream::Replay(5)));
        assert_ne!(Stream::EvaluationEnvs(1).seed(3), Stream::EvaluationEnvs(2).seed(3));
        let runner = |runner, generation| Stream::RunnerEnvs { runner, generation }.seed(3);
        assert!(runner(0, 0) != runner(1, 0) && runner(0, 0) != runner(0, 1) && runner(0, 0) != 3);
        assert_ne!(Stream::CriticInit.seed(3), Stream::ModelInit.seed(3));
    }
}
