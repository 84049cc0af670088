//! Algorithms, one file each, and what they share: the [`Algorithm`] trait the run loop, checkpoints and the CLI
//! drive, the typed iteration result, the episode-return window and global-norm gradient clipping.

pub mod appo;
pub mod dqn;
pub mod impala;
pub mod ppo;
pub mod pqn;
pub mod replay;
pub mod sac;
pub mod target;

pub use appo::{Appo, AppoConfig, AppoTraining};
pub use dqn::{Dqn, DqnConfig, DqnStats, DqnTraining};
pub use impala::{Impala, ImpalaConfig, ImpalaStats, ImpalaTraining};
pub use ppo::{Ppo, PpoConfig, PpoStats, PpoTraining};
pub use pqn::{Pqn, PqnConfig, PqnStats, PqnTraining};
pub use sac::{Sac, SacConfig, SacStats, SacTraining};
pub use target::OnlineTarget;

use crate::config::{AlgorithmConfig, EnvironmentConfig, EvaluationConfig};
use crate::envs::EnvSpec;
use crate::runners::{Bridge, EvalSummary, Policy, Stream, SyncRunner};
use crate::Error;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;

/// What the run loop, checkpoints and the CLI need of an algorithm. The algorithm itself (its config, loss and
/// iteration) is written out in its own file; everything else is shared.
pub trait Algorithm {
    /// RLlib's name of the algorithm (`PPO`, `DQN`); checkpoints record it.
    fn name(&self) -> &'static str;
    /// One training iteration.
    fn train(&mut self) -> Result<TrainResult, Error>;
    /// The run's config, as the shared code reads it.
    fn config(&self) -> &dyn SharedConfig;
    /// The training envs, where the learner's thread owns them (`None` where runner threads do).
    fn runner(&self) -> Option<&SyncRunner>;
    /// The training envs, for restoring a checkpoint.
    fn runner_mut(&mut self) -> Option<&mut SyncRunner>;
    /// The spec of the training envs.
    fn env_spec(&self) -> &EnvSpec;
    /// Envs stepping for the learner, over all runners.
    fn num_envs(&self) -> usize;
    /// The counters that make a run resumable (a checkpoint's `progress`).
    fn progress(&self) -> &dyn Progress;
    /// The counters, for restoring a checkpoint.
    fn progress_mut(&mut self) -> &mut dyn Progress;
    /// Writes the learner's files (weights, optimiser state, ...) into `dir` and returns their names.
    fn save_learner(&self, dir: &Path) -> Result<Vec<String>, Error>;
    /// Loads the files [`Algorithm::save_learner`] wrote.
    fn load_learner(&mut self, dir: &Path) -> Result<(), Error>;
    /// The shape of every parameter of the policy's model ([`crate::model::layout_of`]), which a checkpoint's
    /// manifest records and a restore compares.
    fn policy_layout(&self) -> Vec<Vec<usize>>;
    /// The current policy, for inference: what [`Algorithm::evaluate_with_seed`] plays.
    fn policy(&self) -> Box<dyn Policy + '_>;
    /// The bridge between the envs and the learner's device.
    fn bridge(&self) -> &Bridge;

    /// Plays `episodes` episodes with the current policy on a fresh batch of envs seeded with `seed` (one episode
    /// per env), greedily or, with `explore`, as in training.
    fn evaluate_with_seed(&self, episodes: usize, explore: bool, seed: u64) -> Result<EvalSummary, Error> {
        crate::runners::evaluate(&*self.policy(), self.config().environment(), self.bridge(), episodes, explore, seed)
    }

    /// The run's seed (`debugging.seed`).
    fn seed(&self) -> u64 {
        self.config().seed()
    }

    /// Iterations trained so far.
    fn iteration(&self) -> u64 {
        self.progress().counters().iteration
    }

    /// Evaluation on envs seeded apart from the training envs and per iteration.
    fn evaluate(&self, episodes: usize, explore: bool) -> Result<EvalSummary, Error> {
        self.evaluate_with_seed(episodes, explore, Stream::EvaluationEnvs(self.iteration()).seed(self.seed()))
    }

