//! Pendulum-v1: swing a frictionless pendulum up and keep it upright with a bounded torque, after Gymnasium's
//! `classic_control/pendulum.py` (semi-implicit Euler). Kernels: `pendulum.wgsl`, `pendulum.cu`.

use crate::config::{ConfigReader, EnvConfig};
use crate::env::{Env, EnvSpec};
use crate::error::Result;
use crate::math::{clip, sin_cos};
use crate::rng::{unit, Stream};
use crate::spaces::Space;
use bytemuck::{Pod, Zeroable};
use std::f32::consts::PI;

/// Constants and kwargs; defaults are Gymnasium's. Also the kernels' `EnvParams` uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    /// Angular velocity is clipped to ±max_speed.
    pub max_speed: f32,
    /// Torque is clipped to ±max_torque (the action space's bounds).
    pub max_torque: f32,
    /// Seconds between state updates.
    pub dt: f32,
    /// Gravity, Gymnasium's kwarg `g`.
    pub g: f32,
    /// Mass of the pendulum.
    pub m: f32,
    /// Length of the pendulum.
    pub l: f32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<Params>() == 32);

impl Default for Params {
    fn default() -> Self {
        Self { max_speed: 8.0, max_torque: 2.0, dt: 0.05, g: 10.0, m: 1.0, l: 1.0, _pad: [0; 2] }
    }
}

/// `env.unwrapped.state`: the angle (0 is upright, unbounded) and the angular velocity.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct State {
    pub th: f32,
    pub thdot: f32,
}

/// `x` wrapped into `[-π, π)`: Gymnasium's `((x + π) % 2π) - π` with NumPy's floored modulo.
#[inline(always)]
pub fn angle_normalize(x: f32) -> f32 {
    let y = x + PI;
    y - 2.0 * PI * (y * (0.5 / PI)).floor() - PI
}

pub struct Pendulum;

impl Env for Pendulum {
    type Params = Params;
    type State = State;
    type Action = f32;

    const OBS_DIM: usize = 3;
    const WGSL: &'static str = include_str!("pendulum.wgsl");
    const CUDA: &'static str = include_str!("pendulum.cu");

    fn params(id: &str, config: &EnvConfig) -> Result<(Params, Option<u32>)> {
        let d = Params::default();
        let mut r = ConfigReader::new(id, config);
        let p = Params {
            max_speed: r.positive_f32("max_speed", d.max_speed)?,
            max_torque: r.positive_f32("max_torque", d.max_torque)?,
            dt: r.positive_f32("dt", d.dt)?,
            g: r.f32("g", d.g)?,
            m: r.positive_f32("m", d.m)?,
            l: r.positive_f32("l", d.l)?,
            _pad: [0; 2],
        };
        let max_steps = r.u32_opt("max_episode_steps")?;
        r.finish()?;
        Ok((p, max_steps))
    }

