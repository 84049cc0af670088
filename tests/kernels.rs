//! Every learner kernel against its CPU reference, on random inputs with episode boundaries, on every device
//! present.

#[path = "../envs/tests/common/mod.rs"]
mod common;

use myriad::envs::{rng, Device};
use myriad::returns::{
    gae_reference, lambda_returns_reference, vtrace_reference, Gae, GaeBuffers, GaeParams, HostInputs, Vtrace,
    VtraceBuffers, VtraceParams,
};

/// Random GAE and V-trace inputs `[T, N]` with terminations, truncations and both, from a counter-based stream.
struct Rollout {
    rewards: Vec<f32>,
    values: Vec<f32>,
    dones: Vec<u32>,
    final_values: Vec<f32>,
    last_values: Vec<f32>,
    /// `[2, T, N]`: behaviour, then target log-probabilities, whose ratios e^(target − behaviour) lie in
    /// [e^-1.5, e^1.5] ≈ [0.22, 4.5], on both sides of the clip thresholds.
    log_probs: Vec<f32>,
}

impl Rollout {
    fn host(&self) -> HostInputs<'_> {
        let (terminated, truncated) = self.dones.split_at(self.rewards.len());
        HostInputs {
            rewards: &self.rewards,
            values: &self.values,
            terminated,
            truncated,
            final_values: &self.final_values,
            last_values: &self.last_values,
        }
    }

    /// Behaviour and target log-probabilities.
    fn log_probs(&self) -> (&[f32], &[f32]) {
        self.log_probs.split_at(self.rewards.len())
    }

    /// The same rollout acted on-policy: target log-probabilities equal the behaviour's.
    fn on_policy(mut self) -> Self {
        let plane = self.rewards.len();
        self.log_probs.copy_within(..plane, plane);
        self
    }
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
    let behaviour: Vec<f32> = (0..plane).map(|_| u() * -3.0).collect();
    let target: Vec<f32> = behaviour.iter().map(|b| b + u() * 3.0 - 1.5).collect();
    let log_probs = [behaviour, target].concat();
    Rollout { rewards, values, dones, final_values, last_values, log_probs }
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
        log_probs: vec![],
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

fn run_vtrace(device: &Device, p: VtraceParams, t: usize, n: usize, r: &Rollout) -> (Vec<f32>, Vec<f32>) {
    let up = |v: &[f32]| device.upload_f32("input", v).unwrap();
    let (rewards, values, fv, lv) = (up(&r.rewards), up(&r.values), up(&r.final_values), up(&r.last_values));
    let (dones, log_probs) = (device.upload("dones", &r.dones).unwrap(), up(&r.log_probs));
    let mut vs = device.zeros("vs", t * n).unwrap();
    let mut pg = device.zeros("pg advantages", t * n).unwrap();
    let vtrace = Vtrace::new(device, t, n, p).unwrap();
    let inputs = VtraceBuffers {
        rewards: &rewards,
        values: &values,
        dones: &dones,
        final_values: &fv,
        last_values: &lv,
        log_probs: &log_probs,
    };
    vtrace.compute(&inputs, &mut vs, &mut pg).unwrap();
    (device.read_f32(&vs).unwrap(), device.read_f32(&pg).unwrap())
}

/// `got` within 1e-4 relative (1e-4 absolute below 1) of `want`, element by element.
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{what} #{k}: {g} vs {w}");
    }
}

