//! Trace replay against Gymnasium: set each env's internal state and time-limit counter from a recorded
//! transition, step once with the recorded action, compare everything that comes out.
//!
//! A trace is JSON Lines, one transition per line, as `scripts/record_traces.py` writes them:
//! `{"env", "env_config", "state", "elapsed_steps", "action", "next_state", "next_obs", "reward", "terminated",
//! "truncated"}`. All lines of one (env, config) are stepped as one batch. Each line runs in
//! [`REPLICAS`] envs with different random streams: a deterministic transition gives one outcome, a stochastic one
//! (slippery FrozenLake) several, and the recorded outcome must be among them, so reward and flags must follow
//! from it. Floats pass within [`TOLERANCE`] (absolute or relative); flags and integers must be equal.
//!
//! A line that no Gymnasium env could have recorded is an input error naming the line, not a mismatch: a
//! discrete action outside the action space, and for envs with a `Discrete` observation space and one state
//! value (FrozenLake's `env.unwrapped.s`), a `state`, `next_state` or `next_obs` outside that space.

use crate::batch::Field;
use crate::config::EnvConfig;
use crate::device::Device;
use crate::error::{clip, clip_json, clip_to, Error, Result};
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

/// The most characters of a JSON parser's message (which quotes the input) that a trace error repeats.
const MAX_PARSER_MESSAGE_CHARS: usize = 300;

/// Reads a trace file; a malformed line is an error naming the line.
pub fn load(path: &Path) -> Result<Vec<TraceLine>> {
    Ok(load_numbered(path)?.into_iter().map(|(_, l)| l).collect())
}

/// Reads a trace file into its lines, each with its 1-based line number in the file.
fn load_numbered(path: &Path) -> Result<Vec<(usize, TraceLine)>> {
    let shown = clip(&path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io(format!("cannot read trace {shown}: {e}")))?;
    parse_numbered(&text).map_err(|e| match e {
        Error::Trace(msg) => Error::Trace(format!("{shown}: {msg}")),
        other => other,
    })
}

/// Parses trace text (blank lines are skipped).
pub fn parse(text: &str) -> Result<Vec<TraceLine>> {
    Ok(parse_numbered(text)?.into_iter().map(|(_, l)| l).collect())
}

/// Parses trace text into its lines, each with its 1-based line number in the text.
fn parse_numbered(text: &str) -> Result<Vec<(usize, TraceLine)>> {
    let mut lines = Vec::new();
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: TraceLine = serde_json::from_str(line).map_err(|e| {
            let e = clip_to(&e.to_string(), MAX_PARSER_MESSAGE_CHARS);
            Error::Trace(format!("line {}: not a transition record: {e}", no + 1))
        })?;
        lines.push((no + 1, parsed));
    }
    if lines.is_empty() {
        return Err(Error::Trace("no transitions in the trace".into()));
    }
    Ok(lines)
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
/// the lines' own. Errors name lines by their number in the file.
pub fn check_file(path: &Path, device: &Device, env: Option<(&str, &EnvConfig)>) -> Result<Report> {
    let lines = load_numbered(path)?;
    check_numbered(lines.iter().map(|(no, l)| (*no, l)), device, env)
}

/// Replays `lines` on `device`, one batch per (env, config). Errors name lines by their 1-based index in `lines`.
pub fn check(lines: &[TraceLine], device: &Device, env: Option<(&str, &EnvConfig)>) -> Result<Report> {
    check_numbered(lines.iter().enumerate().map(|(i, l)| (i + 1, l)), device, env)
}

/// A trace line with the number errors call it by.
type Numbered<'a> = (usize, &'a TraceLine);

