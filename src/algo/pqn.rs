//! PQN (Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning"): Q(λ) on `[T, N]` rollouts of many
//! parallel envs, with no replay buffer and no target network; a LayerNorm after each layer of the Q network keeps
//! the bootstrapped regression stable.
//!
//! One `train()` call is one iteration, read top to bottom: collect `T` steps of `N` batched envs ε-greedily
//! (ε on a schedule), compute λ-returns from max_a Q of the collecting network (terminated steps do not bootstrap;
//! truncated ones bootstrap from the kept final observation), then `num_epochs` passes of shuffled minibatches
//! regressing Q(s, a) on them. Everything stays on the learner's device; a handful of scalars are the only data
//! the host reads.

use crate::algo::dqn::{epsilon_greedy_with, QPolicy};
use crate::algo::{self, gradient_step, Algorithm, Counters, HasCounters, LearnerStats, SharedConfig, StepSums};
use crate::algo::{Timers, TrainResult, Training};
use crate::config::{AlgorithmConfig, Schedule};
use crate::envs::{EnvSpec, EpisodeStats, Space};
use crate::model::{QHeadConfig, QNetwork};
use crate::returns::{GaeParams, ReturnInputs};
use crate::rollout::{RolloutShape, RolloutStorage};
use crate::runners::{self, Acted, Behaviour, Bridge, NoiseKind, Stream, SyncRunner};
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

/// `training(...)`: PQN's settings, with the paper's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PqnTraining {
    /// Adam step size: a constant or `[[t, lr], ...]` over lifetime env steps.
    pub lr: Schedule,
    /// Discount factor.
    pub gamma: f64,
    /// λ of the λ-returns (0: one-step Q-learning targets, 1: Monte-Carlo returns).
    #[serde(rename = "lambda")]
    pub lambda_: f64,
    /// ε of ε-greedy collection: a constant or `[[t, ε], ...]` over lifetime env steps.
    pub epsilon: Schedule,
    /// Env steps per iteration (`num_envs × rollout_fragment_length`).
    pub train_batch_size: usize,
    /// Samples per gradient step.
    pub minibatch_size: usize,
    /// Passes over the batch per iteration.
    pub num_epochs: usize,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    pub grad_clip: f64,
    /// A LayerNorm after each hidden layer of the Q network (`rl_module.fcnet_hiddens`).
    pub layer_norm: bool,
}

impl Default for PqnTraining {
    fn default() -> Self {
        Self {
            lr: Schedule::Constant(2.5e-4),
            gamma: 0.99,
            lambda_: 0.65,
            epsilon: Schedule::Piecewise(vec![(0.0, 1.0), (100_000.0, 0.05)]),
            train_batch_size: 4096,
            minibatch_size: 512,
            num_epochs: 4,
            grad_clip: 10.0,
            layer_norm: true,
        }
    }
}

/// Everything a PQN run needs: the shared groups plus [`PqnTraining`].
pub type PqnConfig = AlgorithmConfig<PqnTraining>;

/// Sizes derived from the config by [`PqnConfig::validate`].
pub type Sizes = algo::RolloutSizes;

impl PqnConfig {
    /// Checks every value and derives the batch sizes (never written back into the config).
    pub fn validate(&self) -> Result<Sizes, Error> {
        self.validate_shared()?;
        self.require_lockstep("PQN")?;
        let bad = |msg: String| Err(Error::Config(msg));
        let t = &self.training;
        let sizes = algo::rollout_sizes(self, t.train_batch_size, t.minibatch_size, t.num_epochs)?;
        t.lr.validate("training.lr", 0.0..=f64::INFINITY).map_err(Error::Config)?;
        t.epsilon.validate("training.epsilon", 0.0..=1.0).map_err(Error::Config)?;
        for (name, v, lo, hi) in [
            ("training.gamma", t.gamma, 0.0, 1.0),
            ("training.lambda", t.lambda_, 0.0, 1.0),
            ("training.grad_clip", t.grad_clip, 0.0, f64::MAX),
        ] {
            if !(v.is_finite() && v >= lo && v <= hi) {
                return bad(format!("{name} = {v} is outside [{lo}, {hi}]"));
            }
        }
        Ok(sizes)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Learner
// ---------------------------------------------------------------------------------------------------------------

/// PQN's learner statistics of one iteration, means over its gradient steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PqnStats {
    pub total_loss: f64,
    /// Mean Q(s, a) of the trained samples.
    pub qf_mean: f64,
    /// Mean λ-return.
    pub lambda_return_mean: f64,
    pub gradients_global_norm: f64,
    pub num_gradient_updates: u64,
    pub curr_epsilon: f64,
    pub learning_rate: f64,
}

/// Counters that, with the network and optimiser, make a run resumable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    #[serde(flatten)]
    pub counters: Counters,
}

impl HasCounters for Progress {
    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }
}

