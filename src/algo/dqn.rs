//! DQN (Mnih et al. 2015) and its Rainbow extensions (Hessel et al. 2018) with RLlib's `DQNConfig` names: double
//! Q-learning, dueling heads, n-step returns, C51 distributional values, noisy nets and prioritized replay, each
//! switched on by its own key, in every combination. `myriad train rainbow` is this file with all of them on.
//!
//! One `train()` call is one iteration, read top to bottom: step the N envs `rollout_fragment_length` times with
//! the ε-greedy (or noisy) online network and insert every transition into the replay buffer on the learner's
//! device; once `num_steps_sampled_before_learning_starts` steps are in, run as many gradient updates as
//! `training_intensity` asks for on sampled minibatches with n-step targets from the target network; move the
//! target network every `target_network_update_freq` env steps; reduce the metrics to a few scalars.

use crate::algo::replay::{updates_owed, Drawn, Replay};
use crate::algo::target::OnlineTarget;
use crate::algo::{
    self, gradient_step, Algorithm, Counters, HasCounters, LearnerStats, SharedConfig, StepSums, Timers, TrainResult,
    Training,
};
use crate::config::{AlgorithmConfig, Schedule};
use crate::envs::{EpisodeStats, Space};
use crate::model::{HeadNoise, QHeadConfig, QNetwork};
use crate::returns::c51_project;
use crate::rollout::{ObsStorage, ReplayStep, StoredObs};
use crate::runners::{self, Bridge, Noise, NoiseKind, Policy, Stream, SyncRunner};
use crate::Error;
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------

/// The TD loss on the error δ (`td_error_loss_fn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TdLoss {
    /// Huber with κ = 1 (quadratic within |δ| ≤ 1).
    #[default]
    Huber,
    /// ½ δ².
    Mse,
}

/// Which transitions train (`replay_buffer_config.type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayKind {
    /// Every stored transition equally likely.
    #[default]
    Uniform,
    /// In proportion to priority^α, with importance weights (Schaul et al. 2016).
    Prioritized,
}

/// `replay_buffer_config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayBufferConfig {
    /// `uniform` or `prioritized`.
    #[serde(rename = "type")]
    pub kind: ReplayKind,
    /// Transitions kept (all envs together); the oldest are overwritten.
    pub capacity: usize,
    /// Prioritized: how much priorities count (0 = uniform).
    pub prioritized_replay_alpha: f64,
    /// Prioritized: importance-weight exponent β, a constant or `[[t, β], ...]` annealed over env steps.
    pub prioritized_replay_beta: Schedule,
    /// Prioritized: added to |δ| so no transition's priority is zero.
    pub prioritized_replay_eps: f64,
}

impl Default for ReplayBufferConfig {
    fn default() -> Self {
        Self {
            kind: ReplayKind::Uniform,
            capacity: 50_000,
            prioritized_replay_alpha: 0.6,
            prioritized_replay_beta: Schedule::Piecewise(vec![(0.0, 0.4), (100_000.0, 1.0)]),
            prioritized_replay_eps: 1e-6,
        }
    }
}

