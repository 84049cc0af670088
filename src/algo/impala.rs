//! IMPALA (Espeholt et al. 2018, "IMPALA: Scalable Distributed Deep-RL with Importance Weighted Actor-Learner
//! Architectures") with RLlib's `IMPALAConfig` names, and the V-trace learner APPO (`appo.rs`) shares.
//!
//! One `train()` call is one learner update on `train_batch_size` env steps, read top to bottom: gather the batch
//! (fragments from the runner threads' queue, or, with `num_env_runners = 0`, a lockstep rollout collected as PPO
//! collects it), then `num_epochs` passes over minibatches of whole env trajectories: V-trace targets and
//! advantages for the current policy (APPO: its target network), the loss, Adam or RMSProp with a global-norm
//! clip. New weights go to the runners every `broadcast_interval` updates; the policy lag of every trained sample
//! (learner version − behaviour version) is measured; a handful of scalars are the only data the host reads.

use crate::algo::appo::{appo_loss, AppoSettings};
use crate::algo::ppo::explained_variance;
use crate::algo::{self, gradient_step, Algorithm, Counters, HasCounters, LearnerStats, OnlineTarget};
use crate::algo::{SharedConfig, StepSums, Timers, TrainResult, Training};
use crate::config::{AlgorithmConfig, Schedule};
use crate::envs::{EnvSpec, EpisodeStats};
use crate::model::ActorCritic;
use crate::returns::{ReturnInputs, VtraceParams};
use crate::rollout::{RolloutShape, RolloutStorage};
use crate::runners::{self, AsyncRunners, Bridge, RunnerSettings, Stream, SyncRunner};
use crate::Error;
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------

/// `training(...)`: IMPALA's loss, optimiser and data-path settings, RLlib's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImpalaTraining {
    /// Step size: a constant or `[[t, lr], ...]` over lifetime env steps.
    pub lr: Schedule,
    /// Discount factor.
    pub gamma: f64,
    /// V-trace's trace decay λ, multiplying the truncated importance weights c_t (1: IMPALA's V-trace).
    #[serde(rename = "lambda")]
    pub lambda_: f64,
    /// ρ̄: importance weights of the value targets are clipped at this (`inf`: not clipped).
    pub vtrace_clip_rho_threshold: f64,
    /// ρ̄ of the policy-gradient advantages (`inf`: not clipped).
    pub vtrace_clip_pg_rho_threshold: f64,
    /// Weight of the value loss ½(V − v_s)².
    pub vf_loss_coeff: f64,
    /// Weight of the entropy bonus: a constant or `[[t, c], ...]`.
    pub entropy_coeff: Schedule,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    pub grad_clip: f64,
    /// `adam` or `rmsprop`.
    pub optimizer: OptimizerKind,
    /// ε of Adam or RMSProp.
    pub epsilon: f64,
    /// RMSProp's smoothing constant.
    pub decay: f64,
    /// RMSProp's momentum.
    pub momentum: f64,
    /// Env steps per learner update: a whole number of fragments (`rollout_fragment_length` steps of one
    /// runner's envs each).
    pub train_batch_size: usize,
    /// Env steps per gradient step, a multiple of `rollout_fragment_length` (whole trajectories); unset: the
    /// whole batch.
    pub minibatch_size: Option<usize>,
    /// Passes over each batch.
    pub num_epochs: usize,
    /// Reshuffle the trajectories before each epoch.
    pub shuffle_batch_per_epoch: bool,
    /// Fragments the runners' queue holds (with runner threads).
    pub learner_queue_size: usize,
    /// Send the runners new weights every this many updates.
    pub broadcast_interval: usize,
}

/// The optimiser IMPALA steps with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Rmsprop,
}

