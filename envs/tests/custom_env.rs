//! A custom env, registered at run time under its own id and made like a built-in one.
//!
//! `Corridor` is the example of a custom env: a walk along a corridor of `length` cells, with no GPU kernels, so
//! it runs on the CPU backend.

mod common;

use bytemuck::{Pod, Zeroable};
use myriad_envs::config::{ConfigReader, EnvConfig};
use myriad_envs::registry::lookup;
use myriad_envs::rng::{below, Stream};
use myriad_envs::{make, register, registered, Backend, Device, Env, EnvBatch, EnvSpec, Error, Field, Result, Space};
use std::sync::Once;

// ---- The env ----

/// Constants and kwargs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    /// Cells from the start (0) to the goal.
    pub length: f32,
    /// Reward of every step that does not reach the goal.
    pub step_reward: f32,
}

/// Where the walker stands, in `[0, length]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct State {
    pub x: f32,
}

/// Discrete(2): 0 steps left (the wall at 0 stops the walker), 1 steps right. Reaching `length` ends the
/// episode with reward 1.
pub struct Corridor;

impl Env for Corridor {
    type Params = Params;
    type State = State;
    type Action = u32;

    const OBS_DIM: usize = 1;
    // No GPU kernels: the CPU backend only.
    const WGSL: &'static str = "";
    const CUDA: &'static str = "";

    fn params(id: &str, config: &EnvConfig) -> Result<(Params, Option<u32>)> {
        let mut r = ConfigReader::new(id, config);
        let p = Params { length: r.positive_f32("length", 5.0)?, step_reward: r.f32("step_reward", -0.01)? };
        let max_steps = r.u32_opt("max_episode_steps")?;
        r.finish()?;
        Ok((p, max_steps))
    }

    fn spec(id: &str, p: &Params, max_episode_steps: Option<u32>) -> EnvSpec {
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::bounded(vec![0.0], vec![p.length]),
            action_space: Space::Discrete { n: 2 },
            max_episode_steps: max_episode_steps.unwrap_or(50),
            reward_threshold: None,
            state_dim: 1,
        }
    }

    fn reset(_p: &Params, _rng: &mut Stream) -> State {
        State { x: 0.0 }
    }

    fn step(p: &Params, s: &State, action: u32, _rng: &mut Stream) -> (State, f32, bool) {
        let x = if action == 1 { s.x + 1.0 } else { s.x - 1.0 };
        let at_goal = x >= p.length;
        let reward = if at_goal { 1.0 } else { p.step_reward };
        (State { x: x.clamp(0.0, p.length) }, reward, at_goal)
    }

    fn observe(_p: &Params, s: &State, obs: &mut [f32]) {
        obs[0] = s.x;
    }

    fn valid_action(_p: &Params, a: &u32) -> bool {
        *a < 2
    }

    fn random_action(_p: &Params, bits: u32) -> u32 {
        below(bits, 2)
    }
}

// ---- Helpers ----

const ID: &str = "Corridor-v0";
const N: usize = 8;

/// Registers `Corridor` once for the whole test binary (tests run in parallel and share the registry).
fn corridor(config: &str) -> EnvBatch {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| register::<Corridor>(ID, "walk to the end of a corridor; Discrete(2), 50 steps").unwrap());
    let mut envs = make(ID, &config.parse().unwrap(), N, &Device::cpu()).unwrap();
    envs.reset(0).unwrap();
    envs
}

/// One step with `actions`; returns obs, reward, terminated, truncated.
fn step(envs: &mut EnvBatch, actions: &[u32]) -> (Vec<f32>, Vec<f32>, Vec<bool>, Vec<bool>) {
    let actions = envs.upload_actions(actions).unwrap();
    envs.step(&actions).unwrap();
    let obs = envs.read_f32(Field::Obs).unwrap();
    let reward = envs.read_f32(Field::Reward).unwrap();
    (obs, reward, envs.read_bool(Field::Terminated).unwrap(), envs.read_bool(Field::Truncated).unwrap())
}

// ---- Dynamics ----

