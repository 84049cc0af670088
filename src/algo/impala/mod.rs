//! IMPALA (Espeholt et al. 2018, "IMPALA: Scalable Distributed Deep-RL with Importance Weighted Actor-Learner
//! Architectures") with RLlib's `IMPALAConfig` names, and the V-trace learner APPO (`appo.rs`) shares.
//!
//! One `train()` call is one learner update on `train_batch_size` env steps, read top to bottom: gather the batch
//! (fragments from the runner threads' queue, or, with `num_env_runners = 0`, a lockstep rollout collected as PPO
//! collects it), then `num_epochs` passes over minibatches of whole env trajectories: V-trace targets and
//! advantages for the current policy (APPO: its target network), the loss, Adam or RMSProp with a global-norm
//! clip. New weights go to the runners every `broadcast_interval` updates; the policy lag of every trained sample
//! (learner version − behaviour version) is measured; a handful of scalars are the only data the host reads.

mod config;

pub use config::{validate, ImpalaConfig, ImpalaTraining, OptimizerKind, Sizes, VtraceTraining};

use crate::algo::appo::{appo_loss, AppoSettings};
use crate::algo::ppo::explained_variance;
use crate::algo::{self, gradient_step, Algorithm, Counters, HasCounters, LearnerStats, OnlineTarget};
use crate::algo::{SharedConfig, StepSums, Timers, TrainResult, Training};
use crate::config::AlgorithmConfig;
use crate::envs::{EnvSpec, EpisodeStats};
use crate::model::ActorCritic;
use crate::returns::{ReturnInputs, VtraceParams};
use crate::rollout::{RolloutShape, RolloutStorage};
use crate::runners::{self, AsyncRunners, Bridge, Collector, RunnerSettings, Stream, SyncRunner};
use crate::Error;
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

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
    collector: Collector<ActorCritic>,
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
        let (fragments, version) = (self.sizes.fragments, self.version);
        let batch = self.collector.gather(&self.bridge, &self.model.valid(), &mut noise, fragments, version)?;
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
            num_env_runner_restarts: self.collector.restarts(),
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
        let model = &self.model;
        self.collector.publish(self.version, || cpu_copy(model));
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

    fn config(&self) -> &dyn SharedConfig {
        &self.config
    }

    fn runner(&self) -> Option<&SyncRunner> {
        self.collector.runner()
    }

    fn runner_mut(&mut self) -> Option<&mut SyncRunner> {
        self.collector.runner_mut()
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

    fn policy(&self) -> Box<dyn runners::Policy + '_> {
        Box::new(self.model.valid())
    }

    fn bridge(&self) -> &runners::Bridge {
        &self.bridge
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
