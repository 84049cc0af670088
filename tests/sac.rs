//! SAC end to end and piece by piece: the squashed log-density against a reference written here, the critics'
//! target with terminated and truncated windows, the temperature's gradient sign, config validation,
//! determinism and exact resume, checkpoint evaluation, wgpu, and learning runs of the tuned configs.

use burn::tensor::{Device, Tensor, TensorData};
use myriad::algo::sac::{alpha_loss, critic_target, Temperature};
use myriad::algo::{gradient_step, Algorithm, Sac, SacConfig, SacStats, SacTraining, TrainResult};
use myriad::envs::EnvConfig;
use myriad::model::{squashed_log_prob, ModelConfig, SquashedGaussian};
use myriad::returns::nstep_targets;
use myriad::{checkpoint, tuned};

fn tuned_config(env: &str) -> SacConfig {
    let t = tuned::find("sac", env).unwrap();
    tuned::parse::<SacTraining>(t.text, t.file).unwrap().0
}

/// A small Pendulum SAC: 4 envs × 8 steps, 64 random steps first, small networks, correlated exploration and
/// prioritized 2-step replay so that every piece a checkpoint keeps is in play.
fn small() -> SacConfig {
    let mut c = tuned_config("Pendulum-v1").env_runners(4, 8);
    let t = &mut c.training;
    t.num_steps_sampled_before_learning_starts = 64;
    t.train_batch_size = 32;
    t.training_intensity = Some(64.0);
    t.n_step = 2;
    t.action_noise_correlation = 0.5;
    t.replay_buffer_config.kind = myriad::algo::dqn::ReplayKind::Prioritized;
    t.replay_buffer_config.capacity = 1000;
    t.policy_model_config.fcnet_hiddens = vec![16];
    t.q_model_config.fcnet_hiddens = vec![16];
    c.evaluation.evaluation_interval = 0;
    c
}

fn stats(r: &TrainResult) -> &SacStats {
    r.learner.sac().expect("a SAC result")
}

fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn tensor2(values: Vec<f32>, shape: [usize; 2]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), &Device::flex())
}

fn tensor1(values: Vec<f32>) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), &Device::flex())
}

/// The reference: a = tanh(u), log π(a) = Σ_d log N(u_d; μ_d, σ_d) − log(1 − a_d²), in f64.
fn log_prob_reference(u: &[f64], mean: &[f64], log_std: &[f64]) -> f64 {
    let mut total = 0.0;
    for d in 0..u.len() {
        let std = log_std[d].exp();
        let z = (u[d] - mean[d]) / std;
        let gaussian = -0.5 * z * z - log_std[d] - 0.5 * (2.0 * std::f64::consts::PI).ln();
        total += gaussian - (1.0 - u[d].tanh().powi(2)).ln();
    }
    total
}

#[test]
fn squashed_log_prob_matches_the_reference() {
    let (b, a) = (64usize, 3usize);
    // Box–Muller on a fixed hash: standard normals without a generator.
    let unit = |k: usize| ((k as f64 * 12.9898 + 78.233).sin() * 43758.5453).rem_euclid(1.0).max(1e-9);
    let normal: Vec<f32> = (0..3 * b * a)
        .map(|k| ((-2.0 * unit(2 * k).ln()).sqrt() * (2.0 * std::f64::consts::PI * unit(2 * k + 1)).cos()) as f32)
        .collect();
    let eps: Vec<f32> = normal[..b * a].to_vec();
    let mean: Vec<f32> = normal[b * a..2 * b * a].iter().map(|x| 1.5 * x).collect();
    let log_std: Vec<f32> = normal[2 * b * a..].iter().map(|x| (0.6 * x).clamp(-2.0, 1.0)).collect();
    let u: Vec<f32> = (0..b * a).map(|k| mean[k] + log_std[k].exp() * eps[k]).collect();
    let got =
        host(squashed_log_prob(tensor2(u.clone(), [b, a]), tensor2(eps, [b, a]), tensor2(log_std.clone(), [b, a])));
    let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let (u, mean, log_std) = (f(&u), f(&mean), f(&log_std));
    let mut checked = 0;
    for row in 0..b {
        let r = row * a..(row + 1) * a;
        if u[r.clone()].iter().any(|x| x.abs() > 6.0) {
            continue; // the reference's 1 − tanh² loses its digits there
        }
        let want = log_prob_reference(&u[r.clone()], &mean[r.clone()], &log_std[r]);
        assert!((got[row] as f64 - want).abs() < 2e-3 * (1.0 + want.abs()), "row {row}: {} vs {want}", got[row]);
        checked += 1;
    }
    assert!(checked > b / 2, "only {checked} rows checked");
    // Far in the tails the stable form stays finite where 1 − tanh²(u) underflows to 0 in f32.
    let tail =
        host(squashed_log_prob(tensor2(vec![30.0], [1, 1]), tensor2(vec![0.0], [1, 1]), tensor2(vec![3.4], [1, 1])));
    assert!(tail[0].is_finite() && tail[0] > 50.0, "{tail:?}");
}

