//! The `myriad` command line.

use clap::{Args, Parser, Subcommand};
use myriad::bench::{bench_env, EnvBenchConfig};
use myriad::envs::{registered, trace, Backend, Device, EnvConfig};
use myriad::Result;

mod cli;
use std::path::PathBuf;
use std::process::ExitCode;

/// Myriad: batched reinforcement-learning environments and learners on CPU, wgpu and CUDA.
#[derive(Parser)]
#[command(name = "myriad", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the registered environments with their spaces, time limits and config keys.
    Envs {
        /// Print one JSON object per env instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replay transitions recorded from Gymnasium and compare every output (exit 1 on any difference).
    CheckEnv(CheckEnvArgs),
    /// Train an algorithm on batched envs (progress bar, run folder with logs, TensorBoard and checkpoints).
    Train {
        #[command(subcommand)]
        algo: cli::TrainCommand,
    },
    /// Play episodes with a checkpoint's policy (most likely actions) and report the mean and std of returns.
    Evaluate(cli::EvaluateArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Args)]
struct CheckEnvArgs {
    /// Trace file (JSON Lines, as written by scripts/record_traces.py).
    #[arg(long)]
    trace: PathBuf,
    /// Require every line to record this env id (its config then comes from --env-config).
    #[arg(long)]
    env: Option<String>,
    /// Env kwargs as key=value,... (with --env; replaces the lines' own env_config).
    #[arg(long, requires = "env")]
    env_config: Option<String>,
    /// Device to replay on.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Steady-state env steps/s with uniformly random actions drawn on the device.
    Env(BenchEnvArgs),
}

#[derive(Args)]
struct BenchEnvArgs {
    /// Gymnasium id, e.g. CartPole-v1.
    #[arg(long)]
    env: String,
    /// Env kwargs as key=value,...
    #[arg(long, default_value = "")]
    env_config: String,
    /// Envs stepped together.
    #[arg(long, default_value_t = 4096)]
    num_envs: usize,
    /// Device to run on: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Length of the timed run in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Length of the untimed warm-up in seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Steps of every env per call, fused in one launch (1 measures single steps).
    #[arg(long, default_value_t = 16)]
    steps_per_call: u32,
    /// Seed of the batch.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// End with one JSON line: {"steps", "seconds", "steps_per_s"}.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Envs { json } => list_envs(json),
        Command::CheckEnv(args) => check_env(args),
        Command::Bench { what: BenchCommand::Env(args) } => bench(args),
        Command::Train { algo } => cli::train(algo),
        Command::Evaluate(args) => cli::evaluate(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn device(name: &str) -> Result<Device> {
    Ok(Device::new(name.parse::<Backend>()?)?)
}

/// Writes to stdout; a closed pipe (`myriad envs | head`) ends the output quietly.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn list_envs(json: bool) -> Result<ExitCode> {
    let mut out = String::new();
    for info in registered() {
        let spec = info.spec(&EnvConfig::new())?;
        let keys = info.config_keys()?;
        if json {
            let keys: serde_json::Map<String, serde_json::Value> =
                keys.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str()))).collect();
            let line = serde_json::json!({
                "id": info.id, "summary": info.summary, "observation_space": spec.observation_space,
                "action_space": spec.action_space, "max_episode_steps": spec.max_episode_steps,
                "reward_threshold": spec.reward_threshold, "registered_kwargs": info.registered_kwargs,
                "config_keys": keys,
            });
            out += &format!("{line}\n");
        } else {
            out += &format!("{}  —  {}\n", info.id, info.summary);
            out += &format!("    observation: {}\n", spec.observation_space);
            out += &format!("    action:      {}\n", spec.action_space);
            let threshold = spec.reward_threshold.map(|r| format!(", reward threshold {r}")).unwrap_or_default();
            out += &format!("    time limit:  {} steps{threshold}\n", spec.max_episode_steps);
            let keys: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out += &format!("    config:      {}\n", keys.join(", "));
            if !info.registered_kwargs.is_empty() {
                out += &format!("    registered:  {}\n", info.registered_kwargs);
            }
        }
    }
    emit(&out);
    Ok(ExitCode::SUCCESS)
}

fn check_env(args: CheckEnvArgs) -> Result<ExitCode> {
    let device = device(&args.backend)?;
    let config: EnvConfig = args.env_config.as_deref().unwrap_or("").parse()?;
    let env = args.env.as_deref().map(|id| (id, &config));
    let report = trace::check_file(&args.trace, &device, env)?;
    if args.json {
        emit(&format!("{}\n", serde_json::to_string(&report).expect("report serialises")));
    } else {
        emit(&report.to_string());
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn bench(args: BenchEnvArgs) -> Result<ExitCode> {
    let device = device(&args.backend)?;
    let config = EnvBenchConfig {
        env: args.env,
        env_config: args.env_config.parse()?,
        num_envs: args.num_envs,
        steps_per_call: args.steps_per_call,
        seconds: args.seconds,
        warmup_seconds: args.warmup_seconds,
        seed: args.seed,
    };
    let result = bench_env(&config, &device)?;
    println!(
        "{} on {}: {} envs, {} steps per call: {:.3e} env steps/s ({} steps in {:.2} s)",
        config.env,
        device.describe(),
        config.num_envs,
        config.steps_per_call,
        result.steps_per_s,
        result.steps,
        result.seconds
    );
    if args.json {
        println!("{}", serde_json::to_string(&result).expect("result serialises"));
    }
    Ok(ExitCode::SUCCESS)
}
