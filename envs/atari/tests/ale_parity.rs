//! Parity with ale-py and Gymnasium on recorded fixtures (ROMs required: `python3 scripts/install_roms.py`).

use base64::Engine;
use myriad_atari::trace::replay_ale_trace;
use myriad_atari::{AtariConfig, AtariEnv, Game};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

fn fixture(name: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("fixtures")
        .join(name)
}

#[test]
fn raw_traces_replay_frame_for_frame() {
    for rom in ["pong", "breakout"] {
        let report = replay_ale_trace(&fixture(&format!("{rom}.jsonl"))).unwrap();
        assert_eq!(report.mismatch, None, "{rom}");
        assert!(report.frames >= 2000, "{rom}: {} frames", report.frames);
    }
}

#[test]
fn a_tampered_trace_reports_the_first_differing_frame() {
    let text = std::fs::read_to_string(fixture("pong.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Frame 100 (line 102) gets a wrong lives count and one wrong RAM byte.
    let mut v: Value = serde_json::from_str(&lines[101]).unwrap();
    v["lives"] = Value::from(v["lives"].as_i64().unwrap() + 1);
    v["ram"][5] = Value::from((v["ram"][5].as_u64().unwrap() + 1) % 256);
    lines[101] = v.to_string();
    let path = std::env::temp_dir().join(format!("myriad-tampered-{}.jsonl", std::process::id()));
    std::fs::write(&path, lines.join("\n")).unwrap();
    let report = replay_ale_trace(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let mismatch = report.mismatch.expect("a mismatch");
    assert_eq!((mismatch.line, mismatch.frame), (102, 100));
    assert!(mismatch.fields.iter().any(|f| f.starts_with("lives")), "{:?}", mismatch.fields);
    assert!(mismatch.fields.iter().any(|f| f.starts_with("ram: 1 bytes differ, first at 5")), "{:?}", mismatch.fields);
}

fn decode(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("base64 string")).expect("valid base64")
}

fn max_abs_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

/// Gymnasium's `AtariPreprocessing(noop_max=0, frame_skip=4, screen_size=84)` on `ALE/<Game>-v5` with
/// frameskip 1 and no sticky actions, replayed: every 84×84 observation within ±1 per pixel, rewards and flags
/// equal.
#[test]
fn preprocessing_matches_gymnasium_within_one_level() {
    for rom in ["pong", "breakout"] {
        let text = std::fs::read_to_string(fixture(&format!("{rom}_preprocessing.jsonl"))).unwrap();
        let mut lines = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap());
        let header = lines.next().unwrap();
        let game = Game::from_rom(header["rom"].as_str().unwrap()).unwrap();
        let config = "preset=standard,noop_max=0,frame_stack=1,repeat_action_probability=0.0".parse().unwrap();
        let config = Arc::new(AtariConfig::from_env_config(&game.id(), &config).unwrap());
        let random_seed = header["random_seed"].as_i64().unwrap() as i32;
        let mut env = AtariEnv::open(config, &game.rom().unwrap(), random_seed, 0).unwrap();
        let mut obs = vec![0u8; 84 * 84];
        env.reset(&mut obs);
        let first = lines.next().unwrap();
        let (mut worst, mut steps) = (max_abs_diff(&obs, &decode(&first["reset_obs"])), 0);
        for (k, line) in lines.enumerate() {
            let t = env.step(line["action"].as_u64().unwrap() as u32, &mut obs);
            assert_eq!(
                env.action_ids()[line["action"].as_u64().unwrap() as usize] as u64,
                line["ale_action"].as_u64().unwrap()
            );
            assert_eq!(t.reward as f64, line["reward"].as_f64().unwrap(), "{rom} step {k}");
            assert_eq!(t.terminated, line["terminated"].as_bool().unwrap(), "{rom} step {k}");
            assert_eq!(t.truncated, line["truncated"].as_bool().unwrap(), "{rom} step {k}");
            let diff = max_abs_diff(&obs, &decode(&line["obs"]));
            assert!(diff <= 1, "{rom} step {k}: a pixel differs by {diff}");
            worst = worst.max(diff);
            steps += 1;
        }
        assert!(steps >= 60, "{rom}: {steps} steps");
        eprintln!("{rom}: {steps} preprocessed steps, worst pixel difference {worst}");
    }
}