/// `training(...)`: DQN's loss, replay and exploration settings, RLlib's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DqnTraining {
    /// Adam step size: a constant or `[[t, lr], ...]` over lifetime env steps.
    pub lr: Schedule,
    /// Adam's ε.
    pub adam_epsilon: f64,
    /// Discount factor.
    pub gamma: f64,
    /// Transitions per gradient step.
    pub train_batch_size: usize,
    /// Pick the next action with the online network and value it with the target network (van Hasselt 2016).
    pub double_q: bool,
    /// Separate value and advantage streams, Q = V + A − mean A (Wang et al. 2016).
    pub dueling: bool,
    /// Steps summed before bootstrapping; episode ends cut the sum (terminated: no bootstrap).
    pub n_step: usize,
    /// Atoms of the C51 value distribution (Bellemare et al. 2017); 1 learns expected values.
    pub num_atoms: usize,
    /// C51: the support's lowest value.
    pub v_min: f64,
    /// C51: the support's highest value.
    pub v_max: f64,
    /// Noisy linear layers in the head instead of ε-greedy exploration (Fortunato et al. 2018).
    pub noisy: bool,
    /// Noisy nets: initial σ scale, σ = sigma0 / √fan_in.
    pub sigma0: f64,
    /// Hidden layers of the Q head after the encoder (ReLU).
    pub hiddens: Vec<usize>,
    /// Move the target network every this many env steps.
    pub target_network_update_freq: u64,
    /// Target update weight: 1 copies the online network, below 1 mixes it in (Polyak).
    pub tau: f64,
    /// Exploration ε: a constant or `[[t, ε], ...]` over env steps (ignored with `noisy`).
    pub epsilon: Schedule,
    /// The replay buffer.
    pub replay_buffer_config: ReplayBufferConfig,
    /// Checkpoints keep the replay buffer's contents and priorities (`replay.bin`), so a resumed run samples
    /// what the uninterrupted one would; off, a resumed run starts with an empty buffer.
    pub store_buffer_in_checkpoints: bool,
    /// Env steps collected before the first gradient step.
    pub num_steps_sampled_before_learning_starts: u64,
    /// Trained over sampled env steps (replay ratio × batch size); unset: one update per iteration.
    pub training_intensity: Option<f64>,
    /// `huber` or `mse` (C51 uses its cross-entropy instead).
    pub td_error_loss_fn: TdLoss,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    pub grad_clip: f64,
}

impl Default for DqnTraining {
    fn default() -> Self {
        Self {
            lr: Schedule::Constant(5e-4),
            adam_epsilon: 1e-8,
            gamma: 0.99,
            train_batch_size: 32,
            double_q: true,
            dueling: true,
            n_step: 1,
            num_atoms: 1,
            v_min: -10.0,
            v_max: 10.0,
            noisy: false,
            sigma0: 0.5,
            hiddens: vec![256],
            target_network_update_freq: 500,
            tau: 1.0,
            epsilon: Schedule::Piecewise(vec![(0.0, 1.0), (10_000.0, 0.05)]),
            replay_buffer_config: ReplayBufferConfig::default(),
            store_buffer_in_checkpoints: true,
            num_steps_sampled_before_learning_starts: 1000,
            training_intensity: None,
            td_error_loss_fn: TdLoss::Huber,
            grad_clip: 40.0,
        }
    }
}

