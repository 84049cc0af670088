//! MountainCarContinuous-v0: MountainCar with a continuous push and an energy penalty, after Gymnasium's
//! `classic_control/continuous_mountain_car.py` (Moore, 1990; Arnaud de Broissia's continuous version).
//! Kernels: `mountain_car_continuous.wgsl`, `mountain_car_continuous.cu`.
//!
//! The push is clipped to `[-1, 1]`, but the penalty `0.1 * action²` uses the action as given, as Gymnasium does.

use crate::config::{ConfigReader, EnvConfig};
use crate::env::{Env, EnvSpec};
use crate::error::Result;
use crate::math::{clip, sin_cos};
use crate::rng::{unit, Stream};
use crate::spaces::Space;
use bytemuck::{Pod, Zeroable};

/// Constants and kwargs; defaults are Gymnasium's. Also the kernels' `EnvParams` uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    /// The action space's bounds; the push is clipped to them.
    pub min_action: f32,
    pub max_action: f32,
    /// The left wall: the car stops dead against it.
    pub min_position: f32,
    pub max_position: f32,
    /// Velocity is clipped to ±max_speed.
    pub max_speed: f32,
    /// The flag (0.45 here, 0.5 in MountainCar-v0).
    pub goal_position: f32,
    /// Gymnasium's `goal_velocity`: the episode ends at the flag only at this velocity or faster.
    pub goal_velocity: f32,
    /// Acceleration per unit of push.
    pub power: f32,
    /// The hill's pull: `-gravity * cos(3 x)` (a literal 0.0025 in Gymnasium).
    pub gravity: f32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<Params>() == 48);

impl Default for Params {
    fn default() -> Self {
        Self {
            min_action: -1.0,
            max_action: 1.0,
            min_position: -1.2,
            max_position: 0.6,
            max_speed: 0.07,
            goal_position: 0.45,
            goal_velocity: 0.0,
            power: 0.0015,
            gravity: 0.0025,
            _pad: [0; 3],
        }
    }
}

/// `env.unwrapped.state`: position and velocity.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct State {
    pub position: f32,
    pub velocity: f32,
}

pub struct MountainCarContinuous;

impl Env for MountainCarContinuous {
    type Params = Params;
    type State = State;
    type Action = f32;

    const OBS_DIM: usize = 2;
    const WGSL: &'static str = include_str!("mountain_car_continuous.wgsl");
    const CUDA: &'static str = include_str!("mountain_car_continuous.cu");

    fn params(id: &str, config: &EnvConfig) -> Result<(Params, Option<u32>)> {
        let d = Params::default();
        let mut r = ConfigReader::new(id, config);
        let p = Params { goal_velocity: r.f32("goal_velocity", d.goal_velocity)?, ..d };
        let max_steps = r.u32_opt("max_episode_steps")?;
        r.finish()?;
        Ok((p, max_steps))
    }

