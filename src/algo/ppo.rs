//! PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") with RLlib's loss and config names.
//!
//! One `train()` call is one iteration, read top to bottom: collect `T` steps of `N` batched envs with the current
//! policy, compute advantages with GAE (terminated vs truncated kept apart), run `num_epochs` passes of shuffled
//! minibatch updates, and reduce the metrics to a handful of scalars that are the only data the host reads.

use crate::algo::{
    self, gradient_step, Algorithm, Counters, HasCounters, LearnerStats, SharedConfig, StepSums, Timers, TrainResult,
    Training,
};
use crate::config::{AlgorithmConfig, Schedule};
use crate::envs::EpisodeStats;
use crate::model::ActorCritic;
use crate::returns::{GaeParams, ReturnInputs};
use crate::rollout::{RolloutShape, RolloutStorage};
use crate::runners::{self, Bridge, Stream, SyncRunner};
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

/// `training(...)`: PPO's loss and optimiser settings, RLlib's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoTraining {
    /// Adam step size: a constant or `[[t, lr], ...]` over lifetime env steps.
    pub lr: Schedule,
    /// Discount factor.
    pub gamma: f64,
    /// GAE λ.
    #[serde(rename = "lambda")]
    pub lambda_: f64,
    /// Env steps per iteration (`num_envs × rollout_fragment_length`).
    pub train_batch_size: usize,
    /// Samples per gradient step.
    pub minibatch_size: usize,
    /// Passes over the batch per iteration.
    pub num_epochs: usize,
    /// Reshuffle the batch before each epoch.
    pub shuffle_batch_per_epoch: bool,
    /// Clip range ε of the probability ratio.
    pub clip_param: f64,
    /// The squared value error is clipped at this value.
    pub vf_clip_param: f64,
    /// Weight of the value loss.
    pub vf_loss_coeff: f64,
    /// Weight of the entropy bonus: a constant or `[[t, c], ...]`.
    pub entropy_coeff: Schedule,
    /// Add `kl_coeff · KL(old ‖ new)` to the loss.
    pub use_kl_loss: bool,
    /// Initial KL coefficient, adapted each iteration toward `kl_target`.
    pub kl_coeff: f64,
    /// The KL the adaptive coefficient aims for.
    pub kl_target: f64,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    pub grad_clip: f64,
    /// Standardise advantages over the batch before the update.
    pub normalize_advantages: bool,
}

impl Default for PpoTraining {
    fn default() -> Self {
        Self {
            lr: Schedule::Constant(5e-5),
            gamma: 0.99,
            lambda_: 1.0,
            train_batch_size: 4000,
            minibatch_size: 128,
            num_epochs: 30,
            shuffle_batch_per_epoch: true,
            clip_param: 0.3,
            vf_clip_param: 10.0,
            vf_loss_coeff: 1.0,
            entropy_coeff: Schedule::Constant(0.0),
            use_kl_loss: true,
            kl_coeff: 0.2,
            kl_target: 0.01,
            grad_clip: 0.0,
            normalize_advantages: true,
        }
    }
}

/// Everything a PPO run needs, grouped as RLlib's `PPOConfig`: the shared groups plus [`PpoTraining`].
pub type PpoConfig = AlgorithmConfig<PpoTraining>;

impl PpoConfig {
    /// Validates the config, makes the envs and the model on the configured device.
    pub fn build(&self) -> Result<Ppo, Error> {
        let sizes = self.validate()?;
        Ppo::new(self.clone(), sizes)
    }

    /// Checks every value and derives the batch sizes (never written back into the config).
    pub fn validate(&self) -> Result<Sizes, Error> {
        self.validate_shared()?;
        self.require_lockstep("PPO")?;
        let bad = |msg: String| Err(Error::Config(msg));
        let t = &self.training;
        let sizes = algo::rollout_sizes(self, t.train_batch_size, t.minibatch_size, t.num_epochs)?;
        t.lr.validate("training.lr", 0.0..=f64::INFINITY).map_err(Error::Config)?;
        t.entropy_coeff.validate("training.entropy_coeff", 0.0..=f64::INFINITY).map_err(Error::Config)?;
        for (name, v, lo, hi) in [
            ("training.gamma", t.gamma, 0.0, 1.0),
            ("training.lambda", t.lambda_, 0.0, 1.0),
            ("training.clip_param", t.clip_param, 0.0, f64::INFINITY),
            ("training.vf_clip_param", t.vf_clip_param, 0.0, f64::INFINITY),
            ("training.vf_loss_coeff", t.vf_loss_coeff, 0.0, f64::INFINITY),
            ("training.kl_coeff", t.kl_coeff, 0.0, f64::INFINITY),
            ("training.kl_target", t.kl_target, 0.0, f64::INFINITY),
            ("training.grad_clip", t.grad_clip, 0.0, f64::INFINITY),
        ] {
            if !(v.is_finite() && v >= lo && v <= hi) {
                return bad(format!("{name} = {v} is outside [{lo}, {hi}]"));
            }
        }
        Ok(sizes)
    }
}

