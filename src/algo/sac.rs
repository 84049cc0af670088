//! SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications") with automatic entropy tuning and
//! RLlib's `SACConfig` names: a tanh-squashed Gaussian actor, twin Q critics with Polyak-averaged targets,
//! a learned temperature α, n-step returns and uniform or prioritized replay from the DQN family's buffer.
//!
//! One `train()` call is one iteration, read top to bottom: step the N envs `rollout_fragment_length` times
//! (random squashed-normal actions until `num_steps_sampled_before_learning_starts`, then actions sampled from
//! the actor) and insert every transition into the replay buffer on the learner's device; then as many gradient
//! updates as `training_intensity` asks for, each on one sampled minibatch:
//!
//! - critics: y = G + γ^m · (min_j Q'_j(s', a') − α · log π(a' | s')), a' ~ π(s'), with G and γ^m the n-step
//!   return and discount (γ^m = 0 where the window ended by termination; a truncated window bootstraps from the
//!   kept final observation); loss Σ_j ½ (Q_j(s, a) − y)², importance-weighted under prioritized replay;
//! - actor: α · log π(ã | s) − min_j Q_j(s, ã), ã ~ π(s) reparameterised through the updated critics;
//! - temperature: −log α · (log π(ã | s) + H̄), so α grows while the policy's entropy is below the target H̄;
//! - targets: Q' ← τ·Q + (1 − τ)·Q' after every update (`target_network_update_freq` = 0) or every that many env
//!   steps.
//!
//! The iteration's metrics are reduced on the device to a few scalars, the only read back to the host.

use crate::algo::dqn::ReplayBufferConfig;
use crate::algo::replay::{updates_owed, Drawn, Replay};
use crate::algo::target::OnlineTarget;
use crate::algo::{self, gradient_step, Algorithm, Counters, HasCounters, LearnerStats, SharedConfig, StepSums};
use crate::algo::{Timers, TrainResult, Training};
use crate::config::{AlgorithmConfig, Schedule};
use crate::envs::{EnvSpec, EpisodeStats, Space};
use crate::model::{Activation, Critics, ModelConfig, SquashedGaussian};
use crate::rollout::{ObsStorage, ReplayStep, StoredObs};
use crate::runners::{self, Bridge, Noise, NoiseKind, Policy, Stream, SyncRunner};
use crate::Error;
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------

/// `policy_model_config` / `q_model_config`: the fully connected layers of the actor or of each critic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SacModelConfig {
    /// Hidden layer sizes.
    pub fcnet_hiddens: Vec<usize>,
    /// Nonlinearity after each hidden layer.
    pub fcnet_activation: Activation,
}

impl Default for SacModelConfig {
    fn default() -> Self {
        Self { fcnet_hiddens: vec![256, 256], fcnet_activation: Activation::Relu }
    }
}

impl SacModelConfig {
    fn model(&self) -> ModelConfig {
        ModelConfig {
            fcnet_hiddens: self.fcnet_hiddens.clone(),
            fcnet_activation: self.fcnet_activation,
            ..Default::default()
        }
    }
}

/// `target_entropy`: `"auto"` (−|A|, the paper's heuristic) or a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetEntropy {
    Value(f64),
    Named(String),
}

impl Default for TargetEntropy {
    fn default() -> Self {
        TargetEntropy::Named("auto".into())
    }
}

impl TargetEntropy {
    /// H̄ for `action_dim` action values.
    pub fn resolve(&self, action_dim: usize) -> Result<f64, String> {
        match self {
            TargetEntropy::Named(name) if name == "auto" => Ok(-(action_dim as f64)),
            TargetEntropy::Value(v) if v.is_finite() => Ok(*v),
            TargetEntropy::Value(v) => Err(format!("training.target_entropy = {v} is not a finite number")),
            TargetEntropy::Named(other) => Err(format!(
                "training.target_entropy = \"{}\": give \"auto\" (−|A|) or a number",
                algo::clip(other, 100)
            )),
        }
    }
}

