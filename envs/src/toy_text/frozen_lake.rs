//! FrozenLake-v1 and FrozenLake8x8-v1: walk from S to G across a grid without falling into a hole H, slipping
//! sideways on the ice, after Gymnasium's `toy_text/frozen_lake.py`. Kernels: `frozen_lake.wgsl`,
//! `frozen_lake.cu`.
//!
//! Gymnasium's transition table, exactly: from a hole or the goal the agent stays put with reward 0 and
//! `terminated`; otherwise a slippery move goes in directions `[(a-1)%4, a, (a+1)%4]` with probabilities
//! `[fail, success_rate, fail]`, `fail = (1-success_rate)/2`, picked as `argmax(cumsum(p) > u)` with one uniform
//! `u` per step (drawn even when the lake is not slippery or the agent is stuck, as Gymnasium draws it); the
//! reward is `reward_schedule[G, H, F]` by the letter of the new cell (S counts as F), and reaching G or H
//! terminates. Random maps (`map_name=None` without `desc`) are not supported; pass `desc`.

use crate::config::{ConfigReader, EnvConfig};
use crate::env::{Env, EnvSpec};
use crate::error::{clip, Result};
use crate::rng::{below, Stream};
use crate::spaces::Space;
use bytemuck::{Pod, Zeroable};

/// Cell codes in the packed map.
pub const FROZEN: u32 = 0;
pub const HOLE: u32 = 1;
pub const GOAL: u32 = 2;
pub const START: u32 = 3;

/// The most cells a map may have (the packed map is one byte per cell in 1 KiB).
pub const MAX_CELLS: usize = 1024;

/// Gymnasium's `MAPS`.
pub const MAP_4X4: [&str; 4] = ["SFFF", "FHFH", "FFFH", "HFFG"];
pub const MAP_8X8: [&str; 8] =
    ["SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG"];

/// The map and kwargs; defaults are Gymnasium's (the 4x4 map). Also the kernels' `EnvParams` uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    /// Row-major cells, one byte each (cell `i` is byte `i % 4` of word `map[i / 16][(i / 4) % 4]`), coded
    /// F=0, H=1, G=2, S=3; a WGSL `array<vec4<u32>, 64>`.
    pub map: [[u32; 4]; 64],
    pub nrow: u32,
    pub ncol: u32,
    /// 1: moves slip sideways; 0: moves go where they are meant to.
    pub is_slippery: u32,
    /// Probability of moving in the intended direction on a slippery lake.
    pub success_rate: f32,
    /// Rewards for reaching the goal, a hole, a frozen (or start) cell. A WGSL `vec3<f32>` at offset 1040.
    pub reward_schedule: [f32; 3],
    /// Number of S cells; a reset starts on one of them uniformly.
    pub num_starts: u32,
}
const _: () = assert!(std::mem::size_of::<Params>() == 1056);
const _: () = assert!(std::mem::offset_of!(Params, reward_schedule) == 1040);

impl Params {
    /// Params for the map `rows` (Gymnasium's `desc`), checked: rectangular, S/F/H/G only, at least one S.
    pub fn from_rows<S: AsRef<str>>(
        rows: &[S],
        is_slippery: bool,
        success_rate: f32,
        reward_schedule: [f32; 3],
    ) -> std::result::Result<Params, String> {
        let nrow = rows.len();
        let ncol = rows.first().map_or(0, |r| r.as_ref().chars().count());
        if nrow == 0 || ncol == 0 {
            return Err("the map is empty".into());
        }
        if nrow * ncol > MAX_CELLS {
            return Err(format!(
                "the map has {nrow}x{ncol} = {} cells; at most {MAX_CELLS} are supported",
                nrow * ncol
            ));
        }
        let mut p = Params {
            map: [[0; 4]; 64],
            nrow: nrow as u32,
            ncol: ncol as u32,
            is_slippery: is_slippery as u32,
            success_rate,
            reward_schedule,
            num_starts: 0,
        };
        for (r, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            if row.chars().count() != ncol {
                return Err(format!(
                    "row {r} (`{}`) has {} cells but row 0 has {ncol}; the map must be rectangular",
                    clip(row),
                    row.chars().count()
                ));
            }
            for (c, letter) in row.chars().enumerate() {
                let code = match letter {
                    'F' => FROZEN,
                    'H' => HOLE,
                    'G' => GOAL,
                    'S' => START,
                    other => return Err(format!("row {r} has `{other}` at column {c}; cells must be S, F, H or G")),
                };
                let i = r * ncol + c;
                p.map[i / 16][(i / 4) % 4] |= code << ((i % 4) * 8);
                p.num_starts += (code == START) as u32;
            }
        }
        if p.num_starts == 0 {
            return Err("the map has no start cell `S`".into());
        }
        Ok(p)
    }