impl Default for ImpalaTraining {
    fn default() -> Self {
        Self {
            lr: Schedule::Constant(5e-4),
            gamma: 0.99,
            lambda_: 1.0,
            vtrace_clip_rho_threshold: 1.0,
            vtrace_clip_pg_rho_threshold: 1.0,
            vf_loss_coeff: 0.5,
            entropy_coeff: Schedule::Constant(0.01),
            grad_clip: 40.0,
            optimizer: OptimizerKind::Adam,
            epsilon: 1e-7,
            decay: 0.99,
            momentum: 0.0,
            train_batch_size: 500,
            minibatch_size: None,
            num_epochs: 1,
            shuffle_batch_per_epoch: true,
            learner_queue_size: 16,
            broadcast_interval: 1,
        }
    }
}

/// Everything an IMPALA run needs, grouped as RLlib's `IMPALAConfig`.
pub type ImpalaConfig = AlgorithmConfig<ImpalaTraining>;

/// The `training` groups that train on the V-trace learner: IMPALA's, and APPO's, which adds its own settings.
pub trait VtraceTraining: Training {
    /// The IMPALA settings of this group.
    fn impala(&self) -> &ImpalaTraining;
    /// APPO's settings; `None` for IMPALA.
    fn appo(&self) -> Option<&AppoSettings> {
        None
    }
}

impl VtraceTraining for ImpalaTraining {
    fn impala(&self) -> &ImpalaTraining {
        self
    }
}

/// Sizes derived from the config by [`validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sizes {
    /// T: steps per env of one trajectory (a runner's fragment).
    pub horizon: usize,
    /// Envs of one runner (all envs in lockstep mode).
    pub envs_per_runner: usize,
    /// B: trajectories per update.
    pub columns: usize,
    /// Fragments per update (1 in lockstep mode).
    pub fragments: usize,
    /// Trajectories per gradient step.
    pub minibatch_columns: usize,
    /// Gradient steps per epoch.
    pub minibatches: usize,
}