/// The squashed density of one action value integrates to 1 over (-1, 1).
#[test]
fn squashed_density_integrates_to_one() {
    let (mean, log_std) = (0.7f32, -0.3f32);
    let k = 20_000usize;
    let actions: Vec<f32> = (0..k).map(|i| -1.0 + (i as f32 + 0.5) * 2.0 / k as f32).collect();
    let u: Vec<f32> = actions.iter().map(|a| a.atanh()).collect();
    let eps: Vec<f32> = u.iter().map(|u| (u - mean) / log_std.exp()).collect();
    let lp = host(squashed_log_prob(tensor2(u, [k, 1]), tensor2(eps, [k, 1]), tensor2(vec![log_std; k], [k, 1])));
    let integral: f64 = lp.iter().map(|&l| (l as f64).exp() * 2.0 / k as f64).sum();
    assert!((integral - 1.0).abs() < 1e-2, "∫ π(a) da = {integral}");
}

#[test]
fn actor_samples_lie_in_the_unit_box_and_greedy_is_tanh_of_the_mean() {
    let device = Device::flex();
    let model = ModelConfig { fcnet_hiddens: vec![8], ..Default::default() };
    let obs_space = myriad::envs::Space::bounded(vec![-1.0; 3], vec![1.0; 3]);
    // Weights drawn under a fixed seed: the test does not depend on what other tests drew before it.
    let actor = myriad::model::seeded(&device, 5, || {
        SquashedGaussian::new(&model, &obs_space, 2, &device).map(myriad::model::materialize)
    })
    .unwrap();
    let obs = tensor2((0..30).map(|i| (i as f32 * 0.37).sin() * 5.0).collect(), [10, 3]);
    let eps = tensor2((0..20).map(|i| (i as f32 * 0.91).cos() * 3.0).collect(), [10, 2]);
    let sample = actor.sample(obs.clone(), eps);
    assert!(host(sample.actions).iter().all(|a| a.abs() < 1.0));
    assert!(host(sample.log_prob).iter().all(|l| l.is_finite()));
    let greedy = host(actor.greedy(obs.clone()));
    let zero = host(actor.sample(obs, Tensor::zeros([10, 2], &device)).actions);
    for (g, z) in greedy.iter().zip(&zero) {
        assert!((g - z).abs() < 1e-6);
    }
}

