//! n-step return targets (Sutton & Barto §7.1; DQN's n-step variant in Rainbow, Hessel et al. 2018) that respect
//! episode boundaries, with Gymnasium's terminated/truncated split.
//!
//! A sample starts at step t of one env and looks at the next n steps' rewards r_k, `terminated_k` and
//! `truncated_k` (k = 0..n−1), laid out `[B, n]` (one row per sample, k along the row). With
//! m = 1 + the index of the first step that terminated or was truncated (n if none):
//!
//! - the return is G = Σ_{k<m} γ^k r_k;
//! - the discount of the bootstrap is 0 if step m−1 terminated, else γ^m (a truncated step bootstraps);
//! - the bootstrap observation is the kept next observation of step m−1 (the env's final observation where the
//!   episode was truncated), so `last` = m − 1 names it.
//!
//! The target is G + discount · max_a Q(boot_obs, a). [`nstep_reference`] is the specification; [`nstep_targets`]
//! computes the same with tensor ops on the inputs' device (no host transfer).

use burn::tensor::{Int, Tensor};

/// n-step targets of a batch, on the device.
pub struct NStep {
    /// `[B]`: G = Σ_{k<m} γ^k r_k.
    pub returns: Tensor<1>,
    /// `[B]`: 0 where step m−1 terminated, else γ^m.
    pub discounts: Tensor<1>,
    /// `[B]`: m − 1, the step whose next observation is bootstrapped from.
    pub last: Tensor<1, Int>,
}

/// [`NStep`] on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct NStepReference {
    /// `[B]`.
    pub returns: Vec<f32>,
    /// `[B]`.
    pub discounts: Vec<f32>,
    /// `[B]`.
    pub last: Vec<usize>,
}

/// The CPU specification. `rewards`, `terminated`, `truncated` are `[B, n]` row-major (flags 0 or 1).
pub fn nstep_reference(rewards: &[f32], terminated: &[f32], truncated: &[f32], n: usize, gamma: f64) -> NStepReference {
    assert!(n > 0 && rewards.len().is_multiple_of(n), "rewards must be [B, n] with n ≥ 1");
    assert!(terminated.len() == rewards.len() && truncated.len() == rewards.len());
    let mut out = NStepReference { returns: Vec::new(), discounts: Vec::new(), last: Vec::new() };
    for row in 0..rewards.len() / n {
        let at = |k: usize| row * n + k;
        let (mut g, mut m) = (0.0f64, n);
        for k in 0..n {
            g += gamma.powi(k as i32) * rewards[at(k)] as f64;
            if terminated[at(k)] != 0.0 || truncated[at(k)] != 0.0 {
                m = k + 1;
                break;
            }
        }
        let discount = if terminated[at(m - 1)] != 0.0 { 0.0 } else { gamma.powi(m as i32) };
        out.returns.push(g as f32);
        out.discounts.push(discount as f32);
        out.last.push(m - 1);
    }
    out
}

