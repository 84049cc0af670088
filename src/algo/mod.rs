//! Algorithms, one file each, and what they share: the typed iteration result, the episode-return window and
//! global-norm gradient clipping.

pub mod ppo;
pub mod target;

pub use ppo::{Ppo, PpoConfig, PpoTraining};
pub use target::OnlineTarget;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Learner statistics of one iteration, means over its gradient steps (RLlib's `learners/default_policy/...`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LearnerStats {
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

/// Wall-clock seconds of the iteration's phases.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timers {
    pub env_runner_sampling: f64,
    pub advantages: f64,
    pub learner_update: f64,
    pub evaluation: f64,
    pub training_iteration: f64,
}

/// What one `train()` call returns. Its JSON form uses RLlib's result keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub training_iteration: u64,
    pub num_env_steps_sampled_lifetime: u64,
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
    pub(crate) fn new(p: &ppo::Progress) -> Self {
        let (return_mean, len_mean) = p.window.means();
        TrainResult {
            training_iteration: p.iteration,
            num_env_steps_sampled_lifetime: p.env_steps,
            num_episodes_lifetime: p.episodes,
            episode_return_mean: return_mean,
            episode_len_mean: len_mean,
            time_total_s: p.time_total_s,
            ..Default::default()
        }
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