/// `training(...)`: SAC's losses, replay and exploration settings, RLlib's names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SacTraining {
    /// Adam step size of the actor: a constant or `[[t, lr], ...]` over lifetime env steps.
    pub actor_lr: Schedule,
    /// Adam step size of the critics.
    pub critic_lr: Schedule,
    /// Adam step size of log α.
    pub alpha_lr: Schedule,
    /// Discount factor.
    pub gamma: f64,
    /// Polyak weight of the target critics: Q' ← τ·Q + (1 − τ)·Q', in (0, 1].
    pub tau: f64,
    /// Move the target critics every this many env steps; 0 moves them after every gradient update.
    pub target_network_update_freq: u64,
    /// α at the start, above 0.
    pub initial_alpha: f64,
    /// The entropy α is tuned towards: `"auto"` (−|A|) or a number.
    pub target_entropy: TargetEntropy,
    /// Steps summed before bootstrapping; episode ends cut the sum (terminated: no bootstrap).
    pub n_step: usize,
    /// Two critics valued by their minimum (clipped double Q); off, one critic.
    pub twin_q: bool,
    /// Transitions per gradient update.
    pub train_batch_size: usize,
    /// The replay buffer (the DQN family's: `uniform` or `prioritized`).
    pub replay_buffer_config: ReplayBufferConfig,
    /// Checkpoints keep the replay buffer's contents and priorities (`replay.bin`).
    pub store_buffer_in_checkpoints: bool,
    /// Env steps collected before the first gradient update, with random actions tanh(ε) (ε the exploration
    /// noise of `action_noise_correlation`) that do not depend on the actor.
    pub num_steps_sampled_before_learning_starts: u64,
    /// Trained over sampled env steps (replay ratio × batch size); unset: one update per iteration.
    pub training_intensity: Option<f64>,
    /// Clip each network's gradients to this global L2 norm; 0 turns clipping off.
    pub grad_clip: f64,
    /// The actor's layers.
    pub policy_model_config: SacModelConfig,
    /// Each critic's layers (its input: the observation and the action, concatenated).
    pub q_model_config: SacModelConfig,
    /// Correlation ρ of each env's exploration noise from one step to the next, in [0, 1): the actor samples with
    /// ε_t = ρ·ε_{t−1} + √(1 − ρ²)·ξ_t, ξ_t ~ N(0, I), a standard normal at every step whatever ρ. 0 is the
    /// paper's white noise; near 1 the actions wander slowly, which finds sparse rewards such as
    /// MountainCarContinuous's goal (temporally correlated noise, as in Eberhard et al. 2023).
    pub action_noise_correlation: f64,
}

impl Default for SacTraining {
    fn default() -> Self {
        Self {
            actor_lr: Schedule::Constant(3e-4),
            critic_lr: Schedule::Constant(3e-4),
            alpha_lr: Schedule::Constant(3e-4),
            gamma: 0.99,
            tau: 5e-3,
            target_network_update_freq: 0,
            initial_alpha: 1.0,
            target_entropy: TargetEntropy::default(),
            n_step: 1,
            twin_q: true,
            train_batch_size: 256,
            replay_buffer_config: ReplayBufferConfig { capacity: 1_000_000, ..Default::default() },
            store_buffer_in_checkpoints: true,
            num_steps_sampled_before_learning_starts: 1500,
            training_intensity: None,
            grad_clip: 0.0,
            policy_model_config: SacModelConfig::default(),
            q_model_config: SacModelConfig::default(),
            action_noise_correlation: 0.0,
        }
    }
}

/// Everything a SAC run needs: the shared groups plus [`SacTraining`].
pub type SacConfig = AlgorithmConfig<SacTraining>;

/// Sizes derived from the config by [`SacConfig::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SacSizes {
    pub num_envs: usize,
    /// Steps per env per iteration.
    pub horizon: usize,
    /// Rows of the replay ring (`capacity / num_envs`), one step of every env each.
    pub replay_rows: usize,
}