impl DqnTraining {
    /// Rainbow: DQN with every extension on (double Q, dueling, 3-step returns, 51 atoms, noisy nets,
    /// prioritized replay with α = 0.5).
    pub fn rainbow() -> Self {
        Self {
            n_step: 3,
            num_atoms: 51,
            noisy: true,
            replay_buffer_config: ReplayBufferConfig {
                kind: ReplayKind::Prioritized,
                prioritized_replay_alpha: 0.5,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn head(&self) -> QHeadConfig {
        QHeadConfig {
            hiddens: self.hiddens.clone(),
            dueling: self.dueling,
            num_atoms: self.num_atoms,
            v_min: self.v_min,
            v_max: self.v_max,
            noisy: self.noisy,
            sigma0: self.sigma0,
            layer_norm: false,
        }
    }
}

/// Everything a DQN run needs, grouped as RLlib's `DQNConfig`: the shared groups plus [`DqnTraining`].
pub type DqnConfig = AlgorithmConfig<DqnTraining>;

impl DqnConfig {
    /// Validates the config, makes the envs, the networks and the replay buffer on the configured device.
    pub fn build(&self) -> Result<Dqn, Error> {
        let sizes = self.validate()?;
        Dqn::new(self.clone(), sizes)
    }

    /// Checks every value and derives the sizes (never written back into the config).
    pub fn validate(&self) -> Result<DqnSizes, Error> {
        self.validate_shared()?;
        self.require_lockstep("DQN")?;
        let bad = |msg: String| Err(Error::Config(msg));
        let t = &self.training;
        let n = self.env_runners.num_envs_per_env_runner;
        let horizon = self.env_runners.rollout_fragment_length.max(1);
        if t.train_batch_size == 0 {
            return bad("training.train_batch_size must be at least 1".into());
        }
        if t.n_step == 0 {
            return bad("training.n_step must be at least 1".into());
        }
        if t.num_atoms == 0 {
            return bad("training.num_atoms must be at least 1".into());
        }
        if t.num_atoms > 1 && !(t.v_min.is_finite() && t.v_max.is_finite() && t.v_min < t.v_max) {
            return bad(format!(
                "training.v_min ({}) must be below training.v_max ({}) for a C51 support of {} atoms",
                t.v_min, t.v_max, t.num_atoms
            ));
        }
        let rows = t.replay_buffer_config.validate(n, t.train_batch_size, t.n_step)?;
        t.lr.validate("training.lr", 0.0..=f64::INFINITY).map_err(Error::Config)?;
        t.epsilon.validate("training.epsilon", 0.0..=1.0).map_err(Error::Config)?;
        for (name, v, lo, hi) in [
            ("training.gamma", t.gamma, 0.0, 1.0),
            ("training.tau", t.tau, f64::MIN_POSITIVE, 1.0),
            ("training.sigma0", t.sigma0, 0.0, f64::INFINITY),
            ("training.grad_clip", t.grad_clip, 0.0, f64::INFINITY),
            ("training.adam_epsilon", t.adam_epsilon, f64::MIN_POSITIVE, 1.0),
            ("training.training_intensity", t.training_intensity.unwrap_or(1.0), f64::MIN_POSITIVE, 1e6),
        ] {
            if !(v.is_finite() && v >= lo && v <= hi) {
                return bad(format!("{name} = {v} is outside [{lo}, {hi}]"));
            }
        }
        if t.hiddens.contains(&0) {
            return bad(format!("training.hiddens must be positive sizes, got {:?}", t.hiddens));
        }
        if t.target_network_update_freq == 0 {
            return bad("training.target_network_update_freq must be at least 1 env step".into());
        }
        Ok(DqnSizes { num_envs: n, horizon, replay_rows: rows })
    }
}

/// Sizes derived from the config by `validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DqnSizes {
    pub num_envs: usize,
    /// Steps per env per iteration.
    pub horizon: usize,
    /// Rows of the replay ring (`capacity / num_envs`), one step of every env each.
    pub replay_rows: usize,
}

// ---------------------------------------------------------------------------------------------------------------
// Learner
// ---------------------------------------------------------------------------------------------------------------

/// DQN's learner statistics of one iteration, means over its gradient steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DqnStats {
    pub total_loss: f64,
    /// Mean Q(s, a) of the trained samples (C51: the expected value).
    pub qf_mean: f64,
    /// Mean |δ| (C51: the cross-entropy, Rainbow's priority).
    pub td_error_abs_mean: f64,
    /// Global L2 norm of the gradients before clipping.
    pub gradients_global_norm: f64,
    pub num_gradient_updates: u64,
    pub replay_buffer_size: u64,
    pub curr_epsilon: f64,
    pub learning_rate: f64,
    /// Prioritized replay: the importance-weight exponent used.
    pub curr_beta: f64,
}

/// Counters that, with the networks and optimiser, make a run resumable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DqnProgress {
    #[serde(flatten)]
    pub counters: Counters,
    /// Env step of the last target update.
    pub last_target_update: u64,
    /// Unspent fraction of a gradient update owed by `training_intensity`.
    pub update_debt: f64,
    pub gradient_updates: u64,
}

impl HasCounters for DqnProgress {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }
}

/// A DQN run: envs, online and target networks, optimiser, replay buffer and counters on one device.
pub struct Dqn {
    config: DqnConfig,
    sizes: DqnSizes,
    runner: SyncRunner,
    bridge: Bridge,
    nets: OnlineTarget<QNetwork>,
    /// The target network without autodiff, as the updates read it.
    target: QNetwork,
    optimizer: ModuleOptimizer,
    replay: Replay,
    progress: DqnProgress,
}

