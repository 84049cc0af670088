//! MountainCar-v0: an underpowered car in a valley that must rock back and forth to reach the flag, after
//! Gymnasium's `classic_control/mountain_car.py` (Moore, 1990). Kernels: `mountain_car.wgsl`, `mountain_car.cu`.

use crate::config::{ConfigReader, EnvConfig};
use crate::env::{Env, EnvSpec};
use crate::error::Result;
use crate::math::{clip, sin_cos};
use crate::rng::{below, Stream};
use crate::spaces::Space;
use bytemuck::{Pod, Zeroable};

/// Constants and kwargs; defaults are Gymnasium's. Also the kernels' `EnvParams` uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    /// The left wall: the car stops dead against it.
    pub min_position: f32,
    pub max_position: f32,
    /// Velocity is clipped to ±max_speed.
    pub max_speed: f32,
    /// The flag.
    pub goal_position: f32,
    /// Gymnasium's `goal_velocity`: the episode ends at the flag only at this velocity or faster.
    pub goal_velocity: f32,
    /// Acceleration per unit of push (actions 0, 1, 2 push -1, 0, +1).
    pub force: f32,
    /// The hill's pull: `-gravity * cos(3 x)`.
    pub gravity: f32,
    pub _pad: [u32; 1],
}
const _: () = assert!(std::mem::size_of::<Params>() == 32);