impl SacConfig {
    /// Checks every value that does not need the env and derives the sizes (never written back into the config).
    pub fn validate(&self) -> Result<SacSizes, Error> {
        self.validate_shared()?;
        self.require_lockstep("SAC")?;
        let bad = |msg: String| Err(Error::Config(msg));
        let t = &self.training;
        let n = self.env_runners.num_envs_per_env_runner;
        let horizon = self.env_runners.rollout_fragment_length.max(1);
        if !self.environment.normalize_actions {
            return bad("SAC's squashed actions lie in [-1, 1] and are scaled to the Box bounds: keep \
                        environment.normalize_actions = true"
                .into());
        }
        if t.train_batch_size == 0 {
            return bad("training.train_batch_size must be at least 1".into());
        }
        if t.n_step == 0 {
            return bad("training.n_step must be at least 1".into());
        }
        let rows = t.replay_buffer_config.validate(n, t.train_batch_size, t.n_step)?;
        for (name, lr) in [("training.actor_lr", &t.actor_lr), ("training.critic_lr", &t.critic_lr)]
            .into_iter()
            .chain([("training.alpha_lr", &t.alpha_lr)])
        {
            lr.validate(name, 0.0..=f64::INFINITY).map_err(Error::Config)?;
        }
        if !(t.tau.is_finite() && t.tau > 0.0 && t.tau <= 1.0) {
            return bad(format!("training.tau = {} is outside (0, 1]", t.tau));
        }
        if !(t.initial_alpha.is_finite() && t.initial_alpha > 0.0) {
            return bad(format!("training.initial_alpha = {} must be a number above 0", t.initial_alpha));
        }
        t.target_entropy.resolve(1).map_err(Error::Config)?;
        if !(t.action_noise_correlation.is_finite() && (0.0..1.0).contains(&t.action_noise_correlation)) {
            return bad(format!(
                "training.action_noise_correlation = {} is outside [0, 1)",
                t.action_noise_correlation
            ));
        }
        for (name, v, lo, hi) in [
            ("training.gamma", t.gamma, 0.0, 1.0),
            ("training.grad_clip", t.grad_clip, 0.0, f64::MAX),
            ("training.training_intensity", t.training_intensity.unwrap_or(1.0), f64::MIN_POSITIVE, 1e6),
        ] {
            if !(v.is_finite() && v >= lo && v <= hi) {
                return bad(format!("{name} = {v} is outside [{lo}, {hi}]"));
            }
        }
        for (name, m) in [("policy_model_config", &t.policy_model_config), ("q_model_config", &t.q_model_config)] {
            if m.fcnet_hiddens.contains(&0) {
                return bad(format!("training.{name}.fcnet_hiddens must be positive sizes, got {:?}", m.fcnet_hiddens));
            }
        }
        Ok(SacSizes { num_envs: n, horizon, replay_rows: rows })
    }
}

/// The action width SAC trains for `action` (a 1-D Box with finite bounds); any other space is an error naming
/// the algorithms that fit it.
pub fn box_action_dim(config: &SacConfig, action: &Space) -> Result<usize, Error> {
    match action {
        Space::Box { low, high, shape } if shape.len() == 1 && low.iter().chain(high).all(|v| v.is_finite()) => {
            Ok(shape[0])
        }
        Space::Box { .. } => Err(Error::Config(format!(
            "SAC needs 1-D Box actions with finite bounds; {} has {action}",
            config.environment.env
        ))),
        Space::Discrete { .. } => Err(Error::Config(format!(
            "SAC needs Box actions; {} has {action} (Discrete actions train with `myriad train dqn`, `rainbow`, \
             `pqn`, `ppo`, `impala` or `appo`)",
            config.environment.env
        ))),
    }
}

/// The actor `config` describes for these spaces, its weights drawn from the run's seed.
pub fn actor_network(
    config: &SacConfig,
    obs: &Space,
    action: &Space,
    bridge: &Bridge,
) -> Result<SquashedGaussian, Error> {
    let dim = box_action_dim(config, action)?;
    let seed = Stream::ModelInit.seed(config.debugging.seed);
    crate::model::seeded(bridge.device(), seed, || {
        SquashedGaussian::new(&config.training.policy_model_config.model(), obs, dim, bridge.device())
            .map(crate::model::materialize)
    })
    .map_err(|e| Error::Config(format!("SAC actor: {e} ({})", config.environment.env)))
}

// ---------------------------------------------------------------------------------------------------------------
// Learner
// ---------------------------------------------------------------------------------------------------------------