/// Sizes derived from the config by `validate`.
pub type Sizes = algo::RolloutSizes;

// ---------------------------------------------------------------------------------------------------------------
// Learner
// ---------------------------------------------------------------------------------------------------------------

/// PPO's learner statistics of one iteration, means over its gradient steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PpoStats {
    pub total_loss: f64,
    pub policy_loss: f64,
    pub vf_loss: f64,
    pub entropy: f64,
    pub mean_kl_loss: f64,
    /// Fraction of samples whose probability ratio left [1 − ε, 1 + ε].
    pub clip_fraction: f64,
    pub vf_explained_var: f64,
    /// Global L2 norm of the gradients before clipping.
    pub gradients_global_norm: f64,
    pub curr_kl_coeff: f64,
    pub curr_entropy_coeff: f64,
    pub learning_rate: f64,
}

/// Counters that, with the model and optimiser, make a run resumable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    #[serde(flatten)]
    pub counters: Counters,
    /// The adaptive KL coefficient.
    pub kl_coeff: f64,
}

impl HasCounters for Progress {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }
}

/// A PPO run: envs, model, optimiser and counters on one device.
pub struct Ppo {
    config: PpoConfig,
    sizes: Sizes,
    runner: SyncRunner,
    bridge: Bridge,
    model: ActorCritic,
    optimizer: ModuleOptimizer,
    /// This iteration's `[T, N, ...]` collection, preallocated on the learner's device.
    rollout: RolloutStorage,
    progress: Progress,
}

/// The flattened `[T·N, ...]` batch the update reads.
struct Batch {
    obs: Tensor<2>,
    actions: Tensor<2>,
    log_prob: Tensor<1>,
    value: Tensor<1>,
    dist_inputs: Tensor<2>,
    advantages: Tensor<1>,
    returns: Tensor<1>,
}

/// Loss terms of one minibatch, each a `[1]` tensor (detached in the stats).
struct LossStats {
    total: Tensor<1>,
    policy: Tensor<1>,
    vf: Tensor<1>,
    entropy: Tensor<1>,
    kl: Tensor<1>,
    clip_fraction: Tensor<1>,
}

impl Ppo {
    fn new(config: PpoConfig, sizes: Sizes) -> Result<Self, Error> {
        let bridge = Bridge::new(&config.resources)?;
        let seed = config.debugging.seed;
        let runner = SyncRunner::new(&config.environment, sizes.num_envs, &bridge, Stream::TrainingEnvs.seed(seed))?;
        let spec = runner.spec();
        let model = algo::actor_critic(&config, &spec.observation_space, &spec.action_space, &bridge)?;
        let optimizer = AdamConfig::new().with_epsilon(1e-5).init();
        let dist = model.dist();
        let shape = RolloutShape {
            horizon: sizes.horizon,
            num_envs: sizes.num_envs,
            obs: spec.obs_dim(),
            action: dist.action_width(),
            dist_inputs: dist.input_width(),
        };
        let what = format!("the rollout storage ({} steps × {} envs)", shape.horizon, shape.num_envs);
        bridge.env_device().check_fits(&what, shape.bytes())?;
        let rollout = RolloutStorage::new(shape, bridge.inner());
        let progress = Progress { kl_coeff: config.training.kl_coeff, ..Default::default() };
        Ok(Self { config, sizes, runner, bridge, model, optimizer, rollout, progress })
    }

    pub fn config(&self) -> &PpoConfig {
        &self.config
    }

    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn model(&self) -> &ActorCritic {
        &self.model
    }

    /// Replaces the model (e.g. with pre-trained weights); it must have this run's spaces and layout.
    pub fn set_model(&mut self, model: ActorCritic) {
        self.model = model;
    }