/// ε-greedy collection with a Q network: what the rollout keeps of each step (the action, max_a Q(s, a) as the
/// value, the Q values as the distribution inputs; no log-probabilities).
struct EpsilonGreedy {
    net: QNetwork,
    epsilon: f64,
}

impl Behaviour for EpsilonGreedy {
    fn noise(&self) -> (NoiseKind, usize) {
        (NoiseKind::Uniform, 2)
    }

    fn act(&self, obs: Tensor<2>, eps: Tensor<2>) -> Acted {
        let q = self.net.forward(obs, None).q;
        let rows = q.dims()[0];
        Acted {
            actions: epsilon_greedy_with(q.clone(), self.epsilon, eps),
            log_prob: Tensor::zeros([rows], &q.device()),
            value: q.clone().max_dim(1).squeeze_dim(1),
            dist_inputs: q,
        }
    }
}

/// A PQN run: envs, Q network, optimiser and counters on one device.
pub struct Pqn {
    config: PqnConfig,
    sizes: Sizes,
    runner: SyncRunner,
    bridge: Bridge,
    net: QNetwork,
    optimizer: ModuleOptimizer,
    /// This iteration's `[T, N, ...]` collection, preallocated on the learner's device.
    rollout: RolloutStorage,
    progress: Progress,
}

impl Pqn {
    pub fn new(config: PqnConfig) -> Result<Self, Error> {
        let sizes = config.validate()?;
        let bridge = Bridge::new(&config.resources)?;
        let seed = config.debugging.seed;
        let runner = SyncRunner::new(&config.environment, sizes.num_envs, &bridge, Stream::TrainingEnvs.seed(seed))?;
        let spec = runner.spec();
        let net = pqn_network(&config, &spec.observation_space, &spec.action_space, &bridge)?;
        let shape = RolloutShape {
            horizon: sizes.horizon,
            num_envs: sizes.num_envs,
            obs: spec.obs_dim(),
            action: 1,
            dist_inputs: net.num_actions(),
        };
        let what = format!("the rollout storage ({} steps × {} envs)", shape.horizon, shape.num_envs);
        bridge.env_device().check_fits(&what, shape.bytes())?;
        let rollout = RolloutStorage::new(shape, bridge.inner());
        let optimizer = AdamConfig::new().with_epsilon(1e-5).init();
        Ok(Self { config, sizes, runner, bridge, net, optimizer, rollout, progress: Progress::default() })
    }

    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    pub fn network(&self) -> &QNetwork {
        &self.net
    }

    /// One iteration: collect, λ-returns, update, metrics.
    pub fn train(&mut self) -> Result<TrainResult, Error> {
        let started = Instant::now();
        let transfers_before = self.bridge.transfers();
        let t = self.config.training.clone();
        let Sizes { num_envs: n, horizon, batch: b, minibatch: m, minibatches } = self.sizes;
        let mut noise = Stream::Iteration(self.progress.counters.iteration).noise(self.config.debugging.seed);
        let steps_at_start = self.progress.counters.env_steps;
        let lr = t.lr.value_at(steps_at_start);
        let epsilon = t.epsilon.value_at(steps_at_start);

        // ---- 1. Collect: T steps of N envs, ε-greedy with the current network ----
        let behaviour = EpsilonGreedy { net: self.net.valid(), epsilon };
        let eps = self.bridge.noise(&mut noise, behaviour.noise(), n, horizon)?;
        let obs = self.runner.collect(&self.bridge, &behaviour, eps, &mut self.rollout)?;
        let max_q = |x: Tensor<2>| behaviour.net.forward(x, None).q.max_dim(1).squeeze_dim::<1>(1);
        let sampling_s = started.elapsed().as_secs_f64();

        // ---- 2. λ-returns from max_a Q of the collecting network ----
        let advantage_start = Instant::now();
        let r = &self.rollout;
        let returns = self.bridge.lambda_returns(
            GaeParams { gamma: t.gamma as f32, lambda: t.lambda_ as f32 },
            (horizon, n),
            ReturnInputs {
                rewards: r.reward.clone(),
                values: r.value.clone(),
                terminated: r.terminated.clone(),
                truncated: r.truncated.clone(),
                final_values: max_q(r.final_obs.clone()),
                last_values: max_q(obs),
            },
        )?;
        let actions: Tensor<2, Int> = r.actions.clone().int(); // [T·N, 1]
        let advantages_s = advantage_start.elapsed().as_secs_f64();

        // ---- 3. Update: num_epochs passes of shuffled minibatches regressing Q(s, a) on G ----
        let update_start = Instant::now();
        let mut sums = StepSums::<3>::default();
        for _ in 0..t.num_epochs {
            let order = self.bridge.permutation(&mut noise, b)?;
            for k in 0..minibatches {
                let index = order.clone().narrow(0, k * m, m);
                let q = self.net.forward(r.obs.clone().select(0, index.clone()), None).q;
                let q_taken = q.gather(1, actions.clone().select(0, index.clone())).squeeze_dim::<1>(1);
                let target = returns.clone().select(0, index);
                let loss = (q_taken.clone() - target).square().mean().mul_scalar(0.5);
                let norm = gradient_step(&mut self.optimizer, &mut self.net, loss.clone(), lr, t.grad_clip);
                sums.add([loss.detach(), q_taken.detach().mean(), norm]);
            }
        }
        let update_s = update_start.elapsed().as_secs_f64();

        // ---- 4. Metrics: the only device → host read of the iteration ----
        let mut scalars = Vec::from(sums.into_array().expect("at least one minibatch"));
        scalars.push(returns.mean());
        scalars.push(self.runner.episode_sums(&self.bridge)?);
        let scalars: Vec<f32> = self.bridge.to_vec(Tensor::cat(scalars, 0))?;
        let updates = (t.num_epochs * minibatches) as u64;
        let mean = |i: usize| scalars[i] as f64 / updates as f64;
        if !mean(0).is_finite() {
            return Err(Error::NonFinite(format!(
                "the PQN loss became {} in iteration {}; training stopped (lower training.lr or set training.grad_clip)",
                mean(0),
                self.progress.counters.iteration + 1
            )));
        }
        let episodes = EpisodeStats::from_sums(scalars[4], scalars[5], scalars[6]);
        let c = &mut self.progress.counters;
        c.window.push(episodes.episodes, episodes.return_mean, episodes.length_mean);
        c.iteration += 1;
        c.env_steps += b as u64;
        c.env_steps_trained += (b * t.num_epochs) as u64;
        c.episodes += episodes.episodes;
        let iteration_s = started.elapsed().as_secs_f64();
        c.time_total_s += iteration_s;
        let stats = PqnStats {
            total_loss: mean(0),
            qf_mean: mean(1),
            lambda_return_mean: scalars[3] as f64,
            gradients_global_norm: mean(2),
            num_gradient_updates: updates,
            curr_epsilon: epsilon,
            learning_rate: lr,
        };
        let timers = Timers {
            env_runner_sampling: sampling_s,
            advantages: advantages_s,
            learner_update: update_s,
            training_iteration: iteration_s,
            ..Default::default()
        };
        let mut result = TrainResult::new(c, LearnerStats::Pqn(stats)).with_timing(
            timers,
            b as u64,
            transfers_before,
            self.bridge.transfers(),
        );
        result.episodes_this_iter = episodes.episodes;

        // ---- Evaluation, every `evaluation_interval` iterations ----
        self.with_periodic_evaluation(result)
    }
}