/// The greedy (or ε-greedy) policy of a Q network, for evaluation.
pub struct QPolicy {
    pub net: QNetwork,
    /// ε of exploring evaluation.
    pub epsilon: f64,
}

impl Policy for QPolicy {
    fn act(&self, obs: Tensor<2>, explore: bool, noise: &mut Noise, bridge: &Bridge) -> Result<Tensor<2>, Error> {
        let q = self.net.forward(obs, None).q;
        let epsilon = if explore { self.epsilon } else { 0.0 };
        epsilon_greedy(q, epsilon, noise, bridge)
    }
}

/// argmax Q per row, replaced by a uniformly random action with probability ε; `[B, 1]` indices as f32. The
/// draws are made on the device.
fn epsilon_greedy(q: Tensor<2>, epsilon: f64, noise: &mut Noise, bridge: &Bridge) -> Result<Tensor<2>, Error> {
    if epsilon <= 0.0 {
        return Ok(q.argmax(1).float());
    }
    let u = bridge.noise(noise, (NoiseKind::Uniform, 2), q.dims()[0], 1)?;
    Ok(epsilon_greedy_with(q, epsilon, u))
}

/// [`epsilon_greedy`] with its draws given: `u` `[B, 2]` uniform, column 0 decides whether to explore, column 1
/// which action.
pub(crate) fn epsilon_greedy_with(q: Tensor<2>, epsilon: f64, u: Tensor<2>) -> Tensor<2> {
    let actions = q.dims()[1];
    let greedy = q.argmax(1).float();
    let explore = u.clone().narrow(1, 0, 1).lower_elem(epsilon).float();
    let random = u.narrow(1, 1, 1).mul_scalar(actions as f64).floor().clamp_max((actions - 1) as f64);
    greedy.clone() + (random - greedy) * explore
}

/// Builds the Q network `config` describes for these spaces, its weights drawn from the run's seed.
pub fn q_network(config: &DqnConfig, obs: &Space, action: &Space, bridge: &Bridge) -> Result<QNetwork, Error> {
    let Space::Discrete { n } = action else {
        return Err(Error::Config(format!(
            "DQN needs a Discrete action space; {} has {action} (PPO trains Box actions: `myriad train ppo`)",
            config.environment.env
        )));
    };
    let seed = Stream::ModelInit.seed(config.debugging.seed);
    crate::model::seeded(bridge.device(), seed, || {
        QNetwork::new(&config.rl_module, &config.training.head(), obs, *n as usize, bridge.device())
            .map(crate::model::materialize)
    })
    .map_err(|e| Error::Config(format!("DQN network: {e} ({})", config.environment.env)))
}

impl Dqn {
    fn new(config: DqnConfig, sizes: DqnSizes) -> Result<Self, Error> {
        let bridge = Bridge::new(&config.resources)?;
        let seed = config.debugging.seed;
        let runner = SyncRunner::new(&config.environment, sizes.num_envs, &bridge, Stream::TrainingEnvs.seed(seed))?;
        let spec = runner.spec().clone();
        let online = q_network(&config, &spec.observation_space, &spec.action_space, &bridge)?;
        let nets = OnlineTarget::new(online);
        let target = nets.target.valid();
        let t = &config.training;
        let optimizer = AdamConfig::new().with_epsilon(t.adam_epsilon as f32).init();
        let storage = match runner.packed_obs_bytes() {
            Some(bytes) => ObsStorage::PackedU8 { bytes },
            None => ObsStorage::F32 { dim: spec.obs_dim() },
        };
        let shape = (sizes.replay_rows, sizes.num_envs, t.n_step);
        let replay = Replay::new(&t.replay_buffer_config, shape, storage, 1, &bridge)?;
        let progress = Default::default();
        Ok(Self { config, sizes, runner, bridge, nets, target, optimizer, replay, progress })
    }

    pub fn config(&self) -> &DqnConfig {
        &self.config
    }

    pub fn sizes(&self) -> DqnSizes {
        self.sizes
    }

    pub fn progress(&self) -> &DqnProgress {
        &self.progress
    }

    /// The online network.
    pub fn network(&self) -> &QNetwork {
        &self.nets.online
    }