/// [`nstep_reference`] with tensor ops on the inputs' device.
///
/// Step k is kept while no earlier step ended the episode: keep_k = [Σ_{j<k} done_j = 0] with
/// done = max(terminated, truncated) (an exclusive cumulative sum); m = Σ_k keep_k. The powers γ^0..γ^n are a
/// cumulative product of a row of γ made on the device, so nothing is uploaded.
///
/// # Shapes
/// - `rewards`, `terminated`, `truncated`: `[B, n]`, f32 (flags 0 or 1)
/// - returns `[B]` each
pub fn nstep_targets(rewards: Tensor<2>, terminated: Tensor<2>, truncated: Tensor<2>, gamma: f64) -> NStep {
    let [batch, n] = rewards.dims();
    let device = rewards.device();
    let done = terminated.clone().max_pair(truncated);
    let before = done.clone().cumsum(1) - done; // [B, n]: episode ends strictly before step k
    let keep = before.lower_equal_scalar(0.5).float(); // [B, n]
    let powers = Tensor::cat(vec![Tensor::ones([1, 1], &device), Tensor::full([1, n], gamma, &device).cumprod(1)], 1); // [1, n + 1]: γ^0..γ^n
    let returns = (rewards * keep.clone() * powers.clone().narrow(1, 0, n)).sum_dim(1).reshape([batch]);
    let last = keep.sum_dim(1).sub_scalar(1.0).int(); // [B, 1]: m − 1
    let gamma_m = powers.narrow(1, 1, n).expand([batch, n]).gather(1, last.clone()); // [B, 1]: γ^m
    let terminal = terminated.gather(1, last.clone()); // [B, 1]
    let discounts = (gamma_m * terminal.neg().add_scalar(1.0)).reshape([batch]);
    NStep { returns, discounts, last: last.reshape([batch]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::{Noise, NoiseKind};
    use burn::tensor::{Device, TensorData};

    fn run(rewards: &[f32], terminated: &[f32], truncated: &[f32], n: usize, gamma: f64) -> NStepReference {
        let device = Device::flex();
        let b = rewards.len() / n;
        let t = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [b, n]), &device);
        let out = nstep_targets(t(rewards), t(terminated), t(truncated), gamma);
        NStepReference {
            returns: out.returns.into_data().try_into_vec::<f32>().unwrap(),
            discounts: out.discounts.into_data().try_into_vec::<f32>().unwrap(),
            last: out
                .last
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .unwrap()
                .iter()
                .map(|&l| l as usize)
                .collect(),
        }
    }

    fn close(got: &NStepReference, want: &NStepReference) {
        assert_eq!(got.last, want.last);
        for (a, b) in got.returns.iter().zip(&want.returns).chain(got.discounts.iter().zip(&want.discounts)) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{got:?} vs {want:?}");
        }
    }

    /// Rows: none, a termination inside, a truncation inside, both on one step, termination on the last step,
    /// truncation on the first. γ = 0.5, rewards 1, 2, 4.
    #[test]
    fn hand_worked_windows() {
        let r = [1.0f32, 2.0, 4.0].repeat(6);
        #[rustfmt::skip]
        let term = [0., 0., 0.,  0., 1., 0.,  0., 0., 0.,  0., 1., 0.,  0., 0., 1.,  0., 0., 0.];
        #[rustfmt::skip]
        let trunc = [0., 0., 0.,  0., 0., 0.,  0., 1., 0.,  0., 1., 0.,  0., 0., 0.,  1., 0., 1.];
        let want = NStepReference {
            returns: vec![1.0 + 1.0 + 1.0, 2.0, 2.0, 2.0, 3.0, 1.0],
            discounts: vec![0.125, 0.0, 0.25, 0.0, 0.0, 0.5],
            last: vec![2, 1, 1, 1, 2, 0],
        };
        assert_eq!(nstep_reference(&r, &term, &trunc, 3, 0.5), want);
        close(&run(&r, &term, &trunc, 3, 0.5), &want);
    }

    #[test]
    fn one_step_is_td0() {
        let (r, term, trunc) = ([3.0f32, -1.0, 2.0], [0.0f32, 1.0, 0.0], [0.0f32, 0.0, 1.0]);
        let want = NStepReference { returns: r.to_vec(), discounts: vec![0.9, 0.0, 0.9], last: vec![0, 0, 0] };
        assert_eq!(nstep_reference(&r, &term, &trunc, 1, 0.9), want);
        close(&run(&r, &term, &trunc, 1, 0.9), &want);
    }

    #[test]
    fn device_matches_the_reference_on_random_windows() {
        let mut noise = Noise::new(7, 0);
        for (n, gamma) in [(1usize, 0.99), (3, 0.97), (5, 0.9), (8, 0.0), (4, 1.0)] {
            let b = 64;
            let rewards = noise.sample(NoiseKind::Normal, b * n);
            let flags = |noise: &mut Noise, p: f32| -> Vec<f32> {
                noise.sample(NoiseKind::Uniform, b * n).iter().map(|&u| (u < p) as u8 as f32).collect()
            };
            let (term, trunc) = (flags(&mut noise, 0.1), flags(&mut noise, 0.1));
            close(&run(&rewards, &term, &trunc, n, gamma), &nstep_reference(&rewards, &term, &trunc, n, gamma));
        }
    }
}
