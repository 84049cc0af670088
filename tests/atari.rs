//! PPO on batched Atari envs (feature `atari`; ROMs required: `python3 scripts/install_roms.py`): the tuned Pong
//! config runs with the Nature and IMPALA CNNs, evaluation scores whole games, a resumed run continues the same
//! games, a step's frames cross to a GPU learner in one upload, and Atari ids without the feature or with bad
//! model settings are clear errors.
#![cfg(feature = "atari")]

use burn::tensor::{Tensor, TensorData};
use myriad::algo::{Algorithm, PpoConfig};
use myriad::config::{apply_overrides, ResourcesConfig};
use myriad::envs::{Backend, EnvConfig};
use myriad::runners::{Bridge, Envs};
use myriad::tuned;

/// The tuned Pong config shrunk to a few seconds: 2 envs × 16 steps, one epoch of two minibatches.
fn small_pong(extra: &[&str]) -> PpoConfig {
    let (config, _): (PpoConfig, _) = tuned::parse(tuned::find("ppo", "ALE/Pong-v5").unwrap().text, "pong").unwrap();
    let mut overrides: Vec<String> = [
        "env_runners.num_envs_per_env_runner=2",
        "env_runners.rollout_fragment_length=16",
        "training.minibatch_size=16",
        "training.num_epochs=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    overrides.extend(extra.iter().map(|s| s.to_string()));
    apply_overrides(&config, &overrides).unwrap()
}

#[test]
fn tuned_pong_config_trains_with_the_nature_and_impala_cnns() {
    for extra in [&[][..], &["rl_module.conv_type=\"impala\"", "rl_module.post_fcnet_hiddens=[256]"][..]] {
        let mut ppo = small_pong(extra).build().unwrap();
        assert_eq!(ppo.env_spec().observation_space.flat_dim(), 4 * 84 * 84);
        let before = ppo.model().clone();
        for i in 1..=2u64 {
            let r = ppo.train().unwrap();
            assert_eq!(r.num_env_steps_sampled_lifetime, 32 * i);
            assert!(r.learner.ppo().unwrap().total_loss.is_finite(), "{extra:?}: {r:?}");
            // Six actions, a near-uniform initial policy.
            assert!(
                r.learner.ppo().unwrap().entropy > 1.7 && r.learner.ppo().unwrap().entropy <= 6f64.ln() + 1e-4,
                "{extra:?}: {r:?}"
            );
            assert!(r.learner.ppo().unwrap().gradients_global_norm > 0.0);
        }
        // The update moved the weights: the value of a fixed frame stack changed.
        let device = burn::tensor::Device::flex();
        let frames = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 4 * 84 * 84], [1, 4 * 84 * 84]), &device);
        let value = |m: &myriad::model::ActorCritic| -> f32 {
            use burn::module::Module;
            m.valid().value(frames.clone()).into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0]
        };
        assert_ne!(value(&before), value(ppo.model()), "{extra:?}: weights unchanged");
    }
}

#[test]
fn evaluation_scores_whole_pong_games() {
    // A small CNN keeps the forward passes of a few thousand steps cheap.
    let ppo = small_pong(&["rl_module.conv_filters=[[8, 8, 4], [8, 4, 4]]", "rl_module.post_fcnet_hiddens=[16]"])
        .build()
        .unwrap();
    let summary = ppo.evaluate_with_seed(2, true, 7).unwrap();
    assert_eq!(summary.episodes, 2);
    // A game ends when one side reaches 21: scores lie in [-21, 21] and a game lasts hundreds of agent steps.
    assert!((-21.0..=21.0).contains(&summary.return_mean) && summary.return_mean <= -5.0, "{summary:?}");
    assert!(summary.length_mean > 200.0, "{summary:?}");
}

