//! IMPALA's `training` group with RLlib's `IMPALAConfig` names and defaults, the trait that lets APPO's group
//! extend it, and the validation that derives the learner's sizes.

use crate::algo::appo::AppoSettings;
use crate::algo::Training;
use crate::config::{AlgorithmConfig, Schedule};
use crate::Error;
use serde::{Deserialize, Serialize};

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