fn check_numbered<'a>(
    lines: impl Iterator<Item = Numbered<'a>>,
    device: &Device,
    env: Option<(&str, &EnvConfig)>,
) -> Result<Report> {
    let mut groups: Vec<(String, EnvConfig, Value, Vec<Numbered<'a>>)> = Vec::new();
    for (no, line) in lines {
        let (id, config, config_json) = match env {
            Some((id, config)) => {
                if line.env != id {
                    return Err(Error::Trace(format!(
                        "line {no}: records {} but --env is {}",
                        clip(&line.env),
                        clip(id)
                    )));
                }
                (id.to_string(), config.clone(), config.to_json())
            }
            None => (line.env.clone(), EnvConfig::from_json(&line.env_config)?, line.env_config.clone()),
        };
        lookup(&id)?;
        match groups.iter_mut().find(|g| g.0 == id && g.2 == config_json) {
            Some(g) => g.3.push((no, line)),
            None => groups.push((id, config, config_json, vec![(no, line)])),
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
    lines: &[Numbered],
    device: &Device,
) -> Result<GroupReport> {
    let n = lines.len() * REPLICAS;
    let mut batch = make(id, config, n, device)?;
    let spec = batch.spec().clone();
    let (sd, od) = (spec.state_dim, spec.obs_dim());
    let mut state = Vec::with_capacity(n * sd);
    let mut elapsed = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n * spec.action_dim());
    for &(no, line) in lines {
        let at = |what: &str| Error::Trace(format!("{id} line {no}: {what}"));
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
        if let Space::Discrete { n } = spec.observation_space {
            // A discrete observation with one state value is that value (FrozenLake's `env.unwrapped.s`).
            if sd == 1 {
                check_discrete("state", &line.state, n).map_err(|m| at(&m))?;
                check_discrete("next_state", &line.next_state, n).map_err(|m| at(&m))?;
            }
            check_discrete("next_obs", &line.next_obs, n).map_err(|m| at(&m))?;
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
    for (k, &(_, line)) in lines.iter().enumerate() {
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

/// The valid values of `Discrete(n)`, for messages.
fn discrete_range(n: u32) -> String {
    match n {
        0 => "Discrete(0) has no values".into(),
        n => format!("valid values are the integers 0 to {} of Discrete({n})", n - 1),
    }
}

/// Fails where a value of trace field `field` is not an element of `Discrete(n)`.
fn check_discrete(field: &str, values: &[f64], n: u32) -> std::result::Result<(), String> {
    match values.iter().find(|&&v| !(v >= 0.0 && v < n as f64 && v.fract() == 0.0)) {
        Some(v) => Err(format!("{field} is {v}, outside the observation space; {}", discrete_range(n))),
        None => Ok(()),
    }
}

/// A recorded action as batch words; a value outside the action space is an error.
fn action_words(space: &Space, action: &Value) -> std::result::Result<Vec<u32>, String> {
    match space {
        Space::Discrete { n } => match action.as_u64() {
            Some(a) if a < *n as u64 => Ok(vec![a as u32]),
            _ => Err(format!("action is {}, outside the action space; {}", clip_json(action), discrete_range(*n))),
        },
        Space::Box { low, .. } => {
            let values: Option<Vec<f64>> = match action {
                Value::Array(items) => items.iter().map(Value::as_f64).collect(),
                Value::Number(x) => x.as_f64().map(|v| vec![v]),
                _ => None,
            };
            match values {
                Some(v) if v.len() == low.len() => Ok(v.iter().map(|&x| (x as f32).to_bits()).collect()),
                _ => Err(format!("action is {}, not a list of {} numbers", clip_json(action), low.len())),
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

    /// A FrozenLake-v1 line: from `state`, `action` leads to `next` (reward 0, not done).
    fn lake_line(state: f64, action: i64, next: f64) -> String {
        serde_json::json!({
            "env": "FrozenLake-v1", "env_config": {}, "state": [state], "elapsed_steps": 0, "action": action,
            "next_state": [next], "next_obs": [next], "reward": 0.0, "terminated": false, "truncated": false,
        })
        .to_string()
    }

    fn cartpole_line(action: i64) -> String {
        serde_json::json!({
            "env": "CartPole-v1", "state": [0.0, 0.0, 0.0, 0.0], "elapsed_steps": 0, "action": action,
            "next_state": [0.0, 0.0, 0.0, 0.0], "next_obs": [0.0, 0.0, 0.0, 0.0], "reward": 1.0,
            "terminated": false, "truncated": false,
        })
        .to_string()
    }

    fn trace_error(text: &str) -> String {
        match check(&parse(text).unwrap(), &Device::Cpu, None) {
            Err(Error::Trace(msg)) => msg,
            other => panic!("expected a trace error, got {other:?}"),
        }
    }

    #[test]
    fn in_range_lines_replay() {
        // Down from the start cell: a slip goes left (stay on 0), down (4) or right (1).
        let text = [lake_line(0.0, 1, 4.0), lake_line(0.0, 1, 0.0)].join("\n");
        let report = check(&parse(&text).unwrap(), &Device::Cpu, None).unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn out_of_range_discrete_values_are_input_errors_naming_line_field_and_range() {
        let good = lake_line(0.0, 1, 4.0);
        let msg = trace_error(&[good.clone(), lake_line(99.0, 1, 4.0)].join("\n"));
        assert!(msg.contains("line 2: state is 99"), "{msg}");
        assert!(msg.contains("integers 0 to 15 of Discrete(16)"), "{msg}");
        let msg = trace_error(&[good.clone(), good.clone(), lake_line(0.0, 1, 16.0)].join("\n"));
        assert!(msg.contains("line 3: next_state is 16") && msg.contains("0 to 15"), "{msg}");
        let msg = trace_error(&lake_line(1.5, 1, 4.0));
        assert!(msg.contains("line 1: state is 1.5"), "{msg}");
        let msg = trace_error(&lake_line(0.0, 4, 4.0));
        assert!(msg.contains("line 1: action is 4") && msg.contains("0 to 3 of Discrete(4)"), "{msg}");
        let msg = trace_error(&[cartpole_line(0), cartpole_line(7)].join("\n"));
        assert!(msg.contains("line 2: action is 7") && msg.contains("0 to 1 of Discrete(2)"), "{msg}");
    }

    #[test]
    fn errors_name_the_line_of_the_file() {
        let path = std::env::temp_dir().join(format!("myriad-trace-test-{}.jsonl", std::process::id()));
        std::fs::write(&path, format!("\n{}\n\n{}\n", lake_line(0.0, 1, 4.0), lake_line(99.0, 1, 4.0))).unwrap();
        let err = check_file(&path, &Device::Cpu, None).unwrap_err().to_string();
        std::fs::remove_file(&path).ok();
        assert!(err.contains("line 4: state is 99"), "{err}");
    }

    #[test]
    fn long_trace_fields_are_clipped() {
        let long = "q".repeat(1_000_000);
        let line = cartpole_line(0).replace("\"CartPole-v1\"", &format!("\"{long}\""));
        let err = check(&parse(&line).unwrap(), &Device::Cpu, None).unwrap_err().to_string();
        assert!(err.len() < 1_000, "{} characters", err.len());
        let err = parse(&format!("{{\"{long}\": 1}}")).unwrap_err().to_string();
        assert!(err.len() < 1_000, "{} characters", err.len());
        let line = cartpole_line(0).replace("\"action\":0", &format!("\"action\":\"{long}\""));
        let err = check(&parse(&line).unwrap(), &Device::Cpu, None).unwrap_err().to_string();
        assert!(err.len() < 1_000 && err.contains("action is"), "{err:.300}");
    }
}