    /// `result` with the periodic evaluation of [`Algorithm::train`] (every `evaluation_interval` iterations)
    /// added, its seconds counted in the run's total time.
    fn with_periodic_evaluation(&mut self, mut result: TrainResult) -> Result<TrainResult, Error> {
        if let Some((return_mean, seconds)) = self.periodic_evaluation()? {
            result.evaluation_episode_return_mean = Some(return_mean);
            result.timers.evaluation = seconds;
            let counters = self.progress_mut().counters_mut();
            counters.time_total_s += seconds;
            result.time_total_s = counters.time_total_s;
        }
        Ok(result)
    }

    /// The periodic evaluation of [`Algorithm::train`]: every `evaluation_interval` iterations, its mean return
    /// and seconds.
    fn periodic_evaluation(&self) -> Result<Option<(f64, f64)>, Error> {
        let e = self.config().evaluation();
        if e.evaluation_interval == 0 || !self.iteration().is_multiple_of(e.evaluation_interval as u64) {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let summary = self.evaluate(e.evaluation_duration as usize, e.evaluation_explore)?;
        Ok(Some((summary.return_mean, started.elapsed().as_secs_f64())))
    }
}

/// The parts of an [`AlgorithmConfig`] that shared code reads, whatever its `training` group.
pub trait SharedConfig {
    /// The `environment` group.
    fn environment(&self) -> &EnvironmentConfig;
    /// The `evaluation` group.
    fn evaluation(&self) -> &EvaluationConfig;
    /// `debugging.seed`.
    fn seed(&self) -> u64;
    /// The whole config as TOML, as a checkpoint's `config.toml` keeps it.
    fn to_toml(&self) -> Result<String, Error>;
}

impl<T: Serialize> SharedConfig for AlgorithmConfig<T> {
    fn environment(&self) -> &EnvironmentConfig {
        &self.environment
    }

    fn evaluation(&self) -> &EvaluationConfig {
        &self.evaluation
    }

    fn seed(&self) -> u64 {
        self.debugging.seed
    }

    fn to_toml(&self) -> Result<String, Error> {
        crate::config::to_toml(self).map_err(Error::Io)
    }
}

/// An algorithm's resumable counters: the shared [`Counters`] and whatever else it keeps (PPO's KL coefficient,
/// DQN's target-update step), saved as JSON in a checkpoint's `state.json`.
pub trait Progress {
    fn counters(&self) -> &Counters;
    fn counters_mut(&mut self) -> &mut Counters;
    fn to_json(&self) -> serde_json::Value;
    /// Replaces these counters with saved ones.
    fn load_json(&mut self, saved: serde_json::Value) -> Result<(), Error>;
}

/// Counters that carry the shared ones in a field named `counters`.
pub trait HasCounters {
    fn counters(&self) -> &Counters;
    fn counters_mut(&mut self) -> &mut Counters;
}

impl<P: HasCounters + Serialize + DeserializeOwned> Progress for P {
    fn counters(&self) -> &Counters {
        HasCounters::counters(self)
    }

    fn counters_mut(&mut self) -> &mut Counters {
        HasCounters::counters_mut(self)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("counters serialise")
    }

    fn load_json(&mut self, saved: serde_json::Value) -> Result<(), Error> {
        *self = serde_json::from_value(saved).map_err(|e| Error::Checkpoint(format!("counters: {e}")))?;
        Ok(())
    }
}

/// The actor-critic `config.rl_module` describes for these spaces (PPO's, IMPALA's and APPO's network), its
/// initial weights drawn from the run's seed.
pub fn actor_critic<T>(
    config: &AlgorithmConfig<T>,
    observation_space: &crate::envs::Space,
    action_space: &crate::envs::Space,
    bridge: &crate::runners::Bridge,
) -> Result<crate::model::ActorCritic, Error> {
    let seed = Stream::ModelInit.seed(config.debugging.seed);
    config
        .rl_module
        .init(observation_space, action_space, bridge.device(), seed)
        .map_err(|e| Error::Config(format!("rl_module: {e} ({})", config.environment.env)))
}

/// The sizes of a lockstep rollout and its minibatches, derived from a config (never written back into it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RolloutSizes {
    pub num_envs: usize,
    /// T, steps per env per iteration.
    pub horizon: usize,
    /// T·N.
    pub batch: usize,
    pub minibatch: usize,
    /// Gradient steps per epoch.
    pub minibatches: usize,
}