    /// One iteration: collect, advantages, update, metrics.
    pub fn train(&mut self) -> Result<TrainResult, Error> {
        let started = Instant::now();
        let transfers_before = self.bridge.transfers();
        let t = &self.config.training;
        let Sizes { horizon, batch: b, minibatch: m, minibatches, .. } = self.sizes;
        // Every random draw of this iteration comes from a stream keyed by (seed, iteration): a resumed run draws
        // the same numbers as an uninterrupted one.
        let mut noise = Stream::Iteration(self.progress.counters.iteration).noise(self.config.debugging.seed);
        let env_steps_at_start = self.progress.counters.env_steps;
        let lr = t.lr.value_at(env_steps_at_start);
        let entropy_coeff = t.entropy_coeff.value_at(env_steps_at_start);
        let dist = self.model.dist().clone();

        // ---- 1. Collect: T steps of N envs with the current policy, no gradients ----
        let policy = self.model.valid();
        let n = self.sizes.num_envs;
        let eps = self.bridge.noise(&mut noise, dist.noise(), n, horizon)?; // [T·N, width]
        let obs = self.runner.collect(&self.bridge, &policy, eps, &mut self.rollout)?;
        let last_value = policy.value(obs);
        let sampling_s = started.elapsed().as_secs_f64();

        // ---- 2. Advantages: GAE over [T, N], bootstrapping truncated episodes from V(final obs) ----
        let advantage_start = Instant::now();
        let r = &self.rollout;
        let values = r.value.clone(); // [T·N], time-major
        let final_values = policy.value(r.final_obs.clone());
        let (advantages, returns) = self.bridge.gae(
            GaeParams { gamma: t.gamma as f32, lambda: t.lambda_ as f32 },
            (horizon, n),
            ReturnInputs {
                rewards: r.reward.clone(),
                values: values.clone(),
                terminated: r.terminated.clone(),
                truncated: r.truncated.clone(),
                final_values,
                last_values: last_value,
            },
        )?;
        let advantages = if t.normalize_advantages {
            let mean = advantages.clone().mean();
            let centred = advantages - mean.unsqueeze();
            let std = centred.clone().square().mean().sqrt();
            centred / (std + 1e-8).unsqueeze()
        } else {
            advantages
        };
        let data = Batch {
            obs: r.obs.clone(),
            actions: r.actions.clone(),
            log_prob: r.log_prob.clone(),
            value: values,
            dist_inputs: r.dist_inputs.clone(),
            advantages,
            returns,
        };
        let explained_var = explained_variance(data.value.clone(), data.returns.clone());
        let advantages_s = advantage_start.elapsed().as_secs_f64();

        // ---- 3. Update: num_epochs passes of shuffled minibatches, Adam with a global-norm clip ----
        let update_start = Instant::now();
        let device = self.bridge.device().clone();
        let mut sums = StepSums::<7>::default();
        let steps = (t.num_epochs * minibatches) as f64;
        for _ in 0..t.num_epochs {
            let order: Tensor<1, Int> = if t.shuffle_batch_per_epoch {
                self.bridge.permutation(&mut noise, b)?
            } else {
                Tensor::arange(0..b as i64, &device)
            };
            for k in 0..minibatches {
                let index = order.clone().narrow(0, k * m, m);
                let stats = self.loss(&data, index, entropy_coeff);
                let norm = gradient_step(&mut self.optimizer, &mut self.model, stats.total.clone(), lr, t.grad_clip);
                sums.add([
                    stats.total.detach(),
                    stats.policy.detach(),
                    stats.vf.detach(),
                    stats.entropy.detach(),
                    stats.kl.detach(),
                    stats.clip_fraction.detach(),
                    norm,
                ]);
            }
        }
        let update_s = update_start.elapsed().as_secs_f64();

        // ---- 4. Metrics: the only device → host read of the iteration ----
        let mut scalars = Vec::from(sums.into_array().expect("at least one minibatch"));
        scalars.push(explained_var);
        scalars.push(self.runner.episode_sums(&self.bridge)?);
        let scalars: Vec<f32> = self.bridge.to_vec(Tensor::cat(scalars, 0))?;
        let mean = |i: usize| scalars[i] as f64 / steps;
        let (total_loss, mean_kl) = (mean(0), mean(4));
        if !total_loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "the PPO loss became {total_loss} in iteration {}; training stopped (lower training.lr or set \
                 training.grad_clip)",
                self.progress.counters.iteration + 1
            )));
        }
        let kl_coeff_used = self.progress.kl_coeff;
        if t.use_kl_loss {
            // RLlib's adaptive KL coefficient.
            if mean_kl > 2.0 * t.kl_target {
                self.progress.kl_coeff *= 1.5;
            } else if mean_kl < 0.5 * t.kl_target {
                self.progress.kl_coeff *= 0.5;
            }
        }
        let episodes = EpisodeStats::from_sums(scalars[8], scalars[9], scalars[10]);
        let c = &mut self.progress.counters;
        c.window.push(episodes.episodes, episodes.return_mean, episodes.length_mean);
        c.iteration += 1;
        c.env_steps += b as u64;
        c.env_steps_trained += (b * t.num_epochs) as u64;
        c.episodes += episodes.episodes;
        let iteration_s = started.elapsed().as_secs_f64();
        c.time_total_s += iteration_s;
        let stats = PpoStats {
            total_loss,
            policy_loss: mean(1),
            vf_loss: mean(2),
            entropy: mean(3),
            mean_kl_loss: mean_kl,
            clip_fraction: mean(5),
            vf_explained_var: scalars[7] as f64,
            gradients_global_norm: mean(6),
            curr_kl_coeff: kl_coeff_used,
            curr_entropy_coeff: entropy_coeff,
            learning_rate: lr,
        };
        let timers = Timers {
            env_runner_sampling: sampling_s,
            advantages: advantages_s,
            learner_update: update_s,
            training_iteration: iteration_s,
            ..Default::default()
        };
        let mut result = TrainResult::new(c, LearnerStats::Ppo(stats)).with_timing(
            timers,
            b as u64,
            transfers_before,
            self.bridge.transfers(),
        );
        result.episodes_this_iter = episodes.episodes;

        // ---- Evaluation, every `evaluation_interval` iterations ----
        self.with_periodic_evaluation(result)
    }

    /// RLlib's PPO loss on the minibatch `index` selects, with the stats it reports.
    fn loss(&self, data: &Batch, index: Tensor<1, Int>, entropy_coeff: f64) -> LossStats {
        let t = &self.config.training;
        let dist = self.model.dist();
        let pick1 = |x: &Tensor<1>| x.clone().select(0, index.clone());
        let pick2 = |x: &Tensor<2>| x.clone().select(0, index.clone());
        let (advantages, returns, old_log_prob) =
            (pick1(&data.advantages), pick1(&data.returns), pick1(&data.log_prob));
        let out = self.model.forward(pick2(&data.obs));
        let log_prob = dist.log_prob(out.dist_inputs.clone(), pick2(&data.actions));
        let ratio = (log_prob - old_log_prob).exp();
        let clipped = ratio.clone().clamp(1.0 - t.clip_param, 1.0 + t.clip_param);
        let surrogate = (ratio.clone() * advantages.clone()).min_pair(clipped * advantages);
        let policy = surrogate.mean().neg();
        let vf = (out.value - returns).square().clamp(0.0, t.vf_clip_param).mean();
        let entropy = dist.entropy(out.dist_inputs.clone()).mean();
        let kl = dist.kl(pick2(&data.dist_inputs), out.dist_inputs).mean();
        let mut total =
            policy.clone() + vf.clone().mul_scalar(t.vf_loss_coeff) - entropy.clone().mul_scalar(entropy_coeff);
        if t.use_kl_loss {
            total = total + kl.clone().mul_scalar(self.progress.kl_coeff);
        }
        let clip_fraction = (ratio - 1.0).abs().greater_elem(t.clip_param).float().mean();
        LossStats { total, policy, vf, entropy, kl, clip_fraction }
    }
}

