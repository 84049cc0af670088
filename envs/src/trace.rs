//! Trace replay against Gymnasium: set each env's internal state and time-limit counter from a recorded
//! transition, step once with the recorded action, compare everything that comes out.
//!
//! A trace is JSON Lines, one transition per line, as `scripts/record_traces.py` writes them:
//! `{"env", "env_config", "state", "elapsed_steps", "action", "next_state", "next_obs", "reward", "terminated",
//! "truncated"}`. All lines of one (env, config) are stepped as one batch. Each line runs in
//! [`REPLICAS`] envs with different random streams: a deterministic transition gives one outcome, a stochastic one
//! (slippery FrozenLake) several, and the recorded outcome must be among them, so reward and flags must follow
//! from it. Floats pass within [`TOLERANCE`] (absolute or relative); flags and integers must be equal.

use crate::batch::Field;
use crate::config::EnvConfig;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::registry::{lookup, make};
use crate::spaces::Space;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// Envs stepped per recorded transition.
pub const REPLICAS: usize = 256;
/// Largest accepted float deviation, absolute or relative.
pub const TOLERANCE: f64 = 1e-4;

/// One recorded Gymnasium transition.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceLine {
    pub env: String,
    #[serde(default)]
    pub env_config: Value,
    pub state: Vec<f64>,
    pub elapsed_steps: u32,
    pub action: Value,
    pub next_state: Vec<f64>,
    pub next_obs: Vec<f64>,
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
}

/// Reads a trace file; a malformed line is an error naming the line.
pub fn load(path: &Path) -> Result<Vec<TraceLine>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Io(format!("cannot read trace {}: {e}", path.display())))?;
    parse(&text).map_err(|e| match e {
        Error::Trace(msg) => Error::Trace(format!("{}: {msg}", path.display())),
        other => other,
    })
}

/// Parses trace text (blank lines are skipped).
pub fn parse(text: &str) -> Result<Vec<TraceLine>> {
    let mut lines = Vec::new();
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: TraceLine = serde_json::from_str(line)
            .map_err(|e| Error::Trace(format!("line {}: not a transition record: {e}", no + 1)))?;
        lines.push((no + 1, parsed));
    }
    if lines.is_empty() {
        return Err(Error::Trace("no transitions in the trace".into()));
    }
    Ok(lines.into_iter().map(|(_, l)| l).collect())
}

/// The worst deviation seen in one compared field.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FieldReport {
    pub field: &'static str,
    /// Largest absolute deviation over all lines (for flags: 1 if any differs).
    pub worst: f64,
    /// 1-based index (within the group) of the line where it occurred.
    pub worst_line: usize,
    /// Lines beyond tolerance.
    pub failures: usize,
}

/// Replay of all lines of one (env, config).
#[derive(Clone, Debug, serde::Serialize)]
pub struct GroupReport {
    pub env: String,
    pub env_config: Value,
    pub lines: usize,
    /// Lines whose replicas produced more than one outcome.
    pub stochastic_lines: usize,
    pub fields: Vec<FieldReport>,
}

impl GroupReport {
    pub fn passed(&self) -> bool {
        self.fields.iter().all(|f| f.failures == 0)
    }
}

/// Replay of a whole trace on one backend.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub device: String,
    pub groups: Vec<GroupReport>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.groups.iter().all(GroupReport::passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for g in &self.groups {
            writeln!(
                f,
                "{} {} on {}: {} transitions ({} stochastic) {}",
                g.env,
                g.env_config,
                self.device,
                g.lines,
                g.stochastic_lines,
                if g.passed() { "OK" } else { "FAILED" }
            )?;
            for r in &g.fields {
                writeln!(
                    f,
                    "  {:<11} worst |Δ| {:<10.3e} (line {:>4}) beyond tolerance: {}",
                    r.field, r.worst, r.worst_line, r.failures
                )?;
            }
        }
        Ok(())
    }
}

