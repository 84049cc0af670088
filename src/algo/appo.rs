//! APPO (asynchronous PPO, as RLlib has it): IMPALA's data path and V-trace learner (`impala.rs`) with PPO's
//! clipped surrogate on V-trace advantages, a target network that the V-trace targets and the surrogate's
//! old policy come from (`target_network_update_freq`, `tau`), and an optional KL loss toward it (`use_kl_loss`,
//! `kl_coeff` adapted toward `kl_target`). RLlib's `APPOConfig` names.

use crate::algo::impala::{ImpalaTraining, VtraceLearner, VtraceTraining};
use crate::algo::Training;
use crate::config::AlgorithmConfig;
use crate::Error;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// `training(...)`: IMPALA's settings plus APPO's own, in one flat group as RLlib's `APPOConfig` has them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppoTraining {
    #[serde(flatten)]
    pub impala: ImpalaTraining,
    #[serde(flatten)]
    pub appo: AppoSettings,
}

/// What APPO adds to IMPALA's `training` group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppoSettings {
    /// Clip range ε of the probability ratio π / π_target.
    pub clip_param: f64,
    /// Add `kl_coeff · KL(π_target ‖ π)` to the loss.
    pub use_kl_loss: bool,
    /// Initial KL coefficient, adapted at each target update toward `kl_target`.
    pub kl_coeff: f64,
    /// The KL the adaptive coefficient aims for.
    pub kl_target: f64,
    /// Update the target network once at least this many env steps were trained since the last update.
    pub target_network_update_freq: u64,
    /// Polyak weight of a target update: target ← τ·online + (1 − τ)·target (1: a copy).
    pub tau: f64,
}

impl Default for AppoSettings {
    fn default() -> Self {
        Self {
            clip_param: 0.4,
            use_kl_loss: false,
            kl_coeff: 1.0,
            kl_target: 0.01,
            target_network_update_freq: 1,
            tau: 1.0,
        }
    }
}

impl AppoSettings {
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::Config(msg));
        if !(self.tau > 0.0 && self.tau <= 1.0) {
            return bad(format!("training.tau = {} must be in (0, 1]", self.tau));
        }
        for (field, v) in [("clip_param", self.clip_param), ("kl_coeff", self.kl_coeff), ("kl_target", self.kl_target)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("training.{field} = {v} must be finite and non-negative"));
            }
        }
        Ok(())
    }
}

/// Everything an APPO run needs, grouped as RLlib's `APPOConfig`.
pub type AppoConfig = AlgorithmConfig<AppoTraining>;

/// APPO: IMPALA's learner with APPO's loss.
pub type Appo = VtraceLearner<AppoTraining>;

impl VtraceTraining for AppoTraining {
    fn impala(&self) -> &ImpalaTraining {
        &self.impala
    }

    fn appo(&self) -> Option<&AppoSettings> {
        Some(&self.appo)
    }
}

impl Training for AppoTraining {
    type Algo = Appo;
    const NAME: &'static str = "APPO";

    fn build(config: &AppoConfig) -> Result<Appo, Error> {
        VtraceLearner::new(config.clone())
    }
}

/// APPO's policy terms of one minibatch, `[1]` each.
pub(crate) struct AppoTerms {
    /// −E[min(r·A, clip(r, 1 − ε, 1 + ε)·A)].
    pub policy: Tensor<1>,
    /// Share of samples whose ratio left [1 − ε, 1 + ε].
    pub clip_fraction: Tensor<1>,
}

/// The clipped surrogate on V-trace advantages, as RLlib's APPO computes it: the ratio of the current policy to
/// the target network's, r = clip(μ / π_target, 0, 2) · (π / μ), where μ is the behaviour policy and the first
/// factor corrects the off-policy samples' weight (all log-probabilities `[B]`; only `log_prob` carries
/// gradients).
pub(crate) fn appo_loss(
    appo: &AppoSettings,
    log_prob: &Tensor<1>,
    target_log_prob: &Tensor<1>,
    behaviour_log_prob: &Tensor<1>,
    advantages: &Tensor<1>,
) -> AppoTerms {
    let eps = appo.clip_param;
    let is_ratio = (behaviour_log_prob.clone() - target_log_prob.clone()).exp().clamp(0.0, 2.0);
    let ratio = is_ratio * (log_prob.clone() - behaviour_log_prob.clone()).exp();
    let clipped = ratio.clone().clamp(1.0 - eps, 1.0 + eps);
    let surrogate = (ratio.clone() * advantages.clone()).min_pair(clipped * advantages.clone());
    let clip_fraction = (ratio - 1.0).abs().greater_elem(eps).float().mean();
    AppoTerms { policy: surrogate.mean().neg(), clip_fraction }
}