#[test]
fn vtrace_matches_the_reference_on_every_device() {
    let clipped = VtraceParams {
        gamma: 0.99,
        lambda: 0.95,
        clip_rho_threshold: 1.0,
        clip_pg_rho_threshold: 2.0,
        clip_c_threshold: 0.9,
    };
    // No clip at all. Unclipped traces with γλ·ratio > 1 grow geometrically along an episode, and so does their
    // rounding: with λ = 1 the f32 reference itself is 3e-4 (relative) off an f64 evaluation on these ratios (up
    // to 4.5). λ = 0.2 keeps γλ·ratio < 1; all-infinite thresholds on-policy are checked against GAE below.
    let unclipped = VtraceParams {
        gamma: 0.9,
        lambda: 0.2,
        clip_rho_threshold: f32::INFINITY,
        clip_pg_rho_threshold: f32::INFINITY,
        clip_c_threshold: f32::INFINITY,
    };
    // IMPALA's: importance weights unclipped, traces clipped at c̄ = 1.
    let traces_clipped = VtraceParams { lambda: 1.0, clip_c_threshold: 1.0, ..unclipped };
    for device in common::devices() {
        for (t, n, seed) in [(1, 1, 1), (7, 33, 2), (128, 1000, 3), (64, 70_000, 4)] {
            let r = rollout(t, n, seed);
            for p in [VtraceParams::default(), clipped, unclipped, traces_clipped] {
                let (mut vs, mut pg) = (vec![0.0; t * n], vec![0.0; t * n]);
                let (behaviour, target) = r.log_probs();
                vtrace_reference(p, t, n, &r.host(), behaviour, target, &mut vs, &mut pg);
                let (dev_vs, dev_pg) = run_vtrace(&device, p, t, n, &r);
                let what = |name| format!("{} [{t}, {n}] {p:?} {name}", device.describe());
                assert_close(&what("vs"), &dev_vs, &vs);
                assert_close(&what("pg_advantages"), &dev_pg, &pg);
            }
        }
    }
}

#[test]
fn vtrace_clips_and_bootstraps_by_hand() {
    // One env, T = 3, γ = 0.5, λ = 0.5, ρ̄ = 1, c̄ = 1, ρ̄_pg = 2. Step 0 terminated, step 1 goes on, step 2
    // truncated (final value 8); the last value (99) is never read: the rollout ends truncated.
    // Ratios e^(target − behaviour): 1 at step 0; e^3 ≈ 20 at steps 1 and 2, clipped to ρ = 1, c = λ·1 = 0.5,
    // ρpg = 2.
    let (t, n) = (3, 1);
    let r = Rollout {
        rewards: vec![1.0, 2.0, 3.0],
        values: vec![10.0, 20.0, 30.0],
        dones: vec![1, 0, 0, 0, 0, 1],
        final_values: vec![99.0, 99.0, 8.0],
        last_values: vec![99.0],
        log_probs: vec![-1.0, -4.0, -4.0, -1.0, -1.0, -1.0],
    };
    let p = VtraceParams {
        gamma: 0.5,
        lambda: 0.5,
        clip_rho_threshold: 1.0,
        clip_pg_rho_threshold: 2.0,
        clip_c_threshold: 1.0,
    };
    // t=2: truncated, bootstraps from 8: δ = 1·(3 + 0.5·8 − 30) = −23; the trace ends: a = −23, vs = 7;
    //      pg = 2·(3 + 0.5·8 − 30) = −46.
    // t=1: goes on: δ = 1·(2 + 0.5·30 − 20) = −3; a = −3 + 0.5·0.5·(−23) = −8.75, vs = 11.25;
    //      pg = 2·(2 + 0.5·vs_2 − 20) = 2·(2 + 3.5 − 20) = −29.
    // t=0: terminated, no bootstrap: δ = 1·(1 − 10) = −9; a = −9, vs = 1; pg = 1·(1 − 10) = −9.
    let mut want = (vec![0.0; 3], vec![0.0; 3]);
    let (behaviour, target) = r.log_probs();
    vtrace_reference(p, t, n, &r.host(), behaviour, target, &mut want.0, &mut want.1);
    assert_eq!(want, (vec![1.0, 11.25, 7.0], vec![-9.0, -29.0, -46.0]), "the reference");
    for device in common::devices() {
        assert_eq!(run_vtrace(&device, p, t, n, &r), want, "{}", device.describe());
    }
}