/// Replays the trace at `path` on `device`. With `env`, every line must name that env, and its config replaces
/// the lines' own.
pub fn check_file(path: &Path, device: &Device, env: Option<(&str, &EnvConfig)>) -> Result<Report> {
    check(&load(path)?, device, env)
}

/// Replays `lines` on `device`, one batch per (env, config).
pub fn check(lines: &[TraceLine], device: &Device, env: Option<(&str, &EnvConfig)>) -> Result<Report> {
    let mut groups: Vec<(String, EnvConfig, Value, Vec<&TraceLine>)> = Vec::new();
    for (no, line) in lines.iter().enumerate() {
        let (id, config, config_json) = match env {
            Some((id, config)) => {
                if line.env != id {
                    return Err(Error::Trace(format!("line {}: records {} but --env is {id}", no + 1, line.env)));
                }
                (id.to_string(), config.clone(), config.to_json())
            }
            None => (line.env.clone(), EnvConfig::from_json(&line.env_config)?, line.env_config.clone()),
        };
        lookup(&id)?;
        match groups.iter_mut().find(|g| g.0 == id && g.2 == config_json) {
            Some(g) => g.3.push(line),
            None => groups.push((id, config, config_json, vec![line])),
        }
    }
    let groups = groups
        .into_iter()
        .map(|(id, config, config_json, lines)| check_group(&id, &config, config_json, &lines, device))
        .collect::<Result<Vec<_>>>()?;
    Ok(Report { device: device.describe(), groups })
}

/// The outcome of one env after the step.
struct Outcome<'a> {
    state: &'a [f32],
    obs: &'a [f32],
    reward: f32,
    terminated: bool,
    truncated: bool,
}

fn float_dev(got: f32, want: f64) -> (f64, bool) {
    let d = (got as f64 - want).abs();
    let ok = d <= TOLERANCE || d <= TOLERANCE * want.abs() || (got.is_nan() && want.is_nan());
    (d, ok)
}