/// SAC's learner statistics of one iteration, means over its gradient updates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SacStats {
    /// The critics' loss.
    pub total_loss: f64,
    pub actor_loss: f64,
    pub alpha_loss: f64,
    /// α after the updates.
    pub alpha_value: f64,
    /// Mean Q_1(s, a) of the replayed samples.
    pub qf_mean: f64,
    /// Mean |Q_1(s, a) − y|.
    pub td_error_abs_mean: f64,
    /// Mean −log π(ã | s) of the actor's samples.
    pub entropy: f64,
    pub critic_gradients_global_norm: f64,
    pub actor_gradients_global_norm: f64,
    pub num_gradient_updates: u64,
    pub replay_buffer_size: u64,
    /// Prioritized replay: the importance-weight exponent used.
    pub curr_beta: f64,
}

/// Counters that, with the networks, optimisers, replay and exploration noise, make a run resumable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SacProgress {
    #[serde(flatten)]
    pub counters: Counters,
    /// Env step of the last target update (with `target_network_update_freq` > 0).
    pub last_target_update: u64,
    /// Unspent fraction of a gradient update owed by `training_intensity`.
    pub update_debt: f64,
    pub gradient_updates: u64,
}

impl HasCounters for SacProgress {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }
}

/// The learned temperature, as log α (α = e^{log α} stays positive).
#[derive(Module, Debug)]
pub struct Temperature {
    log_alpha: Param<Tensor<1>>,
}

impl Temperature {
    pub fn new(alpha: f64, device: &Device) -> Self {
        Self { log_alpha: Param::from_tensor(Tensor::from_data(TensorData::new(vec![alpha.ln() as f32], [1]), device)) }
    }

    /// log α, `[1]`.
    pub fn log_alpha(&self) -> Tensor<1> {
        self.log_alpha.val()
    }
}

/// −log α · (mean log π + H̄), `[1]`: the temperature's loss, whose gradient −(mean log π + H̄) raises α while
/// the policy's entropy (−log π) is below the target H̄.
pub fn alpha_loss(log_alpha: Tensor<1>, log_prob: Tensor<1>, target_entropy: f64) -> Tensor<1> {
    (log_alpha * log_prob.detach().add_scalar(target_entropy).mean()).neg()
}

/// The critics' regression target y = G + γ^m · (min_j Q'_j(s', a') − α · log π(a' | s')), `[B]`, from the
/// n-step return G and discount γ^m (0 where the window ended by termination), the target critics' minimum at the
/// next action and its log-probability.
pub fn critic_target(
    returns: Tensor<1>,
    discounts: Tensor<1>,
    next_min_q: Tensor<1>,
    next_log_prob: Tensor<1>,
    alpha: Tensor<1>,
) -> Tensor<1> {
    let b = returns.dims()[0];
    returns + discounts * (next_min_q - next_log_prob * alpha.repeat_dim(0, b))
}

/// The actor's policy for evaluation: tanh(μ) greedily, a squashed sample when exploring.
pub struct SacPolicy {
    pub actor: SquashedGaussian,
}

impl Policy for SacPolicy {
    fn act(&self, obs: Tensor<2>, explore: bool, noise: &mut Noise, bridge: &Bridge) -> Result<Tensor<2>, Error> {
        if !explore {
            return Ok(self.actor.greedy(obs));
        }
        let eps = bridge.noise(noise, (NoiseKind::Normal, self.actor.dim()), obs.dims()[0], 1)?;
        Ok(self.actor.sample(obs, eps).actions)
    }
}

/// A SAC run: envs, actor, critics and their targets, temperature, three optimisers, replay and counters on one
/// device.
pub struct Sac {
    config: SacConfig,
    sizes: SacSizes,
    runner: SyncRunner,
    bridge: Bridge,
    actor: SquashedGaussian,
    critics: OnlineTarget<Critics>,
    /// The target critics without autodiff, as the updates read them.
    target: Critics,
    temperature: Temperature,
    actor_optimizer: ModuleOptimizer,
    critic_optimizer: ModuleOptimizer,
    alpha_optimizer: ModuleOptimizer,
    replay: Replay,
    /// `[N, A]`: each env's last exploration draw ε_{t−1} (with `action_noise_correlation` > 0).
    exploration: Tensor<2>,
    target_entropy: f64,
    progress: SacProgress,
}