    /// The code of cell `i` (F=0, H=1, G=2, S=3); indices are masked, so this never panics.
    #[inline(always)]
    pub fn cell(&self, i: u32) -> u32 {
        let word = self.map[(i as usize >> 4) & 63][(i as usize >> 2) & 3];
        (word >> ((i & 3) * 8)) & 0xff
    }

    pub fn num_cells(&self) -> u32 {
        self.nrow * self.ncol
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::from_rows(&MAP_4X4, true, 1.0 / 3.0, [1.0, 0.0, 0.0]).expect("the 4x4 map is valid")
    }
}

/// `[env.unwrapped.s]`: the agent's cell `row * ncol + col`, an exact integer in an f32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct State {
    pub cell: f32,
}

pub struct FrozenLake;

fn is_8x8(id: &str) -> bool {
    id.starts_with("FrozenLake8x8")
}

impl Env for FrozenLake {
    type Params = Params;
    type State = State;
    type Action = u32;

    const OBS_DIM: usize = 1;
    const WGSL: &'static str = include_str!("frozen_lake.wgsl");
    const CUDA: &'static str = include_str!("frozen_lake.cu");

    fn params(id: &str, config: &EnvConfig) -> Result<(Params, Option<u32>)> {
        let mut r = ConfigReader::new(id, config);
        let desc = r.strings_opt("desc")?;
        let map_name = r.string_opt("map_name")?;
        let is_slippery = r.bool("is_slippery", true)?;
        let success_rate = r.f32("success_rate", 1.0 / 3.0)?;
        let schedule = r.floats_opt("reward_schedule")?.unwrap_or_else(|| vec![1.0, 0.0, 0.0]);
        let max_steps = r.u32_opt("max_episode_steps")?;
        if !(0.0..=1.0).contains(&success_rate) {
            return Err(r.error("success_rate", format!("must be in [0, 1], got {success_rate}")));
        }
        let reward_schedule: [f32; 3] = schedule.as_slice().try_into().map_err(|_| {
            r.error("reward_schedule", format!("expected 3 numbers (goal, hole, frozen), got {}", schedule.len()))
        })?;
        // Gymnasium draws a random map when both desc and map_name are None.
        if desc.is_none() && config.get("map_name").is_some_and(|v| v.is_null()) {
            return Err(r.error("map_name", "random maps (map_name=None) are not supported; pass desc=[...] instead"));
        }
        let named = |rows: &[&str]| rows.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rows = match (desc, map_name.as_deref()) {
            (Some(desc), _) => desc,
            (None, Some("4x4")) => named(&MAP_4X4),
            (None, Some("8x8")) => named(&MAP_8X8),
            (None, Some(other)) => {
                let other = clip(other);
                return Err(r.error("map_name", format!("unknown map `{other}`; expected 4x4 or 8x8, or pass desc")));
            }
            (None, None) if is_8x8(id) => named(&MAP_8X8),
            (None, None) => named(&MAP_4X4),
        };
        let p = Params::from_rows(&rows, is_slippery, success_rate, reward_schedule)
            .map_err(|reason| r.error("desc", reason))?;
        r.finish()?;
        Ok((p, max_steps))
    }