/// Checks every value and derives the sizes (never written back into the config).
pub fn validate<T: VtraceTraining>(config: &AlgorithmConfig<T>) -> Result<Sizes, Error> {
    config.validate_shared()?;
    let bad = |msg: String| Err(Error::Config(msg));
    let name = T::NAME;
    let t = config.training.impala();
    let r = &config.env_runners;
    let n = r.num_envs_per_env_runner;
    let b = t.train_batch_size;
    let horizon = match r.rollout_fragment_length {
        0 if b < n || !b.is_multiple_of(n) => {
            return bad(format!(
                "training.train_batch_size ({b}) must be a positive multiple of env_runners.num_envs_per_env_runner \
                 ({n}) when env_runners.rollout_fragment_length is 0 (auto)"
            ))
        }
        0 => b / n,
        fixed => fixed,
    };
    if b == 0 || !b.is_multiple_of(horizon * n) {
        return bad(format!(
            "training.train_batch_size ({b}) must be a whole number of fragments of {horizon} steps × {n} envs \
             (env_runners.rollout_fragment_length × num_envs_per_env_runner = {})",
            horizon * n
        ));
    }
    let fragments = b / (horizon * n);
    if r.num_env_runners == 0 && fragments != 1 {
        return bad(format!(
            "training.train_batch_size ({b}) must equal {horizon} steps × {n} envs when {name} collects in lockstep \
             (env_runners.num_env_runners = 0)"
        ));
    }
    if r.num_env_runners > 0 && t.learner_queue_size < fragments {
        return bad(format!(
            "training.learner_queue_size ({}) holds fewer than the {fragments} fragments of one batch",
            t.learner_queue_size
        ));
    }
    let columns = b / horizon;
    let minibatch = t.minibatch_size.unwrap_or(b);
    if minibatch == 0 || minibatch > b || !minibatch.is_multiple_of(horizon) {
        return bad(format!(
            "training.minibatch_size ({minibatch}) must be a multiple of the {horizon}-step trajectories and at \
             most training.train_batch_size ({b})"
        ));
    }
    if t.num_epochs == 0 || t.broadcast_interval == 0 {
        return bad("training.num_epochs and training.broadcast_interval must be at least 1".into());
    }
    t.lr.validate("training.lr", 0.0..=f64::INFINITY).map_err(Error::Config)?;
    t.entropy_coeff.validate("training.entropy_coeff", 0.0..=f64::INFINITY).map_err(Error::Config)?;
    for (field, v, lo, hi) in [
        ("training.gamma", t.gamma, 0.0, 1.0),
        ("training.lambda", t.lambda_, 0.0, 1.0),
        ("training.vf_loss_coeff", t.vf_loss_coeff, 0.0, f64::MAX),
        ("training.grad_clip", t.grad_clip, 0.0, f64::MAX),
        ("training.epsilon", t.epsilon, 0.0, 1.0),
        ("training.decay", t.decay, 0.0, 1.0),
        ("training.momentum", t.momentum, 0.0, 1.0),
    ] {
        if !(v.is_finite() && v >= lo && v <= hi) {
            return bad(format!("{field} = {v} is outside [{lo}, {hi}]"));
        }
    }
    for (field, v) in [
        ("vtrace_clip_rho_threshold", t.vtrace_clip_rho_threshold),
        ("vtrace_clip_pg_rho_threshold", t.vtrace_clip_pg_rho_threshold),
    ] {
        if v.is_nan() || v <= 0.0 {
            return bad(format!("training.{field} = {v} must be positive (inf: no clipping)"));
        }
    }
    if let Some(appo) = config.training.appo() {
        appo.validate()?;
    }
    let minibatch_columns = minibatch / horizon;
    Ok(Sizes {
        horizon,
        envs_per_runner: n,
        columns,
        fragments,
        minibatch_columns,
        minibatches: columns / minibatch_columns,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Learner
// ---------------------------------------------------------------------------------------------------------------

/// IMPALA's and APPO's learner statistics of one update, means over its gradient steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImpalaStats {
    pub total_loss: f64,
    pub policy_loss: f64,
    pub vf_loss: f64,
    pub entropy: f64,
    /// Mean of the unclipped importance ratios π/μ the V-trace targets saw.
    pub mean_rho: f64,
    pub vf_explained_var: f64,
    /// Global L2 norm of the gradients before clipping.
    pub gradients_global_norm: f64,
    pub curr_entropy_coeff: f64,
    pub learning_rate: f64,
    /// Learner version − behaviour version over the batch's samples (0 in lockstep).
    pub mean_policy_lag: f64,
    pub max_policy_lag: u64,
    /// Runner threads restarted after a failure, over the run.
    pub num_env_runner_restarts: u64,
    /// The share of the iteration's wall-clock the learner spent updating (the rest: waiting for, or collecting,
    /// the batch).
    pub learner_busy_fraction: f64,
    /// APPO: KL(target ‖ current).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mean_kl_loss: Option<f64>,
    /// APPO: share of samples whose ratio left [1 − ε, 1 + ε].
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub clip_fraction: Option<f64>,
    /// APPO: the KL coefficient used.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub curr_kl_coeff: Option<f64>,
}

/// Counters that, with the model, target and optimiser, make a run resumable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    #[serde(flatten)]
    pub counters: Counters,
    /// APPO's adaptive KL coefficient.
    pub kl_coeff: f64,
    /// Env steps trained when APPO last updated its target network.
    pub last_target_update: u64,
}

impl HasCounters for Progress {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }
}

/// Where batches come from.
#[allow(clippy::large_enum_variant)] // one per run, never moved in a loop
enum Collector {
    /// `num_env_runners = 0`: a rollout collected on the learner's thread, with the current weights.
    Lockstep { runner: SyncRunner, rollout: RolloutStorage },
    /// Runner threads acting with the weights they last received.
    Threads(AsyncRunners<ActorCritic>),
}

/// A batch of B trajectories of T steps, time-major rows (step t of trajectory j at row t·B + j).
struct Batch {
    steps: RolloutStorage,
    /// `[B, obs_dim]`: the observation after each trajectory's last step.
    last_obs: Tensor<2>,
    /// Per trajectory: learner version − behaviour version.
    lags: Vec<u64>,
    episodes: [f32; 3],
}