    /// One iteration: collect, update, target sync, metrics.
    pub fn train(&mut self) -> Result<TrainResult, Error> {
        let started = Instant::now();
        let transfers_before = self.bridge.transfers();
        let t = self.config.training.clone();
        let (n, horizon) = (self.sizes.num_envs, self.sizes.horizon);
        let seed = self.config.debugging.seed;
        let mut noise = Stream::Iteration(self.progress.counters.iteration).noise(seed);
        let mut replay_noise = Stream::Replay(self.progress.counters.iteration).noise(seed);
        let steps_at_start = self.progress.counters.env_steps;
        let epsilon = if t.noisy { 0.0 } else { t.epsilon.value_at(steps_at_start) };
        let lr = t.lr.value_at(steps_at_start);
        let beta = t.replay_buffer_config.prioritized_replay_beta.value_at(steps_at_start);

        // ---- 1. Collect: T steps of N envs, ε-greedy (or noisy) actions, every transition into the replay ----
        let acting = self.nets.online.valid();
        for _ in 0..horizon {
            let obs = self.runner.obs(&self.bridge)?;
            let head_noise = self.head_noise(&acting, &mut noise)?;
            let q = acting.forward(obs.clone(), head_noise.as_ref()).q;
            let actions = epsilon_greedy(q, epsilon, &mut noise, &self.bridge)?;
            let packed_before = self.runner.packed_obs(&self.bridge);
            let step = self.runner.step(&self.bridge, actions.clone())?;
            let done = step.terminated.clone().max_pair(step.truncated.clone()).unsqueeze_dim::<2>(1); // [N, 1]
            let (stored, next) = match (packed_before, step.packed) {
                (Some(words), Some(packed)) => {
                    let (next_words, final_words) = (packed.obs, packed.final_obs);
                    let keep = done.clone().int().repeat_dim(1, next_words.dims()[1]);
                    let next = next_words.clone() + (final_words - next_words) * keep;
                    (StoredObs::Packed(words), StoredObs::Packed(next))
                }
                _ => (StoredObs::F32(obs), StoredObs::F32(step.obs.clone() + (step.final_obs - step.obs) * done)),
            };
            self.replay.push(ReplayStep {
                obs: stored,
                next_obs: next,
                actions,
                rewards: step.reward,
                terminated: step.terminated,
                truncated: step.truncated,
            })?;
        }
        let sampled = (horizon * n) as u64;
        let sampling_s = started.elapsed().as_secs_f64();

        // ---- 2. Update: gradient steps on replayed minibatches with n-step targets ----
        let update_start = Instant::now();
        let learning = steps_at_start + sampled >= t.num_steps_sampled_before_learning_starts;
        let updates = if learning && !self.replay.is_empty() {
            updates_owed(t.training_intensity, t.train_batch_size, sampled, &mut self.progress.update_debt)
        } else {
            0
        };
        let mut sums = StepSums::<4>::default();
        for _ in 0..updates {
            sums.add(self.update(&mut noise, &mut replay_noise, beta, lr)?);
        }
        self.progress.gradient_updates += updates;
        // The target network follows every `target_network_update_freq` env steps.
        let steps_now = steps_at_start + sampled;
        if learning && steps_now - self.progress.last_target_update >= t.target_network_update_freq {
            if t.tau >= 1.0 {
                self.nets.hard_update();
            } else {
                self.nets.polyak_update(t.tau);
            }
            self.target = self.nets.target.valid();
            self.progress.last_target_update = steps_now;
        }
        let update_s = update_start.elapsed().as_secs_f64();

        // ---- 3. Metrics: the only device → host read of the iteration ----
        let device = self.bridge.inner().clone();
        let mut scalars: Vec<Tensor<1>> =
            Vec::from(sums.into_array().unwrap_or_else(|| std::array::from_fn(|_| Tensor::zeros([1], &device))));
        scalars.push(self.runner.episode_sums(&self.bridge)?);
        let scalars: Vec<f32> = self.bridge.to_vec(Tensor::cat(scalars, 0))?;
        let mean = |i: usize| if updates > 0 { scalars[i] as f64 / updates as f64 } else { 0.0 };
        if !mean(0).is_finite() {
            return Err(Error::NonFinite(format!(
                "the DQN loss became {} in iteration {}; training stopped (lower training.lr or set training.grad_clip)",
                mean(0),
                self.progress.counters.iteration + 1
            )));
        }
        let episodes = EpisodeStats::from_sums(scalars[4], scalars[5], scalars[6]);
        let c = &mut self.progress.counters;
        c.window.push(episodes.episodes, episodes.return_mean, episodes.length_mean);
        c.iteration += 1;
        c.env_steps += sampled;
        c.env_steps_trained += updates * t.train_batch_size as u64;
        c.episodes += episodes.episodes;
        let iteration_s = started.elapsed().as_secs_f64();
        c.time_total_s += iteration_s;
        let stats = DqnStats {
            total_loss: mean(0),
            qf_mean: mean(1),
            td_error_abs_mean: mean(2),
            gradients_global_norm: mean(3),
            num_gradient_updates: updates,
            replay_buffer_size: self.replay.len() as u64,
            curr_epsilon: epsilon,
            learning_rate: lr,
            curr_beta: if self.replay.is_prioritized() { beta } else { 0.0 },
        };
        let timers = Timers {
            env_runner_sampling: sampling_s,
            learner_update: update_s,
            training_iteration: iteration_s,
            ..Default::default()
        };
        let mut result = TrainResult::new(c, LearnerStats::Dqn(stats)).with_timing(
            timers,
            sampled,
            transfers_before,
            self.bridge.transfers(),
        );
        result.episodes_this_iter = episodes.episodes;

        // ---- Evaluation, every `evaluation_interval` iterations ----
        self.with_periodic_evaluation(result)
    }

