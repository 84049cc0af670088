//! PQN end to end: config validation, the LayerNorm Q network, determinism and exact resume, evaluation of a
//! checkpoint, wgpu, and learning runs of the tuned configs.

use myriad::algo::{Algorithm, Pqn, PqnConfig, PqnStats, PqnTraining, TrainResult};
use myriad::envs::EnvConfig;
use myriad::{checkpoint, tuned};

fn tuned_config(env: &str) -> PqnConfig {
    let t = tuned::find("pqn", env).unwrap();
    tuned::parse::<PqnTraining>(t.text, t.file).unwrap().0
}

/// A small CartPole PQN: 8 envs × 16 steps, 2 epochs of 4 minibatches.
fn small() -> PqnConfig {
    let mut c = tuned_config("CartPole-v1").env_runners(8, 16);
    c.training.minibatch_size = 32;
    c.training.num_epochs = 2;
    c.rl_module.fcnet_hiddens = vec![16];
    c.evaluation.evaluation_interval = 0;
    c
}

fn stats(r: &TrainResult) -> &PqnStats {
    r.learner.pqn().expect("a PQN result")
}

#[test]
fn build_rejects_bad_configs_clearly() {
    let msg = |c: PqnConfig| match Pqn::new(c) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("config was accepted"),
    };
    let m = msg(small().environment("Pendulum-v1", EnvConfig::new()));
    assert!(m.contains("Discrete") && m.contains("ppo") && m.contains("impala"), "{m}");
    let mut c = small();
    c.training.lambda_ = 1.5;
    assert!(msg(c).contains("training.lambda"));
    let mut c = small();
    c.training.minibatch_size = 1000;
    assert!(msg(c).contains("minibatch_size"));
    let mut c = small();
    c.training.epsilon = myriad::config::Schedule::Constant(2.0);
    assert!(msg(c).contains("training.epsilon"));
    let c = small().num_env_runners(2);
    assert!(msg(c).contains("num_env_runners"));
    let err = tuned::parse::<PqnTraining>("[training]\nn_step = 3\n", "pqn.toml").unwrap_err().to_string();
    assert!(err.contains("n_step belongs to DQN"), "{err}");
}

#[test]
fn the_q_network_has_a_layer_norm_after_each_hidden_layer() {
    let layout = |layer_norm: bool| {
        let mut c = small();
        c.rl_module.fcnet_hiddens = vec![16, 8];
        c.training.layer_norm = layer_norm;
        myriad::model::layout_of(Pqn::new(c).unwrap().network())
    };
    let (with, without) = (layout(true), layout(false));
    // Two LayerNorms, each a gain and a bias of its layer's width.
    assert_eq!(with.len(), without.len() + 4, "{with:?} vs {without:?}");
    for width in [16, 8] {
        assert_eq!(with.iter().filter(|s| s.as_slice() == [width]).count(), 2 + 1, "{with:?}");
    }
}

#[test]
fn runs_are_deterministic_and_resume_exactly() {
    let run = |iterations: usize| {
        let mut pqn = Pqn::new(small()).unwrap();
        (0..iterations).map(|_| pqn.train().unwrap().without_timings()).collect::<Vec<_>>()
    };
    let a = run(4);
    assert_eq!(a, run(4), "two runs of one seed differ");
    for r in &a {
        let s = stats(r);
        assert!(s.total_loss.is_finite() && s.num_gradient_updates == 8 && s.gradients_global_norm > 0.0, "{s:?}");
    }
    // ε follows its schedule over env steps: 1 at the start, lower later.
    assert_eq!(stats(&a[0]).curr_epsilon, 1.0);
    assert!(stats(&a[3]).curr_epsilon < 1.0);
    let dir = std::env::temp_dir().join(format!("myriad-pqn-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = Pqn::new(small()).unwrap();
    first.train().unwrap();
    first.train().unwrap();
    let saved = checkpoint::save(&first, &dir, "test").unwrap();
    drop(first);
    let mut resumed = checkpoint::restore::<PqnTraining>(&saved, &small()).unwrap();
    let rest: Vec<_> = (0..2).map(|_| resumed.train().unwrap().without_timings()).collect();
    assert_eq!(rest, a[2..], "resume differs from the uninterrupted run");
    let (env, summary) = checkpoint::evaluate(&saved, None, 4, false, 3).unwrap();
    assert_eq!((env.as_str(), summary.episodes), ("CartPole-v1", 4));
    let _ = std::fs::remove_dir_all(&dir);
}

/// PQN on burn's wgpu backend with the envs on the same device (lavapipe in CI): λ-returns run as the GAE
/// kernel, and the bytes an iteration moves do not grow with the rollout's length.
#[test]
fn wgpu_pqn_trains_on_the_device() {
    if myriad::envs::Device::wgpu().is_err() {
        assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter");
        eprintln!("skipped: no wgpu adapter");
        return;
    }
    let mut bytes = Vec::new();
    for horizon in [16, 32] {
        let mut c = small().env_runners(8, horizon);
        c.resources.backend = myriad::envs::Backend::Wgpu;
        let mut pqn = Pqn::new(c).unwrap();
        let _ = pqn.train().unwrap();
        let r = pqn.train().unwrap();
        assert!(stats(&r).total_loss.is_finite(), "{r:?}");
        bytes.push((r.host_to_device_bytes, r.device_to_host_bytes));
    }
    assert_eq!(bytes[0].1, bytes[1].1, "bytes read back changed with T: {bytes:?}");
}

/// Runs a tuned config until its evaluation reaches `target` or `steps` env steps; returns the best evaluation.
fn learn(env: &str, steps: u64, target: f64) -> f64 {
    let mut pqn = Pqn::new(tuned_config(env)).unwrap();
    let mut best = f64::NEG_INFINITY;
    while pqn.progress().counters().env_steps < steps && best < target {
        if let Some(e) = pqn.train().unwrap().evaluation_episode_return_mean {
            best = best.max(e);
        }
    }
    best
}

#[test]
fn pqn_solves_cartpole() {
    let best = learn("CartPole-v1", 1_000_000, 475.0);
    assert!(best >= 475.0, "best evaluation mean {best}");
}

#[test]
fn pqn_solves_acrobot() {
    let best = learn("Acrobot-v1", 1_000_000, -100.0);
    assert!(best >= -100.0, "best evaluation mean {best}");
}