/// The rollout of an on-policy algorithm collecting in lockstep (PPO, PQN): `rollout_fragment_length` steps of
/// `num_envs_per_env_runner` envs (0: `train_batch_size / num_envs`), and minibatches of `minibatch_size`; every
/// size that cannot work is an error naming its field.
pub fn rollout_sizes<T>(
    config: &AlgorithmConfig<T>,
    train_batch_size: usize,
    minibatch_size: usize,
    num_epochs: usize,
) -> Result<RolloutSizes, Error> {
    let bad = |msg: String| Err(Error::Config(msg));
    let n = config.env_runners.num_envs_per_env_runner;
    let horizon = match config.env_runners.rollout_fragment_length {
        0 if train_batch_size < n => {
            return bad(format!(
                "training.train_batch_size ({train_batch_size}) is smaller than env_runners.num_envs_per_env_runner \
                 ({n}); each env needs at least one step per iteration"
            ))
        }
        0 => train_batch_size / n,
        fixed => fixed,
    };
    let batch = horizon.checked_mul(n).filter(|b| *b <= u32::MAX as usize).ok_or_else(|| {
        Error::Config(format!(
            "{n} envs × env_runners.rollout_fragment_length {horizon} steps is too large a batch for one iteration"
        ))
    })?;
    if minibatch_size == 0 || minibatch_size > batch {
        return bad(format!(
            "training.minibatch_size ({minibatch_size}) must be between 1 and the batch of {batch} steps ({n} envs × \
             {horizon})"
        ));
    }
    if num_epochs == 0 {
        return bad("training.num_epochs must be at least 1".into());
    }
    Ok(RolloutSizes { num_envs: n, horizon, batch, minibatch: minibatch_size, minibatches: batch / minibatch_size })
}

/// Writes a module's weights (`model.bpk`-style burnpack) and, if given, an optimiser's state into `dir`.
pub fn save_weights<M: Module>(module: &M, dir: &Path, name: &str) -> Result<String, Error> {
    module
        .clone()
        .into_record()
        .save(dir.join(name))
        .map_err(|e| Error::Io(format!("writing a checkpoint ({name}): {e}")))?;
    Ok(name.to_string())
}

/// Writes an optimiser's state as `optimizer.bpk`.
pub fn save_optimizer(optimizer: &burn::optim::ModuleOptimizer, dir: &Path) -> Result<String, Error> {
    save_optimizer_as(optimizer, dir, "optimizer.bpk")
}

/// Writes an optimiser's state as `name` (algorithms with several optimisers name each).
pub fn save_optimizer_as(optimizer: &burn::optim::ModuleOptimizer, dir: &Path, name: &str) -> Result<String, Error> {
    optimizer.save(dir.join(name)).map_err(|e| Error::Io(format!("writing a checkpoint ({name}): {e}")))?;
    Ok(name.into())
}

/// Loads `optimizer.bpk` into an optimiser.
pub fn load_optimizer(
    optimizer: &burn::optim::ModuleOptimizer,
    dir: &Path,
) -> Result<burn::optim::ModuleOptimizer, Error> {
    load_optimizer_from(optimizer, dir, "optimizer.bpk")
}

/// Loads the optimiser state `name` of a checkpoint folder.
pub fn load_optimizer_from(
    optimizer: &burn::optim::ModuleOptimizer,
    dir: &Path,
    name: &str,
) -> Result<burn::optim::ModuleOptimizer, Error> {
    let path = dir.join(name);
    let record = burn::optim::OptimizerRecord::load(&path)
        .map_err(|e| Error::Checkpoint(format!("{} is unreadable or corrupt: {e}", path.display())))?;
    Ok(optimizer.clone().load_record(record))
}