#[test]
fn resume_continues_the_same_games_exactly() {
    // 120 steps per iteration: Pong's first points end mid-run, the games go on across the checkpoint.
    let config = small_pong(&[
        "env_runners.rollout_fragment_length=60",
        "rl_module.conv_filters=[[8, 8, 4], [8, 4, 4]]",
        "rl_module.post_fcnet_hiddens=[16]",
    ]);
    let mut straight = config.build().unwrap();
    let expected: Vec<_> = (0..3).map(|_| straight.train().unwrap().without_timings()).collect();

    let dir = std::env::temp_dir().join(format!("myriad-test-atari-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = config.build().unwrap();
    for _ in 0..2 {
        first.train().unwrap();
    }
    let saved = myriad::checkpoint::save(&first, &dir, "test-run").unwrap();
    assert!(saved.join("atari.json").is_file());
    drop(first);
    let mut resumed = myriad::checkpoint::restore(&dir, &config).unwrap();
    assert_eq!(resumed.train().unwrap().without_timings(), expected[2]);

    // A damaged atari.json is a checkpoint error naming the file.
    let path = saved.join("atari.json");
    let mut json = std::fs::read(&path).unwrap();
    json.truncate(json.len() / 2);
    std::fs::write(&path, json).unwrap();
    match myriad::checkpoint::restore(&dir, &config) {
        Err(myriad::Error::Checkpoint(m)) => assert!(m.contains("atari.json"), "{m}"),
        other => panic!("expected a checkpoint error, got {:?}", other.err()),
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_model_settings_for_images_are_clear_errors() {
    let err = small_pong(&["rl_module.conv_filters=[[32, 100, 4]]"]).build().err().unwrap().to_string();
    assert!(err.contains("conv_filters[0]") && err.contains("84×84"), "{err}");
    let err = small_pong(&["environment.env_config={preset=\"standard\", grayscale_obs=false}"])
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("grayscale_obs"), "{err}");
}

/// On a GPU learner (wgpu) a step's frames, rewards and flags go up in one buffer of `4·(N·W + 3·N)` bytes
/// (`W` words per frame stack) and only the `4·N` bytes of actions come down.
#[test]
fn a_step_uploads_the_batch_once() {
    if myriad::envs::Device::wgpu().is_err() {
        assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter");
        eprintln!("skipped: no wgpu adapter");
        return;
    }
    let bridge = Bridge::new(&ResourcesConfig { backend: Backend::Wgpu, device: 0 }).unwrap();
    let config: EnvConfig = "preset=atari100k".parse().unwrap();
    let n = 3;
    let mut envs = Envs::make("ALE/Breakout-v5", &config, n, bridge.env_device(), 0).unwrap();
    let w = 4 * 84 * 84 / 4;
    let obs = bridge.obs(&mut envs).unwrap();
    assert_eq!(obs.dims(), [n, 4 * 84 * 84]);
    let before = bridge.transfers();
    let device = bridge.device().clone();
    for _ in 0..5 {
        let actions = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [n, 1]), &device);
        let step = bridge.step(&mut envs, actions).unwrap();
        assert_eq!(step.obs.dims(), [n, 4 * 84 * 84]);
        let pixels: Vec<f32> = step.obs.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert!(pixels.iter().all(|p| (0.0..=1.0).contains(p)) && pixels.iter().any(|&p| p > 0.0));
    }
    let after = bridge.transfers();
    // Five steps without truncation (the pixels checked above are read outside the bridge's counter).
    assert_eq!(after.0 - before.0, (5 * 4 * (n * w + 3 * n)) as u64);
    assert_eq!(after.1 - before.1, (5 * 4 * n) as u64);
}

#[test]
fn envs_of_an_unknown_game_are_refused_with_suggestions() {
    let err = myriad::runners::Envs::make("ALE/Pnog-v5", &EnvConfig::new(), 1, &myriad::envs::Device::cpu(), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ALE/Pong-v5"), "{err}");
}

/// The DER config (Rainbow for Atari 100k) shrunk to seconds: a few updates on Pong frames stored as u8 in the
/// replay, a checkpoint that keeps the replay, and an exact resume.
#[test]
fn der_config_trains_on_pong_end_to_end_and_resumes_exactly() {
    use myriad::algo::{DqnConfig, DqnTraining};
    let t = tuned::find("rainbow", "ALE/Pong-v5").unwrap();
    let (config, stop): (DqnConfig, _) = tuned::parse::<DqnTraining>(t.text, t.file).unwrap();
    assert_eq!(stop.num_env_steps_sampled_lifetime, Some(100_000));
    let config = apply_overrides(
        &config,
        &[
            "env_runners.rollout_fragment_length=24".into(),
            "training.num_steps_sampled_before_learning_starts=24".into(),
            "training.n_step=5".into(),
            "training.training_intensity=4".into(),
            "training.replay_buffer_config.capacity=64".into(),
            "rl_module.conv_filters=[[8, 8, 4], [8, 4, 4]]".into(),
            "training.hiddens=[32]".into(),
        ],
    )
    .unwrap();
    let mut straight = config.build().unwrap();
    let expected: Vec<_> = (0..3).map(|_| straight.train().unwrap().without_timings()).collect();
    for r in &expected[1..] {
        let s = r.learner.dqn().unwrap();
        assert!(s.total_loss.is_finite() && s.num_gradient_updates == 3 && s.gradients_global_norm > 0.0, "{s:?}");
    }
    let dir = std::env::temp_dir().join(format!("myriad-der-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = config.build().unwrap();
    first.train().unwrap();
    first.train().unwrap();
    let saved = myriad::checkpoint::save(&first, &dir, "test-run").unwrap();
    // 64 slots of obs and next obs, 4·84·84 bytes each: the frames are kept as bytes.
    let replay = std::fs::metadata(saved.join("replay.bin")).unwrap().len();
    assert!(replay < 2 * 64 * 4 * 84 * 84 + 64 * 1024, "replay.bin is {replay} bytes");
    drop(first);
    let mut resumed = myriad::checkpoint::restore(&dir, &config).unwrap();
    assert_eq!(resumed.train().unwrap().without_timings(), expected[2]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn impala_and_appo_pong_configs_train_end_to_end_with_runner_threads() {
    use myriad::algo::{Appo, AppoTraining, Impala, ImpalaTraining};
    let shrink = || -> Vec<String> {
        [
            "env_runners.num_envs_per_env_runner=2",
            "env_runners.rollout_fragment_length=8",
            "training.train_batch_size=32",
            "rl_module.conv_filters=[[8, 8, 4], [8, 4, 4]]",
            "rl_module.post_fcnet_hiddens=[32]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let check = |r: myriad::algo::TrainResult, steps: u64| {
        let s = r.learner.impala().unwrap();
        assert!(s.total_loss.is_finite() && s.gradients_global_norm > 0.0, "{s:?}");
        assert!(s.entropy > 1.7 && s.entropy <= 6f64.ln() + 1e-4, "{s:?}");
        assert_eq!(r.num_env_steps_sampled_lifetime, steps);
    };
    let t = tuned::find("impala", "ALE/Pong-v5").unwrap();
    let (config, _) = tuned::parse::<ImpalaTraining>(t.text, t.file).unwrap();
    let mut impala = Impala::new(apply_overrides(&config, &shrink()).unwrap()).unwrap();
    assert_eq!(impala.env_spec().observation_space.flat_dim(), 4 * 84 * 84);
    for i in 1..=2 {
        check(impala.train().unwrap(), 32 * i);
    }
    let t = tuned::find("appo", "ALE/Pong-v5").unwrap();
    let (config, _) = tuned::parse::<AppoTraining>(t.text, t.file).unwrap();
    let mut overrides = shrink();
    overrides.push("training.minibatch_size=16".into());
    let mut appo = Appo::new(apply_overrides(&config, &overrides).unwrap()).unwrap();
    for i in 1..=2 {
        check(appo.train().unwrap(), 32 * i);
    }
}

#[test]
fn pqn_pong_config_trains_end_to_end_and_resumes_exactly() {
    use myriad::algo::{Pqn, PqnTraining};
    let t = tuned::find("pqn", "ALE/Pong-v5").unwrap();
    let (config, _) = tuned::parse::<PqnTraining>(t.text, t.file).unwrap();
    let overrides: Vec<String> = [
        "env_runners.num_envs_per_env_runner=2",
        "env_runners.rollout_fragment_length=8",
        "training.minibatch_size=8",
        "rl_module.conv_filters=[[8, 8, 4], [8, 4, 4]]",
        "rl_module.post_fcnet_hiddens=[32]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let config = apply_overrides(&config, &overrides).unwrap();
    let mut straight = Pqn::new(config.clone()).unwrap();
    assert_eq!(straight.env_spec().observation_space.flat_dim(), 4 * 84 * 84);
    let expected: Vec<_> = (0..3).map(|_| straight.train().unwrap().without_timings()).collect();
    for r in &expected {
        let s = r.learner.pqn().unwrap();
        assert!(s.total_loss.is_finite() && s.num_gradient_updates == 4 && s.gradients_global_norm > 0.0, "{s:?}");
    }
    let dir = std::env::temp_dir().join(format!("myriad-pqn-pong-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = Pqn::new(config.clone()).unwrap();
    first.train().unwrap();
    first.train().unwrap();
    myriad::checkpoint::save(&first, &dir, "test-run").unwrap();
    drop(first);
    let mut resumed = myriad::checkpoint::restore(&dir, &config).unwrap();
    assert_eq!(resumed.train().unwrap().without_timings(), expected[2]);
    let _ = std::fs::remove_dir_all(dir);
}