/// One minibatch's loss terms, each `[1]`.
pub(crate) struct Loss {
    pub total: Tensor<1>,
    pub policy: Tensor<1>,
    pub vf: Tensor<1>,
    pub entropy: Tensor<1>,
    pub mean_rho: Tensor<1>,
    pub kl: Tensor<1>,
    pub clip_fraction: Tensor<1>,
}

/// A minibatch's trajectories, as the loss reads them.
pub(crate) struct Minibatch {
    pub obs: Tensor<2>,
    pub actions: Tensor<2>,
    pub behaviour_log_prob: Tensor<1>,
    pub inputs: ReturnInputs,
    /// (T, trajectories).
    pub shape: (usize, usize),
}

/// An IMPALA or APPO run: the collector, model, optimiser and counters.
pub struct VtraceLearner<T: VtraceTraining> {
    config: AlgorithmConfig<T>,
    sizes: Sizes,
    spec: EnvSpec,
    collector: Collector,
    bridge: Bridge,
    model: ActorCritic,
    /// APPO's target network.
    target: Option<ActorCritic>,
    optimizer: ModuleOptimizer,
    progress: Progress,
    /// Weights published to the runners so far (the learner's version).
    version: u64,
}

/// IMPALA: V-trace policy gradient.
pub type Impala = VtraceLearner<ImpalaTraining>;

impl<T: VtraceTraining> VtraceLearner<T> {
    pub fn new(config: AlgorithmConfig<T>) -> Result<Self, Error> {
        let sizes = validate(&config)?;
        let bridge = Bridge::new(&config.resources)?;
        let seed = config.debugging.seed;
        let t = config.training.impala();
        let r = &config.env_runners;
        let (spec, probe) = match r.num_env_runners {
            0 => {
                let runner = SyncRunner::new(
                    &config.environment,
                    sizes.envs_per_runner,
                    &bridge,
                    Stream::TrainingEnvs.seed(seed),
                )?;
                (runner.spec().clone(), Some(runner))
            }
            _ => {
                let cpu = Bridge::new(&Default::default())?;
                let runner = SyncRunner::new(&config.environment, 1, &cpu, seed)?;
                (runner.spec().clone(), None)
            }
        };
        let model = algo::actor_critic(&config, &spec.observation_space, &spec.action_space, &bridge)?;
        let dist = model.dist();
        let shape = RolloutShape {
            horizon: sizes.horizon,
            num_envs: sizes.columns,
            obs: spec.obs_dim(),
            action: dist.action_width(),
            dist_inputs: dist.input_width(),
        };
        let what = format!("one batch of {} trajectories × {} steps", sizes.columns, sizes.horizon);
        bridge.env_device().check_fits(&what, shape.bytes())?;
        let collector = match probe {
            Some(runner) => Collector::Lockstep { runner, rollout: RolloutStorage::new(shape, bridge.inner()) },
            None => {
                let settings = RunnerSettings {
                    environment: config.environment.clone(),
                    env_runners: r.clone(),
                    fragment: sizes.horizon,
                    queue: t.learner_queue_size,
                    seed,
                    patience: Duration::from_secs(300),
                };
                Collector::Threads(AsyncRunners::start(settings, spec.clone(), shape, cpu_copy(&model))?)
            }
        };
        let optimizer = match t.optimizer {
            OptimizerKind::Adam => AdamConfig::new().with_epsilon(t.epsilon as f32).init(),
            OptimizerKind::Rmsprop => RmsPropConfig::new()
                .with_alpha(t.decay as f32)
                .with_momentum(t.momentum as f32)
                .with_epsilon(t.epsilon as f32)
                .init(),
        };
        let target = config.training.appo().map(|_| model.clone());
        let kl_coeff = config.training.appo().map_or(0.0, |a| a.kl_coeff);
        let progress = Progress { kl_coeff, ..Default::default() };
        Ok(Self { config, sizes, spec, collector, bridge, model, target, optimizer, progress, version: 0 })
    }

    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    pub fn model(&self) -> &ActorCritic {
        &self.model
    }