impl Sac {
    pub fn new(config: SacConfig) -> Result<Self, Error> {
        let sizes = config.validate()?;
        let bridge = Bridge::new(&config.resources)?;
        let seed = config.debugging.seed;
        let runner = SyncRunner::new(&config.environment, sizes.num_envs, &bridge, Stream::TrainingEnvs.seed(seed))?;
        let spec = runner.spec().clone();
        let t = &config.training;
        let actor = actor_network(&config, &spec.observation_space, &spec.action_space, &bridge)?;
        let action_dim = actor.dim();
        let target_entropy = t.target_entropy.resolve(action_dim).map_err(Error::Config)?;
        let count = if t.twin_q { 2 } else { 1 };
        let critics = crate::model::seeded(bridge.device(), Stream::CriticInit.seed(seed), || {
            Critics::new(count, &t.q_model_config.model(), &spec.observation_space, action_dim, bridge.device())
                .map(crate::model::materialize)
        })
        .map_err(|e| Error::Config(format!("SAC critics: {e} ({})", config.environment.env)))?;
        let critics = OnlineTarget::new(critics);
        let target = critics.target.valid();
        let temperature = Temperature::new(t.initial_alpha, bridge.device());
        let storage = ObsStorage::F32 { dim: spec.obs_dim() };
        let shape = (sizes.replay_rows, sizes.num_envs, t.n_step);
        let replay = Replay::new(&t.replay_buffer_config, shape, storage, action_dim, &bridge)?;
        let exploration = Tensor::zeros([sizes.num_envs, action_dim], bridge.inner());
        let adam = || AdamConfig::new().init();
        Ok(Self {
            config,
            sizes,
            runner,
            bridge,
            actor,
            critics,
            target,
            temperature,
            actor_optimizer: adam(),
            critic_optimizer: adam(),
            alpha_optimizer: adam(),
            replay,
            exploration,
            target_entropy,
            progress: SacProgress::default(),
        })
    }

    pub fn sizes(&self) -> SacSizes {
        self.sizes
    }

    /// The actor.
    pub fn actor(&self) -> &SquashedGaussian {
        &self.actor
    }

    /// H̄, resolved for the env's action width.
    pub fn target_entropy(&self) -> f64 {
        self.target_entropy
    }

