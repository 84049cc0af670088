//! Runs that lose nothing and accept no damaged state, through the `myriad` binary as users and schedulers drive
//! it: restoring on the CPU with no GPU driver, checkpoints verified against their manifest, SIGTERM and SIGHUP
//! ending with a checkpoint, run folders locked and never shared by accident, logs cut back on resume, and a
//! run killed with SIGKILL at random moments that, resumed each time, logs every iteration exactly once.

use myriad::checkpoint::{self, Manifest};
use myriad::metrics::tensorboard;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn myriad() -> Command {
    Command::new(env!("CARGO_BIN_EXE_myriad"))
}

fn run(args: &[&str]) -> Output {
    myriad().args(args).output().expect("myriad runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("myriad-runs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn path(dir: &Path) -> String {
    dir.display().to_string()
}

/// A short CartPole PPO run (tuned config: 1,024 env steps per iteration) into `dir`.
fn train(dir: &Path, extra: &[&str]) -> Output {
    let out_dir = path(dir);
    let mut args = vec!["train", "ppo", "--env", "CartPole-v1", "--out", &out_dir];
    args.extend_from_slice(extra);
    run(&args)
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), stderr(out));
}

fn assert_refused(out: &Output, needles: &[&str]) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    for needle in needles {
        assert!(text.contains(needle), "`{needle}` missing from: {text}");
    }
}

/// The `training_iteration` of every line of `progress.jsonl` (a partial line fails the test).
fn logged_iterations(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            v["training_iteration"].as_u64().unwrap()
        })
        .collect()
}

/// The `training_iteration` column of `progress.csv`.
fn csv_iterations(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("progress.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "training_iteration").unwrap();
    lines.map(|row| row.split(',').nth(column).unwrap().parse().unwrap()).collect()
}

/// The steps of every scalar record of every TensorBoard file under `tb/`, sorted.
fn tensorboard_steps(dir: &Path) -> Vec<u64> {
    let mut steps = Vec::new();
    for entry in std::fs::read_dir(dir.join("tb")).unwrap() {
        let path = entry.unwrap().path();
        let events = tensorboard::read_events(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // One record per scalar and step: keep each step once per file.
        let mut file_steps: Vec<u64> =
            events.iter().filter(|e| !e.values.is_empty()).map(|e| e.step.unwrap() as u64).collect();
        file_steps.dedup();
        steps.extend(file_steps);
    }
    steps.sort_unstable();
    steps
}

/// The env steps of every line of `progress.jsonl`.
fn logged_steps(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["num_env_steps_sampled_lifetime"].as_u64().unwrap()
        })
        .collect()
}

/// Asserts the three logs hold iterations 1..=n, each exactly once.
fn assert_logged_once(dir: &Path, n: u64) {
    let expected: Vec<u64> = (1..=n).collect();
    assert_eq!(logged_iterations(dir), expected, "progress.jsonl");
    assert_eq!(csv_iterations(dir), expected, "progress.csv");
    assert_eq!(tensorboard_steps(dir), logged_steps(dir), "tb/ steps");
}

