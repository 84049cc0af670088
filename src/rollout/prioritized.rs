//! Proportional prioritized replay (Schaul et al. 2016, "Prioritized Experience Replay"): start slots are drawn
//! with probability P(i) = p_i^α / Σ_k p_k^α from a host [`SumTree`], and their losses weighted by
//! w_i = (N·P(i))^−β / max_k w_k (the maximum over every sampleable slot, as RLlib and OpenAI Baselines do:
//! the slot of the smallest priority). New transitions get the largest priority seen so far; a learner step sets
//! p_i = |δ_i| + ε.
//!
//! The tree holds a positive priority exactly for the replay's valid start slots: after each
//! [`ReplayBuffer::push`](super::ReplayBuffer::push), [`remove_slots`](PrioritizedSampler::remove_slots) the
//! `written` row and [`add_slots`](PrioritizedSampler::add_slots) the `ready` one.

use super::SumTree;
use std::ops::Range;

/// Priorities of replay slots and the sampling and weights they give.
#[derive(Clone, Debug)]
pub struct PrioritizedSampler {
    /// p_i^α per slot; 0 for slots that cannot start a window.
    pub tree: SumTree,
    /// Priority exponent α (0: uniform).
    pub alpha: f64,
    /// The largest p_i = |δ_i| + ε seen so far (1 before any update), given to new transitions.
    pub max_priority: f64,
}

impl PrioritizedSampler {
    /// A sampler over `slots` slots, none sampleable yet.
    pub fn new(slots: usize, alpha: f64) -> PrioritizedSampler {
        PrioritizedSampler { tree: SumTree::new(slots), alpha, max_priority: 1.0 }
    }

    /// Makes `slots` sampleable with the largest priority seen.
    pub fn add_slots(&mut self, slots: Range<u32>) {
        let p = self.max_priority.powf(self.alpha);
        slots.for_each(|s| self.tree.set(s as usize, p));
    }

    /// Makes `slots` unsampleable (overwritten, or their window not written yet).
    pub fn remove_slots(&mut self, slots: Range<u32>) {
        slots.for_each(|s| self.tree.set(s as usize, 0.0));
    }

    /// Draws `uniforms.len()` slots, stratified (uniforms in [0, 1)), and their importance weights
    /// (N·P(i))^−β / max_k (N·P(k))^−β with N = `valid`, the number of sampleable slots.
    ///
    /// # Panics
    /// If no slot is sampleable.
    pub fn sample(&self, uniforms: &[f32], beta: f64, valid: usize) -> (Vec<u32>, Vec<f32>) {
        let total = self.tree.total();
        let smallest = self.tree.min_positive().expect("sampling a prioritized replay with no sampleable slot");
        let weight = |p: f64| (valid as f64 * p / total).powf(-beta);
        let max_weight = weight(smallest);
        let slots = self.tree.sample(uniforms);
        let weights = slots.iter().map(|&s| (weight(self.tree.get(s)) / max_weight) as f32).collect();
        (slots.into_iter().map(|s| s as u32).collect(), weights)
    }

