//! CartPole-v1: a pole balanced on a cart, after Gymnasium's `classic_control/cartpole.py` (Barto, Sutton &
//! Anderson, 1983), Euler integration. Kernels: `cartpole.wgsl`, `cartpole.cu`.

use crate::config::{ConfigReader, EnvConfig};
use crate::env::{Env, EnvSpec};
use crate::error::Result;
use crate::math::sin_cos;
use crate::rng::{below, Stream};
use crate::spaces::Space;
use bytemuck::{Pod, Zeroable};

/// Constants and kwargs; defaults are Gymnasium's. Also the kernels' `EnvParams` uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    pub gravity: f32,
    pub masscart: f32,
    pub masspole: f32,
    /// Half the pole's length.
    pub length: f32,
    pub force_mag: f32,
    /// Seconds between state updates.
    pub tau: f32,
    /// The pole falls past ±12°.
    pub theta_threshold_radians: f32,
    /// The cart leaves the track past ±2.4.
    pub x_threshold: f32,
    /// Gymnasium's `sutton_barto_reward`: 0 per step and -1 on termination instead of 1 per step.
    pub sutton_barto_reward: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<Params>() == 48);

impl Default for Params {
    fn default() -> Self {
        Self {
            gravity: 9.8,
            masscart: 1.0,
            masspole: 0.1,
            length: 0.5,
            force_mag: 10.0,
            tau: 0.02,
            theta_threshold_radians: 12.0 * 2.0 * std::f32::consts::PI / 360.0,
            x_threshold: 2.4,
            sutton_barto_reward: 0,
            _pad: [0; 3],
        }
    }
}

/// `env.unwrapped.state`: cart position and velocity, pole angle and angular velocity.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct State {
    pub x: f32,
    pub x_dot: f32,
    pub theta: f32,
    pub theta_dot: f32,
}

pub struct CartPole;

impl Env for CartPole {
    type Params = Params;
    type State = State;
    type Action = u32;

    const OBS_DIM: usize = 4;
    const WGSL: &'static str = include_str!("cartpole.wgsl");
    const CUDA: &'static str = include_str!("cartpole.cu");

    fn params(id: &str, config: &EnvConfig) -> Result<(Params, Option<u32>)> {
        let d = Params::default();
        let mut r = ConfigReader::new(id, config);
        let p = Params {
            gravity: r.f32("gravity", d.gravity)?,
            masscart: r.positive_f32("masscart", d.masscart)?,
            masspole: r.positive_f32("masspole", d.masspole)?,
            length: r.positive_f32("length", d.length)?,
            force_mag: r.f32("force_mag", d.force_mag)?,
            tau: r.positive_f32("tau", d.tau)?,
            theta_threshold_radians: r.positive_f32("theta_threshold_radians", d.theta_threshold_radians)?,
            x_threshold: r.positive_f32("x_threshold", d.x_threshold)?,
            sutton_barto_reward: r.bool("sutton_barto_reward", false)? as u32,
            _pad: [0; 3],
        };
        let max_steps = r.u32_opt("max_episode_steps")?;
        r.finish()?;
        Ok((p, max_steps))
    }

    fn spec(id: &str, p: &Params, max_episode_steps: Option<u32>) -> EnvSpec {
        // Gymnasium's bounds: the velocities are unbounded (np.inf).
        let high = vec![p.x_threshold * 2.0, f32::INFINITY, p.theta_threshold_radians * 2.0, f32::INFINITY];
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::bounded(high.iter().map(|h| -h).collect(), high),
            action_space: Space::Discrete { n: 2 },
            max_episode_steps: max_episode_steps.unwrap_or(500),
            reward_threshold: Some(475.0),
            state_dim: 4,
        }
    }

    #[inline(always)]
    fn reset(_p: &Params, rng: &mut Stream) -> State {
        State {
            x: rng.uniform(-0.05, 0.05),
            x_dot: rng.uniform(-0.05, 0.05),
            theta: rng.uniform(-0.05, 0.05),
            theta_dot: rng.uniform(-0.05, 0.05),
        }
    }

    #[inline(always)]
    fn step(p: &Params, s: &State, action: u32, _rng: &mut Stream) -> (State, f32, bool) {
        let total_mass = p.masspole + p.masscart;
        let polemass_length = p.masspole * p.length;
        let force = if action == 1 { p.force_mag } else { -p.force_mag };
        let (sintheta, costheta) = sin_cos(s.theta);
        let temp = (force + polemass_length * s.theta_dot * s.theta_dot * sintheta) / total_mass;
        let thetaacc = (p.gravity * sintheta - costheta * temp)
            / (p.length * (4.0 / 3.0 - p.masspole * costheta * costheta / total_mass));
        let xacc = temp - polemass_length * thetaacc * costheta / total_mass;
        let n = State {
            x: s.x + p.tau * s.x_dot,
            x_dot: s.x_dot + p.tau * xacc,
            theta: s.theta + p.tau * s.theta_dot,
            theta_dot: s.theta_dot + p.tau * thetaacc,
        };
        // `|`, not `||`: no short-circuit branches, so the loop over envs vectorises.
        let terminated = (n.x < -p.x_threshold)
            | (n.x > p.x_threshold)
            | (n.theta < -p.theta_threshold_radians)
            | (n.theta > p.theta_threshold_radians);
        let sutton_barto = if terminated { -1.0 } else { 0.0 };
        let reward = if p.sutton_barto_reward != 0 { sutton_barto } else { 1.0 };
        (n, reward, terminated)
    }

    #[inline(always)]
    fn observe(_p: &Params, s: &State, obs: &mut [f32]) {
        obs[0] = s.x;
        obs[1] = s.x_dot;
        obs[2] = s.theta;
        obs[3] = s.theta_dot;
    }

    fn valid_action(_p: &Params, a: &u32) -> bool {
        *a < 2
    }

    #[inline(always)]
    fn random_action(_p: &Params, bits: u32) -> u32 {
        below(bits, 2)
    }
}