impl Algorithm for Pqn {
    fn name(&self) -> &'static str {
        "PQN"
    }

    fn train(&mut self) -> Result<TrainResult, Error> {
        Pqn::train(self)
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
        Ok(vec![algo::save_weights(&self.net, dir, "model.bpk")?, algo::save_optimizer(&self.optimizer, dir)?])
    }

    fn policy_layout(&self) -> Vec<Vec<usize>> {
        crate::model::layout_of(&self.net)
    }

    fn policy(&self) -> Box<dyn runners::Policy + '_> {
        Box::new(QPolicy {
            net: self.net.valid(),
            epsilon: self.config.training.epsilon.value_at(self.progress.counters.env_steps),
        })
    }

    fn bridge(&self) -> &runners::Bridge {
        &self.bridge
    }

    fn load_learner(&mut self, dir: &Path) -> Result<(), Error> {
        self.net = crate::model::load_weights(self.net.clone(), dir)?;
        self.optimizer = algo::load_optimizer(&self.optimizer, dir)?;
        Ok(())
    }
}

impl Training for PqnTraining {
    type Algo = Pqn;
    const NAME: &'static str = "PQN";

    fn rollout_batch(&self) -> Option<usize> {
        Some(self.train_batch_size)
    }

    fn build(config: &PqnConfig) -> Result<Pqn, Error> {
        Pqn::new(config.clone())
    }
}

/// The Q network PQN trains for these spaces: `rl_module.fcnet_hiddens` (each followed by a LayerNorm with
/// `layer_norm`) and a linear Q head, its weights drawn from the run's seed.
pub fn pqn_network(config: &PqnConfig, obs: &Space, action: &Space, bridge: &Bridge) -> Result<QNetwork, Error> {
    let Space::Discrete { n } = action else {
        return Err(Error::Config(format!(
            "PQN needs a Discrete action space; {} has {action} (Box actions train with `myriad train ppo`, \
             `impala` or `appo`)",
            config.environment.env
        )));
    };
    let head = QHeadConfig {
        hiddens: Vec::new(),
        dueling: false,
        layer_norm: config.training.layer_norm,
        ..Default::default()
    };
    let seed = Stream::ModelInit.seed(config.debugging.seed);
    crate::model::seeded(bridge.device(), seed, || {
        QNetwork::new(&config.rl_module, &head, obs, *n as usize, bridge.device()).map(crate::model::materialize)
    })
    .map_err(|e| Error::Config(format!("PQN network: {e} ({})", config.environment.env)))
}