/// y = G + γ^m · (min Q' − α log π'): a terminated window keeps its rewards only; a truncated one bootstraps (the
/// replay gives it the kept final observation); so does one that did not end.
#[test]
fn critic_target_bootstraps_truncated_windows_and_not_terminated_ones() {
    let (gamma, alpha) = (0.9f64, 0.2f32);
    // Three 2-step windows: terminated at step 0, truncated at step 0, no end.
    let rewards = tensor2(vec![1.0, 5.0, 2.0, 5.0, 3.0, 4.0], [3, 2]);
    let terminated = tensor2(vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [3, 2]);
    let truncated = tensor2(vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [3, 2]);
    let targets = nstep_targets(rewards, terminated, truncated, gamma);
    let (next_q, next_log_prob) = (vec![10.0f32, 20.0, 30.0], vec![-1.0f32, 0.5, 2.0]);
    let y = host(critic_target(
        targets.returns,
        targets.discounts,
        tensor1(next_q.clone()),
        tensor1(next_log_prob.clone()),
        tensor1(vec![alpha]),
    ));
    let soft = |k: usize| next_q[k] as f64 - alpha as f64 * next_log_prob[k] as f64;
    let want = [1.0, 2.0 + gamma * soft(1), 3.0 + gamma * 4.0 + gamma * gamma * soft(2)];
    for k in 0..3 {
        assert!((y[k] as f64 - want[k]).abs() < 1e-4, "window {k}: {} vs {}", y[k], want[k]);
    }
}

/// α rises while the policy's entropy is below the target and falls while it is above.
#[test]
fn alpha_moves_toward_the_target_entropy() {
    let device = Device::flex().autodiff();
    for (log_prob, rises) in [(2.0f32, true), (-3.0, false)] {
        let mut temperature = Temperature::new(0.5, &device);
        let before = host(temperature.log_alpha())[0];
        // The gradient of the loss in log α is −(log π + H̄).
        let loss = alpha_loss(temperature.log_alpha(), tensor1(vec![log_prob; 4]), -1.0);
        let grads = loss.backward();
        let grad = host(temperature.log_alpha().grad(&grads).unwrap())[0];
        assert!((grad - -(log_prob - 1.0)).abs() < 1e-6, "gradient {grad}");
        let mut optimizer = burn::optim::AdamConfig::new().init();
        let loss = alpha_loss(temperature.log_alpha(), tensor1(vec![log_prob; 4]), -1.0);
        gradient_step(&mut optimizer, &mut temperature, loss, 0.1, 0.0);
        let after = host(temperature.log_alpha())[0];
        assert_eq!(after > before, rises, "log π = {log_prob}: log α {before} → {after}");
    }
}

#[test]
fn build_rejects_bad_configs_clearly() {
    let msg = |c: SacConfig| match Sac::new(c) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("config was accepted"),
    };
    let m = msg(small().environment("CartPole-v1", EnvConfig::new()));
    assert!(m.contains("Box") && m.contains("dqn") && m.contains("pqn"), "{m}");
    for tau in [0.0, 1.5, f64::NAN] {
        let mut c = small();
        c.training.tau = tau;
        assert!(msg(c).contains("training.tau"), "tau {tau}");
    }
    for alpha in [0.0, -1.0] {
        let mut c = small();
        c.training.initial_alpha = alpha;
        assert!(msg(c).contains("training.initial_alpha"), "alpha {alpha}");
    }
    let mut c = small();
    c.training.target_entropy = myriad::algo::sac::TargetEntropy::Named("high".into());
    let m = msg(c);
    assert!(m.contains("target_entropy") && m.contains("auto"), "{m}");
    let mut c = small();
    c.environment.normalize_actions = false;
    assert!(msg(c).contains("normalize_actions"));
    let mut c = small();
    c.training.action_noise_correlation = 1.0;
    assert!(msg(c).contains("action_noise_correlation"));
    assert!(msg(small().num_env_runners(2)).contains("num_env_runners"));
    let err = tuned::parse::<SacTraining>("[training]\ndouble_q = true\n", "sac.toml").unwrap_err().to_string();
    assert!(err.contains("double_q belongs to DQN"), "{err}");
    let (c, _) = tuned::parse::<SacTraining>("[training]\ntarget_entropy = -0.5\n", "sac.toml").unwrap();
    assert_eq!(c.training.target_entropy.resolve(1), Ok(-0.5));
}