#[test]
fn vtrace_on_policy_unclipped_is_gae() {
    let unclipped = |gamma, lambda| VtraceParams {
        gamma,
        lambda,
        clip_rho_threshold: f32::INFINITY,
        clip_pg_rho_threshold: f32::INFINITY,
        clip_c_threshold: f32::INFINITY,
    };
    for device in common::devices() {
        for (t, n, seed) in [(1, 1, 5), (9, 17, 6), (128, 300, 7)] {
            let r = rollout(t, n, seed).on_policy();
            let plane = t * n;
            let gae = |lambda| {
                let (mut adv, mut ret) = (vec![0.0; plane], vec![0.0; plane]);
                gae_reference(GaeParams { gamma: 0.9, lambda }, t, n, &r.host(), &mut adv, &mut ret);
                (adv, ret)
            };
            let what = |name| format!("{} [{t}, {n}] {name}", device.describe());
            // λ = 1: vs are the n-step returns, discounted sums of rewards up to the end of the episode or a
            // bootstrap (the final value where truncated, the last value after the rollout).
            let mut returns = vec![0.0f32; plane];
            let mut next = r.last_values.clone();
            for k in (0..plane).rev() {
                let (i, terminated, truncated) = (k % n, r.dones[k] != 0, r.dones[plane + k] != 0);
                let bootstrap = if terminated {
                    0.0
                } else if truncated {
                    r.final_values[k]
                } else {
                    next[i]
                };
                returns[k] = r.rewards[k] + 0.9 * bootstrap;
                next[i] = returns[k];
            }
            let (vs, pg) = run_vtrace(&device, unclipped(0.9, 1.0), t, n, &r);
            let (gae_adv, gae_ret) = gae(1.0);
            assert_close(&what("vs = discounted returns"), &vs, &returns);
            assert_close(&what("vs = GAE(1) returns"), &vs, &gae_ret);
            assert_close(&what("pg_advantages = GAE(1) advantages"), &pg, &gae_adv);
            // General λ: vs are GAE(λ)'s returns.
            let (vs, _) = run_vtrace(&device, unclipped(0.9, 0.8), t, n, &r);
            assert_close(&what("vs = GAE(0.8) returns"), &vs, &gae(0.8).1);
        }
    }
}

#[test]
fn vtrace_rejects_bad_shapes_and_params() {
    let device = Device::cpu();
    let ok = VtraceParams::default();
    let message = |t, n, p| Vtrace::new(&device, t, n, p).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message(0, 4, ok).contains("V-trace over [0, 4] is empty or too large"));
    assert!(message(4, 0, ok).contains("empty or too large"));
    assert!(message(1 << 20, 1 << 20, ok).contains("empty or too large"));
    assert!(message(usize::MAX, 2, ok).contains("empty or too large"));
    for bad in
        [VtraceParams { gamma: 1.5, ..ok }, VtraceParams { lambda: -0.1, ..ok }, VtraceParams { gamma: f32::NAN, ..ok }]
    {
        assert!(message(4, 4, bad).contains("gamma and lambda in [0, 1]"), "{bad:?}");
    }
    for bad in [
        VtraceParams { clip_rho_threshold: 0.0, ..ok },
        VtraceParams { clip_pg_rho_threshold: -1.0, ..ok },
        VtraceParams { clip_c_threshold: f32::NAN, ..ok },
    ] {
        assert!(message(4, 4, bad).contains("clip thresholds > 0"), "{bad:?}");
    }
    let unclipped = VtraceParams {
        clip_rho_threshold: f32::INFINITY,
        clip_pg_rho_threshold: f32::INFINITY,
        clip_c_threshold: f32::INFINITY,
        ..ok
    };
    assert!(Vtrace::new(&device, 4, 4, unclipped).is_ok());
    let vtrace = Vtrace::new(&device, 4, 4, ok).unwrap();
    let (short, plane, double) =
        (device.zeros("short", 3).unwrap(), device.zeros("plane", 16).unwrap(), device.zeros("double", 32).unwrap());
    let (mut out, mut out2) = (device.zeros("out", 16).unwrap(), device.zeros("out", 16).unwrap());
    let inputs = VtraceBuffers {
        rewards: &short,
        values: &short,
        dones: &short,
        final_values: &short,
        last_values: &short,
        log_probs: &short,
    };
    let err = vtrace.compute(&inputs, &mut out, &mut out2).unwrap_err();
    assert!(err.to_string().contains("V-trace over [4, 4]: rewards has 3 values, expected 16"), "{err}");
    let last = device.zeros("last", 4).unwrap();
    let inputs = VtraceBuffers {
        rewards: &plane,
        values: &plane,
        dones: &double,
        final_values: &plane,
        last_values: &last,
        log_probs: &plane,
    };
    let err = vtrace.compute(&inputs, &mut out, &mut out2).unwrap_err();
    assert!(err.to_string().contains("log_probs has 16 values, expected 32"), "{err}");
    let mut short_out = device.zeros("short out", 3).unwrap();
    let inputs = VtraceBuffers { log_probs: &double, ..inputs };
    let err = vtrace.compute(&inputs, &mut out, &mut short_out).unwrap_err();
    assert!(err.to_string().contains("pg_advantages has 3 values, expected 16"), "{err}");
    vtrace.compute(&inputs, &mut out, &mut out2).unwrap();
}

