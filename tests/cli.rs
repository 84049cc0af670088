//! The `myriad` binary end to end: listings, trace replay, the benchmark's JSON line, and clear errors with a
//! non-zero exit for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn myriad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myriad")).args(args).output().expect("myriad runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fixture(name: &str) -> String {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("envs/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn envs_lists_every_id_with_spaces() {
    let out = myriad(&["envs", "--json"]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    for id in
        ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "FrozenLake-v1"]
    {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let pendulum = lines.iter().find(|l| l["id"] == "Pendulum-v1").unwrap();
    assert_eq!(pendulum["action_space"]["type"], "Box");
    assert_eq!(pendulum["config_keys"]["g"], "10.0");
}

#[test]
fn check_env_replays_a_fixture_and_catches_a_wrong_one() {
    let out = myriad(&["check-env", "--trace", &fixture("CartPole-v1.jsonl")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    // The same trace replayed as a different config must fail: sutton_barto_reward changes every reward.
    let out = myriad(&[
        "check-env",
        "--trace",
        &fixture("CartPole-v1.jsonl"),
        "--env",
        "CartPole-v1",
        "--env-config",
        "sutton_barto_reward=True",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));
}

#[test]
fn bench_ends_with_a_json_line() {
    let out = myriad(&[
        "bench",
        "env",
        "--env",
        "Acrobot-v1",
        "--num-envs",
        "256",
        "--seconds",
        "0.2",
        "--warmup-seconds",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(last["steps"].as_u64().unwrap() > 0);
    assert!(last["seconds"].as_f64().unwrap() > 0.0);
    assert!(last["steps_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_is_a_clear_error() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["bench", "env", "--env", "CartPol-v1"], "did you mean `CartPole-v1`"),
        (vec!["bench", "env", "--env", "Pendulum-v1", "--env-config", "gee=9.8"], "valid keys"),
        (vec!["bench", "env", "--env", "Pendulum-v1", "--env-config", "g=heavy"], "expected a finite number"),
        (vec!["bench", "env", "--env", "FrozenLake-v1", "--env-config", "desc=[\"SFX\",\"FFG\"]"], "desc"),
        (vec!["bench", "env", "--env", "CartPole-v1", "--backend", "tpu"], "unknown backend"),
        (vec!["bench", "env", "--env", "CartPole-v1", "--num-envs", "0"], "num_envs"),
    ];
    for (args, expected) in cases {
        let out = myriad(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
}

#[test]
fn a_malformed_trace_names_the_line() {
    let dir = std::env::temp_dir().join(format!("myriad-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(fixture("CartPole-v1.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    let cases = [
        (format!("{first}\n{{\"env\": \"CartPole-v1\", \"state\": [0]}}\n"), "line 2"),
        (first.replace("\"action\":0", "\"action\":7").replace("\"action\":1", "\"action\":7"), "Discrete(2)"),
        (first.replace("CartPole-v1", "CartPole-v9"), "unknown env id"),
    ];
    for (k, (text, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{k}.jsonl"));
        std::fs::write(&path, text).unwrap();
        let out = myriad(&["check-env", "--trace", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "case {k}");
        assert!(stderr(&out).contains(expected), "case {k}: {}", stderr(&out));
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_says_how_to_get_it() {
    let out = myriad(&["check-env", "--trace", &fixture("CartPole-v1.jsonl"), "--backend", "cuda"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--features cuda"), "{}", stderr(&out));
}

#[test]
fn no_wgpu_adapter_is_a_clear_error() {
    // Metal is not compiled in on Linux and no other backend is allowed, so no adapter can be found.
    if !cfg!(target_os = "linux") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["bench", "env", "--env", "CartPole-v1", "--backend", "wgpu"])
        .env("WGPU_BACKEND", "metal")
        .output()
        .expect("myriad runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no wgpu adapter found"), "{}", stderr(&out));
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("myriad-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn train_ends_with_the_json_line_and_evaluate_reads_its_checkpoint() {
    let dir = temp_dir("train");
    let out_dir = dir.display().to_string();
    let out = myriad(&[
        "train",
        "ppo",
        "--env",
        "CartPole-v1",
        "--stop-timesteps",
        "2048",
        "--seed",
        "3",
        "--out",
        &out_dir,
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for key in ["solved", "env_steps", "wall_s", "episode_return_mean", "eval_return_mean"] {
        assert!(last.get(key).is_some(), "{key} missing from {last}");
    }
    assert_eq!(last["env_steps"], 2048);
    assert_eq!(last["solved"], false);
    assert!(dir.join("progress.jsonl").is_file() && dir.join("progress.csv").is_file());

    let out = myriad(&["evaluate", "--checkpoint", &out_dir, "--episodes", "8", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["episodes"], 8);
    assert!(summary["return_mean"].as_f64().unwrap() >= 8.0);

    // Resuming continues the counters of the same run folder.
    let out = myriad(&["train", "ppo", "--resume", &out_dir, "--stop-timesteps", "3072", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["env_steps"], 3072);
    let lines = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 3);

    let out = myriad(&["train", "ppo", "--env", "Acrobot-v1", "--resume", &out_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("trained on CartPole-v1"), "{}", stderr(&out));
    // A PPO checkpoint does not resume as DQN.
    let out = myriad(&["train", "dqn", "--resume", &out_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("holds a PPO run") && stderr(&out).contains("myriad train ppo"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn train_lists_its_algorithms_and_each_trains_and_evaluates() {
    let out = myriad(&["train", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for algo in ["ppo", "dqn", "rainbow", "impala", "appo", "pqn"] {
        assert!(help.contains(algo), "{help}");
    }
    for (algo, stat) in
        [("dqn", "curr_epsilon"), ("rainbow", "curr_epsilon"), ("impala", "mean_policy_lag"), ("appo", "clip_fraction")]
    {
        let dir = temp_dir(algo);
        let out_dir = dir.display().to_string();
        let out =
            myriad(&["train", algo, "--env", "CartPole-v1", "--stop-timesteps", "1024", "--out", &out_dir, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains(&format!("tuned/cartpole-{algo}.toml")), "{}", stderr(&out));
        let last: serde_json::Value =
            serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().last().unwrap()).unwrap();
        assert_eq!(last["env_steps"], 1024);
        let line = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert!(first["learners/default_policy"].get(stat).is_some(), "{first}");
        let out = myriad(&["evaluate", "--checkpoint", &out_dir, "--episodes", "4", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["episodes"], 4);
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn train_and_evaluate_reject_bad_input_clearly() {
    let cases: &[(&[&str], &str)] = &[
        (&["train", "ppo", "--env", "CartPol-v1"], "CartPole-v1"),
        (&["train", "ppo", "--env", "CartPole-v1", "--set", "training.lrr=1"], "lrr"),
        (&["train", "ppo", "--env", "CartPole-v1", "--set", "training.minibatch_size=100000"], "minibatch_size"),
        (&["train", "ppo", "--env", "CartPole-v1", "--set", "training.gamma=\"high\""], "gamma"),
        (&["train", "ppo", "--env", "CartPole-v1", "--num-envs", "0"], "num_envs_per_env_runner"),
        (&["train", "ppo", "--config", "/nonexistent/ppo.toml"], "/nonexistent/ppo.toml"),
        (&["evaluate", "--checkpoint", "/nonexistent/run"], "no checkpoint"),
        (&["train", "sarsa", "--env", "CartPole-v1"], "known: ppo, dqn, rainbow, impala, appo, pqn, sac"),
        (&["train", "dqn", "--env", "CartPole-v1", "--set", "training.clip_param=0.2"], "belongs to PPO"),
        (&["train", "ppo", "--env", "CartPole-v1", "--set", "training.n_step=3"], "belongs to DQN"),
        (&["train", "dqn", "--env", "Pendulum-v1"], "Discrete"),
        (&["train", "ppo", "--env", "CartPole-v1", "--set", "env_runners.num_env_runners=2"], "IMPALA or APPO"),
        (
            &["train", "impala", "--env", "CartPole-v1", "--set", "training.train_batch_size=1000"],
            "whole number of fragments",
        ),
        (&["train", "appo", "--env", "CartPole-v1", "--set", "training.tau=0"], "training.tau"),
        (&["train", "pqn", "--env", "Pendulum-v1"], "Discrete"),
        (&["train", "pqn", "--env", "CartPole-v1", "--set", "training.lambda=1.5"], "training.lambda"),
        (
            &[
                "train",
                "dqn",
                "--env",
                "CartPole-v1",
                "--set",
                "training.num_atoms=51",
                "--set",
                "training.v_min=5",
                "--set",
                "training.v_max=5",
            ],
            "v_min",
        ),
        (&["train", "dqn", "--env", "CartPole-v1", "--set", "training.replay_buffer_config.capacity=16"], "capacity"),
        (&["train", "ppo", "--env", "CartPole-v1", "--set", "resources.device=3"], "resources.device"),
    ];
    for (args, needle) in cases {
        let out = myriad(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
}

#[cfg(feature = "atari")]
mod atari {
    use super::{myriad, stderr};
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
            .join("envs/atari/fixtures")
            .join(name)
    }

    #[test]
    fn check_env_replays_raw_ale_traces_and_names_the_first_difference() {
        let pong = fixture("pong.jsonl");
        let out = myriad(&["check-env", "--trace", pong.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((report["passed"].as_bool(), report["frames"].as_u64()), (Some(true), Some(2000)));

        // A screen hash changed at frame 10: exit 1, the frame and the field named.
        let text = std::fs::read_to_string(&pong).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut frame: serde_json::Value = serde_json::from_str(&lines[11]).unwrap();
        frame["screen_sha256"] = serde_json::Value::from("0".repeat(64));
        lines[11] = frame.to_string();
        let bad = std::env::temp_dir().join(format!("myriad-cli-bad-pong-{}.jsonl", std::process::id()));
        std::fs::write(&bad, lines.join("\n")).unwrap();
        let out = myriad(&["check-env", "--trace", bad.to_str().unwrap()]);
        std::fs::remove_file(&bad).ok();
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("frame 10") && text.contains("screen_sha256"), "{text}");
    }

    #[test]
    fn bench_env_runs_atari_sync_and_async() {
        for extra in [&[][..], &["--batch-size", "2"][..]] {
            let mut args = vec!["bench", "env", "--env", "ALE/Pong-v5", "--env-config", "preset=standard"];
            args.extend(["--num-envs", "4", "--threads", "2", "--seconds", "0.3", "--warmup-seconds", "0.1", "--json"]);
            args.extend(extra);
            let out = myriad(&args);
            assert!(out.status.success(), "{}", stderr(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
            assert!(last["steps"].as_u64().unwrap() > 0 && last["steps_per_s"].as_f64().unwrap() > 0.0);
        }
        let out = myriad(&["bench", "env", "--env", "ALE/Pong-v5", "--num-envs", "4", "--batch-size", "5"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("batch_size"), "{}", stderr(&out));
        let out = myriad(&["bench", "env", "--env", "ALE/Pong-v5", "--backend", "wgpu"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("CPU threads"), "{}", stderr(&out));
    }

    #[test]
    fn envs_lists_atari_ids() {
        let out = myriad(&["envs", "--json"]);
        let text = String::from_utf8(out.stdout).unwrap();
        let pong: serde_json::Value = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|l| l["id"] == "ALE/Pong-v5")
            .unwrap();
        assert_eq!(pong["frameskip"], 4);
        assert!(text.contains("\"PongNoFrameskip-v4\""));
    }
}

#[test]
fn nonsense_and_oversized_input_is_refused_before_anything_is_written() {
    let dir = temp_dir("nonsense");
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.display().to_string();
    let huge_id = dir.join("huge-id.toml");
    std::fs::write(&huge_id, format!("[environment]\nenv = \"{}\"\n", "x".repeat(10_000_000))).unwrap();
    let huge_id = huge_id.display().to_string();
    let out_dir = dir.join("run").display().to_string();
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "ppo", "--out", &out_dir];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (train(&["--env", "CartPole-v1", "--num-envs", "268435455"]), "too large a batch"),
        (train(&["--env", "CartPole-v1", "--stop-reward", "nan"]), "finite"),
        (train(&["--env", "CartPole-v1", "--stop-seconds", "-5"]), "--stop-seconds"),
        (train(&["--env", "CartPole-v1", "--stop-seconds", "inf"]), "--stop-seconds"),
        (train(&["--config", &empty]), "names no env"),
        (train(&["--config", &empty, "--resume", "/tmp"]), "cannot be used with"),
        (train(&["--env", "CartPole-v1", "--set", "environment.env=Pendulum-v1"]), "different envs"),
        (train(&["--env", "CartPole-v1", "--set", "environment.env_config.max_episode_steps=0"]), "max_episode_steps"),
        (train(&["--env", "CartPole-v1", "--set", "training.lr=abc"]), "expected a number"),
        (
            train(&[
                "--env",
                "CartPole-v1",
                "--set",
                "training.train_batch_size=2048",
                "--set",
                "env_runners.rollout_fragment_length=64",
            ]),
            "train_batch_size",
        ),
        (train(&["--config", &huge_id]), "unknown env id"),
        (
            ["bench", "env", "--env", "CartPole-v1", "--seconds", "inf"].iter().map(|s| s.to_string()).collect(),
            "seconds",
        ),
        (
            ["bench", "env", "--env", "CartPole-v1", "--seconds", "1e300"].iter().map(|s| s.to_string()).collect(),
            "seconds",
        ),
        (
            ["bench", "env", "--env", "CartPole-v1", "--steps-per-call", "0"].iter().map(|s| s.to_string()).collect(),
            "steps-per-call",
        ),
    ];
    // A batch that passes the size checks but not the memory one (where the host has less than its 26 GiB).
    let memory = myriad::envs::device::host_available_memory().unwrap_or(u64::MAX);
    let mut cases = cases;
    if memory < 26 << 30 {
        let batch = ["--env", "CartPole-v1", "--num-envs", "268435455", "--set", "training.train_batch_size=268435455"];
        cases.push((train(&batch), "memory"));
    } else {
        eprintln!("skipped the out-of-memory case: this host has {memory} bytes available");
    }
    for (args, needle) in &cases {
        let out = Command::new(env!("CARGO_BIN_EXE_myriad")).args(args).output().unwrap();
        let text = stderr(&out);
        let shown: Vec<String> = args.iter().map(|a| algo_clip(a)).collect();
        assert_eq!(out.status.code(), Some(2), "{shown:?}: {}", algo_clip(&text));
        assert!(text.contains(needle), "{shown:?}: {}", algo_clip(&text));
        assert!(!text.contains("panicked") && !text.contains("untagged"), "{shown:?}: {}", algo_clip(&text));
        assert!(text.len() < 2_000, "{shown:?}: a message of {} bytes", text.len());
        assert!(!dir.join("run").exists(), "{shown:?} created the run folder");
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn algo_clip(text: &str) -> String {
    text.chars().take(300).collect()
}

#[test]
fn overrides_are_applied_not_ignored() {
    let dir = temp_dir("overrides");
    let out_dir = dir.display().to_string();
    // Under the tuned config (16 envs × a fixed 64-step fragment = 1,024 steps), train_batch_size sets the batch.
    let out = myriad(&[
        "train",
        "ppo",
        "--env",
        "CartPole-v1",
        "--set",
        "training.train_batch_size=2048",
        "--stop-timesteps",
        "2048",
        "--out",
        &out_dir,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["num_env_steps_sampled_lifetime"], 2048, "one iteration of 2,048 steps");
    // --set environment.env names the env as --env does, tuned config included.
    let out = myriad(&[
        "train",
        "ppo",
        "--set",
        "environment.env=Acrobot-v1",
        "--stop-timesteps",
        "1",
        "--out",
        &format!("{out_dir}-acrobot"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("tuned/acrobot-ppo.toml"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("{out_dir}-acrobot"));
}
