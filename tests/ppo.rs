//! PPO end to end on the CPU backend: config validation, TOML, determinism, exact resume from a checkpoint, clear
//! errors for bad checkpoints and non-finite losses, and short learning runs of every tuned config.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;
use myriad::algo::{Algorithm, PpoConfig, PpoStats, TrainResult};
use myriad::envs::EnvConfig;
use myriad::run::{run, RunOptions, Start, Stop};
use myriad::{checkpoint, config, tuned, Error};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn small_cartpole() -> PpoConfig {
    let (mut config, _): (PpoConfig, _) =
        tuned::parse(tuned::find("ppo", "CartPole-v1").unwrap().text, "cartpole").unwrap();
    config.env_runners.num_envs_per_env_runner = 8;
    config.env_runners.rollout_fragment_length = 32;
    config.training.minibatch_size = 64;
    config.training.num_epochs = 2;
    config.evaluation.evaluation_interval = 0;
    config
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("myriad-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Run options writing into `dir`, with no progress display; `interrupted` sets the Ctrl-C flag up front.
fn quiet_run(stop: Stop, dir: &Path, checkpoint_frequency: u64, interrupted: bool) -> RunOptions {
    RunOptions {
        stop,
        out: Some(dir.to_path_buf()),
        start: Start::Overwrite,
        checkpoint_frequency,
        interrupt: Arc::new(AtomicBool::new(interrupted)),
        on_result: Box::new(|_, _| {}),
    }
}

/// PPO's learner statistics of a result.
fn stats(r: &TrainResult) -> &PpoStats {
    r.learner.ppo().expect("a PPO result")
}

#[test]
fn build_rejects_inconsistent_configs() {
    let msg = |c: PpoConfig| match c.build() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("config was accepted"),
    };
    let mut c = small_cartpole();
    c.training.minibatch_size = 100_000;
    assert!(msg(c).contains("minibatch_size"));
    let mut c = small_cartpole();
    c.training.lr = (-1.0).into();
    assert!(msg(c).contains("training.lr"));
    let mut c = small_cartpole();
    c.training.gamma = 1.5;
    assert!(msg(c).contains("training.gamma"));
    let mut c = small_cartpole();
    c.environment.env = "CartPol-v1".into();
    assert!(msg(c).contains("CartPole-v1"), "suggests the close id");
    let mut c = small_cartpole();
    c.rl_module.free_log_std = true;
    assert!(msg(c).contains("free_log_std"));
    let mut c = small_cartpole();
    c.env_runners.num_envs_per_env_runner = 0;
    assert!(msg(c).contains("num_envs_per_env_runner"));
    let mut c = small_cartpole();
    c.env_runners.rollout_fragment_length = 0;
    c.training.train_batch_size = 4;
    assert!(msg(c).contains("train_batch_size"));
}

#[test]
fn toml_round_trip_overrides_and_unknown_keys() {
    let c = small_cartpole();
    let text = config::to_toml(&c).unwrap();
    let back: PpoConfig = config::from_toml(&text).unwrap();
    assert_eq!(back, c);
    let changed = config::apply_overrides(
        &c,
        &["training.lr=[[0, 1e-3], [1000, 0.0]]".into(), "rl_module.fcnet_hiddens=[32]".into()],
    )
    .unwrap();
    assert_eq!(changed.rl_module.fcnet_hiddens, vec![32]);
    assert_eq!(changed.training.lr.value_at(500), 5e-4);
    let err = config::apply_overrides(&c, &["training.lrr=1".into()]).unwrap_err();
    assert!(err.contains("lrr") && err.contains("lr"), "{err}");
    let err = config::from_toml::<PpoConfig>("[training]\nclip = 0.2\n").unwrap_err();
    assert!(err.contains("clip"), "{err}");
    let err = config::from_toml::<PpoConfig>("[training]\ngamma = \"high\"\n").unwrap_err();
    assert!(err.contains("gamma"), "{err}");
    for t in tuned::TUNED.iter().filter(|t| t.algo == "ppo") {
        let (config, stop): (PpoConfig, _) = tuned::parse(t.text, t.file).unwrap();
        assert_eq!(config.environment.env, t.env);
        assert!(stop.episode_return_mean.is_some(), "{} has a stop reward", t.file);
        config.validate().unwrap();
    }
}

#[test]
fn same_seed_same_results() {
    let results = |seed: u64| {
        let mut ppo = small_cartpole().debugging(seed).build().unwrap();
        (0..2).map(|_| ppo.train().unwrap().without_timings()).collect::<Vec<_>>()
    };
    let (a, b, c) = (results(3), results(3), results(4));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn resume_continues_exactly() {
    let config = small_cartpole().debugging(11);
    let mut straight = config.build().unwrap();
    let expected: Vec<TrainResult> = (0..3).map(|_| straight.train().unwrap().without_timings()).collect();

    let dir = temp_dir("resume");
    let mut first = config.build().unwrap();
    for _ in 0..2 {
        first.train().unwrap();
    }
    checkpoint::save(&first, &dir, "test-run").unwrap();
    drop(first);
    let mut resumed = checkpoint::restore(&dir, &config).unwrap();
    assert_eq!(resumed.iteration(), 2);
    let third = resumed.train().unwrap().without_timings();
    assert_eq!(third, expected[2]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    let dir = temp_dir("bad-ckpt");
    let config = small_cartpole();
    let mut ppo = config.build().unwrap();
    ppo.train().unwrap();
    let saved = checkpoint::save(&ppo, &dir, "test-run").unwrap();

    let other = PpoConfig::default().environment("Acrobot-v1", EnvConfig::new());
    match checkpoint::restore(&dir, &other) {
        Err(Error::Checkpoint(m)) => assert!(m.contains("CartPole-v1") && m.contains("Acrobot-v1"), "{m}"),
        other => panic!("expected a checkpoint error, got {:?}", other.err()),
    }
    std::fs::write(saved.join("model.bpk"), b"not a burnpack file").unwrap();
    match checkpoint::restore(&dir, &config) {
        Err(Error::Checkpoint(m)) => assert!(m.contains("model.bpk"), "{m}"),
        other => panic!("expected a checkpoint error, got {:?}", other.err()),
    }
    std::fs::write(saved.join("state.json"), b"{ truncated").unwrap();
    assert!(matches!(checkpoint::restore(&dir, &config), Err(Error::Checkpoint(_))));
    match checkpoint::restore(&dir.join("nowhere"), &config) {
        Err(Error::Checkpoint(m)) => assert!(m.contains("no checkpoint"), "{m}"),
        other => panic!("expected a checkpoint error, got {:?}", other.err()),
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn non_finite_loss_stops_with_the_last_checkpoint_intact() {
    struct Poison;
    impl ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.mul_scalar(f32::NAN).detach().require_grad())
        }
    }
    let dir = temp_dir("nan");
    let config = small_cartpole();
    let mut ppo = config.build().unwrap();
    ppo.train().unwrap();
    let saved = checkpoint::save(&ppo, &dir, "test-run").unwrap();
    let before = std::fs::read(saved.join("model.bpk")).unwrap();
    let poisoned = ppo.model().clone().map(&mut Poison);
    ppo.set_model(poisoned);
    let mut options = quiet_run(Stop { training_iteration: Some(5), ..Default::default() }, &dir, 1, false);
    options.start = Start::Resume {
        run_id: "test-run".into(),
        iteration: 1,
        env_steps: Algorithm::progress(&ppo).counters().env_steps,
    };
    match run(&mut ppo, options) {
        Err(Error::NonFinite(m)) => assert!(m.contains("loss") && m.contains("iteration 2"), "{m}"),
        other => panic!("expected a non-finite loss error, got {:?}", other.map(|s| s.stopped_by)),
    }
    assert_eq!(std::fs::read(saved.join("model.bpk")).unwrap(), before, "the last good checkpoint is untouched");
    let restored = checkpoint::restore(&dir, &config).unwrap();
    assert_eq!(restored.iteration(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn run_writes_logs_tensorboard_and_a_checkpoint() {
    let dir = temp_dir("run");
    let mut ppo = small_cartpole().build().unwrap();
    let options = quiet_run(Stop { training_iteration: Some(3), ..Default::default() }, &dir, 2, false);
    let summary = run(&mut ppo, options).unwrap();
    assert_eq!((summary.iterations, summary.stopped_by.as_str()), (3, "iterations"));
    let jsonl = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["training_iteration"], 3);
    assert!(lines[2]["learners/default_policy"]["entropy"].as_f64().unwrap() > 0.0);
    assert!(lines[2].get("env_runners/episode_return_mean").is_some());
    let csv = std::fs::read_to_string(dir.join("progress.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.lines().next().unwrap().contains("num_env_steps_sampled_lifetime"));
    let tb = std::fs::read_dir(dir.join("tb")).unwrap().count();
    assert_eq!(tb, 1);
    assert!(dir.join("checkpoint/state.json").is_file());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn interrupt_ends_the_run_with_a_checkpoint() {
    let dir = temp_dir("interrupt");
    let mut ppo = small_cartpole().build().unwrap();
    let summary = run(&mut ppo, quiet_run(Stop::default(), &dir, 0, true)).unwrap();
    assert_eq!(summary.stopped_by, "interrupted");
    assert!(summary.checkpoint.unwrap().join("model.bpk").is_file());
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs a tuned config with a step budget and returns the best evaluation mean seen.
fn learn(env: &str, steps: u64, overrides: &[&str]) -> f64 {
    let (config, _): (PpoConfig, _) = tuned::parse(tuned::find("ppo", env).unwrap().text, env).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let config = config::apply_overrides(&config, &overrides).unwrap();
    let mut ppo = config.build().unwrap();
    let mut best = f64::NEG_INFINITY;
    while ppo.progress().counters.env_steps < steps {
        let r = ppo.train().unwrap();
        if let Some(e) = r.evaluation_episode_return_mean {
            best = best.max(e);
        }
    }
    best
}

#[test]
fn cartpole_learns() {
    let best = learn("CartPole-v1", 60_000, &[]);
    assert!(best >= 200.0, "best evaluation mean {best}");
}

#[test]
fn acrobot_learns() {
    let best = learn("Acrobot-v1", 200_000, &[]);
    assert!(best >= -150.0, "best evaluation mean {best}");
}

#[test]
fn pendulum_learns() {
    let best = learn("Pendulum-v1", 200_000, &[]);
    assert!(best >= -700.0, "best evaluation mean {best}");
}

#[test]
fn frozenlake_learns() {
    let best = learn("FrozenLake-v1", 250_000, &["evaluation.evaluation_duration=300"]);
    assert!(best >= 0.5, "best evaluation success rate {best}");
}

#[test]
fn cpu_iterations_move_no_bytes_whatever_n_and_t() {
    for (n, t) in [(8, 16), (64, 64)] {
        let mut config = small_cartpole();
        config.env_runners.num_envs_per_env_runner = n;
        config.env_runners.rollout_fragment_length = t;
        let mut ppo = config.build().unwrap();
        let r = ppo.train().unwrap();
        assert_eq!((r.host_to_device_bytes, r.device_to_host_bytes), (0, 0), "N={n} T={t}");
    }
}

/// The learner on burn's wgpu backend with the envs on the same wgpu device (Mesa lavapipe in CI): trains, stays
/// finite, and its iterations move the same few bytes between host and device whatever N and T are: env
/// fields, draws, permutations and GAE stay on the device.
#[test]
fn wgpu_learner_trains_and_moves_bytes_independent_of_n_and_t() {
    if myriad::envs::Device::wgpu().is_err() {
        assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter");
        eprintln!("skipped: no wgpu adapter");
        return;
    }
    let mut bytes = Vec::new();
    for (n, t) in [(8, 16), (32, 48)] {
        let mut config = small_cartpole();
        config.env_runners.num_envs_per_env_runner = n;
        config.env_runners.rollout_fragment_length = t;
        config.training.num_epochs = 2;
        config.training.minibatch_size = 64;
        config.resources.backend = myriad::envs::Backend::Wgpu;
        let mut ppo = config.build().unwrap();
        for i in 1..=2 {
            let r = ppo.train().unwrap();
            assert_eq!(r.num_env_steps_sampled_lifetime, (n * t * i) as u64);
            assert!(stats(&r).total_loss.is_finite() && stats(&r).entropy > 0.0);
            assert!(r.host_to_device_bytes > 0 && r.device_to_host_bytes > 0);
            assert!(r.host_to_device_bytes + r.device_to_host_bytes < 1024, "N={n} T={t}: {r:?}");
            if i > 1 {
                // The first iteration also uploads the GAE kernel's parameters once.
                bytes.push((r.host_to_device_bytes, r.device_to_host_bytes));
            }
        }
        if n == 8 {
            let summary = ppo.evaluate(4, false).unwrap();
            assert!(summary.return_mean >= 8.0);
        }
    }
    assert!(bytes.windows(2).all(|w| w[0] == w[1]), "bytes per iteration changed with N or T: {bytes:?}");
}

/// Box actions on the wgpu path (Pendulum): actions cross to the envs as f32 on the device; episode sums are
/// reduced there.
#[test]
fn wgpu_learner_steps_box_actions() {
    if myriad::envs::Device::wgpu().is_err() {
        assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter");
        return;
    }
    let mut config = PpoConfig::default()
        .environment("Pendulum-v1", EnvConfig::new())
        .env_runners(4, 200)
        .resources(myriad::envs::Backend::Wgpu, 0);
    config.training.minibatch_size = 200;
    config.training.num_epochs = 1;
    let mut ppo = config.build().unwrap();
    let r = ppo.train().unwrap();
    assert!(stats(&r).total_loss.is_finite());
    // Pendulum rewards lie in [-16.3, 0] and its episodes last 200 steps: one per env, summed on the device.
    let mean = r.episode_return_mean.unwrap();
    assert!(r.episodes_this_iter == 4 && (-16.3 * 200.0..=0.0).contains(&mean), "{r:?}");
}