/// An algorithm's `training` group: what makes an [`AlgorithmConfig`] build that algorithm. Checkpoints, tuned
/// configs and the CLI are generic over it.
pub trait Training: Default + Clone + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned {
    type Algo: Algorithm;
    /// RLlib's name of the algorithm.
    const NAME: &'static str;
    /// `training.train_batch_size` where it is the env steps of one iteration (on-policy rollouts, whose
    /// fragment derives from it); `None` where it is the size of a sampled batch instead (off-policy).
    fn rollout_batch(&self) -> Option<usize> {
        None
    }
    /// Validates the config and makes the envs and the learner.
    fn build(config: &AlgorithmConfig<Self>) -> Result<Self::Algo, Error>;
    /// The config a run starts from when no file and no tuned config gives one (`cli`: the command name, for
    /// algorithms with variants such as `rainbow`).
    fn defaults_for(cli: &str) -> AlgorithmConfig<Self> {
        let _ = cli;
        AlgorithmConfig::default()
    }
}

/// One algorithm of the catalogue: its command name (`myriad train <cli>`), RLlib's name, and the keys of its
/// `training` group.
pub struct AlgoInfo {
    pub cli: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    training_keys: fn() -> Vec<String>,
}

impl AlgoInfo {
    /// The field names of this algorithm's `training` group.
    pub fn training_keys(&self) -> Vec<String> {
        (self.training_keys)()
    }
}

/// The field names of a `training` group, read from its serialised defaults.
pub fn keys_of<T: Default + Serialize>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Every algorithm `myriad train` runs.
pub const ALGORITHMS: &[AlgoInfo] = &[
    AlgoInfo {
        cli: "ppo",
        name: "PPO",
        summary: "Proximal Policy Optimization on batched envs",
        training_keys: keys_of::<PpoTraining>,
    },
    AlgoInfo {
        cli: "dqn",
        name: "DQN",
        summary: "DQN with its Rainbow extensions, each switched by its own key",
        training_keys: keys_of::<DqnTraining>,
    },
    AlgoInfo {
        cli: "rainbow",
        name: "DQN",
        summary: "Rainbow: DQN with every extension on",
        training_keys: keys_of::<DqnTraining>,
    },
    AlgoInfo {
        cli: "impala",
        name: "IMPALA",
        summary: "IMPALA: V-trace actor-critic, runner threads acting asynchronously",
        training_keys: keys_of::<ImpalaTraining>,
    },
    AlgoInfo {
        cli: "appo",
        name: "APPO",
        summary: "APPO: IMPALA's data path with PPO's clipped surrogate and a target network",
        training_keys: keys_of::<AppoTraining>,
    },
    AlgoInfo {
        cli: "pqn",
        name: "PQN",
        summary: "PQN: Q(λ) across many parallel envs, no replay, no target network",
        training_keys: keys_of::<PqnTraining>,
    },
    AlgoInfo {
        cli: "sac",
        name: "SAC",
        summary: "SAC: squashed Gaussian actor, twin Q critics, learned entropy temperature (Box actions)",
        training_keys: keys_of::<SacTraining>,
    },
];

/// Looks up an algorithm by its command name; an unknown one is an error listing the known ones.
pub fn lookup(cli: &str) -> Result<&'static AlgoInfo, Error> {
    ALGORITHMS.iter().find(|a| a.cli == cli).ok_or_else(|| {
        let known: Vec<&str> = ALGORITHMS.iter().map(|a| a.cli).collect();
        Error::Config(format!("unknown algorithm `{}`; known: {}", clip(cli, 100), known.join(", ")))
    })
}

/// `text` cut to at most `max` characters, for quoting input in messages.
pub use crate::envs::error::clip_to as clip;