    /// Fresh noisy-net noise for `net` (standard normals drawn on the device), or `None` without noisy layers.
    fn head_noise(&self, net: &QNetwork, noise: &mut Noise) -> Result<Option<HeadNoise>, Error> {
        let size = net.noise_size();
        if size == 0 {
            return Ok(None);
        }
        let normals = self.bridge.noise(noise, (NoiseKind::Normal, size), 1, 1)?.reshape([size]);
        Ok(Some(HeadNoise::from_normals(normals, net)))
    }

    /// One gradient step on a replayed minibatch. Returns `[loss, mean Q, mean |δ|, gradient norm]`, each `[1]`
    /// on the device.
    fn update(
        &mut self,
        noise: &mut Noise,
        replay_noise: &mut Noise,
        beta: f64,
        lr: f64,
    ) -> Result<[Tensor<1>; 4], Error> {
        let t = &self.config.training;
        let b = t.train_batch_size;
        // Which transitions: only the B start indices (and, prioritized, B weights up and B priorities down)
        // cross between host and device.
        let Drawn { starts, sample, weights } = self.replay.draw(replay_noise, b, beta, t.gamma, &self.bridge)?;
        let actions = sample.indices();
        let online_noise = self.head_noise(&self.nets.online, noise)?;
        let target_noise = self.head_noise(&self.nets.online, noise)?;

        let target_out = self.target.forward(sample.boot_obs.clone(), target_noise.as_ref());
        // The next action: the online network's choice (double Q) or the target's own.
        let out = self.nets.online.forward(sample.obs, online_noise.as_ref());
        let next_q_values = if t.double_q {
            self.nets.online.valid().forward(sample.boot_obs, online_noise.as_ref()).q
        } else {
            target_out.q.clone()
        };
        let next_action: Tensor<1, Int> = next_q_values.argmax(1).squeeze_dim(1);
        let q_taken = out.q.clone().gather(1, actions.clone().unsqueeze_dim(1)).squeeze_dim::<1>(1);
        let (per_sample, td_abs) = match (&out.log_probs, &target_out.log_probs) {
            (Some(log_probs), Some(target_log_probs)) => {
                // C51: cross-entropy between the projected target distribution and the online one.
                let atoms = t.num_atoms;
                let pick = |x: Tensor<3>, a: Tensor<1, Int>| {
                    let idx = a.unsqueeze_dim::<2>(1).unsqueeze_dim::<3>(2).repeat_dim(2, atoms);
                    x.gather(1, idx).squeeze_dim::<2>(1) // [B, atoms]
                };
                let next_probs = pick(target_log_probs.clone(), next_action).exp();
                let projected = c51_project(next_probs, sample.returns, sample.discounts, t.v_min, t.v_max);
                let log_p = pick(log_probs.clone(), actions);
                let ce = (projected * log_p).sum_dim(1).squeeze_dim::<1>(1).neg();
                (ce.clone(), ce.detach())
            }
            _ => {
                let next_q = target_out.q.gather(1, next_action.unsqueeze_dim(1)).squeeze_dim::<1>(1);
                let target = sample.returns + sample.discounts * next_q;
                let td = q_taken.clone() - target;
                let loss = match t.td_error_loss_fn {
                    TdLoss::Mse => td.clone().square().mul_scalar(0.5),
                    TdLoss::Huber => huber(td.clone()),
                };
                (loss, td.abs().detach())
            }
        };
        let loss = match &weights {
            Some(w) => (per_sample * w.clone()).mean(),
            None => per_sample.mean(),
        };
        let norm = gradient_step(&mut self.optimizer, &mut self.nets.online, loss.clone(), lr, t.grad_clip);
        let eps = t.replay_buffer_config.prioritized_replay_eps;
        self.replay.update_priorities(&starts, td_abs.clone(), eps, &self.bridge)?;
        Ok([loss.detach(), q_taken.detach().mean(), td_abs.mean(), norm])
    }
}