#[test]
fn walking_right_reaches_the_goal_then_autoresets() {
    let mut envs = corridor("length=3");
    assert_eq!(envs.spec().observation_space, Space::bounded(vec![0.0], vec![3.0]));
    assert_eq!(envs.read_f32(Field::Obs).unwrap(), vec![0.0; N]);
    // Even envs walk right, odd envs walk left into the wall.
    let actions: Vec<u32> = (0..N as u32).map(|i| (i + 1) % 2).collect();
    for t in 1..3 {
        let (obs, reward, terminated, truncated) = step(&mut envs, &actions);
        for i in 0..N {
            assert_eq!(obs[i], if i % 2 == 0 { t as f32 } else { 0.0 }, "env {i} step {t}");
            assert_eq!((reward[i], terminated[i], truncated[i]), (-0.01, false, false), "env {i} step {t}");
        }
    }
    let (obs, reward, terminated, _) = step(&mut envs, &actions);
    let final_obs = envs.read_f32(Field::FinalObs).unwrap();
    for i in (0..N).step_by(2) {
        assert!(terminated[i] && reward[i] == 1.0, "env {i} reached the goal");
        assert_eq!((obs[i], final_obs[i]), (0.0, 3.0), "env {i}: the new episode's obs, the goal kept as final obs");
    }
    let (obs, _, terminated, _) = step(&mut envs, &actions);
    assert!(obs[0] == 1.0 && !terminated[0], "the new episode goes on");
}

#[test]
fn the_time_limit_truncates() {
    let mut envs = corridor("length=3,max_episode_steps=4");
    assert_eq!(envs.spec().max_episode_steps, 4);
    for t in 1..=4 {
        let (_, _, terminated, truncated) = step(&mut envs, &[0; N]);
        assert_eq!((terminated, truncated), (vec![false; N], vec![t == 4; N]), "step {t}");
    }
    assert_eq!(envs.read(Field::Elapsed).unwrap(), vec![0; N], "the truncated episodes were reset");
}

#[test]
fn kwargs_are_checked_like_a_built_in_env() {
    corridor("");
    let err = make(ID, &"lenght=3".parse().unwrap(), N, &Device::cpu()).err().unwrap();
    assert!(err.to_string().contains("valid keys: `length`"), "{err}");
}

// ---- Registration ----

#[test]
fn registered_lists_custom_ids_after_built_in_ones() {
    corridor("");
    let ids: Vec<&str> = registered().iter().map(|e| e.id).collect();
    let at = ids.iter().position(|&id| id == ID).expect("Corridor-v0 is registered");
    assert!(ids[..at].contains(&"CartPole-v1") && ids[..at].contains(&"Acrobot-v1"), "{ids:?}");
    let info = lookup(ID).unwrap();
    assert!(info.has_kernel(Backend::Cpu) && !info.has_kernel(Backend::Wgpu) && !info.has_kernel(Backend::Cuda));
    assert!(lookup("CartPole-v1").unwrap().has_kernel(Backend::Wgpu));
}

#[test]
fn unknown_ids_suggest_close_custom_ids() {
    corridor("");
    let err = lookup("Corridor-v1").err().unwrap();
    assert!(err.to_string().contains("did you mean `Corridor-v0`"), "{err}");
}

#[test]
fn taken_ids_are_refused() {
    let err = register::<Corridor>("CartPole-v1", "").unwrap_err();
    assert_eq!(err, Error::EnvIdTaken { id: "CartPole-v1".into(), built_in: true });
    assert!(err.to_string().contains("`CartPole-v1`") && err.to_string().contains("built-in"), "{err}");

    register::<Corridor>("Corridor-Twice-v0", "").unwrap();
    let err = register::<Corridor>("Corridor-Twice-v0", "").unwrap_err();
    assert_eq!(err, Error::EnvIdTaken { id: "Corridor-Twice-v0".into(), built_in: false });
    assert!(err.to_string().contains("registered earlier"), "{err}");
}

#[test]
fn bad_ids_are_refused() {
    let long = "x".repeat(201);
    for id in ["", "my corridor", "Corridor\t-v0", "Corridor\n", "Corridor\u{7}", long.as_str()] {
        let err = register::<Corridor>(id, "").unwrap_err();
        assert!(matches!(err, Error::BadEnvId { .. }), "{id:?}: {err:?}");
        assert!(err.to_string().len() < 250, "the message quotes at most 100 characters: {err}");
        assert!(lookup(id).is_err(), "{id:?} was not registered");
    }
    let message = register::<Corridor>(&long, "").unwrap_err().to_string();
    assert!(message.contains(&"x".repeat(100)) && !message.contains(&"x".repeat(101)), "{message}");
    register::<Corridor>(&"y".repeat(200), "").expect("200 characters is the limit");
}

// ---- GPU backends ----

#[test]
fn gpu_devices_refuse_an_env_without_kernels() {
    corridor("");
    for device in common::devices().into_iter().filter(|d| d.backend() != Backend::Cpu) {
        let err = make(ID, &EnvConfig::new(), N, &device).err().expect("no kernel, no batch");
        assert_eq!(err, Error::NoKernel { id: ID.into(), backend: device.backend() });
        let kernel = if device.backend() == Backend::Wgpu { "WGSL" } else { "CUDA" };
        let want = format!("env `Corridor-v0` supplies no {kernel} kernel; it runs on the CPU backend (--backend cpu)");
        assert_eq!(err.to_string(), want);
    }
}