/// Checks that `key` is a field of `C`'s `training` group; a key of another algorithm's group is an error that
/// names that algorithm.
pub fn check_training_key<T: Training>(key: &str) -> Result<(), String> {
    let own = ALGORITHMS.iter().find(|a| a.name == T::NAME).map(|a| a.training_keys()).unwrap_or_default();
    if own.iter().any(|k| k == key) {
        return Ok(());
    }
    let owners: Vec<&str> = ALGORITHMS
        .iter()
        .filter(|a| a.name != T::NAME && a.training_keys().iter().any(|k| k == key))
        .map(|a| a.name)
        .collect();
    if owners.is_empty() {
        return Err(format!("training.{}: no such field of {} (known: {})", clip(key, 100), T::NAME, own.join(", ")));
    }
    Err(format!("training.{key} belongs to {}, not to {}", owners.join(" and "), T::NAME))
}

/// Each algorithm's learner statistics, means over the iteration's gradient steps (RLlib's
/// `learners/default_policy/...`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LearnerStats {
    Ppo(PpoStats),
    Dqn(DqnStats),
    Impala(ImpalaStats),
    Pqn(PqnStats),
    Sac(SacStats),
}

impl Default for LearnerStats {
    fn default() -> Self {
        LearnerStats::Ppo(PpoStats::default())
    }
}

impl LearnerStats {
    /// The loss the optimiser minimised.
    pub fn total_loss(&self) -> f64 {
        match self {
            LearnerStats::Ppo(s) => s.total_loss,
            LearnerStats::Dqn(s) => s.total_loss,
            LearnerStats::Impala(s) => s.total_loss,
            LearnerStats::Pqn(s) => s.total_loss,
            LearnerStats::Sac(s) => s.total_loss,
        }
    }

    /// PPO's statistics, if these are PPO's.
    pub fn ppo(&self) -> Option<&PpoStats> {
        match self {
            LearnerStats::Ppo(s) => Some(s),
            _ => None,
        }
    }

    /// IMPALA's or APPO's statistics, if these are theirs.
    pub fn impala(&self) -> Option<&ImpalaStats> {
        match self {
            LearnerStats::Impala(s) => Some(s),
            _ => None,
        }
    }

    /// PQN's statistics, if these are PQN's.
    pub fn pqn(&self) -> Option<&PqnStats> {
        match self {
            LearnerStats::Pqn(s) => Some(s),
            _ => None,
        }
    }

    /// SAC's statistics, if these are SAC's.
    pub fn sac(&self) -> Option<&SacStats> {
        match self {
            LearnerStats::Sac(s) => Some(s),
            _ => None,
        }
    }

    /// DQN's statistics, if these are DQN's.
    pub fn dqn(&self) -> Option<&DqnStats> {
        match self {
            LearnerStats::Dqn(s) => Some(s),
            _ => None,
        }
    }
}

/// Wall-clock seconds of the iteration's phases.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timers {
    pub env_runner_sampling: f64,
    pub advantages: f64,
    pub learner_update: f64,
    pub evaluation: f64,
    pub training_iteration: f64,
}

/// The counters every algorithm keeps, saved in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub iteration: u64,
    pub env_steps: u64,
    /// Env steps passed through the learner's updates (each sample counted once per update it is in).
    pub env_steps_trained: u64,
    pub episodes: u64,
    pub time_total_s: f64,
    pub window: EpisodeWindow,
}

/// What one `train()` call returns. Its JSON form uses RLlib's result keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub training_iteration: u64,
    pub num_env_steps_sampled_lifetime: u64,
    pub num_env_steps_trained_lifetime: u64,
    pub num_episodes_lifetime: u64,
    /// Episodes finished during this iteration.
    pub episodes_this_iter: u64,
    /// Mean return over the last ≥ 100 finished training episodes (whole iterations); `None` before any.
    #[serde(rename = "env_runners/episode_return_mean")]
    pub episode_return_mean: Option<f64>,
    #[serde(rename = "env_runners/episode_len_mean")]
    pub episode_len_mean: Option<f64>,
    /// Mean return of this iteration's evaluation episodes, when it evaluated.
    #[serde(rename = "evaluation/env_runners/episode_return_mean")]
    pub evaluation_episode_return_mean: Option<f64>,
    #[serde(rename = "learners/default_policy")]
    pub learner: LearnerStats,
    pub timers: Timers,
    pub num_env_steps_sampled_per_second: f64,
    /// Host → device bytes moved during the iteration (0 on the CPU backend).
    pub host_to_device_bytes: u64,
    /// Device → host bytes moved during the iteration (0 on the CPU backend).
    pub device_to_host_bytes: u64,
    pub time_total_s: f64,
}