    fn spec(id: &str, p: &Params, max_episode_steps: Option<u32>) -> EnvSpec {
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::bounded(vec![p.min_position, -p.max_speed], vec![p.max_position, p.max_speed]),
            action_space: Space::bounded(vec![p.min_action], vec![p.max_action]),
            max_episode_steps: max_episode_steps.unwrap_or(999),
            reward_threshold: Some(90.0),
            state_dim: 2,
        }
    }

    #[inline(always)]
    fn reset(_p: &Params, rng: &mut Stream) -> State {
        State { position: rng.uniform(-0.6, -0.4), velocity: 0.0 }
    }

    #[inline(always)]
    fn step(p: &Params, s: &State, action: f32, _rng: &mut Stream) -> (State, f32, bool) {
        let force = clip(action, p.min_action, p.max_action);
        let (_, cos3x) = sin_cos(3.0 * s.position);
        let velocity = s.velocity + force * p.power - p.gravity * cos3x;
        let velocity = clip(velocity, -p.max_speed, p.max_speed);
        let position = clip(s.position + velocity, p.min_position, p.max_position);
        // The left wall is inelastic.
        let velocity = if position == p.min_position && velocity < 0.0 { 0.0 } else { velocity };
        let terminated = position >= p.goal_position && velocity >= p.goal_velocity;
        // The penalty uses the unclipped action.
        let bonus = if terminated { 100.0 } else { 0.0 };
        let reward = bonus - action * action * 0.1;
        (State { position, velocity }, reward, terminated)
    }

    #[inline(always)]
    fn observe(_p: &Params, s: &State, obs: &mut [f32]) {
        obs[0] = s.position;
        obs[1] = s.velocity;
    }

    #[inline(always)]
    fn random_action(p: &Params, bits: u32) -> f32 {
        p.min_action + (p.max_action - p.min_action) * unit(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(p: &Params, position: f32, velocity: f32, action: f32) -> (State, f32, bool) {
        let mut rng = Stream { key: 7, counter: 0 };
        MountainCarContinuous::step(p, &State { position, velocity }, action, &mut rng)
    }

    fn close(a: f32, b: f64) -> bool {
        (a as f64 - b).abs() < 1e-6
    }

    // Expected values below come from Gymnasium 1.4.0: `env.unwrapped.state = np.array(s, dtype=np.float32)`,
    // then `env.step(np.array([a], dtype=np.float32))`.

    #[test]
    fn penalty_uses_the_unclipped_action() {
        // (-0.5, 0.0), action 3.5: pushes as 1.0 but pays 0.1 * 3.5² = 1.225.
        let (s, r, term) = step(&Params::default(), -0.5, 0.0, 3.5);
        assert!(close(s.position, -0.4986768364906311) && close(s.velocity, 0.0013231569901108742), "{s:?}");
        assert!(close(r, -1.225) && !term, "{r}");
        // (-0.5, 0.0), action -0.3.
        let (s, r, _) = step(&Params::default(), -0.5, 0.0, -0.3);
        assert!(close(s.position, -0.5006268620491028) && close(s.velocity, -0.0006268430151976645), "{s:?}");
        assert!(close(r, -0.009000000715255752), "{r}");
    }

    #[test]
    fn goal_pays_a_bonus() {
        // (0.44, 0.01): action 1.0 -> reward 99.9, action 3.5 -> 98.775; both reach (0.4508796, 0.0108796).
        let (s, r, term) = step(&Params::default(), 0.44, 0.01, 1.0);
        assert!(close(s.position, 0.4508795738220215) && close(s.velocity, 0.010879561305046082), "{s:?}");
        assert!(term && (r - 99.9).abs() < 1e-5, "{r}");
        let (_, r, term) = step(&Params::default(), 0.44, 0.01, 3.5);
        assert!(term && (r - 98.775).abs() < 1e-5, "{r}");
        // (0.44, 0.005), action -2.0: short of the flag, reward -0.4.
        let (s, r, term) = step(&Params::default(), 0.44, 0.005, -2.0);
        assert!(close(s.position, 0.4428795576095581) && !term && close(r, -0.4), "{s:?} {r}");
    }

    #[test]
    fn goal_velocity_gates_termination() {
        // (0.445, 0.006), action 0.5 -> (0.4511659, 0.0061660): 99.975 with goal_velocity 0, -0.025 with 0.01.
        let (s, r, term) = step(&Params::default(), 0.445, 0.006, 0.5);
        assert!(close(s.position, 0.45116594433784485) && term && (r - 99.975).abs() < 1e-5, "{s:?}");
        let fast = Params { goal_velocity: 0.01, ..Params::default() };
        let (_, r, term) = step(&fast, 0.445, 0.006, 0.5);
        assert!(!term && close(r, -0.025), "{r}");
        // (0.44, 0.02), action 1.0 -> velocity 0.0208796: terminated with goal_velocity 0.01.
        let (s, _, term) = step(&fast, 0.44, 0.02, 1.0);
        assert!(close(s.velocity, 0.020879561081528664) && term, "{s:?}");
    }

    #[test]
    fn left_wall_stops_the_car() {
        // (-1.19, -0.05), action -1.0 -> (-1.2, 0.0), reward -0.1.
        let (s, r, _) = step(&Params::default(), -1.19, -0.05, -1.0);
        assert_eq!((s.position, s.velocity), (-1.2, 0.0));
        assert!(close(r, -0.1));
    }

    #[test]
    fn random_actions_fill_the_box() {
        let p = Params::default();
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for c in 0..10_000 {
            let a = MountainCarContinuous::random_action(&p, crate::rng::draw(3, c));
            assert!((-1.0..1.0).contains(&a));
            (lo, hi) = (lo.min(a), hi.max(a));
        }
        assert!(lo < -0.99 && hi > 0.99);
    }

    #[test]
    fn config_and_spec() {
        let c: EnvConfig = "goal_velocity=0.01".parse().unwrap();
        let (p, max) = MountainCarContinuous::params("MountainCarContinuous-v0", &c).unwrap();
        assert_eq!((p.goal_velocity, max), (0.01, None));
        let spec = MountainCarContinuous::spec("MountainCarContinuous-v0", &p, max);
        assert_eq!((spec.max_episode_steps, spec.action_dim(), spec.reward_threshold), (999, 1, Some(90.0)));
    }
}