#[test]
fn runs_are_deterministic_and_resume_exactly() {
    let run = |iterations: usize| {
        let mut sac = Sac::new(small()).unwrap();
        (0..iterations).map(|_| sac.train().unwrap().without_timings()).collect::<Vec<_>>()
    };
    let a = run(5);
    assert_eq!(a, run(5), "two runs of one seed differ");
    // 64 random steps first (two iterations of 32), then 64 × 32 / 32 = 64 updates an iteration.
    assert_eq!(stats(&a[0]).num_gradient_updates, 0);
    for r in &a[2..] {
        let s = stats(r);
        assert_eq!(s.num_gradient_updates, 64, "{s:?}");
        assert!(s.total_loss.is_finite() && s.actor_loss.is_finite() && s.alpha_value > 0.0, "{s:?}");
        assert!(s.critic_gradients_global_norm > 0.0 && s.actor_gradients_global_norm > 0.0, "{s:?}");
    }
    assert!(stats(&a[4]).alpha_value != 1.0, "α never moved");
    let dir = std::env::temp_dir().join(format!("myriad-sac-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = Sac::new(small()).unwrap();
    for _ in 0..3 {
        first.train().unwrap();
    }
    let saved = checkpoint::save(&first, &dir, "test").unwrap();
    drop(first);
    let mut resumed = checkpoint::restore::<SacTraining>(&saved, &small()).unwrap();
    let rest: Vec<_> = (0..2).map(|_| resumed.train().unwrap().without_timings()).collect();
    assert_eq!(rest, a[3..], "resume differs from the uninterrupted run");
    let (env, summary) = checkpoint::evaluate(&saved, None, 4, false, 3).unwrap();
    assert_eq!((env.as_str(), summary.episodes), ("Pendulum-v1", 4));
    assert!(summary.return_mean < 0.0 && summary.length_mean == 200.0, "{summary:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SAC on burn's wgpu backend with the envs on the same device (lavapipe in CI): collection, replay and
/// updates on the device; what an iteration reads back does not grow with the rollout's length.
#[test]
fn wgpu_sac_trains_on_the_device() {
    if myriad::envs::Device::wgpu().is_err() {
        assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter");
        eprintln!("skipped: no wgpu adapter");
        return;
    }
    let mut bytes = Vec::new();
    for horizon in [8, 16] {
        let mut c = small().env_runners(4, horizon);
        c.training.replay_buffer_config.kind = myriad::algo::dqn::ReplayKind::Uniform;
        c.training.training_intensity = None;
        c.training.num_steps_sampled_before_learning_starts = 0;
        c.resources.backend = myriad::envs::Backend::Wgpu;
        let mut sac = Sac::new(c).unwrap();
        let _ = sac.train().unwrap();
        let r = sac.train().unwrap();
        assert!(stats(&r).total_loss.is_finite() && stats(&r).num_gradient_updates == 1, "{r:?}");
        bytes.push((r.host_to_device_bytes, r.device_to_host_bytes));
    }
    assert_eq!(bytes[0], bytes[1], "bytes moved changed with T: {bytes:?}");
}

/// Runs a tuned config until its evaluation reaches `target` or `steps` env steps; returns the best evaluation.
fn learn(env: &str, steps: u64, target: f64) -> f64 {
    let mut sac = Sac::new(tuned_config(env)).unwrap();
    let mut best = f64::NEG_INFINITY;
    while sac.progress().counters().env_steps < steps && best < target {
        if let Some(e) = sac.train().unwrap().evaluation_episode_return_mean {
            best = best.max(e);
        }
    }
    best
}

#[test]
fn sac_solves_pendulum() {
    let best = learn("Pendulum-v1", 40_000, -250.0);
    assert!(best >= -250.0, "best evaluation mean {best}");
}

#[test]
fn sac_solves_mountain_car_continuous() {
    let best = learn("MountainCarContinuous-v0", 100_000, 90.0);
    assert!(best >= 90.0, "best evaluation mean {best}");
}