/// Huber loss with κ = 1, elementwise.
fn huber(td: Tensor<1>) -> Tensor<1> {
    let abs = td.abs();
    let quadratic = abs.clone().clamp_max(1.0);
    let linear = abs - quadratic.clone();
    quadratic.square().mul_scalar(0.5) + linear
}

impl Algorithm for Dqn {
    fn name(&self) -> &'static str {
        "DQN"
    }

    fn train(&mut self) -> Result<TrainResult, Error> {
        Dqn::train(self)
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

    fn env_spec(&self) -> &crate::envs::EnvSpec {
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
            algo::save_weights(&self.nets.online, dir, "model.bpk")?,
            algo::save_weights(&self.nets.target, dir, "target.bpk")?,
            algo::save_optimizer(&self.optimizer, dir)?,
        ];
        if self.config.training.store_buffer_in_checkpoints {
            files.push(self.replay.save(dir)?);
        }
        Ok(files)
    }

    fn policy_layout(&self) -> Vec<Vec<usize>> {
        crate::model::layout_of(&self.nets.online)
    }

    fn policy(&self) -> Box<dyn runners::Policy + '_> {
        Box::new(QPolicy {
            net: self.nets.online.valid(),
            epsilon: self.config.training.epsilon.value_at(self.progress.counters.env_steps),
        })
    }

    fn bridge(&self) -> &runners::Bridge {
        &self.bridge
    }

    fn load_learner(&mut self, dir: &Path) -> Result<(), Error> {
        self.nets.online = crate::model::load_weights(self.nets.online.clone(), dir)?;
        self.nets.target = crate::model::load_weights_from(self.nets.target.clone(), &dir.join("target.bpk"))?;
        self.target = self.nets.target.valid();
        self.optimizer = algo::load_optimizer(&self.optimizer, dir)?;
        if self.config.training.store_buffer_in_checkpoints {
            self.replay.load(dir)?;
        }
        Ok(())
    }
}

impl Training for DqnTraining {
    type Algo = Dqn;
    const NAME: &'static str = "DQN";

    fn build(config: &DqnConfig) -> Result<Dqn, Error> {
        config.build()
    }

    fn defaults_for(cli: &str) -> DqnConfig {
        let training = if cli == "rainbow" { DqnTraining::rainbow() } else { DqnTraining::default() };
        DqnConfig { training, ..Default::default() }
    }
}