    /// One iteration: collect, update, metrics.
    pub fn train(&mut self) -> Result<TrainResult, Error> {
        let started = Instant::now();
        let transfers_before = self.bridge.transfers();
        let t = self.config.training.clone();
        let (n, horizon, a) = (self.sizes.num_envs, self.sizes.horizon, self.actor.dim());
        let seed = self.config.debugging.seed;
        let mut noise = Stream::Iteration(self.progress.counters.iteration).noise(seed);
        let mut replay_noise = Stream::Replay(self.progress.counters.iteration).noise(seed);
        let steps_at_start = self.progress.counters.env_steps;
        let (actor_lr, critic_lr, alpha_lr) = (
            t.actor_lr.value_at(steps_at_start),
            t.critic_lr.value_at(steps_at_start),
            t.alpha_lr.value_at(steps_at_start),
        );
        let beta = t.replay_buffer_config.prioritized_replay_beta.value_at(steps_at_start);

        // ---- 1. Collect: T steps of N envs (random, then sampled from the actor), every transition into the replay ----
        let random = steps_at_start < t.num_steps_sampled_before_learning_starts;
        let draws = self.bridge.noise(&mut noise, (NoiseKind::Normal, a), n, horizon)?;
        let acting = self.actor.valid();
        let rho = t.action_noise_correlation;
        for step_index in 0..horizon {
            let obs = self.runner.obs(&self.bridge)?;
            let draw = draws.clone().narrow(0, step_index * n, n);
            self.exploration = if rho > 0.0 {
                self.exploration.clone().mul_scalar(rho) + draw.mul_scalar((1.0 - rho * rho).sqrt())
            } else {
                draw
            };
            let actions = if random {
                tanh(self.exploration.clone())
            } else {
                acting.sample(obs.clone(), self.exploration.clone()).actions
            };
            let step = self.runner.step(&self.bridge, actions.clone())?;
            let done = step.terminated.clone().max_pair(step.truncated.clone()).unsqueeze_dim::<2>(1); // [N, 1]
            let next = step.obs.clone() + (step.final_obs - step.obs) * done;
            self.replay.push(ReplayStep {
                obs: StoredObs::F32(obs),
                next_obs: StoredObs::F32(next),
                actions,
                rewards: step.reward,
                terminated: step.terminated,
                truncated: step.truncated,
            })?;
        }
        let sampled = (horizon * n) as u64;
        let sampling_s = started.elapsed().as_secs_f64();

        // ---- 2. Update: critics, actor, temperature and targets on replayed minibatches ----
        let update_start = Instant::now();
        let learning = steps_at_start + sampled >= t.num_steps_sampled_before_learning_starts;
        let updates = if learning && !self.replay.is_empty() {
            updates_owed(t.training_intensity, t.train_batch_size, sampled, &mut self.progress.update_debt)
        } else {
            0
        };
        let mut sums = StepSums::<8>::default();
        for _ in 0..updates {
            sums.add(self.update(&mut noise, &mut replay_noise, beta, (actor_lr, critic_lr, alpha_lr))?);
            if t.target_network_update_freq == 0 {
                self.move_targets();
            }
        }
        self.progress.gradient_updates += updates;
        let steps_now = steps_at_start + sampled;
        if t.target_network_update_freq > 0
            && learning
            && steps_now - self.progress.last_target_update >= t.target_network_update_freq
        {
            self.move_targets();
            self.progress.last_target_update = steps_now;
        }
        let update_s = update_start.elapsed().as_secs_f64();

        // ---- 3. Metrics: the only device → host read of the iteration ----
        let device = self.bridge.inner().clone();
        let mut scalars: Vec<Tensor<1>> =
            Vec::from(sums.into_array().unwrap_or_else(|| std::array::from_fn(|_| Tensor::zeros([1], &device))));
        scalars.push(self.temperature.log_alpha().detach().exp());
        scalars.push(self.runner.episode_sums(&self.bridge)?);
        let scalars: Vec<f32> = self.bridge.to_vec(Tensor::cat(scalars, 0))?;
        let mean = |i: usize| if updates > 0 { scalars[i] as f64 / updates as f64 } else { 0.0 };
        if !(mean(0).is_finite() && mean(1).is_finite() && scalars[8].is_finite()) {
            return Err(Error::NonFinite(format!(
                "the SAC losses became {} (critics) and {} (actor) in iteration {}; training stopped (lower the \
                 learning rates or set training.grad_clip)",
                mean(0),
                mean(1),
                self.progress.counters.iteration + 1
            )));
        }
        let episodes = EpisodeStats::from_sums(scalars[9], scalars[10], scalars[11]);
        let c = &mut self.progress.counters;
        c.window.push(episodes.episodes, episodes.return_mean, episodes.length_mean);
        c.iteration += 1;
        c.env_steps += sampled;
        c.env_steps_trained += updates * t.train_batch_size as u64;
        c.episodes += episodes.episodes;
        let iteration_s = started.elapsed().as_secs_f64();
        c.time_total_s += iteration_s;
        let stats = SacStats {
            total_loss: mean(0),
            actor_loss: mean(1),
            alpha_loss: mean(2),
            alpha_value: scalars[8] as f64,
            qf_mean: mean(3),
            td_error_abs_mean: mean(4),
            entropy: mean(5),
            critic_gradients_global_norm: mean(6),
            actor_gradients_global_norm: mean(7),
            num_gradient_updates: updates,
            replay_buffer_size: self.replay.len() as u64,
            curr_beta: if self.replay.is_prioritized() { beta } else { 0.0 },
        };
        let timers = Timers {
            env_runner_sampling: sampling_s,
            learner_update: update_s,
            training_iteration: iteration_s,
            ..Default::default()
        };
        let mut result = TrainResult::new(c, LearnerStats::Sac(stats)).with_timing(
            timers,
            sampled,
            transfers_before,
            self.bridge.transfers(),
        );
        result.episodes_this_iter = episodes.episodes;

        // ---- Evaluation, every `evaluation_interval` iterations ----
        self.with_periodic_evaluation(result)
    }

