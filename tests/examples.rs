//! The programs in `examples/` build (cargo builds them for the tests) and run: each trains briefly and exits 0.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, beside this test binary's `deps/` folder.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn run(name: &str, args: &[&str]) -> String {
    let path = example(name);
    assert!(path.is_file(), "{} was not built", path.display());
    let out = Command::new(&path).args(args).output().expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{name} {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn ppo_cartpole_runs() {
    let out = run("ppo_cartpole", &["--total-timesteps", "8192", "--target", "1e9"]);
    assert!(out.contains("100 greedy episodes"), "{out}");
}

#[test]
fn dqn_cartpole_runs_plain_and_rainbow() {
    for extra in [&[][..], &["--rainbow"][..]] {
        let mut args = vec!["--total-timesteps", "2048", "--target", "1e9"];
        args.extend(extra);
        let out = run("dqn_cartpole", &args);
        assert!(out.contains("100 greedy episodes"), "{out}");
    }
}

#[test]
fn custom_env_trains_to_the_best_return_with_ppo_and_dqn() {
    for algo in ["ppo", "dqn"] {
        let out = run("custom_env", &["--algo", algo, "--total-timesteps", "60000"]);
        assert!(out.contains("solved"), "{algo}: {out}");
    }
}