    /// One learner update: gather, update, publish, metrics.
    pub fn train(&mut self) -> Result<TrainResult, Error> {
        let started = Instant::now();
        let transfers_before = self.bridge.transfers();
        let t = self.config.training.impala().clone();
        let Sizes { horizon, columns, minibatch_columns: mc, minibatches, .. } = self.sizes;
        let mut noise = Stream::Iteration(self.progress.counters.iteration).noise(self.config.debugging.seed);
        let env_steps_at_start = self.progress.counters.env_steps;
        let lr = t.lr.value_at(env_steps_at_start);
        let entropy_coeff = t.entropy_coeff.value_at(env_steps_at_start);

        // ---- 1. Gather B trajectories of T steps: from the runners' queue, or collected in lockstep ----
        let batch = self.gather(&mut noise)?;
        let sampling_s = started.elapsed().as_secs_f64();

        // ---- 2. Update: num_epochs passes over minibatches of whole trajectories ----
        let update_start = Instant::now();
        let device = self.bridge.device().clone();
        let steps = &batch.steps;
        let mut sums = StepSums::<8>::default();
        let mut vs_all = Vec::new();
        for epoch in 0..t.num_epochs {
            let order: Tensor<1, Int> = if t.shuffle_batch_per_epoch {
                self.bridge.permutation(&mut noise, columns)?
            } else {
                Tensor::arange(0..columns as i64, &device)
            };
            for k in 0..minibatches {
                let picked = order.clone().narrow(0, k * mc, mc); // [mc] trajectories
                let rows = (Tensor::<1, Int>::arange(0..horizon as i64, &device)
                    .mul_scalar(columns as i64)
                    .unsqueeze_dim::<2>(1)
                    + picked.clone().unsqueeze_dim::<2>(0))
                .reshape([horizon * mc]);
                let rows = rows.inner();
                let policy = self.model.valid();
                let pick1 = |x: &Tensor<1>| x.clone().select(0, rows.clone());
                let pick2 = |x: &Tensor<2>| x.clone().select(0, rows.clone());
                let mb = Minibatch {
                    obs: pick2(&steps.obs),
                    actions: pick2(&steps.actions),
                    behaviour_log_prob: pick1(&steps.log_prob),
                    inputs: ReturnInputs {
                        rewards: pick1(&steps.reward),
                        values: Tensor::zeros([1], self.bridge.inner()), // the loss fills in V(s_t)
                        terminated: pick1(&steps.terminated),
                        truncated: pick1(&steps.truncated),
                        final_values: policy.value(pick2(&steps.final_obs)),
                        last_values: policy.value(batch.last_obs.clone().select(0, picked.inner())),
                    },
                    shape: (horizon, mc),
                };
                let (loss, vs) = self.loss(mb, entropy_coeff)?;
                if epoch + 1 == t.num_epochs {
                    vs_all.push(vs);
                }
                let norm = gradient_step(&mut self.optimizer, &mut self.model, loss.total.clone(), lr, t.grad_clip);
                sums.add([
                    loss.total.detach(),
                    loss.policy.detach(),
                    loss.vf.detach(),
                    loss.entropy.detach(),
                    loss.mean_rho.detach(),
                    loss.kl.detach(),
                    loss.clip_fraction.detach(),
                    norm,
                ]);
            }
        }
        self.version += 1;
        if self.version.is_multiple_of(t.broadcast_interval as u64) {
            self.publish();
        }
        let update_s = update_start.elapsed().as_secs_f64();

        // ---- 3. Metrics: the only device → host read of the iteration ----
        let (values, targets): (Vec<_>, Vec<_>) = vs_all.into_iter().unzip();
        let explained = explained_variance(Tensor::cat(values, 0), Tensor::cat(targets, 0));
        let mut scalars = Vec::from(sums.into_array().expect("at least one minibatch"));
        scalars.push(explained);
        let scalars: Vec<f32> = self.bridge.to_vec(Tensor::cat(scalars, 0))?;
        let gradient_steps = (t.num_epochs * minibatches) as f64;
        let mean = |i: usize| scalars[i] as f64 / gradient_steps;
        let total_loss = mean(0);
        if !total_loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "the {} loss became {total_loss} in iteration {}; training stopped (lower training.lr or set \
                 training.grad_clip)",
                T::NAME,
                self.progress.counters.iteration + 1
            )));
        }
        let trained = (columns * horizon) as u64;
        let mut appo_stats = None;
        if let Some(appo) = self.config.training.appo().cloned() {
            let kl_used = self.progress.kl_coeff;
            self.after_appo_update(&appo, mean(5), trained);
            appo_stats = Some((mean(5), mean(6), kl_used));
        }
        let episodes = EpisodeStats::from_sums(batch.episodes[0], batch.episodes[1], batch.episodes[2]);
        let c = &mut self.progress.counters;
        c.window.push(episodes.episodes, episodes.return_mean, episodes.length_mean);
        c.iteration += 1;
        c.env_steps += trained;
        c.env_steps_trained += trained * t.num_epochs as u64;
        c.episodes += episodes.episodes;
        let iteration_s = started.elapsed().as_secs_f64();
        c.time_total_s += iteration_s;
        let stats = ImpalaStats {
            total_loss,
            policy_loss: mean(1),
            vf_loss: mean(2),
            entropy: mean(3),
            mean_rho: mean(4),
            vf_explained_var: scalars[8] as f64,
            gradients_global_norm: mean(7),
            curr_entropy_coeff: entropy_coeff,
            learning_rate: lr,
            mean_policy_lag: batch.lags.iter().sum::<u64>() as f64 / batch.lags.len() as f64,
            max_policy_lag: batch.lags.iter().copied().max().unwrap_or(0),
            num_env_runner_restarts: match &self.collector {
                Collector::Threads(runners) => runners.restarts(),
                Collector::Lockstep { .. } => 0,
            },
            learner_busy_fraction: update_s / iteration_s,
            mean_kl_loss: appo_stats.map(|s| s.0),
            clip_fraction: appo_stats.map(|s| s.1),
            curr_kl_coeff: appo_stats.map(|s| s.2),
        };
        let timers = Timers {
            env_runner_sampling: sampling_s,
            learner_update: update_s,
            training_iteration: iteration_s,
            ..Default::default()
        };
        let mut result = TrainResult::new(c, LearnerStats::Impala(stats)).with_timing(
            timers,
            trained,
            transfers_before,
            self.bridge.transfers(),
        );
        result.episodes_this_iter = episodes.episodes;

        // ---- Evaluation, every `evaluation_interval` iterations ----
        self.with_periodic_evaluation(result)
    }

    /// The next batch: `fragments` fragments from the runner threads, or one lockstep rollout.
    fn gather(&mut self, noise: &mut runners::Noise) -> Result<Batch, Error> {
        match &mut self.collector {
            Collector::Lockstep { runner, rollout } => {
                let policy = self.model.valid();
                let (n, horizon) = (self.sizes.envs_per_runner, self.sizes.horizon);
                let eps = self.bridge.noise(noise, self.model.dist().noise(), n, horizon)?;
                let last_obs = runner.collect(&self.bridge, &policy, eps, rollout)?;
                let sums = self.bridge.to_vec(runner.episode_sums(&self.bridge)?)?;
                let shape = RolloutShape {
                    horizon,
                    num_envs: n,
                    obs: rollout.obs.dims()[1],
                    action: rollout.actions.dims()[1],
                    dist_inputs: rollout.dist_inputs.dims()[1],
                };
                let steps = std::mem::replace(rollout, RolloutStorage::new(shape, self.bridge.inner()));
                Ok(Batch { steps, last_obs, lags: vec![0; n], episodes: [sums[0], sums[1], sums[2]] })
            }
            Collector::Threads(runners) => {
                let (mut parts, mut last, mut lags, mut episodes) = (Vec::new(), Vec::new(), Vec::new(), [0.0f32; 3]);
                while parts.len() < self.sizes.fragments {
                    let fragment = runners.next_fragment()?;
                    let n = fragment.steps.num_envs();
                    lags.extend(std::iter::repeat_n(self.version.saturating_sub(fragment.version), n));
                    for (sum, v) in episodes.iter_mut().zip(fragment.episodes) {
                        *sum += v;
                    }
                    last.push(fragment.last_obs);
                    parts.push(fragment.steps);
                }
                let inner = self.bridge.inner();
                let steps = RolloutStorage::join_envs(parts, inner);
                let last_obs = Tensor::cat(last, 0).to_device(inner);
                let shape_bytes = steps.obs.dims()[0] * (2 * steps.obs.dims()[1] + steps.actions.dims()[1] + 5) * 4;
                self.bridge.count(shape_bytes + last_obs.dims().iter().product::<usize>() * 4, 0);
                Ok(Batch { steps, last_obs, lags, episodes })
            }
        }
    }

    /// The minibatch's loss (IMPALA's, or APPO's) and its (values, V-trace targets) for the metrics.
    fn loss(&self, mut mb: Minibatch, entropy_coeff: f64) -> Result<(Loss, (Tensor<1>, Tensor<1>)), Error> {
        let t = self.config.training.impala();
        let params = VtraceParams {
            gamma: t.gamma as f32,
            lambda: t.lambda_ as f32,
            clip_rho_threshold: t.vtrace_clip_rho_threshold as f32,
            clip_pg_rho_threshold: t.vtrace_clip_pg_rho_threshold as f32,
            clip_c_threshold: 1.0,
        };
        let dist = self.model.dist();
        let out = self.model.forward(mb.obs.clone());
        let log_prob = dist.log_prob(out.dist_inputs.clone(), mb.actions.clone());
        mb.inputs.values = out.value.clone().inner();
        let entropy = dist.entropy(out.dist_inputs.clone()).mean();
        let vf_of = |vs: Tensor<1>| (out.value.clone() - vs).square().mean().mul_scalar(0.5);
        let (loss, vs) = match (self.config.training.appo(), &self.target) {
            (Some(appo), Some(target)) => {
                let old = target.valid().forward(mb.obs.clone()).dist_inputs;
                let old_log_prob = dist.log_prob(old.clone(), mb.actions.clone());
                let (vs, pg_advantages) = self.bridge.vtrace(
                    params,
                    mb.shape,
                    mb.inputs,
                    mb.behaviour_log_prob.clone(),
                    old_log_prob.clone(),
                )?;
                let mean_rho = (old_log_prob.clone() - mb.behaviour_log_prob.clone()).exp().mean();
                let vf = vf_of(vs.clone());
                let kl = dist.kl(old, out.dist_inputs.clone()).mean();
                let terms = appo_loss(appo, &log_prob, &old_log_prob, &mb.behaviour_log_prob, &pg_advantages);
                let mut total = terms.policy.clone() + vf.clone().mul_scalar(t.vf_loss_coeff)
                    - entropy.clone().mul_scalar(entropy_coeff);
                if appo.use_kl_loss {
                    total = total + kl.clone().mul_scalar(self.progress.kl_coeff);
                }
                (
                    Loss { total, policy: terms.policy, vf, entropy, mean_rho, kl, clip_fraction: terms.clip_fraction },
                    vs,
                )
            }
            _ => {
                let target_log_prob = log_prob.clone().inner();
                let (vs, pg_advantages) = self.bridge.vtrace(
                    params,
                    mb.shape,
                    mb.inputs,
                    mb.behaviour_log_prob.clone(),
                    target_log_prob.clone(),
                )?;
                let mean_rho = (target_log_prob - mb.behaviour_log_prob).exp().mean();
                // −E[ρ̄ₜ (rₜ + γ v_{t+1} − V(sₜ)) ∇ log π(aₜ|sₜ)]: the advantages are constants.
                let policy = (log_prob * pg_advantages).mean().neg();
                let vf = vf_of(vs.clone());
                let total =
                    policy.clone() + vf.clone().mul_scalar(t.vf_loss_coeff) - entropy.clone().mul_scalar(entropy_coeff);
                let zero = Tensor::zeros([1], self.bridge.inner());
                (Loss { total, policy, vf, entropy, mean_rho, kl: zero.clone(), clip_fraction: zero }, vs)
            }
        };
        Ok((loss, (out.value.inner(), vs)))
    }

    /// APPO after each update: the target network follows every `target_network_update_freq` env steps
    /// trained, and the KL coefficient adapts toward `kl_target` as it does.
    fn after_appo_update(&mut self, appo: &AppoSettings, mean_kl: f64, trained: u64) {
        let steps_trained =
            self.progress.counters.env_steps_trained + trained * self.config.training.impala().num_epochs as u64;
        if steps_trained - self.progress.last_target_update < appo.target_network_update_freq {
            return;
        }
        self.progress.last_target_update = steps_trained;
        if let Some(target) = self.target.take() {
            let mut pair = OnlineTarget { online: self.model.clone(), target };
            pair.polyak_update(appo.tau);
            self.target = Some(pair.target);
        }
        if appo.use_kl_loss {
            if mean_kl > 2.0 * appo.kl_target {
                self.progress.kl_coeff *= 1.5;
            } else if mean_kl < 0.5 * appo.kl_target {
                self.progress.kl_coeff *= 0.5;
            }
        }
    }

    /// Hands the current weights to the runner threads.
    fn publish(&mut self) {
        if let Collector::Threads(runners) = &self.collector {
            runners.publish(self.version, cpu_copy(&self.model));
        }
    }
}