    /// Q' ← τ·Q + (1 − τ)·Q'.
    fn move_targets(&mut self) {
        self.critics.polyak_update(self.config.training.tau);
        self.target = self.critics.target.valid();
    }

    /// One update of the critics, the actor and α on a replayed minibatch. Returns `[critic loss, actor loss,
    /// α loss, mean Q_1, mean |δ|, entropy, critic gradient norm, actor gradient norm]`, each `[1]` on the device.
    fn update(
        &mut self,
        noise: &mut Noise,
        replay_noise: &mut Noise,
        beta: f64,
        (actor_lr, critic_lr, alpha_lr): (f64, f64, f64),
    ) -> Result<[Tensor<1>; 8], Error> {
        let t = &self.config.training;
        let (b, a) = (t.train_batch_size, self.actor.dim());
        let Drawn { starts, sample, weights } = self.replay.draw(replay_noise, b, beta, t.gamma, &self.bridge)?;
        let eps = self.bridge.noise(noise, (NoiseKind::Normal, a), b, 2)?;
        let alpha = self.temperature.log_alpha().detach().exp();

        // Critics: regress every Q_j(s, a) on y, built from the target critics at a' ~ π(s').
        let next = self.actor.valid().sample(sample.boot_obs.clone(), eps.clone().narrow(0, 0, b));
        let next_min_q = self.target.min(sample.boot_obs, next.actions);
        let y = critic_target(sample.returns, sample.discounts, next_min_q, next.log_prob, alpha.clone()).detach();
        let qs = self.critics.online.each(sample.obs.clone(), sample.actions);
        let q1 = qs[0].clone();
        let per_sample = qs.into_iter().map(|q| (q - y.clone()).square().mul_scalar(0.5)).reduce(|x, y| x + y);
        let per_sample = per_sample.expect("at least one critic");
        let critic_loss = match &weights {
            Some(w) => (per_sample * w.clone()).mean(),
            None => per_sample.mean(),
        };
        let td_abs = (q1.clone().detach() - y).abs();
        let critic_norm = gradient_step(
            &mut self.critic_optimizer,
            &mut self.critics.online,
            critic_loss.clone(),
            critic_lr,
            t.grad_clip,
        );

        // Actor: α · log π(ã | s) − min_j Q_j(s, ã), through the updated critics.
        let pi = self.actor.sample(sample.obs.clone(), eps.narrow(0, b, b));
        let min_q = self.critics.online.min(sample.obs, pi.actions);
        let actor_loss = (pi.log_prob.clone() * alpha.repeat_dim(0, b) - min_q).mean();
        let actor_norm =
            gradient_step(&mut self.actor_optimizer, &mut self.actor, actor_loss.clone(), actor_lr, t.grad_clip);

        // Temperature: toward the target entropy.
        let log_prob = pi.log_prob.detach();
        let temperature_loss = alpha_loss(self.temperature.log_alpha(), log_prob.clone(), self.target_entropy);
        gradient_step(&mut self.alpha_optimizer, &mut self.temperature, temperature_loss.clone(), alpha_lr, 0.0);

        let eps = t.replay_buffer_config.prioritized_replay_eps;
        self.replay.update_priorities(&starts, td_abs.clone(), eps, &self.bridge)?;
        Ok([
            critic_loss.detach(),
            actor_loss.detach(),
            temperature_loss.detach(),
            q1.detach().mean(),
            td_abs.mean(),
            log_prob.mean().neg(),
            critic_norm,
            actor_norm,
        ])
    }

