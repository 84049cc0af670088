//! C51's projection of the target distribution onto the fixed support (Bellemare et al. 2017, "A
//! Distributional Perspective on Reinforcement Learning", Algorithm 1).
//!
//! With atoms z_j = v_min + j·Δz (Δz = (v_max − v_min)/(K − 1)), each next-state atom moves to
//! T̂z_j = clamp(G + d·z_j, v_min, v_max), where G is the (n-step) return and d the bootstrap discount (0 at a
//! termination: every atom moves to G). Its probability p_j is split between the neighbouring atoms
//! l = ⌊b_j⌋ and u = ⌈b_j⌉ of b_j = (T̂z_j − v_min)/Δz: m_l += p_j (u − b_j), m_u += p_j (b_j − l). Where b_j is
//! integral (l = u) both shares would be 0, so the whole p_j goes to l.
//!
//! [`c51_project_reference`] is the specification; [`c51_project`] computes it with tensor ops on the inputs'
//! device: one-hot rows of l and u `[B, K, K]` weighted by the shares and summed over the source atoms.

use crate::model::{iota, one_hot};
use burn::tensor::Tensor;

/// The CPU specification: `next_probs` `[B, K]` row-major, `returns` and `discounts` `[B]`; returns `[B, K]`.
pub fn c51_project_reference(
    next_probs: &[f32],
    returns: &[f32],
    discounts: &[f32],
    atoms: usize,
    v_min: f64,
    v_max: f64,
) -> Vec<f32> {
    assert!(atoms >= 2 && next_probs.len() == returns.len() * atoms && discounts.len() == returns.len());
    let dz = (v_max - v_min) / (atoms - 1) as f64;
    let mut out = vec![0.0f64; next_probs.len()];
    for (row, (&g, &d)) in returns.iter().zip(discounts).enumerate() {
        let m = &mut out[row * atoms..(row + 1) * atoms];
        for j in 0..atoms {
            let p = next_probs[row * atoms + j] as f64;
            let tz = (g as f64 + d as f64 * (v_min + j as f64 * dz)).clamp(v_min, v_max);
            let b = ((tz - v_min) / dz).clamp(0.0, (atoms - 1) as f64);
            let (l, u) = (b.floor(), b.ceil());
            if l == u {
                m[l as usize] += p;
            } else {
                m[l as usize] += p * (u - b);
                m[u as usize] += p * (b - l);
            }
        }
    }
    out.into_iter().map(|p| p as f32).collect()
}

/// [`c51_project_reference`] with tensor ops on the inputs' device.
///
/// # Shapes
/// - `next_probs`: `[B, K]`, the target network's distribution at the bootstrap observation's chosen action
/// - `returns`, `discounts`: `[B]`
/// - returns the projected target distribution `[B, K]`
pub fn c51_project(
    next_probs: Tensor<2>,
    returns: Tensor<1>,
    discounts: Tensor<1>,
    v_min: f64,
    v_max: f64,
) -> Tensor<2> {
    let [batch, atoms] = next_probs.dims();
    assert!(atoms >= 2, "C51 needs at least two atoms");
    let dz = (v_max - v_min) / (atoms - 1) as f64;
    let z = iota(atoms, &next_probs.device()).mul_scalar(dz).add_scalar(v_min).unsqueeze_dim::<2>(0); // [1, K]
    let tz = (returns.unsqueeze_dim::<2>(1) + discounts.unsqueeze_dim::<2>(1) * z).clamp(v_min, v_max); // [B, K]
    let b = tz.sub_scalar(v_min).div_scalar(dz).clamp(0.0, (atoms - 1) as f64);
    let (l, u) = (b.clone().floor(), b.clone().ceil());
    let integral = l.clone().equal(u.clone()).float();
    let to_lower = (u.clone() - b.clone() + integral) * next_probs.clone(); // [B, K]
    let to_upper = (b - l.clone()) * next_probs;
    let spread = |share: Tensor<2>, index: Tensor<2>| {
        let targets = one_hot(index.reshape([batch * atoms]), atoms).reshape([batch, atoms, atoms]); // [B, j, i]
        (share.unsqueeze_dim::<3>(2) * targets).sum_dim(1).reshape([batch, atoms])
        // Σ_j share_j [index_j = i]
    };
    spread(to_lower, l) + spread(to_upper, u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::{Noise, NoiseKind};
    use burn::tensor::{Device, TensorData};

    fn run(probs: &[f32], returns: &[f32], discounts: &[f32], v_min: f64, v_max: f64) -> Vec<f32> {
        let device = Device::flex();
        let (b, k) = (returns.len(), probs.len() / returns.len());
        let p = Tensor::<2>::from_data(TensorData::new(probs.to_vec(), [b, k]), &device);
        let g = Tensor::<1>::from_data(TensorData::new(returns.to_vec(), [b]), &device);
        let d = Tensor::<1>::from_data(TensorData::new(discounts.to_vec(), [b]), &device);
        c51_project(p, g, d, v_min, v_max).into_data().try_into_vec::<f32>().unwrap()
    }

    fn close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    /// Support −1, 0, 1; p = (0.2, 0.3, 0.5).
    #[test]
    fn hand_worked_three_atoms() {
        let p = [0.2f32, 0.3, 0.5].repeat(4);
        // G + d·z with G = 0.5, d = 0.5 → 0, 0.5, 1: atom 0 lands on 0, atom 1 splits, atom 2 stays at 1.
        // G = −3, d = 1: everything below v_min. G = 0.25, d = 0 (terminated): all mass at 0.25.
        // G = 1.5, d = 0.9 → 0.6, 1.5, 2.4: the last two clamp to v_max.
        let (g, d) = ([0.5f32, -3.0, 0.25, 1.5], [0.5f32, 1.0, 0.0, 0.9]);
        #[rustfmt::skip]
        let want = [0.0, 0.35, 0.65,  1.0, 0.0, 0.0,  0.0, 0.75, 0.25,  0.0, 0.08, 0.92];
        close(&c51_project_reference(&p, &g, &d, 3, -1.0, 1.0), &want);
        close(&run(&p, &g, &d, -1.0, 1.0), &want);
    }

    #[test]
    fn device_matches_the_reference_and_rows_sum_to_one() {
        let mut noise = Noise::new(9, 0);
        for (atoms, v_min, v_max) in [(51usize, -10.0, 10.0), (2, 0.0, 1.0), (11, -3.0, 7.0)] {
            let b = 40;
            let logits = noise.sample(NoiseKind::Normal, b * atoms);
            let mut probs = Vec::new();
            for row in logits.chunks(atoms) {
                let sum: f32 = row.iter().map(|x| x.exp()).sum();
                probs.extend(row.iter().map(|x| x.exp() / sum));
            }
            // returns reach well past both edges; a quarter of the discounts are 0, some integral grid hits
            let returns: Vec<f32> = noise
                .sample(NoiseKind::Normal, b)
                .iter()
                .enumerate()
                .map(|(i, x)| if i % 5 == 0 { 0.0 } else { x * 8.0 })
                .collect();
            let discounts: Vec<f32> = noise
                .sample(NoiseKind::Uniform, b)
                .iter()
                .enumerate()
                .map(|(i, u)| if i % 4 == 0 { 0.0 } else { 0.9 + 0.1 * u })
                .collect();
            let want = c51_project_reference(&probs, &returns, &discounts, atoms, v_min, v_max);
            let got = run(&probs, &returns, &discounts, v_min, v_max);
            close(&got, &want);
            for row in got.chunks(atoms) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                assert!(row.iter().all(|&p| p >= 0.0));
            }
        }
    }
}
