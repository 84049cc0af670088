//! Acrobot-v1: swing the tip of a two-link pendulum, actuated at the middle joint, above a line, after
//! Gymnasium's `classic_control/acrobot.py` (Sutton, 1996; the "book" dynamics of Sutton & Barto, 2018), one
//! fourth-order Runge–Kutta step of `dt` per action. Kernels: `acrobot.wgsl`, `acrobot.cu`.

use crate::config::{ConfigReader, EnvConfig};
use crate::env::{Env, EnvSpec};
use crate::error::Result;
use crate::math::{clip, sin_cos};
use crate::rng::{below, Stream};
use crate::spaces::Space;
use bytemuck::{Pod, Zeroable};
use std::f32::consts::PI;

/// Constants (Gymnasium's class attributes, which `Acrobot-v1` takes no kwargs for); defaults are Gymnasium's.
/// Also the kernels' `EnvParams` uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    /// Integration time step, seconds.
    pub dt: f32,
    pub link_length_1: f32,
    pub link_mass_1: f32,
    pub link_mass_2: f32,
    /// Position of the centre of mass of link 1 (link 2's length matters only for rendering).
    pub link_com_pos_1: f32,
    pub link_com_pos_2: f32,
    /// Moment of inertia of each link.
    pub link_moi: f32,
    /// Fixed at 9.8, a local constant of Gymnasium's `_dsdt`.
    pub gravity: f32,
    /// Joint velocities are bounded to ±max_vel_1 and ±max_vel_2.
    pub max_vel_1: f32,
    pub max_vel_2: f32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<Params>() == 48);

impl Default for Params {
    fn default() -> Self {
        Self {
            dt: 0.2,
            link_length_1: 1.0,
            link_mass_1: 1.0,
            link_mass_2: 1.0,
            link_com_pos_1: 0.5,
            link_com_pos_2: 0.5,
            link_moi: 1.0,
            gravity: 9.8,
            max_vel_1: 4.0 * PI,
            max_vel_2: 9.0 * PI,
            _pad: [0; 2],
        }
    }
}

/// `env.unwrapped.state`: both joint angles (wrapped to `[-π, π]`) and their angular velocities.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct State {
    pub theta1: f32,
    pub theta2: f32,
    pub dtheta1: f32,
    pub dtheta2: f32,
}

/// Gymnasium's `wrap(x, -π, π)` (subtract or add 2π until `x` lies in `[-π, π]`), without the loops: the number
/// of turns is `ceil` of the overshoot over 2π, so ±π stay as they are.
#[inline(always)]
pub fn wrap(x: f32) -> f32 {
    let turns_down = ((x - PI) * (0.5 / PI)).ceil();
    let turns_up = ((-PI - x) * (0.5 / PI)).ceil();
    let turns_down = if turns_down > 0.0 { turns_down } else { 0.0 };
    let turns_up = if turns_up > 0.0 { turns_up } else { 0.0 };
    x - turns_down * (2.0 * PI) + turns_up * (2.0 * PI)
}

/// The time derivative of `s` under torque `a` (Gymnasium's `_dsdt`, "book" dynamics). `cos(θ - π/2)` is
/// written `sin θ`.
#[inline(always)]
fn dsdt(p: &Params, s: &State, a: f32) -> State {
    let (m1, m2, l1, lc1, lc2) = (p.link_mass_1, p.link_mass_2, p.link_length_1, p.link_com_pos_1, p.link_com_pos_2);
    let (i1, i2, g) = (p.link_moi, p.link_moi, p.gravity);
    let (sin2, cos2) = sin_cos(s.theta2);
    let (sin12, _) = sin_cos(s.theta1 + s.theta2);
    let (sin1, _) = sin_cos(s.theta1);
    let d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * cos2) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos2) + i2;
    let phi2 = m2 * lc2 * g * sin12;
    let phi1 = -m2 * l1 * lc2 * s.dtheta2 * s.dtheta2 * sin2 - 2.0 * m2 * l1 * lc2 * s.dtheta2 * s.dtheta1 * sin2
        + (m1 * lc1 + m2 * l1) * g * sin1
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * s.dtheta1 * s.dtheta1 * sin2 - phi2)
        / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    State { theta1: s.dtheta1, theta2: s.dtheta2, dtheta1: ddtheta1, dtheta2: ddtheta2 }
}