    /// `exploration.bin`: the `[N, A]` exploration state as little-endian f32.
    fn save_exploration(&self, dir: &Path) -> Result<String, Error> {
        let values: Vec<f32> = self.bridge.to_vec(self.exploration.clone().reshape([-1]))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join("exploration.bin"), bytes)
            .map_err(|e| Error::Io(format!("writing a checkpoint (exploration.bin): {e}")))?;
        Ok("exploration.bin".into())
    }

    fn load_exploration(&mut self, dir: &Path) -> Result<(), Error> {
        let path = dir.join("exploration.bin");
        let corrupt = |why: String| Error::Checkpoint(format!("{} is unreadable or corrupt: {why}", path.display()));
        let bytes = std::fs::read(&path).map_err(|e| corrupt(e.to_string()))?;
        let (n, a) = (self.sizes.num_envs, self.actor.dim());
        if bytes.len() != n * a * 4 {
            return Err(corrupt(format!(
                "{} bytes, this run's {n} envs × {a} action values need {}",
                bytes.len(),
                n * a * 4
            )));
        }
        let values: Vec<f32> =
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        self.exploration = Tensor::from_data(TensorData::new(values, [n, a]), self.bridge.inner());
        Ok(())
    }
}

impl Algorithm for Sac {
    fn name(&self) -> &'static str {
        "SAC"
    }

    fn train(&mut self) -> Result<TrainResult, Error> {
        Sac::train(self)
    }

    fn config(&self) -> &dyn SharedConfig {
        &self.config
    }

    fn runner(&self) -> Option<&SyncRunner> {
        Some(&self.runner)
    }

    fn runner_mut(&mut self) -> Option<&mut SyncRunner> {
        Some(&mut self.runner)
    }

    fn env_spec(&self) -> &EnvSpec {
        self.runner.spec()
    }

    fn num_envs(&self) -> usize {
        self.runner.num_envs()
    }

    fn progress(&self) -> &dyn algo::Progress {
        &self.progress
    }

    fn progress_mut(&mut self) -> &mut dyn algo::Progress {
        &mut self.progress
    }

    fn save_learner(&self, dir: &Path) -> Result<Vec<String>, Error> {
        let mut files = vec![
            algo::save_weights(&self.actor, dir, "model.bpk")?,
            algo::save_weights(&self.critics.online, dir, "critics.bpk")?,
            algo::save_weights(&self.critics.target, dir, "critics_target.bpk")?,
            algo::save_weights(&self.temperature, dir, "alpha.bpk")?,
            algo::save_optimizer_as(&self.actor_optimizer, dir, "optimizer.bpk")?,
            algo::save_optimizer_as(&self.critic_optimizer, dir, "critic_optimizer.bpk")?,
            algo::save_optimizer_as(&self.alpha_optimizer, dir, "alpha_optimizer.bpk")?,
            self.save_exploration(dir)?,
        ];
        if self.config.training.store_buffer_in_checkpoints {
            files.push(self.replay.save(dir)?);
        }
        Ok(files)
    }

    fn policy_layout(&self) -> Vec<Vec<usize>> {
        crate::model::layout_of(&self.actor)
    }

    fn policy(&self) -> Box<dyn runners::Policy + '_> {
        Box::new(SacPolicy { actor: self.actor.valid() })
    }

    fn bridge(&self) -> &runners::Bridge {
        &self.bridge
    }

    fn load_learner(&mut self, dir: &Path) -> Result<(), Error> {
        use crate::model::load_weights_from;
        self.actor = crate::model::load_weights(self.actor.clone(), dir)?;
        self.critics.online = load_weights_from(self.critics.online.clone(), &dir.join("critics.bpk"))?;
        self.critics.target = load_weights_from(self.critics.target.clone(), &dir.join("critics_target.bpk"))?;
        self.target = self.critics.target.valid();
        self.temperature = load_weights_from(self.temperature.clone(), &dir.join("alpha.bpk"))?;
        self.actor_optimizer = algo::load_optimizer_from(&self.actor_optimizer, dir, "optimizer.bpk")?;
        self.critic_optimizer = algo::load_optimizer_from(&self.critic_optimizer, dir, "critic_optimizer.bpk")?;
        self.alpha_optimizer = algo::load_optimizer_from(&self.alpha_optimizer, dir, "alpha_optimizer.bpk")?;
        self.load_exploration(dir)?;
        if self.config.training.store_buffer_in_checkpoints {
            self.replay.load(dir)?;
        }
        Ok(())
    }
}

impl Training for SacTraining {
    type Algo = Sac;
    const NAME: &'static str = "SAC";

    fn build(config: &SacConfig) -> Result<Sac, Error> {
        Sac::new(config.clone())
    }
}