    fn spec(id: &str, p: &Params, max_episode_steps: Option<u32>) -> EnvSpec {
        let high = vec![1.0, 1.0, p.max_speed];
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::bounded(high.iter().map(|h| -h).collect(), high),
            action_space: Space::bounded(vec![-p.max_torque], vec![p.max_torque]),
            max_episode_steps: max_episode_steps.unwrap_or(200),
            reward_threshold: None,
            state_dim: 2,
        }
    }

    #[inline(always)]
    fn reset(_p: &Params, rng: &mut Stream) -> State {
        // Gymnasium: uniform(low=-[π, 1], high=[π, 1]), theta drawn first.
        State { th: rng.uniform(-PI, PI), thdot: rng.uniform(-1.0, 1.0) }
    }

    #[inline(always)]
    fn step(p: &Params, s: &State, action: f32, _rng: &mut Stream) -> (State, f32, bool) {
        let u = clip(action, -p.max_torque, p.max_torque);
        let th_n = angle_normalize(s.th);
        let costs = th_n * th_n + 0.1 * s.thdot * s.thdot + 0.001 * (u * u);
        let (sin_th, _) = sin_cos(s.th);
        let newthdot = s.thdot + (3.0 * p.g / (2.0 * p.l) * sin_th + 3.0 / (p.m * p.l * p.l) * u) * p.dt;
        let newthdot = clip(newthdot, -p.max_speed, p.max_speed);
        let newth = s.th + newthdot * p.dt;
        (State { th: newth, thdot: newthdot }, -costs, false)
    }

    #[inline(always)]
    fn observe(_p: &Params, s: &State, obs: &mut [f32]) {
        let (sin_th, cos_th) = sin_cos(s.th);
        obs[0] = cos_th;
        obs[1] = sin_th;
        obs[2] = s.thdot;
    }

    #[inline(always)]
    fn random_action(p: &Params, bits: u32) -> f32 {
        -p.max_torque + 2.0 * p.max_torque * unit(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(s: State, a: f32) -> (State, f32, bool) {
        let mut rng = Stream { key: 0, counter: 0 };
        Pendulum::step(&Params::default(), &s, a, &mut rng)
    }

    fn close(a: f32, b: f64, tol: f64) -> bool {
        (a as f64 - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn angle_normalize_is_numpy_floor_mod() {
        // From gymnasium 1.4.0: angle_normalize(x) for x in [10, -10, 3π, -3π, π, 0.5].
        let cases = [
            (10.0, -2.566_370_614_359_172_5),
            (-10.0, 2.566_370_614_359_172_5),
            (3.0 * PI, -std::f64::consts::PI),
            (-3.0 * PI, -std::f64::consts::PI),
            (PI, -std::f64::consts::PI),
            (0.5, 0.5),
        ];
        for (x, want) in cases {
            let got = angle_normalize(x);
            assert!(close(got, want, 1e-6), "angle_normalize({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn torque_is_clipped_for_dynamics_and_cost() {
        let s = State { th: 1.0, thdot: 0.5 };
        let (n_over, r_over, _) = step(s, 3.5);
        let (n_max, r_max, _) = step(s, 2.0);
        assert_eq!((n_over.th, n_over.thdot, r_over), (n_max.th, n_max.thdot, r_max));
        // From gymnasium 1.4.0: state [1.0, 0.5], action [3.5] -> next state, reward.
        assert!(close(n_over.th, 1.071555161930296, 1e-6), "{n_over:?}");
        assert!(close(n_over.thdot, 1.4311032386059224, 1e-6), "{n_over:?}");
        assert!(close(r_over, -1.0290000001899897, 1e-6), "{r_over}");
        let (n_under, r_under, _) = step(s, -7.0);
        let (n_min, r_min, _) = step(s, -2.0);
        assert_eq!((n_under.th, n_under.thdot, r_under), (n_min.th, n_min.thdot, r_min));
    }

    #[test]
    fn velocity_is_clipped_at_max_speed() {
        // From gymnasium 1.4.0: state [0.3, 7.9], action [2.0] -> [0.7, 8.0], reward -6.33500000018999.
        let (n, r, terminated) = step(State { th: 0.3, thdot: 7.9 }, 2.0);
        assert_eq!(n.thdot, 8.0);
        assert!(close(n.th, 0.7, 1e-6), "{n:?}");
        assert!(close(r, -6.33500000018999, 1e-6), "{r}");
        assert!(!terminated);
        let (n, _, _) = step(State { th: -0.3, thdot: -7.9 }, -2.0);
        assert_eq!(n.thdot, -8.0);
    }

    #[test]
    fn cost_wraps_the_angle_and_obs_is_cos_sin_thdot() {
        // From gymnasium 1.4.0: state [10.0, -3.0], action [0.5] -> next state, reward, obs.
        let s = State { th: 10.0, thdot: -3.0 };
        let (n, r, _) = step(s, 0.5);
        assert!(close(n.th, 9.833349208341648, 1e-6), "{n:?}");
        assert!(close(n.thdot, -3.3330158331670274, 1e-6), "{n:?}");
        assert!(close(r, -7.486508130258151, 1e-6), "{r}");
        let mut obs = [0.0; 3];
        Pendulum::observe(&Params::default(), &n, &mut obs);
        let want = [-0.9176893830299377, -0.39729857444763184, -3.3330159187316895];
        for (o, w) in obs.iter().zip(want) {
            assert!(close(*o, w, 1e-5), "{obs:?}");
        }
    }

    #[test]
    fn reset_and_random_actions_stay_in_bounds() {
        let p = Params::default();
        let mut rng = Stream { key: 12345, counter: 0 };
        for _ in 0..1000 {
            let s = Pendulum::reset(&p, &mut rng);
            assert!((-PI..PI).contains(&s.th) && (-1.0..1.0).contains(&s.thdot), "{s:?}");
        }
        assert_eq!(rng.counter, 2000);
        for bits in [0, 1, u32::MAX / 2, u32::MAX] {
            let a = Pendulum::random_action(&p, bits);
            assert!((-2.0..2.0).contains(&a), "{a}");
        }
    }

    #[test]
    fn g_is_a_kwarg() {
        let config: EnvConfig = "g=9.81".parse().unwrap();
        let (p, steps) = Pendulum::params("Pendulum-v1", &config).unwrap();
        assert_eq!((p.g, steps), (9.81, None));
        let spec = Pendulum::spec("Pendulum-v1", &p, steps);
        assert_eq!(spec.max_episode_steps, 200);
        assert_eq!(spec.action_space, Space::bounded(vec![-2.0], vec![2.0]));
        assert!(Pendulum::params("Pendulum-v1", &"gravity=9.81".parse().unwrap()).is_err());
    }
}