/// `s + h * k`.
#[inline(always)]
fn axpy(s: &State, h: f32, k: &State) -> State {
    State {
        theta1: s.theta1 + h * k.theta1,
        theta2: s.theta2 + h * k.theta2,
        dtheta1: s.dtheta1 + h * k.dtheta1,
        dtheta2: s.dtheta2 + h * k.dtheta2,
    }
}

pub struct Acrobot;

impl Env for Acrobot {
    type Params = Params;
    type State = State;
    type Action = u32;

    const OBS_DIM: usize = 6;
    const WGSL: &'static str = include_str!("acrobot.wgsl");
    const CUDA: &'static str = include_str!("acrobot.cu");

    fn params(id: &str, config: &EnvConfig) -> Result<(Params, Option<u32>)> {
        let d = Params::default();
        let mut r = ConfigReader::new(id, config);
        let p = Params {
            dt: r.positive_f32("dt", d.dt)?,
            link_length_1: r.positive_f32("link_length_1", d.link_length_1)?,
            link_mass_1: r.positive_f32("link_mass_1", d.link_mass_1)?,
            link_mass_2: r.positive_f32("link_mass_2", d.link_mass_2)?,
            link_com_pos_1: r.positive_f32("link_com_pos_1", d.link_com_pos_1)?,
            link_com_pos_2: r.positive_f32("link_com_pos_2", d.link_com_pos_2)?,
            link_moi: r.positive_f32("link_moi", d.link_moi)?,
            gravity: d.gravity,
            max_vel_1: r.positive_f32("max_vel_1", d.max_vel_1)?,
            max_vel_2: r.positive_f32("max_vel_2", d.max_vel_2)?,
            _pad: [0; 2],
        };
        let max_steps = r.u32_opt("max_episode_steps")?;
        r.finish()?;
        Ok((p, max_steps))
    }

