//! EnvPool-style seed tests for every registered env on every device present, the autoreset contract, and
//! CPU = wgpu on the same seed.

mod common;

use myriad_envs::{make, registered, Device, EnvBatch, EnvConfig, Field, Space};

const N: usize = 64;

fn batch(id: &str, config: &str, device: &Device) -> EnvBatch {
    let config: EnvConfig = config.parse().unwrap();
    make(id, &config, N, device).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Observations after each of `steps` random steps from `seed`.
fn rollout(id: &str, device: &Device, seed: u64, steps: usize) -> Vec<Vec<f32>> {
    let mut envs = batch(id, "", device);
    envs.reset(seed).unwrap();
    (0..steps)
        .map(|_| {
            envs.step_random(1).unwrap();
            envs.read_f32(Field::Obs).unwrap()
        })
        .collect()
}

fn in_space(space: &Space, obs: &[f32]) -> bool {
    obs.chunks(space.flat_dim()).all(|o| space.contains(o))
}

#[test]
fn same_seed_same_trajectory_different_seeds_differ() {
    for device in common::devices() {
        for info in registered() {
            let a = rollout(info.id, &device, 7, 30);
            let b = rollout(info.id, &device, 7, 30);
            assert_eq!(a, b, "{} on {}: same seed gave different trajectories", info.id, device.describe());
            let c = rollout(info.id, &device, 8, 30);
            assert_ne!(a, c, "{} on {}: seeds 7 and 8 gave the same trajectory", info.id, device.describe());
        }
    }
}

#[test]
fn observations_stay_in_their_space() {
    for device in common::devices() {
        for info in registered() {
            let mut envs = batch(info.id, "", &device);
            let space = envs.spec().observation_space.clone();
            envs.reset(3).unwrap();
            for t in 0..300 {
                envs.step_random(1).unwrap();
                for field in [Field::Obs, Field::FinalObs] {
                    let obs = envs.read_f32(field).unwrap();
                    assert!(
                        in_space(&space, &obs),
                        "{} step {t} on {}: {field:?} outside {space}",
                        info.id,
                        device.describe()
                    );
                }
            }
        }
    }
}

#[test]
fn cpu_and_wgpu_agree_on_one_seed() {
    let Some(gpu) = common::wgpu_device() else { return };
    for info in registered() {
        // Chaotic dynamics drift apart over long horizons with different sin/cos; 25 steps stay within 1e-4.
        let cpu = rollout(info.id, &Device::cpu(), 11, 25);
        let wgpu = rollout(info.id, &gpu, 11, 25);
        for (t, (a, b)) in cpu.iter().zip(&wgpu).enumerate() {
            for (x, y) in a.iter().zip(b) {
                let d = (x - y).abs();
                assert!(d <= 1e-4 || d <= 1e-4 * x.abs(), "{} step {t}: cpu {x} vs wgpu {y}", info.id);
            }
        }
    }
}

#[test]
fn time_limit_truncates_and_autoreset_keeps_the_final_observation() {
    for device in common::devices() {
        // Pendulum never terminates, so every env is truncated exactly at the limit.
        let mut envs = batch("Pendulum-v1", "max_episode_steps=5", &device);
        envs.reset(1).unwrap();
        for _ in 0..4 {
            envs.step_random(1).unwrap();
        }
        let before = envs.read_f32(Field::State).unwrap();
        assert!(envs.read_bool(Field::Truncated).unwrap().iter().all(|t| !t));
        envs.step_random(1).unwrap();
        assert!(envs.read_bool(Field::Truncated).unwrap().iter().all(|&t| t));
        assert!(envs.read_bool(Field::Terminated).unwrap().iter().all(|t| !t));
        assert!(envs.read(Field::Elapsed).unwrap().iter().all(|&e| e == 0));
        let final_obs = envs.read_f32(Field::FinalObs).unwrap();
        let obs = envs.read_f32(Field::Obs).unwrap();
        let state = envs.read_f32(Field::State).unwrap();
        for i in 0..N {
            // The final observation continues the episode (|Δθ| ≤ 8 · 0.05); the new one is a fresh reset.
            let (th_before, th_final) = (before[2 * i], final_obs[3 * i + 1].atan2(final_obs[3 * i]));
            let wrapped = (th_final - th_before).rem_euclid(std::f32::consts::TAU);
            assert!(wrapped.min(std::f32::consts::TAU - wrapped) <= 0.41, "env {i}: final obs not from the episode");
            assert!(state[2 * i].abs() <= std::f32::consts::PI && state[2 * i + 1].abs() <= 1.0);
            assert!((obs[3 * i] - state[2 * i].cos()).abs() < 1e-5, "env {i}: obs is not the reset state's");
        }
        let stats = envs.take_episode_stats().unwrap();
        assert_eq!(stats.episodes, N as u64);
        assert_eq!(stats.length_mean, 5.0);
        assert_eq!(envs.take_episode_stats().unwrap().episodes, 0, "stats are cleared once taken");
    }
}

#[test]
fn terminated_envs_restart_and_record_their_episode() {
    for device in common::devices() {
        let mut envs = batch("CartPole-v1", "", &device);
        envs.reset(5).unwrap();
        let mut finished = 0;
        for _ in 0..200 {
            envs.step_random(1).unwrap();
            let term = envs.read_bool(Field::Terminated).unwrap();
            let ep_len = envs.read(Field::EpisodeLength).unwrap();
            for i in (0..N).filter(|&i| term[i]) {
                assert_eq!(ep_len[i], 0, "a terminated env starts a new episode in the same step");
                finished += 1;
            }
        }
        let stats = envs.take_episode_stats().unwrap();
        assert_eq!(stats.episodes, finished);
        // A random CartPole policy lasts about 22 steps.
        assert!((15.0..30.0).contains(&stats.length_mean), "{stats:?}");
        assert_eq!(stats.return_mean, stats.length_mean);
    }
}

#[test]
fn invalid_discrete_actions_are_errors() {
    for device in common::devices() {
        let mut envs = batch("CartPole-v1", "", &device);
        envs.reset(0).unwrap();
        let mut words = vec![1u32; N];
        words[9] = 2;
        let actions = envs.upload_actions(&words).unwrap();
        let err = envs.step(&actions).and_then(|_| envs.check()).unwrap_err();
        assert!(err.to_string().contains("invalid action"), "{err}");
        let short = envs.upload_actions(&[0; 3]).unwrap();
        assert!(envs.step(&short).is_err(), "a buffer of the wrong length is refused");
    }
}

#[test]
fn stepping_moves_no_bytes_between_host_and_device() {
    for device in common::devices() {
        for n in [64, 4096] {
            let mut envs = make("CartPole-v1", &EnvConfig::new(), n, &device).unwrap();
            envs.reset(0).unwrap();
            let actions = envs.upload_actions(&vec![1; n]).unwrap();
            // The first fused call uploads its step count (32 bytes of uniform); repeated calls upload nothing.
            envs.step_random(4).unwrap();
            envs.sync().unwrap();
            let before = device.transfers();
            for _ in 0..20 {
                envs.step(&actions).unwrap();
                envs.step_random(4).unwrap();
            }
            envs.sync().unwrap();
            assert_eq!(device.transfers(), before, "{} moved bytes inside step at N={n}", device.describe());
        }
    }
}

#[test]
fn a_restored_snapshot_continues_exactly() {
    for device in common::devices() {
        for info in registered() {
            let mut a = batch(info.id, "", &device);
            a.reset(5).unwrap();
            a.step_random(37).unwrap();
            let snapshot = a.snapshot().unwrap();
            let mut b = batch(info.id, "", &device);
            b.reset(99).unwrap();
            b.restore(5, &snapshot).unwrap();
            // The same explicit actions from here on (random actions draw from a stream a snapshot leaves out).
            for t in 0..50u32 {
                let words: Vec<u32> = match &a.spec().action_space {
                    Space::Discrete { n } => (0..N as u32).map(|i| (i * 7 + t) % n).collect(),
                    Space::Box { low, high, .. } => (0..N * low.len())
                        .map(|i| {
                            let frac = ((i as u32 * 13 + t) % 11) as f32 / 10.0;
                            let k = i % low.len();
                            (low[k] + (high[k] - low[k]) * frac).to_bits()
                        })
                        .collect(),
                };
                a.step(&a.upload_actions(&words).unwrap()).unwrap();
                b.step(&b.upload_actions(&words).unwrap()).unwrap();
            }
            for field in Field::ALL {
                assert_eq!(a.read(field).unwrap(), b.read(field).unwrap(), "{} on {device:?}: {field:?}", info.id);
            }
        }
        let mut other = batch("Acrobot-v1", "", &device);
        let cartpole = batch("CartPole-v1", "", &device).snapshot().unwrap();
        assert!(other.restore(0, &cartpole).unwrap_err().to_string().contains("CartPole-v1"));
    }
}

#[test]
fn cpu_steps_on_the_calling_thread_as_on_rayons_pool() {
    // 1,300 envs: two full chunks of 512 and a partial one; 300 steps cross terminations and every env's time
    // limit (max_episode_steps = 40), so both kinds of boundary are in the comparison.
    let mut terminated_somewhere = false;
    for info in registered() {
        let config: EnvConfig = "max_episode_steps=40".parse().unwrap();
        let (mut pooled, mut inline) =
            (make(info.id, &config, 1300, &Device::Cpu).unwrap(), make(info.id, &config, 1300, &Device::Cpu).unwrap());
        inline.set_inline(true);
        pooled.reset(3).unwrap();
        inline.reset(3).unwrap();
        let mut truncated = false;
        for step in 0..300 {
            pooled.step_random(1).unwrap();
            inline.step_random(1).unwrap();
            for field in [Field::Obs, Field::FinalObs, Field::Reward, Field::Terminated, Field::Truncated] {
                assert_eq!(pooled.read(field).unwrap(), inline.read(field).unwrap(), "{} step {step}", info.id);
            }
            terminated_somewhere |= inline.read_bool(Field::Terminated).unwrap().contains(&true);
            truncated |= inline.read_bool(Field::Truncated).unwrap().contains(&true);
        }
        assert!(truncated, "{}: no truncation in 300 steps", info.id);
    }
    assert!(terminated_somewhere, "no env terminated");
}
