//! DQN and Rainbow end to end: config validation, every combination of the extensions, determinism, exact
//! resume, bytes that cross per update independent of the replay's size, wgpu, and learning runs of the tuned
//! configs.

use myriad::algo::{Algorithm, DqnConfig, DqnStats, DqnTraining, PpoConfig, PpoTraining, TrainResult};
use myriad::envs::EnvConfig;
use myriad::{checkpoint, tuned, Error};
use std::path::PathBuf;

fn tuned_config(algo: &str, env: &str) -> DqnConfig {
    let t = tuned::find(algo, env).unwrap();
    tuned::parse::<DqnTraining>(t.text, t.file).unwrap().0
}

/// A small CartPole DQN that starts learning at once.
fn small() -> DqnConfig {
    let mut c = tuned_config("dqn", "CartPole-v1");
    c.env_runners.num_envs_per_env_runner = 4;
    c.env_runners.rollout_fragment_length = 16;
    c.training.train_batch_size = 16;
    c.training.hiddens = vec![16];
    c.rl_module.fcnet_hiddens = vec![16];
    c.training.num_steps_sampled_before_learning_starts = 0;
    c.training.training_intensity = Some(2.0);
    c.training.target_network_update_freq = 64;
    c.training.replay_buffer_config.capacity = 1024;
    c.evaluation.evaluation_interval = 0;
    c
}

fn stats(r: &TrainResult) -> &DqnStats {
    r.learner.dqn().expect("a DQN result")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("myriad-dqn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn build_rejects_bad_configs_clearly() {
    let msg = |c: DqnConfig| match c.build() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("config was accepted"),
    };
    let mut c = small();
    c.training.num_atoms = 51;
    c.training.v_min = 10.0;
    c.training.v_max = 10.0;
    assert!(msg(c).contains("v_min"));
    let mut c = small();
    c.training.replay_buffer_config.capacity = 8;
    assert!(msg(c).contains("capacity"));
    let c = small().environment("Pendulum-v1", EnvConfig::new());
    let m = msg(c);
    assert!(m.contains("Discrete") && m.contains("ppo"), "{m}");
    let mut c = small();
    c.training.n_step = 0;
    assert!(msg(c).contains("n_step"));
    // A key of PPO's training group in a DQN file names the algorithm it belongs to.
    let err = tuned::parse::<DqnTraining>("[training]\nclip_param = 0.2\n", "dqn.toml").unwrap_err().to_string();
    assert!(err.contains("clip_param belongs to PPO"), "{err}");
    let err = tuned::parse::<PpoTraining>("[training]\nn_step = 3\n", "ppo.toml").unwrap_err().to_string();
    assert!(err.contains("n_step belongs to DQN"), "{err}");
}

#[test]
fn every_combination_of_the_extensions_trains() {
    for bits in 0..64u32 {
        let on = |k: u32| bits & (1 << k) != 0;
        let mut c = small();
        c.training.double_q = on(0);
        c.training.dueling = on(1);
        c.training.n_step = if on(2) { 3 } else { 1 };
        c.training.num_atoms = if on(3) { 11 } else { 1 };
        c.training.v_min = 0.0;
        c.training.v_max = 50.0;
        c.training.noisy = on(4);
        if on(5) {
            c.training.replay_buffer_config.kind = myriad::algo::dqn::ReplayKind::Prioritized;
        }
        c.training.tau = if bits % 3 == 0 { 0.5 } else { 1.0 };
        let mut dqn = c.build().unwrap_or_else(|e| panic!("combination {bits:06b}: {e}"));
        for _ in 0..2 {
            let r = dqn.train().unwrap_or_else(|e| panic!("combination {bits:06b}: {e}"));
            let s = stats(&r);
            assert!(s.total_loss.is_finite() && s.num_gradient_updates == 8, "{bits:06b}: {s:?}");
            assert!(s.gradients_global_norm > 0.0, "{bits:06b}: {s:?}");
        }
    }
}

