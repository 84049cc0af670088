//! Every learner kernel against its CPU reference, on random inputs with episode boundaries, on every device
//! present.

#[path = "../envs/tests/common/mod.rs"]
mod common;

use myriad::envs::{rng, Device};
use myriad::returns::{gae_reference, Gae, GaeBuffers, GaeParams, HostInputs};

/// Random GAE inputs `[T, N]` with terminations, truncations and both, from a counter-based stream.
struct Rollout {
    rewards: Vec<f32>,
    values: Vec<f32>,
    dones: Vec<u32>,
    final_values: Vec<f32>,
    last_values: Vec<f32>,
}

fn rollout(t: usize, n: usize, seed: u64) -> Rollout {
    let key = rng::stream_key(seed, 0);
    let mut c = 0u32;
    let mut u = || {
        c += 1;
        rng::unit(rng::draw(key, c))
    };
    let plane = t * n;
    let rewards = (0..plane).map(|_| u() * 4.0 - 2.0).collect();
    let values = (0..plane).map(|_| u() * 20.0 - 10.0).collect();
    let final_values = (0..plane).map(|_| u() * 20.0 - 10.0).collect();
    let last_values = (0..n).map(|_| u() * 20.0 - 10.0).collect();
    let mut dones = vec![0u32; 2 * plane];
    for k in 0..plane {
        let x = u();
        dones[k] = (x < 0.06) as u32; // terminated
        dones[plane + k] = (0.04..0.1).contains(&x) as u32; // truncated (both for x in [0.04, 0.06))
    }
    Rollout { rewards, values, dones, final_values, last_values }
}

fn run(device: &Device, p: GaeParams, t: usize, n: usize, r: &Rollout) -> (Vec<f32>, Vec<f32>) {
    let up = |v: &[f32]| device.upload_f32("input", v).unwrap();
    let (rewards, values, fv, lv) = (up(&r.rewards), up(&r.values), up(&r.final_values), up(&r.last_values));
    let dones = device.upload("dones", &r.dones).unwrap();
    let mut adv = device.zeros("advantages", t * n).unwrap();
    let mut ret = device.zeros("returns", t * n).unwrap();
    let gae = Gae::new(device, t, n, p).unwrap();
    let inputs = GaeBuffers { rewards: &rewards, values: &values, dones: &dones, final_values: &fv, last_values: &lv };
    gae.compute(&inputs, &mut adv, &mut ret).unwrap();
    (device.read_f32(&adv).unwrap(), device.read_f32(&ret).unwrap())
}

#[test]
fn gae_matches_the_reference_on_every_device() {
    for device in common::devices() {
        for (t, n, seed) in [(1, 1, 1), (7, 33, 2), (128, 1000, 3), (64, 70_000, 4)] {
            let r = rollout(t, n, seed);
            let p = GaeParams { gamma: 0.99, lambda: 0.95 };
            let (mut adv, mut ret) = (vec![0.0; t * n], vec![0.0; t * n]);
            let (terminated, truncated) = r.dones.split_at(t * n);
            let inputs = HostInputs {
                rewards: &r.rewards,
                values: &r.values,
                terminated,
                truncated,
                final_values: &r.final_values,
                last_values: &r.last_values,
            };
            gae_reference(p, t, n, &inputs, &mut adv, &mut ret);
            let (dev_adv, dev_ret) = run(&device, p, t, n, &r);
            for (k, (a, b)) in adv.iter().zip(&dev_adv).chain(ret.iter().zip(&dev_ret)).enumerate() {
                assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{} [{t}, {n}] #{k}: {a} vs {b}", device.describe());
            }
        }
    }
}

#[test]
fn gae_bootstraps_from_final_values_only_on_truncation() {
    // One env, T = 3, γ = 0.5, λ = 1: step 0 truncated (final value 8), step 1 terminated, step 2 goes on.
    let (t, n) = (3, 1);
    let r = Rollout {
        rewards: vec![1.0, 2.0, 3.0],
        values: vec![10.0, 20.0, 30.0],
        dones: vec![0, 1, 0, 1, 0, 0],
        final_values: vec![8.0, 99.0, 99.0],
        last_values: vec![4.0],
    };
    let p = GaeParams { gamma: 0.5, lambda: 1.0 };
    // t=2: δ = 3 + 0.5·4 − 30 = −25;  A = −25.
    // t=1: terminated: δ = 2 − 20 = −18; the trace ends: A = −18.
    // t=0: truncated: δ = 1 + 0.5·8 − 10 = −5; the trace ends: A = −5.
    let want_adv = [-5.0, -18.0, -25.0];
    for device in common::devices() {
        let (adv, ret) = run(&device, p, t, n, &r);
        assert_eq!(adv, want_adv, "{}", device.describe());
        assert_eq!(ret, [5.0, 2.0, 5.0], "{}", device.describe());
    }
}

#[test]
fn gae_rejects_bad_shapes_and_params() {
    let device = Device::cpu();
    assert!(Gae::new(&device, 0, 4, GaeParams::default()).is_err());
    assert!(Gae::new(&device, 4, 4, GaeParams { gamma: 1.5, lambda: 0.9 }).is_err());
    let gae = Gae::new(&device, 4, 4, GaeParams::default()).unwrap();
    let short = device.zeros("short", 3).unwrap();
    let mut out = device.zeros("out", 16).unwrap();
    let mut out2 = device.zeros("out", 16).unwrap();
    let inputs =
        GaeBuffers { rewards: &short, values: &short, dones: &short, final_values: &short, last_values: &short };
    let err = gae.compute(&inputs, &mut out, &mut out2).unwrap_err();
    assert!(err.to_string().contains("rewards has 3 values"), "{err}");
}