    fn spec(id: &str, p: &Params, max_episode_steps: Option<u32>) -> EnvSpec {
        // Gymnasium registers the time limit and threshold per id, whatever the map.
        let big = is_8x8(id);
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::Discrete { n: p.num_cells() },
            action_space: Space::Discrete { n: 4 },
            max_episode_steps: max_episode_steps.unwrap_or(if big { 200 } else { 100 }),
            reward_threshold: Some(if big { 0.85 } else { 0.70 }),
            state_dim: 1,
        }
    }

    #[inline(always)]
    fn reset(p: &Params, rng: &mut Stream) -> State {
        let k = rng.below(p.num_starts);
        let (mut seen, mut start) = (0u32, 0u32);
        for i in 0..p.num_cells().min(MAX_CELLS as u32) {
            if p.cell(i) == START {
                if seen == k {
                    start = i;
                    break;
                }
                seen += 1;
            }
        }
        State { cell: start as f32 }
    }

    #[inline(always)]
    fn step(p: &Params, s: &State, action: u32, rng: &mut Stream) -> (State, f32, bool) {
        let u = rng.uniform(0.0, 1.0);
        let ncol = p.ncol.max(1);
        let here = (s.cell as u32).min(p.num_cells().max(1) - 1);
        // Which of [(a-1)%4, a, (a+1)%4]: argmax(cumsum([fail, success_rate, fail]) > u); the last bucket takes
        // the rest, as cumsum's last entry is 1.
        let fail = (1.0 - p.success_rate) * 0.5;
        let slip = (u >= fail) as u32 + (u >= fail + p.success_rate) as u32;
        let k = if p.is_slippery != 0 { slip } else { 1 };
        let dir = (action.wrapping_add(3).wrapping_add(k)) & 3;
        let (row, col) = (here / ncol, here % ncol);
        let row = match dir {
            1 => (row + 1).min(p.nrow.max(1) - 1),
            3 => row.saturating_sub(1),
            _ => row,
        };
        let col = match dir {
            0 => col.saturating_sub(1),
            2 => (col + 1).min(ncol - 1),
            _ => col,
        };
        let next = row * ncol + col;
        let letter = p.cell(next);
        let reward = match letter {
            GOAL => p.reward_schedule[0],
            HOLE => p.reward_schedule[1],
            _ => p.reward_schedule[2],
        };
        // Holes and the goal are absorbing: stay, reward 0, terminated.
        let stuck = matches!(p.cell(here), HOLE | GOAL);
        let terminated = stuck || matches!(letter, HOLE | GOAL);
        let cell = if stuck { here } else { next };
        let reward = if stuck { 0.0 } else { reward };
        (State { cell: cell as f32 }, reward, terminated)
    }

    #[inline(always)]
    fn observe(_p: &Params, s: &State, obs: &mut [f32]) {
        obs[0] = s.cell;
    }

    fn valid_action(_p: &Params, a: &u32) -> bool {
        *a < 4
    }

    #[inline(always)]
    fn random_action(_p: &Params, bits: u32) -> u32 {
        below(bits, 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn params(id: &str, kwargs: &str) -> Result<Params> {
        FrozenLake::params(id, &kwargs.parse::<EnvConfig>().unwrap()).map(|(p, _)| p)
    }

    fn step(p: &Params, cell: u32, action: u32, rng: &mut Stream) -> (u32, f32, bool) {
        let before = rng.counter;
        let (s, r, t) = FrozenLake::step(p, &State { cell: cell as f32 }, action, rng);
        assert_eq!(rng.counter, before + 1, "every step draws exactly once");
        (s.cell as u32, r, t)
    }

    /// Frequencies of the next cell over many slippery steps from `cell` with `action`.
    fn frequencies(p: &Params, cell: u32, action: u32, outcomes: [u32; 3]) -> [f64; 3] {
        let n = 60_000;
        let mut counts = [0u32; 3];
        let mut rng = Stream { key: crate::rng::stream_key(42, 0), counter: 0 };
        for _ in 0..n {
            let (next, _, _) = step(p, cell, action, &mut rng);
            let k = outcomes.iter().position(|&o| o == next).expect("outcome outside the transition table");
            counts[k] += 1;
        }
        counts.map(|c| c as f64 / n as f64)
    }

    // Transition tables below were read from Gymnasium 1.4.0's `env.unwrapped.P[s][a]`.

    #[test]
    fn slippery_moves_split_one_third_each() {
        // 4x4, P[10][1] (down from row 2, col 2): left -> 9, down -> 14, right -> 11 (a hole), 1/3 each.
        let f = frequencies(&Params::default(), 10, 1, [9, 14, 11]);
        for x in f {
            assert!((x - 1.0 / 3.0).abs() < 0.01, "{f:?}");
        }
        // success_rate=0.8: P[10][1] = [(0.1, 9), (0.8, 14), (0.1, 11)].
        let f = frequencies(&params("FrozenLake-v1", "success_rate=0.8").unwrap(), 10, 1, [9, 14, 11]);
        for (x, want) in f.iter().zip([0.1, 0.8, 0.1]) {
            assert!((x - want).abs() < 0.01, "{f:?}");
        }
    }

    #[test]
    fn holes_and_goal_are_absorbing_with_reward_zero() {
        let p = params("FrozenLake-v1", "reward_schedule=[10,-2,-0.5]").unwrap();
        let mut rng = Stream { key: 5, counter: 0 };
        for a in 0..4 {
            // P[5][a] = [(1.0, 5, 0, True)] (a hole); P[15][a] = [(1.0, 15, 0, True)] (the goal).
            assert_eq!(step(&p, 5, a, &mut rng), (5, 0.0, true));
            assert_eq!(step(&p, 15, a, &mut rng), (15, 0.0, true));
        }
    }

    #[test]
    fn reward_schedule_follows_the_new_cell() {
        let p = params("FrozenLake-v1", "is_slippery=False,reward_schedule=[10,-2,-0.5]").unwrap();
        let mut rng = Stream { key: 9, counter: 0 };
        assert_eq!(step(&p, 14, 2, &mut rng), (15, 10.0, true)); // into the goal
        assert_eq!(step(&p, 10, 2, &mut rng), (11, -2.0, true)); // into a hole
        assert_eq!(step(&p, 0, 1, &mut rng), (4, -0.5, false)); // onto ice
        assert_eq!(step(&p, 4, 3, &mut rng), (0, -0.5, false)); // back onto S, which counts as F
        assert_eq!(step(&p, 0, 0, &mut rng), (0, -0.5, false)); // into the wall: stays
    }

    #[test]
    fn custom_rectangular_desc() {
        let (p, _) = FrozenLake::params(
            "FrozenLake-v1",
            &EnvConfig::new().with("desc", serde_json::json!(["SFFFH", "FHFFF", "FFHFG"])).with("is_slippery", false),
        )
        .unwrap();
        assert_eq!((p.nrow, p.ncol), (3, 5));
        let spec = FrozenLake::spec("FrozenLake-v1", &p, None);
        assert_eq!((spec.observation_space.clone(), spec.max_episode_steps), (Space::Discrete { n: 15 }, 100));
        let mut rng = Stream { key: 1, counter: 0 };
        // Gymnasium 1.4.0 P[s][a] on this map, not slippery.
        for (s, a, want) in [
            (0, 2, (1, 0.0, false)),
            (3, 2, (4, 0.0, true)),
            (8, 1, (13, 0.0, false)),
            (9, 2, (9, 0.0, false)),
            (13, 2, (14, 1.0, true)),
            (0, 3, (0, 0.0, false)),
            (4, 0, (4, 0.0, true)),
        ] {
            assert_eq!(step(&p, s, a, &mut rng), want, "state {s} action {a}");
        }
    }

    #[test]
    fn the_8x8_map() {
        let p = params("FrozenLake8x8-v1", "map_name=8x8").unwrap();
        let spec = FrozenLake::spec("FrozenLake8x8-v1", &p, None);
        assert_eq!(spec.observation_space, Space::Discrete { n: 64 });
        assert_eq!((spec.max_episode_steps, spec.reward_threshold), (200, Some(0.85)));
        // FrozenLake-v1 with map_name=8x8 keeps FrozenLake-v1's limit, as in Gymnasium.
        let q = params("FrozenLake-v1", "map_name=8x8").unwrap();
        assert_eq!(FrozenLake::spec("FrozenLake-v1", &q, None).max_episode_steps, 100);
        // P[62][2] = [(1/3, 62, 0, False), (1/3, 63, 1, True), (1/3, 54, 0, True)].
        let mut rng = Stream { key: 3, counter: 0 };
        let mut seen = [false; 3];
        for _ in 0..200 {
            let out = step(&p, 62, 2, &mut rng);
            let k = [(62, 0.0, false), (63, 1.0, true), (54, 0.0, true)].iter().position(|o| *o == out);
            seen[k.expect("outcome outside P[62][2]")] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(FrozenLake::reset(&p, &mut rng).cell, 0.0);
    }

    #[test]
    fn reset_picks_a_start_uniformly() {
        let p = Params::from_rows(&["SFS", "FHG"], true, 1.0 / 3.0, [1.0, 0.0, 0.0]).unwrap();
        let mut rng = Stream { key: 11, counter: 0 };
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[FrozenLake::reset(&p, &mut rng).cell as usize] += 1;
        }
        assert_eq!(rng.counter, 10_000);
        assert_eq!(counts[1], 0);
        assert!((counts[0] as i32 - 5000).abs() < 200, "{counts:?}");
    }

    #[test]
    fn config_errors_are_clear() {
        let bad = |kwargs: EnvConfig, needle: &str| {
            let err = FrozenLake::params("FrozenLake-v1", &kwargs).unwrap_err();
            assert!(matches!(err, Error::BadConfigValue { .. }), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        };
        let desc = |rows: serde_json::Value| EnvConfig::new().with("desc", rows);
        bad(desc(serde_json::json!(["SFX", "FFG"])), "`X` at column 2");
        bad(desc(serde_json::json!(["SFF", "FG"])), "rectangular");
        bad(desc(serde_json::json!(["FFF", "FFG"])), "no start cell");
        bad(desc(serde_json::json!([])), "empty");
        bad(desc(serde_json::json!(vec!["S".repeat(33); 32])), "at most 1024");
        bad("map_name=None".parse().unwrap(), "random maps");
        assert!(params("FrozenLake-v1", "map_name=None,desc=['SG']").is_ok(), "desc wins over map_name=None");
        bad("map_name=5x5".parse().unwrap(), "unknown map");
        bad("reward_schedule=[1,0]".parse().unwrap(), "expected 3 numbers");
        bad("success_rate=1.5".parse().unwrap(), "[0, 1]");
        assert!(params("FrozenLake-v1", "slippery=True").is_err());
        // The largest map fits.
        assert!(FrozenLake::params("FrozenLake-v1", &desc(serde_json::json!(vec!["S".repeat(32); 32]))).is_ok());
    }

    #[test]
    fn params_layout_matches_the_uniform() {
        let p = Params::default();
        assert_eq!((p.nrow, p.ncol, p.num_starts), (4, 4, 1));
        let letters: String = (0..16).map(|i| ['F', 'H', 'G', 'S'][p.cell(i) as usize]).collect();
        assert_eq!(letters, MAP_4X4.concat());
        assert_eq!(std::mem::offset_of!(Params, nrow), 1024);
        assert_eq!(p.cell(5000), p.cell(5000 & 1023), "out-of-range cells are masked, not a panic");
    }
}
