//! Every committed Gymnasium trace replays clean on every backend present (CPU always; wgpu where an adapter
//! exists, or always with `MYRIAD_REQUIRE_WGPU=1`).

mod common;

use myriad_envs::trace;
use std::path::PathBuf;

fn fixtures() -> Vec<PathBuf> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("envs/fixtures exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the committed fixtures in {}", dir.display());
    files
}

fn replay_all(device: &myriad_envs::Device) {
    let mut failed = Vec::new();
    for path in fixtures() {
        let report = trace::check_file(&path, device, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        print!("{report}");
        if !report.passed() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "traces that did not replay clean: {failed:?}");
}

#[test]
fn fixtures_replay_on_cpu() {
    replay_all(&myriad_envs::Device::cpu());
}

#[test]
fn fixtures_replay_on_wgpu() {
    if let Some(device) = common::wgpu_device() {
        replay_all(&device);
    }
}
