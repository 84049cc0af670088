//! Replay of raw ALE traces recorded with ale-py (`scripts/record_atari_traces.py`): the emulator is created
//! with the header's settings, plays the recorded actions frame by frame and must reproduce every frame's
//! reward, game-over flag, lives, RAM and grayscale screen (by SHA-256).
//!
//! ```text
//! {"env": "ALE/Pong-v5", "rom": "pong", "random_seed": 0, "repeat_action_probability": 0.0, "frameskip": 1, "ale_version": "0.11.2"}
//! {"action": 3, "reward": 0, "game_over": false, "lives": 0, "ram": [128 ints], "screen_sha256": "…"}
//! {"reset": true}
//! ```

use crate::ale::{Emulator, EmulatorSettings, LEGAL_ACTIONS, RAM_BYTES, SCREEN_BYTES};
use crate::roms::Game;
use myriad_envs::{Error, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The first frame where the emulator and the trace disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// 1-based line of the trace file.
    pub line: usize,
    /// 0-based emulator frame (counting frame lines only).
    pub frame: usize,
    /// Which fields differed, with both values.
    pub fields: Vec<String>,
}

/// The outcome of a replay.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceReport {
    pub env: String,
    pub rom: String,
    /// ALE version the trace was recorded with.
    pub recorded_with: String,
    pub frames: usize,
    pub resets: usize,
    pub mismatch: Option<Mismatch>,
}

fn trace_err(path: &Path, line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Trace(format!("{}:{line}: {msg}", path.display()))
}

/// Replays the raw ALE trace at `path` and stops at the first differing frame.
pub fn replay_ale_trace(path: &Path) -> Result<TraceReport> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io(format!("reading {}: {e}", path.display())))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| trace_err(path, 1, "empty trace"))?;
    let header: Value = serde_json::from_str(header).map_err(|e| trace_err(path, 1, format!("header: {e}")))?;
    let get_str = |key: &str| header.get(key).and_then(Value::as_str).map(str::to_string);
    let rom = get_str("rom").ok_or_else(|| trace_err(path, 1, "header has no `rom`"))?;
    let game = Game::from_rom(&rom).ok_or_else(|| trace_err(path, 1, format!("unknown ROM `{rom}`")))?;
    let random_seed = header
        .get("random_seed")
        .and_then(Value::as_i64)
        .ok_or_else(|| trace_err(path, 1, "header has no integer `random_seed`"))?;
    let sticky = header.get("repeat_action_probability").and_then(Value::as_f64).unwrap_or(0.0);
    let frameskip = header.get("frameskip").and_then(Value::as_u64).unwrap_or(1);
    if frameskip != 1 {
        return Err(trace_err(path, 1, format!("frameskip {frameskip}: raw traces are recorded one frame per line")));
    }
    let settings = EmulatorSettings {
        random_seed: random_seed as i32,
        repeat_action_probability: sticky as f32,
        mode: header.get("mode").and_then(Value::as_u64).map(|m| m as u32),
        difficulty: header.get("difficulty").and_then(Value::as_u64).map(|d| d as u32),
    };
    let mut emulator = Emulator::open(&game.rom()?, &settings)?;

    let mut report = TraceReport {
        env: get_str("env").unwrap_or_else(|| game.id()),
        rom,
        recorded_with: get_str("ale_version").unwrap_or_else(|| "unknown".into()),
        frames: 0,
        resets: 0,
        mismatch: None,
    };
    let mut screen = vec![0u8; SCREEN_BYTES];
    let mut ram = [0u8; RAM_BYTES];
    for (index, raw) in lines {
        let line = index + 1;
        let v: Value = serde_json::from_str(raw).map_err(|e| trace_err(path, line, e))?;
        if v.get("reset").and_then(Value::as_bool) == Some(true) {
            emulator.reset();
            report.resets += 1;
            continue;
        }
        let action = v
            .get("action")
            .and_then(Value::as_u64)
            .filter(|a| (*a as usize) < LEGAL_ACTIONS)
            .ok_or_else(|| trace_err(path, line, "`action` must be an ALE action id in 0..18"))?;
        let reward = emulator.act(action as u8);
        emulator.ram(&mut ram);
        emulator.screen_grayscale(&mut screen);
        let mut fields = Vec::new();
        let expect_i64 = |key: &str| {
            v.get(key).and_then(Value::as_i64).ok_or_else(|| trace_err(path, line, format!("missing integer `{key}`")))
        };
        let want_reward = expect_i64("reward")?;
        if want_reward != reward as i64 {
            fields.push(format!("reward: trace {want_reward}, emulator {reward}"));
        }
        let want_over = v
            .get("game_over")
            .and_then(Value::as_bool)
            .ok_or_else(|| trace_err(path, line, "missing boolean `game_over`"))?;
        if want_over != emulator.game_over() {
            fields.push(format!("game_over: trace {want_over}, emulator {}", emulator.game_over()));
        }
        let want_lives = expect_i64("lives")?;
        if want_lives != emulator.lives() as i64 {
            fields.push(format!("lives: trace {want_lives}, emulator {}", emulator.lives()));
        }
        let want_ram: Vec<u64> = v
            .get("ram")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .filter(|a: &Vec<u64>| a.len() == RAM_BYTES)
            .ok_or_else(|| trace_err(path, line, "`ram` must be a list of 128 integers"))?;
        let differing: Vec<usize> = (0..RAM_BYTES).filter(|&i| want_ram[i] != ram[i] as u64).collect();
        if let Some(&first) = differing.first() {
            fields.push(format!(
                "ram: {} bytes differ, first at {first} (trace {}, emulator {})",
                differing.len(),
                want_ram[first],
                ram[first]
            ));
        }
        let want_sha = v
            .get("screen_sha256")
            .and_then(Value::as_str)
            .ok_or_else(|| trace_err(path, line, "missing `screen_sha256`"))?;
        let sha: String = Sha256::digest(&screen).iter().map(|b| format!("{b:02x}")).collect();
        if want_sha != sha {
            fields.push(format!("screen_sha256: trace {want_sha}, emulator {sha}"));
        }
        if !fields.is_empty() {
            report.mismatch = Some(Mismatch { line, frame: report.frames, fields });
            return Ok(report);
        }
        report.frames += 1;
    }
    Ok(report)
}