#[test]
fn same_seed_same_results_and_resume_continues_exactly() {
    let config = small().debugging(5);
    let run = |config: &DqnConfig| {
        let mut dqn = config.build().unwrap();
        (0..3).map(|_| dqn.train().unwrap().without_timings()).collect::<Vec<_>>()
    };
    let (a, b) = (run(&config), run(&config));
    assert_eq!(a, b);
    assert_ne!(a, run(&small().debugging(6)));

    let dir = temp_dir("resume");
    let mut first = config.build().unwrap();
    for _ in 0..2 {
        first.train().unwrap();
    }
    checkpoint::save(&first, &dir, "test-run").unwrap();
    drop(first);
    let mut resumed = checkpoint::restore(&dir, &config).unwrap();
    assert_eq!(resumed.iteration(), 2);
    assert_eq!(resumed.train().unwrap().without_timings(), a[2]);

    // A DQN checkpoint is not a PPO one.
    let ppo = PpoConfig::default();
    match checkpoint::restore(&dir, &ppo) {
        Err(Error::Checkpoint(m)) => assert!(m.contains("DQN") && m.contains("myriad train dqn"), "{m}"),
        other => panic!("expected a checkpoint error, got {:?}", other.err()),
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn prioritized_replay_moves_bytes_independent_of_the_buffer_size() {
    // On the CPU backend nothing crosses; the counts that would cross on a GPU are what the wgpu test checks.
    let mut c = small();
    c.training.replay_buffer_config.kind = myriad::algo::dqn::ReplayKind::Prioritized;
    let r = c.build().unwrap().train().unwrap();
    assert_eq!((r.host_to_device_bytes, r.device_to_host_bytes), (0, 0));
}

/// DQN on burn's wgpu backend with the envs and the replay buffer on the same wgpu device (lavapipe in CI): it
/// trains, and the bytes an iteration moves do not grow with the replay's capacity.
#[test]
fn wgpu_dqn_trains_and_moves_bytes_independent_of_capacity() {
    if myriad::envs::Device::wgpu().is_err() {
        assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter");
        eprintln!("skipped: no wgpu adapter");
        return;
    }
    let mut bytes = Vec::new();
    for capacity in [256, 4096] {
        for prioritized in [false, true] {
            let mut c = small();
            c.resources.backend = myriad::envs::Backend::Wgpu;
            c.training.replay_buffer_config.capacity = capacity;
            if prioritized {
                c.training.replay_buffer_config.kind = myriad::algo::dqn::ReplayKind::Prioritized;
            }
            let mut dqn = c.build().unwrap();
            let _ = dqn.train().unwrap();
            let r = dqn.train().unwrap();
            assert!(stats(&r).total_loss.is_finite());
            bytes.push((prioritized, r.host_to_device_bytes, r.device_to_host_bytes));
        }
    }
    assert_eq!(bytes[0], bytes[2], "uniform: bytes changed with the capacity: {bytes:?}");
    assert_eq!(bytes[1], bytes[3], "prioritized: bytes changed with the capacity: {bytes:?}");
    // Every Rainbow component (C51 projection, noisy layers, dueling, n-step windows) on the same device.
    let mut c = small();
    c.training = DqnTraining { v_min: 0.0, v_max: 50.0, num_atoms: 11, ..DqnTraining::rainbow() };
    c.training.train_batch_size = 16;
    c.training.hiddens = vec![16];
    c.training.num_steps_sampled_before_learning_starts = 0;
    c.training.training_intensity = Some(2.0);
    c.training.replay_buffer_config.capacity = 1024;
    c.resources.backend = myriad::envs::Backend::Wgpu;
    let mut rainbow = c.build().unwrap();
    for _ in 0..2 {
        let r = rainbow.train().unwrap();
        assert!(stats(&r).total_loss.is_finite() && stats(&r).num_gradient_updates == 8, "{r:?}");
    }
}

/// Runs a tuned config until its evaluation reaches `target` or `steps` env steps; returns the best evaluation.
fn learn(algo: &str, env: &str, steps: u64, target: f64) -> f64 {
    let mut dqn = tuned_config(algo, env).build().unwrap();
    let mut best = f64::NEG_INFINITY;
    while dqn.progress().counters.env_steps < steps && best < target {
        if let Some(e) = dqn.train().unwrap().evaluation_episode_return_mean {
            best = best.max(e);
        }
    }
    best
}

#[test]
fn dqn_solves_cartpole() {
    let best = learn("dqn", "CartPole-v1", 100_000, 475.0);
    assert!(best >= 475.0, "best evaluation mean {best}");
}

#[test]
fn rainbow_solves_cartpole() {
    let best = learn("rainbow", "CartPole-v1", 100_000, 475.0);
    assert!(best >= 475.0, "best evaluation mean {best}");
}

#[test]
fn dqn_solves_acrobot() {
    let best = learn("dqn", "Acrobot-v1", 100_000, -100.0);
    assert!(best >= -100.0, "best evaluation mean {best}");
}

#[test]
fn dqn_solves_mountaincar() {
    let best = learn("dqn", "MountainCar-v0", 150_000, -120.0);
    assert!(best >= -120.0, "best evaluation mean {best}");
}