impl Algorithm for Ppo {
    fn name(&self) -> &'static str {
        "PPO"
    }

    fn train(&mut self) -> Result<TrainResult, Error> {
        Ppo::train(self)
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
        Ok(vec![algo::save_weights(&self.model, dir, "model.bpk")?, algo::save_optimizer(&self.optimizer, dir)?])
    }

    fn policy_layout(&self) -> Vec<Vec<usize>> {
        crate::model::layout_of(&self.model)
    }

    fn policy(&self) -> Box<dyn runners::Policy + '_> {
        Box::new(self.model.valid())
    }

    fn bridge(&self) -> &runners::Bridge {
        &self.bridge
    }

    fn load_learner(&mut self, dir: &Path) -> Result<(), Error> {
        self.model = crate::model::load_weights(self.model.clone(), dir)?;
        self.optimizer = algo::load_optimizer(&self.optimizer, dir)?;
        Ok(())
    }
}

impl Training for PpoTraining {
    type Algo = Ppo;
    const NAME: &'static str = "PPO";

    fn rollout_batch(&self) -> Option<usize> {
        Some(self.train_batch_size)
    }

    fn build(config: &PpoConfig) -> Result<Ppo, Error> {
        config.build()
    }
}

/// 1 − Var(returns − values) / Var(returns), `[1]`.
pub(crate) fn explained_variance(values: Tensor<1>, returns: Tensor<1>) -> Tensor<1> {
    let var = |x: Tensor<1>| {
        let mean = x.clone().mean();
        (x - mean.unsqueeze()).square().mean()
    };
    let residual = var(returns.clone() - values);
    residual.div(var(returns) + 1e-8).neg() + 1.0
}