    fn spec(id: &str, p: &Params, max_episode_steps: Option<u32>) -> EnvSpec {
        let high = vec![1.0, 1.0, 1.0, 1.0, p.max_vel_1, p.max_vel_2];
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::bounded(high.iter().map(|h| -h).collect(), high),
            action_space: Space::Discrete { n: 3 },
            max_episode_steps: max_episode_steps.unwrap_or(500),
            reward_threshold: Some(-100.0),
            state_dim: 4,
        }
    }

    #[inline(always)]
    fn reset(_p: &Params, rng: &mut Stream) -> State {
        State {
            theta1: rng.uniform(-0.1, 0.1),
            theta2: rng.uniform(-0.1, 0.1),
            dtheta1: rng.uniform(-0.1, 0.1),
            dtheta2: rng.uniform(-0.1, 0.1),
        }
    }

    #[inline(always)]
    fn step(p: &Params, s: &State, action: u32, _rng: &mut Stream) -> (State, f32, bool) {
        // AVAIL_TORQUE = [-1, 0, +1].
        let torque = action as f32 - 1.0;
        let (h, h2) = (p.dt, p.dt / 2.0);
        let k1 = dsdt(p, s, torque);
        let k2 = dsdt(p, &axpy(s, h2, &k1), torque);
        let k3 = dsdt(p, &axpy(s, h2, &k2), torque);
        let k4 = dsdt(p, &axpy(s, h, &k3), torque);
        let w = h / 6.0;
        let n = State {
            theta1: wrap(s.theta1 + w * (k1.theta1 + 2.0 * k2.theta1 + 2.0 * k3.theta1 + k4.theta1)),
            theta2: wrap(s.theta2 + w * (k1.theta2 + 2.0 * k2.theta2 + 2.0 * k3.theta2 + k4.theta2)),
            dtheta1: clip(
                s.dtheta1 + w * (k1.dtheta1 + 2.0 * k2.dtheta1 + 2.0 * k3.dtheta1 + k4.dtheta1),
                -p.max_vel_1,
                p.max_vel_1,
            ),
            dtheta2: clip(
                s.dtheta2 + w * (k1.dtheta2 + 2.0 * k2.dtheta2 + 2.0 * k3.dtheta2 + k4.dtheta2),
                -p.max_vel_2,
                p.max_vel_2,
            ),
        };
        let (_, cos1) = sin_cos(n.theta1);
        let (_, cos12) = sin_cos(n.theta2 + n.theta1);
        let terminated = -cos1 - cos12 > 1.0;
        let reward = if terminated { 0.0 } else { -1.0 };
        (n, reward, terminated)
    }

    #[inline(always)]
    fn observe(_p: &Params, s: &State, obs: &mut [f32]) {
        let (sin1, cos1) = sin_cos(s.theta1);
        let (sin2, cos2) = sin_cos(s.theta2);
        obs[0] = cos1;
        obs[1] = sin1;
        obs[2] = cos2;
        obs[3] = sin2;
        obs[4] = s.dtheta1;
        obs[5] = s.dtheta2;
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

    fn step(s: State, a: u32) -> (State, f32, bool) {
        let mut rng = Stream { key: 0, counter: 0 };
        Acrobot::step(&Params::default(), &s, a, &mut rng)
    }

    fn assert_state(got: &State, want: [f64; 4]) {
        let got = [got.theta1, got.theta2, got.dtheta1, got.dtheta2];
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() <= 2e-5 * (1.0 + w.abs()), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn wrap_matches_the_while_loops() {
        // From gymnasium 1.4.0: acrobot.wrap(x, -pi, pi).
        let cases = [
            (4.0, -2.2831853071795862),
            (-4.0, 2.2831853071795862),
            (7.5, 1.2168146928204138),
            (10.0, -2.5663706143591725),
            (-10.0, 2.5663706143591725),
            (3.0, 3.0),
            (-3.0, -3.0),
        ];
        for (x, want) in cases {
            let got = wrap(x);
            assert!((got as f64 - want).abs() < 1e-6, "wrap({x}) = {got}, want {want}");
        }
        // ±π are inside the range and stay put; 3π wraps once onto π (not -π), as the loop does.
        assert_eq!(wrap(PI), PI);
        assert_eq!(wrap(-PI), -PI);
        assert!((wrap(3.0 * PI) - PI).abs() < 1e-6, "{}", wrap(3.0 * PI));
        assert!((wrap(-3.0 * PI) + PI).abs() < 1e-6, "{}", wrap(-3.0 * PI));
    }

    #[test]
    fn rk4_step_matches_gymnasium() {
        // From gymnasium 1.4.0: state [0.05, -0.02, 0.1, -0.3], each action.
        let s = State { theta1: 0.05, theta2: -0.02, dtheta1: 0.1, dtheta2: -0.3 };
        let wants = [
            [0.07559383347013211, -0.10485326922378566, 0.14789425927079863, -0.5295472531387593],
            [0.06234825388346446, -0.07059904622858937, 0.019522677063665214, -0.19557337900719726],
            [0.04909293630984123, -0.03632564108870652, -0.10907731365259765, 0.13883650163910094],
        ];
        for (a, want) in wants.iter().enumerate() {
            let (n, r, terminated) = step(s, a as u32);
            assert_state(&n, *want);
            assert_eq!((r, terminated), (-1.0, false));
        }
    }

    #[test]
    fn angles_wrap_and_velocities_are_bounded() {
        // From gymnasium 1.4.0: state [3.1, -3.1, 12.0, -27.0], action 2 -> RK4 gives [6.083, -9.708, 19.80,
        // -43.45]: theta1 wraps by one turn, theta2 by two, the velocities are bounded to 4π and -9π.
        let (n, _, _) = step(State { theta1: 3.1, theta2: -3.1, dtheta1: 12.0, dtheta2: -27.0 }, 2);
        assert_state(&n, [-0.1998511970419372, 2.8588662883240925, 12.566370614359172, -28.274333882308138]);
        assert_eq!(n.dtheta1, 4.0 * PI);
        assert_eq!(n.dtheta2, -9.0 * PI);
    }

    #[test]
    fn terminates_when_the_tip_is_above_the_line() {
        // From gymnasium 1.4.0: state [2.9, 0.1, 0.5, 0.0], action 1 -> terminated, reward 0.
        let (n, r, terminated) = step(State { theta1: 2.9, theta2: 0.1, dtheta1: 0.5, dtheta2: 0.0 }, 1);
        assert_state(&n, [2.97186717384256, 0.130730034691046, 0.23292516881460612, 0.30094971851629343]);
        assert_eq!((r, terminated), (0.0, true));
        // From gymnasium 1.4.0: from rest at theta1 = 2.155 / 2.16, action 1, the tip ends at height 0.99280 (not
        // terminated) / 1.00182 (terminated).
        let (n, r, terminated) = step(State { theta1: 2.155, theta2: 0.0, dtheta1: 0.0, dtheta2: 0.0 }, 1);
        assert_state(&n, [2.0500593014696595, 0.08130867319652625, -1.0612058410199052, 0.8264507699370753]);
        assert_eq!((r, terminated), (-1.0, false));
        let (n, r, terminated) = step(State { theta1: 2.16, theta2: 0.0, dtheta1: 0.0, dtheta2: 0.0 }, 1);
        assert_state(&n, [2.0553971641907136, 0.08105233621887951, -1.057896907383649, 0.8239910567956034]);
        assert_eq!((r, terminated), (0.0, true));
    }

    #[test]
    fn observation_is_cos_sin_of_both_angles_and_velocities() {
        let s = State { theta1: 0.5, theta2: -2.0, dtheta1: 1.5, dtheta2: -3.0 };
        let mut obs = [0.0; 6];
        Acrobot::observe(&Params::default(), &s, &mut obs);
        let want = [0.5f64.cos(), 0.5f64.sin(), (-2.0f64).cos(), (-2.0f64).sin(), 1.5, -3.0];
        for (o, w) in obs.iter().zip(want) {
            assert!((*o as f64 - w).abs() < 1e-6, "{obs:?}");
        }
    }

    #[test]
    fn actions_and_reset() {
        let p = Params::default();
        assert!(Acrobot::valid_action(&p, &2) && !Acrobot::valid_action(&p, &3));
        let mut rng = Stream { key: 7, counter: 0 };
        for _ in 0..1000 {
            let s = Acrobot::reset(&p, &mut rng);
            for x in [s.theta1, s.theta2, s.dtheta1, s.dtheta2] {
                assert!((-0.1..0.1).contains(&x), "{x}");
            }
        }
        assert_eq!(rng.counter, 4000);
        let mut counts = [0; 3];
        for bits in (0..3000u32).map(|c| crate::rng::draw(1, c)) {
            counts[Acrobot::random_action(&p, bits) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn spec_is_gymnasiums() {
        let (p, steps) = Acrobot::params("Acrobot-v1", &EnvConfig::new()).unwrap();
        let spec = Acrobot::spec("Acrobot-v1", &p, steps);
        assert_eq!((spec.max_episode_steps, spec.reward_threshold, spec.obs_dim()), (500, Some(-100.0), 6));
        assert_eq!(spec.action_space, Space::Discrete { n: 3 });
        assert!(Acrobot::params("Acrobot-v1", &"book_or_nips=nips".parse().unwrap()).is_err());
    }
}