impl Default for Params {
    fn default() -> Self {
        Self {
            min_position: -1.2,
            max_position: 0.6,
            max_speed: 0.07,
            goal_position: 0.5,
            goal_velocity: 0.0,
            force: 0.001,
            gravity: 0.0025,
            _pad: [0; 1],
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

pub struct MountainCar;

impl Env for MountainCar {
    type Params = Params;
    type State = State;
    type Action = u32;

    const OBS_DIM: usize = 2;
    const WGSL: &'static str = include_str!("mountain_car.wgsl");
    const CUDA: &'static str = include_str!("mountain_car.cu");

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
            action_space: Space::Discrete { n: 3 },
            max_episode_steps: max_episode_steps.unwrap_or(200),
            reward_threshold: Some(-110.0),
            state_dim: 2,
        }
    }

    #[inline(always)]
    fn reset(_p: &Params, rng: &mut Stream) -> State {
        State { position: rng.uniform(-0.6, -0.4), velocity: 0.0 }
    }

    #[inline(always)]
    fn step(p: &Params, s: &State, action: u32, _rng: &mut Stream) -> (State, f32, bool) {
        let (_, cos3x) = sin_cos(3.0 * s.position);
        let velocity = s.velocity + (action as f32 - 1.0) * p.force + cos3x * (-p.gravity);
        let velocity = clip(velocity, -p.max_speed, p.max_speed);
        let position = clip(s.position + velocity, p.min_position, p.max_position);
        // The left wall is inelastic.
        let velocity = if position == p.min_position && velocity < 0.0 { 0.0 } else { velocity };
        let terminated = position >= p.goal_position && velocity >= p.goal_velocity;
        (State { position, velocity }, -1.0, terminated)
    }

    #[inline(always)]
    fn observe(_p: &Params, s: &State, obs: &mut [f32]) {
        obs[0] = s.position;
        obs[1] = s.velocity;
    }

    fn valid_action(_p: &Params, a: &u32) -> bool {
        *a < 3
    }

    #[inline(always)]
    fn random_action(_p: &Params, bits: u32) -> u32 {
        below(bits, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Stream {
        Stream { key: 12345, counter: 0 }
    }

    fn step(p: &Params, position: f32, velocity: f32, action: u32) -> (State, f32, bool) {
        MountainCar::step(p, &State { position, velocity }, action, &mut stream())
    }

    fn close(a: f32, b: f64) -> bool {
        (a as f64 - b).abs() < 1e-6
    }

    #[test]
    fn one_step_matches_gymnasium() {
        // Expected values from Gymnasium 1.4.0: env.unwrapped.state = (-0.5, 0.0); env.step(2).
        let (s, r, term) = step(&Params::default(), -0.5, 0.0, 2);
        assert!(close(s.position, -0.49917684300416926), "{s:?}");
        assert!(close(s.velocity, 0.0008231569958307428), "{s:?}");
        assert_eq!((r, term), (-1.0, false));
    }

    #[test]
    fn left_wall_stops_the_car() {
        // Gymnasium 1.4.0: state (-1.19, -0.05), action 0 -> position clipped to -1.2, velocity reset to 0.
        let (s, _, term) = step(&Params::default(), -1.19, -0.05, 0);
        assert_eq!((s.position, s.velocity, term), (-1.2, 0.0, false));
        // Moving right off the wall keeps its velocity: (-1.2, 0.0), action 2 -> (-1.1967581..., 0.0032419...).
        let (s, _, _) = step(&Params::default(), -1.2, 0.0, 2);
        assert!(close(s.position, -1.1967581039591646), "{s:?}");
        assert!(close(s.velocity, 0.0032418960408353683), "{s:?}");
    }

    #[test]
    fn velocity_is_clipped_before_position() {
        // Gymnasium 1.4.0: (-1.0, 0.0695), action 2 -> velocity clipped to 0.07, position -0.93 (moved by
        // the clipped velocity); (0.59, 0.05), action 2 -> position clipped to 0.6, velocity 0.0514947...
        let (s, _, _) = step(&Params::default(), -1.0, 0.0695, 2);
        assert_eq!(s.velocity, 0.07);
        assert!(close(s.position, -0.93), "{s:?}");
        let (s, _, term) = step(&Params::default(), 0.59, 0.05, 2);
        assert_eq!(s.position, 0.6);
        assert!(close(s.velocity, 0.05149472203652278) && term, "{s:?}");
    }

    #[test]
    fn goal_velocity_gates_termination() {
        // Gymnasium 1.4.0: (0.49, 0.005), action 1 -> (0.4947484, 0.0047484), not terminated;
        // (0.495, 0.006), action 2 -> (0.5017858, 0.0067858): terminated with goal_velocity 0, not with 0.01;
        // (0.495, 0.012), action 2 -> (0.5077858, 0.0127858): terminated with goal_velocity 0.01.
        let (s, _, term) = step(&Params::default(), 0.49, 0.005, 1);
        assert!(close(s.position, 0.49474843566653265) && !term, "{s:?}");
        let (s, _, term) = step(&Params::default(), 0.495, 0.006, 2);
        assert!(close(s.position, 0.5017857722310096) && term, "{s:?}");
        let fast = Params { goal_velocity: 0.01, ..Params::default() };
        let (_, _, term) = step(&fast, 0.495, 0.006, 2);
        assert!(!term);
        let (s, _, term) = step(&fast, 0.495, 0.012, 2);
        assert!(close(s.velocity, 0.012785772231009579) && term, "{s:?}");
    }

    #[test]
    fn reset_draws_once_in_range() {
        let mut rng = stream();
        for _ in 0..1000 {
            let before = rng.counter;
            let s = MountainCar::reset(&Params::default(), &mut rng);
            assert_eq!(rng.counter, before + 1);
            assert!((-0.6..-0.4).contains(&s.position) && s.velocity == 0.0);
        }
    }

    #[test]
    fn config_reads_goal_velocity() {
        let c: EnvConfig = "goal_velocity=0.01,max_episode_steps=50".parse().unwrap();
        let (p, max) = MountainCar::params("MountainCar-v0", &c).unwrap();
        assert_eq!((p.goal_velocity, max), (0.01, Some(50)));
        let spec = MountainCar::spec("MountainCar-v0", &p, None);
        assert_eq!((spec.max_episode_steps, spec.obs_dim()), (200, 2));
        assert!(MountainCar::params("MountainCar-v0", &"force=2".parse().unwrap()).is_err());
    }
}