    /// Sets the sampled slots' priorities to (|δ| + ε)^α. Slots no longer sampleable (priority 0: overwritten
    /// since they were drawn) are left out.
    pub fn update(&mut self, slots: &[u32], td_abs: &[f32], eps: f64) {
        assert_eq!(slots.len(), td_abs.len(), "one TD error per slot");
        for (&s, &delta) in slots.iter().zip(td_abs) {
            if self.tree.get(s as usize) > 0.0 {
                let p = delta.abs() as f64 + eps;
                self.max_priority = self.max_priority.max(p);
                self.tree.set(s as usize, p.powf(self.alpha));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{ObsStorage, ReplayBuffer, ReplayStep, StoredObs};
    use crate::runners::{Noise, NoiseKind};
    use burn::tensor::{Device, Tensor};

    #[test]
    fn frequencies_follow_priority_to_the_alpha() {
        let (alpha, beta, eps) = (0.6, 0.4, 1e-6);
        let mut sampler = PrioritizedSampler::new(8, alpha);
        sampler.add_slots(0..6);
        let td = [0.5f32, 2.0, 0.0, 4.0, 1.0, 0.25];
        sampler.update(&[0, 1, 2, 3, 4, 5], &td, eps);
        assert_eq!(sampler.max_priority, 4.0 + eps);
        // a new slot gets the largest priority seen
        sampler.add_slots(6..7);
        assert!((sampler.tree.get(6) - (4.0 + eps).powf(alpha)).abs() < 1e-12);
        let p: Vec<f64> =
            td.iter().map(|&d| (d as f64 + eps).powf(alpha)).chain([(4.0 + eps).powf(alpha), 0.0]).collect();
        let total: f64 = p.iter().sum();
        let mut noise = Noise::new(2, 0);
        let (rounds, batch, valid) = (3000, 32, 7);
        let mut counts = [0usize; 8];
        for _ in 0..rounds {
            let (slots, weights) = sampler.sample(&noise.sample(NoiseKind::Uniform, batch), beta, valid);
            for (&s, &w) in slots.iter().zip(&weights) {
                counts[s as usize] += 1;
                // (N·P(i))^−β over its largest value, at the smallest priority
                let p_min = p.iter().cloned().filter(|&x| x > 0.0).fold(f64::MAX, f64::min);
                let want =
                    (valid as f64 * p[s as usize] / total).powf(-beta) / (valid as f64 * p_min / total).powf(-beta);
                assert!((w as f64 - want).abs() < 1e-5, "weight of slot {s}: {w} vs {want}");
            }
        }
        let n = (rounds * batch) as f64;
        for (s, &c) in counts.iter().enumerate() {
            let want = p[s] / total;
            let got = c as f64 / n;
            assert!((got - want).abs() < 4.0 * (want * (1.0 - want) / n).sqrt() + 1e-9, "slot {s}: {got} vs {want}");
        }
        assert_eq!(counts[7], 0, "a slot never added is never drawn");
        // removed slots are not drawn and their updates are dropped
        sampler.remove_slots(0..6);
        sampler.update(&[1], &[100.0], eps);
        assert_eq!(sampler.tree.get(1), 0.0);
        let (slots, weights) = sampler.sample(&[0.1, 0.9], beta, 1);
        assert_eq!((slots, weights), (vec![6, 6], vec![1.0, 1.0]));
    }

    #[test]
    fn follows_the_replay_valid_starts() {
        let device = Device::flex();
        let (cap, envs, n) = (4usize, 2usize, 2usize);
        let mut buffer = ReplayBuffer::new(cap, envs, n, ObsStorage::F32 { dim: 1 }, 1, &device).unwrap();
        let mut sampler = PrioritizedSampler::new(buffer.capacity(), 0.6);
        for t in 0..7 {
            let column = Tensor::<1>::full([envs], t as f32, &device);
            let rows = StoredObs::F32(column.clone().reshape([envs, 1]));
            let step = ReplayStep {
                obs: rows.clone(),
                next_obs: rows,
                actions: column.clone().unsqueeze_dim(1),
                rewards: column.clone(),
                terminated: column.clone().mul_scalar(0.0),
                truncated: column.mul_scalar(0.0),
            };
            let pushed = buffer.push(step).unwrap();
            sampler.remove_slots(pushed.written);
            sampler.add_slots(pushed.ready);
            for slot in 0..buffer.capacity() as u32 {
                assert_eq!(sampler.tree.get(slot as usize) > 0.0, buffer.is_valid_start(slot), "t = {t}, slot {slot}");
            }
        }
        let (slots, _) = sampler.sample(&[0.5; 16], 0.4, buffer.len());
        assert!(buffer.sample(&slots, 0.99).is_ok());
    }
}