/// λ-returns (PQN's targets) run on the GAE kernels' returns output: every device against the direct recursion,
/// for several λ, on rollouts with both boundary kinds.
#[test]
fn lambda_returns_on_the_gae_kernels_match_their_reference_on_every_device() {
    for device in common::devices() {
        for (t, n, seed, lambda) in [(1, 1, 5, 0.65), (9, 31, 6, 0.0), (64, 500, 7, 0.65), (32, 4096, 8, 1.0)] {
            let r = rollout(t, n, seed);
            let (terminated, truncated) = r.dones.split_at(t * n);
            let inputs = HostInputs {
                rewards: &r.rewards,
                values: &r.values,
                terminated,
                truncated,
                final_values: &r.final_values,
                last_values: &r.last_values,
            };
            let mut want = vec![0.0; t * n];
            lambda_returns_reference(0.99, lambda, t, n, &inputs, &mut want);
            let (_, got) = run(&device, GaeParams { gamma: 0.99, lambda }, t, n, &r);
            for (k, (a, b)) in want.iter().zip(&got).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * a.abs().max(1.0),
                    "{} [{t}, {n}] λ {lambda} #{k}: {a} vs {b}",
                    device.describe()
                );
            }
        }
    }
}

#[test]
fn lambda_returns_by_hand() {
    // One env, T = 4, γ = 0.5, λ = 0.5; values are max Q. Step 1 truncated (final value 8), step 2 terminated.
    let rewards = [1.0, 2.0, 3.0, 4.0];
    let values = [10.0, 20.0, 30.0, 40.0];
    let (terminated, truncated) = ([0, 0, 1, 0], [0, 1, 0, 0]);
    let inputs = HostInputs {
        rewards: &rewards,
        values: &values,
        terminated: &terminated,
        truncated: &truncated,
        final_values: &[99.0, 8.0, 99.0, 99.0],
        last_values: &[6.0],
    };
    let mut g = [0.0; 4];
    lambda_returns_reference(0.5, 0.5, 4, 1, &inputs, &mut g);
    // t=3: 4 + 0.5·6 = 7 (G_T = V(s_T) = 6).   t=2: terminated: 3.   t=1: truncated: 2 + 0.5·8 = 6.
    // t=0: 1 + 0.5·(0.5·V(s_1) + 0.5·G_1) = 1 + 0.5·(10 + 3) = 7.5.
    assert_eq!(g, [7.5, 6.0, 3.0, 7.0]);
}