impl TrainResult {
    /// A result carrying the shared counters after an iteration.
    pub fn new(c: &Counters, learner: LearnerStats) -> Self {
        let (return_mean, len_mean) = c.window.means();
        TrainResult {
            training_iteration: c.iteration,
            num_env_steps_sampled_lifetime: c.env_steps,
            num_env_steps_trained_lifetime: c.env_steps_trained,
            num_episodes_lifetime: c.episodes,
            episode_return_mean: return_mean,
            episode_len_mean: len_mean,
            learner,
            time_total_s: c.time_total_s,
            ..Default::default()
        }
    }

    /// This result with its wall-clock fields (timers, throughput, total time) zeroed: what two runs of the same
    /// seed must agree on.
    pub fn without_timings(mut self) -> Self {
        self.timers = Timers::default();
        self.num_env_steps_sampled_per_second = 0.0;
        self.time_total_s = 0.0;
        self
    }

    /// The flat `(key, value)` scalars of this result, for CSV and TensorBoard (absent values are NaN).
    pub fn scalars(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        flatten("", &serde_json::to_value(self).expect("a result serialises"), &mut out);
        out
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, f64)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}/{k}") };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Number(n) => out.push((prefix.to_string(), n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::Null => out.push((prefix.to_string(), f64::NAN)),
        _ => {}
    }
}

/// Finished-episode means of recent iterations, kept until they cover at least `EpisodeWindow::EPISODES`
/// episodes (RLlib smooths `episode_return_mean` over 100 episodes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeWindow {
    /// (episodes, return mean, length mean) per iteration that finished any, newest last.
    entries: VecDeque<(u64, f64, f64)>,
}

impl EpisodeWindow {
    pub const EPISODES: u64 = 100;

    pub fn push(&mut self, episodes: u64, return_mean: f64, length_mean: f64) {
        if episodes == 0 {
            return;
        }
        self.entries.push_back((episodes, return_mean, length_mean));
        while self.entries.len() > 1 && self.entries.iter().skip(1).map(|e| e.0).sum::<u64>() >= Self::EPISODES {
            self.entries.pop_front();
        }
    }

    /// Episode-weighted mean return and length, or `None` before the first finished episode.
    pub fn means(&self) -> (Option<f64>, Option<f64>) {
        let count: u64 = self.entries.iter().map(|e| e.0).sum();
        if count == 0 {
            return (None, None);
        }
        let weighted =
            |f: fn(&(u64, f64, f64)) -> f64| self.entries.iter().map(|e| e.0 as f64 * f(e)).sum::<f64>() / count as f64;
        (Some(weighted(|e| e.1)), Some(weighted(|e| e.2)))
    }
}

/// Learner statistics summed on the device over an iteration's gradient steps, `K` `[1]` tensors, read by the
/// host once at the iteration's end.
pub struct StepSums<const K: usize>(Option<[Tensor<1>; K]>);

impl<const K: usize> Default for StepSums<K> {
    fn default() -> Self {
        Self(None)
    }
}

impl<const K: usize> StepSums<K> {
    /// Adds one gradient step's row.
    pub fn add(&mut self, row: [Tensor<1>; K]) {
        self.0 = Some(match self.0.take() {
            None => row,
            Some(acc) => std::array::from_fn(|i| acc[i].clone() + row[i].clone()),
        });
    }

    /// The sums, or `None` if no step was added.
    pub fn into_array(self) -> Option<[Tensor<1>; K]> {
        self.0
    }
}

/// One gradient step on `model`: backward through `loss`, the global-norm clip at `grad_clip` (0: none), the
/// optimiser's step at `lr`. Returns the gradients' norm before clipping, `[1]`, on the device.
pub fn gradient_step<M: Module>(
    optimizer: &mut burn::optim::ModuleOptimizer,
    model: &mut M,
    loss: Tensor<1>,
    lr: f64,
    grad_clip: f64,
) -> Tensor<1> {
    let grads = GradientsParams::from_grads(loss.backward(), &*model);
    let (grads, norm) = global_norm_clip(&*model, grads, grad_clip);
    *model = optimizer.step(lr, model.clone(), grads);
    norm
}