fn manifest(dir: &Path) -> Manifest {
    checkpoint::manifest_of(dir).unwrap()
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Waits until `progress.jsonl` holds at least `lines` complete lines.
fn wait_for_lines(dir: &Path, lines: usize, child: &mut Child) {
    let start = Instant::now();
    while std::fs::read_to_string(dir.join("progress.jsonl")).map_or(0, |t| t.matches('\n').count()) < lines {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(start.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A run that only stops when told to, with iterations of `batch` env steps.
fn spawn_long_run(dir: &Path, batch: usize, extra: &[&str]) -> Child {
    let batch = format!("training.train_batch_size={batch}");
    let mut args = vec!["train", "ppo", "--env", "CartPole-v1", "--stop-timesteps", "1000000000"];
    args.extend_from_slice(&["--stop-reward", "1e9", "--set", &batch, "--out"]);
    let out_dir = path(dir);
    args.push(&out_dir);
    args.extend_from_slice(extra);
    myriad().args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

#[test]
fn a_cpu_run_restores_and_evaluates_with_no_gpu_driver() {
    let dir = temp_dir("no-gpu");
    assert_ok(&train(&dir, &["--stop-timesteps", "2048", "--backend", "cpu"]));
    // Neither a Vulkan driver nor an EGL (GL) vendor library can be found: opening any wgpu device fails (checked
    // first), so these pass only if nothing but the CPU is used.
    let no_gpu = |args: &[&str]| {
        let mut command = myriad();
        for var in ["VK_ICD_FILENAMES", "VK_DRIVER_FILES", "__EGL_VENDOR_LIBRARY_FILENAMES"] {
            command.env(var, "/nonexistent.json");
        }
        command.args(args).env_remove("BURN_DEVICE").output().unwrap()
    };
    let out = no_gpu(&["bench", "env", "--env", "CartPole-v1", "--backend", "wgpu", "--seconds", "0.1"]);
    assert_refused(&out, &["no wgpu adapter"]);
    let out = no_gpu(&["evaluate", "--checkpoint", &path(&dir), "--backend", "cpu", "--episodes", "4", "--json"]);
    assert_ok(&out);
    let out = no_gpu(&["train", "ppo", "--resume", &path(&dir), "--backend", "cpu", "--stop-timesteps", "4096"]);
    assert_ok(&out);
    assert_eq!(manifest(&dir).num_env_steps_sampled_lifetime, 4096);
    assert_logged_once(&dir, 4);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn damaged_or_foreign_checkpoint_files_are_refused_by_name() {
    let dir = temp_dir("damaged");
    let other = temp_dir("damaged-other");
    let acrobot = temp_dir("damaged-acrobot");
    assert_ok(&train(&dir, &["--stop-timesteps", "2048"]));
    assert_ok(&train(&other, &["--stop-timesteps", "3072", "--seed", "5"]));
    let out = run(&["train", "ppo", "--env", "Acrobot-v1", "--stop-timesteps", "4096", "--out", &path(&acrobot)]);
    assert_ok(&out);
    let ckpt = dir.join("checkpoint");
    let pristine: Vec<(String, Vec<u8>)> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    let reset = || {
        for (name, bytes) in &pristine {
            std::fs::write(ckpt.join(name), bytes).unwrap();
        }
    };
    let flip = |name: &str| {
        let mut bytes = std::fs::read(ckpt.join(name)).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(ckpt.join(name), bytes).unwrap();
    };
    let resume = || run(&["train", "ppo", "--resume", &path(&dir), "--stop-timesteps", "4096"]);
    let evaluate = || run(&["evaluate", "--checkpoint", &path(&dir), "--episodes", "2"]);

    for name in ["model.bpk", "optimizer.bpk", "state.json", "config.toml"] {
        flip(name);
        assert_refused(&resume(), &[name, "manifest"]);
        if name != "optimizer.bpk" && name != "state.json" {
            assert_refused(&evaluate(), &[name, "manifest"]);
        }
        reset();
    }
    // Files of another run (same env, other seed and iteration) or of another env's run.
    for (source, name) in [(&other, "state.json"), (&other, "optimizer.bpk"), (&acrobot, "optimizer.bpk")] {
        std::fs::copy(source.join("checkpoint").join(name), ckpt.join(name)).unwrap();
        assert_refused(&resume(), &[name, "another checkpoint"]);
        reset();
    }
    // A missing file, and a manifest from another run over this run's files.
    std::fs::remove_file(ckpt.join("optimizer.bpk")).unwrap();
    assert_refused(&resume(), &["optimizer.bpk"]);
    reset();
    std::fs::copy(other.join("checkpoint/manifest.json"), ckpt.join("manifest.json")).unwrap();
    assert_refused(&resume(), &["manifest"]);
    reset();
    // A resumed run with another network is refused before anything is loaded.
    let out = run(&["train", "ppo", "--resume", &path(&dir), "--set", "rl_module.fcnet_hiddens=[8]"]);
    assert_refused(&out, &["layout"]);
    // Untouched, it resumes.
    assert_ok(&resume());
    assert_logged_once(&dir, 4);
    for d in [dir, other, acrobot] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn sigterm_and_sighup_end_the_run_with_a_checkpoint() {
    for signal in ["TERM", "HUP"] {
        let dir = temp_dir(&format!("signal-{signal}"));
        let mut child = spawn_long_run(&dir, 1024, &["--checkpoint-frequency", "0"]);
        wait_for_lines(&dir, 3, &mut child);
        send(&child, signal);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "SIG{signal}: {:?} {}", out.status, stderr(&out));
        assert!(stderr(&out).contains("stopped (interrupted)"), "{}", stderr(&out));
        let logged = logged_iterations(&dir);
        assert_eq!(manifest(&dir).training_iteration, *logged.last().unwrap(), "SIG{signal}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_second_signal_quits_at_once() {
    let dir = temp_dir("signal-twice");
    // Iterations of 64k env steps take long enough for the second signal to land inside one.
    let mut child = spawn_long_run(&dir, 65_536, &["--checkpoint-frequency", "0", "--num-envs", "64"]);
    wait_for_lines(&dir, 1, &mut child);
    send(&child, "TERM");
    std::thread::sleep(Duration::from_millis(50));
    send(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_folder_is_held_by_one_run_and_never_taken_over_by_accident() {
    let dir = temp_dir("lock");
    let mut child = spawn_long_run(&dir, 1024, &["--checkpoint-frequency", "1"]);
    wait_for_lines(&dir, 2, &mut child);
    assert_refused(&train(&dir, &["--stop-timesteps", "2048"]), &["in use by another run", &child.id().to_string()]);
    assert_refused(&train(&dir, &["--stop-timesteps", "2048", "--overwrite"]), &["in use by another run"]);
    let out = run(&["train", "ppo", "--resume", &path(&dir), "--stop-timesteps", "1000000000"]);
    assert_refused(&out, &["in use by another run"]);
    send(&child, "TERM");
    assert!(child.wait().unwrap().success());
    let iterations = logged_iterations(&dir).len() as u64;

    // The lock went with the process; the folder still holds that run.
    assert_refused(&train(&dir, &["--stop-timesteps", "2048"]), &["holds another run", "--resume", "--overwrite"]);
    assert_eq!(logged_iterations(&dir).len() as u64, iterations, "a refused run wrote nothing");
    // Another run's checkpoint may not resume into it either.
    let other = temp_dir("lock-other");
    assert_ok(&train(&other, &["--stop-timesteps", "1024"]));
    let out = run(&["train", "ppo", "--resume", &path(&other), "--out", &path(&dir), "--stop-timesteps", "2048"]);
    assert_refused(&out, &["holds run", "belongs to run"]);
    // --overwrite replaces it.
    assert_ok(&train(&dir, &["--stop-timesteps", "2048", "--overwrite"]));
    assert_logged_once(&dir, 2);
    assert_ne!(manifest(&dir).run_id, manifest(&other).run_id);
    for d in [dir, other] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn resume_cuts_the_logs_back_to_the_checkpoint_and_clears_stale_temporaries() {
    let dir = temp_dir("cut");
    let saved = temp_dir("cut-saved");
    assert_ok(&train(&dir, &["--stop-timesteps", "4096"]));
    // The checkpoint at iteration 4, kept aside; the run goes on to 7 and is then "crashed" back to it.
    copy_dir(&dir.join("checkpoint"), &saved);
    assert_ok(&run(&["train", "ppo", "--resume", &path(&dir), "--stop-timesteps", "7168"]));
    assert_logged_once(&dir, 7);
    std::fs::remove_dir_all(dir.join("checkpoint")).unwrap();
    copy_dir(&saved, &dir.join("checkpoint"));
    std::fs::create_dir_all(dir.join("checkpoint.tmp-999999")).unwrap();
    std::fs::write(dir.join("checkpoint.tmp-999999/model.bpk"), b"half written").unwrap();
    let out = run(&["train", "ppo", "--resume", &path(&dir), "--stop-timesteps", "6144"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("dropped"), "{}", stderr(&out));
    assert_logged_once(&dir, 6);
    assert!(!dir.join("checkpoint.tmp-999999").exists());
    for d in [dir, saved] {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// xorshift64*, seeded from the clock (printed, so a failure can be replayed with MYRIAD_KILL_SEED).
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn a_run_killed_at_random_moments_logs_every_iteration_exactly_once() {
    let seed = std::env::var("MYRIAD_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("kill moments drawn with MYRIAD_KILL_SEED={seed}");
    let mut random = Random(seed);
    let dir = temp_dir("sigkill");
    let stderr_log = std::env::temp_dir().join(format!("myriad-runs-sigkill-{}.log", std::process::id()));
    // Small iterations (256 env steps), a checkpoint after every one.
    let spawn = |resume: bool| {
        let out_dir = path(&dir);
        let mut args = vec!["train", "ppo"];
        if resume {
            args.extend_from_slice(&["--resume", &out_dir]);
        } else {
            args.extend_from_slice(&["--env", "CartPole-v1", "--out", &out_dir]);
            args.extend_from_slice(&["--set", "training.train_batch_size=256", "--set", "training.minibatch_size=128"]);
        }
        args.extend_from_slice(&[
            "--stop-timesteps",
            "1000000000",
            "--stop-reward",
            "1e9",
            "--checkpoint-frequency",
            "1",
        ]);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&stderr_log).unwrap();
        myriad().args(&args).stdout(Stdio::null()).stderr(log).spawn().unwrap()
    };
    let mut child = spawn(false);
    let start = Instant::now();
    while checkpoint::manifest_of(&dir).is_err() {
        assert!(start.elapsed() < Duration::from_secs(120), "no first checkpoint");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut kills = 0;
    while kills < 24 {
        // Anywhere from start-up to a few dozen iterations in.
        std::thread::sleep(Duration::from_millis(random.below(1500)));
        let ended = child.try_wait().unwrap();
        let log = || std::fs::read_to_string(&stderr_log).unwrap_or_default();
        assert!(ended.is_none(), "the run ended by itself: {ended:?}\n{}", log());
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        child = spawn(true);
    }
    // Let the last one log at least one iteration of its own, then end it cleanly.
    let before = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap().matches('\n').count();
    wait_for_lines(&dir, before + 1, &mut child);
    send(&child, "TERM");
    assert!(child.wait().unwrap().success());
    let n = manifest(&dir).training_iteration;
    assert_logged_once(&dir, n);
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(checkpoint::TEMPORARY_PREFIX) || name == "checkpoint.old")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(stderr_log);
}