/// The weights the runner threads act with: the model without autodiff, on the CPU.
fn cpu_copy(model: &ActorCritic) -> ActorCritic {
    model.valid().to_device(&Device::flex())
}

impl<T: VtraceTraining> Algorithm for VtraceLearner<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn train(&mut self) -> Result<TrainResult, Error> {
        VtraceLearner::train(self)
    }

    fn evaluate_with_seed(&self, episodes: usize, explore: bool, seed: u64) -> Result<runners::EvalSummary, Error> {
        runners::evaluate(&self.model.valid(), &self.config.environment, &self.bridge, episodes, explore, seed)
    }

    fn config(&self) -> &dyn SharedConfig {
        &self.config
    }

    fn runner(&self) -> Option<&SyncRunner> {
        match &self.collector {
            Collector::Lockstep { runner, .. } => Some(runner),
            Collector::Threads(_) => None,
        }
    }

    fn runner_mut(&mut self) -> Option<&mut SyncRunner> {
        match &mut self.collector {
            Collector::Lockstep { runner, .. } => Some(runner),
            Collector::Threads(_) => None,
        }
    }

    fn env_spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn num_envs(&self) -> usize {
        self.sizes.envs_per_runner * self.config.env_runners.num_env_runners.max(1)
    }

    fn progress(&self) -> &dyn algo::Progress {
        &self.progress
    }

    fn progress_mut(&mut self) -> &mut dyn algo::Progress {
        &mut self.progress
    }

    fn save_learner(&self, dir: &Path) -> Result<Vec<String>, Error> {
        let mut files =
            vec![algo::save_weights(&self.model, dir, "model.bpk")?, algo::save_optimizer(&self.optimizer, dir)?];
        if let Some(target) = &self.target {
            files.push(algo::save_weights(target, dir, "target.bpk")?);
        }
        Ok(files)
    }

    fn policy_layout(&self) -> Vec<Vec<usize>> {
        crate::model::layout_of(&self.model)
    }

    fn load_learner(&mut self, dir: &Path) -> Result<(), Error> {
        self.model = crate::model::load_weights(self.model.clone(), dir)?;
        self.optimizer = algo::load_optimizer(&self.optimizer, dir)?;
        if let Some(target) = self.target.take() {
            self.target = Some(crate::model::load_weights_from(target, &dir.join("target.bpk"))?);
        }
        self.version += 1;
        self.publish();
        Ok(())
    }
}

impl Training for ImpalaTraining {
    type Algo = Impala;
    const NAME: &'static str = "IMPALA";

    fn build(config: &ImpalaConfig) -> Result<Impala, Error> {
        VtraceLearner::new(config.clone())
    }
}