impl TrainResult {
    /// Fills in an iteration's timers, its throughput over `env_steps` and the bytes moved since `before` (the
    /// bridge's transfer counts at its start, `after` at its end).
    pub fn with_timing(mut self, timers: Timers, env_steps: u64, before: (u64, u64), after: (u64, u64)) -> Self {
        self.num_env_steps_sampled_per_second = env_steps as f64 / timers.training_iteration;
        self.timers = timers;
        self.host_to_device_bytes = after.0 - before.0;
        self.device_to_host_bytes = after.1 - before.1;
        self
    }
}

/// Scales every gradient by `min(1, max_norm / ‖g‖)` where ‖g‖ is the L2 norm over all of them
/// (`max_norm = 0`: no clipping). Returns the gradients and the norm before clipping, `[1]`, on the device.
pub fn global_norm_clip<M: Module>(module: &M, grads: GradientsParams, max_norm: f64) -> (GradientsParams, Tensor<1>) {
    struct SumSquares<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
        ids: Vec<(ParamId, usize)>,
    }
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let s = g.square().sum();
                self.total = Some(match self.total.take() {
                    None => s,
                    Some(t) => t + s,
                });
                self.ids.push((param.id, D));
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: Tensor<1>,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                let factor = self.factor.clone().reshape([1; D]);
                self.grads.register::<D>(param.id, g * factor);
            }
        }
    }
    let mut sum = SumSquares { grads: &grads, total: None, ids: Vec::new() };
    module.visit(&mut sum);
    let Some(total) = sum.total else {
        return (grads, Tensor::zeros([1], &Default::default()));
    };
    let norm = total.sqrt();
    if max_norm <= 0.0 {
        return (grads, norm);
    }
    let factor = (norm.clone() + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    let mut grads = grads;
    module.visit(&mut Scale { grads: &mut grads, factor });
    (grads, norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    #[test]
    fn window_keeps_at_least_a_hundred_episodes() {
        let mut w = EpisodeWindow::default();
        assert_eq!(w.means(), (None, None));
        w.push(60, 10.0, 5.0);
        w.push(0, 99.0, 99.0);
        w.push(60, 20.0, 5.0);
        assert_eq!(w.means().0, Some(15.0));
        w.push(100, 30.0, 5.0);
        // the newest iteration alone covers 100 episodes
        assert_eq!(w.means().0, Some(30.0));
    }

    #[derive(Module, Debug)]
    struct Two {
        a: Linear,
        b: Linear,
    }

    #[test]
    fn global_norm_clip_scales_all_gradients_together() {
        let device = Device::flex().autodiff();
        let model = Two { a: LinearConfig::new(3, 2).init(&device), b: LinearConfig::new(2, 1).init(&device) };
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0, 3.0, 0.5, 0.1, -0.7], [2, 3]), &device);
        let loss = model.b.forward(model.a.forward(x)).sum().mul_scalar(10.0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let norm_of = |g: &GradientsParams| {
            let mut total = 0.0f64;
            for p in [&model.a.weight, &model.b.weight] {
                let v = g.get::<2>(p.id).unwrap().into_data().try_into_vec::<f32>().unwrap();
                total += v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
            }
            for p in [model.a.bias.as_ref().unwrap(), model.b.bias.as_ref().unwrap()] {
                let v = g.get::<1>(p.id).unwrap().into_data().try_into_vec::<f32>().unwrap();
                total += v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
            }
            total.sqrt()
        };
        let before = norm_of(&grads);
        let (clipped, reported) = global_norm_clip(&model, grads, 0.5);
        let reported = reported.into_data().try_into_vec::<f32>().unwrap()[0] as f64;
        assert!((reported - before).abs() < 1e-3 * before, "{reported} vs {before}");
        assert!(before > 0.5);
        assert!((norm_of(&clipped) - 0.5).abs() < 1e-4);
    }
}