fn check_group(
    id: &str,
    config: &EnvConfig,
    config_json: Value,
    lines: &[&TraceLine],
    device: &Device,
) -> Result<GroupReport> {
    let n = lines.len() * REPLICAS;
    let mut batch = make(id, config, n, device)?;
    let spec = batch.spec().clone();
    let (sd, od) = (spec.state_dim, spec.obs_dim());
    let mut state = Vec::with_capacity(n * sd);
    let mut elapsed = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n * spec.action_dim());
    for (k, line) in lines.iter().enumerate() {
        let at = |what: &str| Error::Trace(format!("{id} line {}: {what}", k + 1));
        if line.state.len() != sd || line.next_state.len() != sd {
            return Err(at(&format!(
                "state needs {sd} values, got {} and {}",
                line.state.len(),
                line.next_state.len()
            )));
        }
        if line.next_obs.len() != od {
            return Err(at(&format!("next_obs needs {od} values, got {}", line.next_obs.len())));
        }
        let words = action_words(&spec.action_space, &line.action).map_err(|m| at(&m))?;
        for _ in 0..REPLICAS {
            state.extend(line.state.iter().map(|&v| v as f32));
            elapsed.push(line.elapsed_steps);
            actions.extend_from_slice(&words);
        }
    }
    batch.reset(0)?;
    batch.set_autoreset(false)?;
    batch.set_state(&state, &elapsed)?;
    let actions = batch.upload_actions(&actions)?;
    batch.step(&actions)?;
    let next_state = batch.read_f32(Field::State)?;
    let next_obs = batch.read_f32(Field::Obs)?;
    let reward = batch.read_f32(Field::Reward)?;
    let terminated = batch.read_bool(Field::Terminated)?;
    let truncated = batch.read_bool(Field::Truncated)?;
    let outcome = |e: usize| Outcome {
        state: &next_state[e * sd..(e + 1) * sd],
        obs: &next_obs[e * od..(e + 1) * od],
        reward: reward[e],
        terminated: terminated[e],
        truncated: truncated[e],
    };

    let names = ["next_state", "next_obs", "reward", "terminated", "truncated"];
    let mut fields: Vec<FieldReport> = names.iter().map(|&field| FieldReport { field, ..Default::default() }).collect();
    let mut stochastic_lines = 0;
    for (k, line) in lines.iter().enumerate() {
        // Per replica: each field's worst deviation and whether it is within tolerance.
        let score = |o: &Outcome| -> [(f64, bool); 5] {
            let vec_dev = |got: &[f32], want: &[f64]| {
                got.iter()
                    .zip(want)
                    .map(|(&g, &w)| float_dev(g, w))
                    .fold((0.0f64, true), |a, b| (a.0.max(b.0), a.1 && b.1))
            };
            let flag = |got: bool, want: bool| if got == want { (0.0, true) } else { (1.0, false) };
            [
                vec_dev(o.state, &line.next_state),
                vec_dev(o.obs, &line.next_obs),
                float_dev(o.reward, line.reward),
                flag(o.terminated, line.terminated),
                flag(o.truncated, line.truncated),
            ]
        };
        let base = k * REPLICAS;
        let first = outcome(base);
        let mut distinct = false;
        let mut best: Option<[(f64, bool); 5]> = None;
        for r in 0..REPLICAS {
            let o = outcome(base + r);
            distinct |= o.state != first.state || o.reward != first.reward || o.terminated != first.terminated;
            let s = score(&o);
            let passes = s.iter().all(|f| f.1);
            let worst = s.iter().map(|f| f.0).fold(0.0, f64::max);
            let better = match &best {
                None => true,
                Some(b) => {
                    let b_passes = b.iter().all(|f| f.1);
                    (passes && !b_passes) || (passes == b_passes && worst < b.iter().map(|f| f.0).fold(0.0, f64::max))
                }
            };
            if better {
                best = Some(s);
            }
        }
        stochastic_lines += distinct as usize;
        for (field, (dev, ok)) in fields.iter_mut().zip(best.expect("REPLICAS > 0")) {
            if dev > field.worst || field.worst_line == 0 {
                field.worst = field.worst.max(dev);
                field.worst_line = k + 1;
            }
            field.failures += !ok as usize;
        }
    }
    Ok(GroupReport { env: id.to_string(), env_config: config_json, lines: lines.len(), stochastic_lines, fields })
}

/// A recorded action as batch words; a value outside the action space is an error.
fn action_words(space: &Space, action: &Value) -> std::result::Result<Vec<u32>, String> {
    match space {
        Space::Discrete { n } => match action.as_u64() {
            Some(a) if a < *n as u64 => Ok(vec![a as u32]),
            _ => Err(format!("action {action} is not in Discrete({n})")),
        },
        Space::Box { low, .. } => {
            let values: Option<Vec<f64>> = match action {
                Value::Array(items) => items.iter().map(Value::as_f64).collect(),
                Value::Number(x) => x.as_f64().map(|v| vec![v]),
                _ => None,
            };
            match values {
                Some(v) if v.len() == low.len() => Ok(v.iter().map(|&x| (x as f32).to_bits()).collect()),
                _ => Err(format!("action {action} is not a list of {} numbers", low.len())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_lines() {
        let err = parse("{\"env\": \"CartPole-v1\"}").unwrap_err();
        assert!(err.to_string().contains("line 1: not a transition record"), "{err}");
        assert!(parse("\n\n").is_err());
    }

    #[test]
    fn rejects_actions_outside_the_space() {
        let d = Space::Discrete { n: 2 };
        assert!(action_words(&d, &Value::from(2)).is_err());
        assert!(action_words(&d, &Value::from(-1)).is_err());
        assert_eq!(action_words(&d, &Value::from(1)).unwrap(), vec![1]);
        let b = Space::bounded(vec![-2.0], vec![2.0]);
        assert_eq!(action_words(&b, &serde_json::json!([3.5])).unwrap(), vec![3.5f32.to_bits()]);
        assert!(action_words(&b, &serde_json::json!([1.0, 2.0])).is_err());
    }
}
