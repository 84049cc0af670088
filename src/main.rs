//! The `myriad` command line.

use clap::{Args, Parser, Subcommand};
use myriad::bench::{bench_env, EnvBenchConfig};
use myriad::envs::{registered, trace, Backend, Device, EnvConfig};
use myriad::Result;

mod cli;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: myriad::allocator::Allocator = myriad::allocator::Allocator;

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
    /// Trace file (JSON Lines): Gymnasium transitions (scripts/record_traces.py) or raw ALE frames
    /// (scripts/record_atari_traces.py, replayed on the emulator; needs the `atari` feature).
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
    /// Gymnasium id, e.g. CartPole-v1 or ALE/Pong-v5.
    #[arg(long)]
    env: String,
    /// Env kwargs as key=value,... (Atari: preset=standard|atari100k|machado and the preprocessing keys).
    #[arg(long, default_value = "")]
    env_config: String,
    /// Envs stepped together.
    #[arg(long, default_value_t = 4096)]
    num_envs: usize,
    /// Atari: worker threads stepping the emulators (0: every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Atari: envs per receive; below --num-envs the pool runs EnvPool-style asynchronously (default: all).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Device to run on: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Length of the timed run in seconds (above 0, at most a day).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Length of the untimed warm-up in seconds (at most a day).
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Steps of every env per call, fused in one launch (1 measures single steps).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    steps_per_call: u32,
    /// Seed of the batch.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// End with one JSON line: {"steps", "seconds", "steps_per_s"}.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    // burn materialises some state on its implicit default device (an optimiser's restored moments, until the
    // next step moves them to the parameters' device). Every device a run uses is opened explicitly, so the
    // implicit one is pinned to the CPU: a CPU run then never opens a GPU, and works where no GPU driver is.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // Set before any thread is started, as setting the environment requires.
        std::env::set_var("BURN_DEVICE", "flex");
    }
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
            // Messages quote their input clipped; this bounds what any one message can echo back.
            eprintln!("error: {}", myriad::algo::clip(&e.to_string(), 1_500));
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
    out += &atari_envs(json)?;
    emit(&out);
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "atari")]
fn atari_envs(json: bool) -> Result<String> {
    use myriad::atari::{registered_ids, AtariConfig};
    let mut out = String::new();
    if !json {
        out += "Atari (ALE 0.6.0; ROMs from ALE_ROMS_DIR, ale-py or scripts/install_roms.py)\n";
        out += "    config:      preset=none|standard|atari100k|machado, frameskip, repeat_action_probability, \
                full_action_space, mode, difficulty, max_num_frames_per_episode, obs_type=rgb|grayscale|ram, \
                max_episode_steps; with a preset: noop_max, frame_skip, screen_size, grayscale_obs, \
                terminal_on_life_loss, fire_reset, clip_rewards, frame_stack\n";
    }
    for id in registered_ids() {
        let config = AtariConfig::from_env_config(&id, &EnvConfig::new())?;
        let shape = config.observation_shape();
        if json {
            let line = serde_json::json!({
                "id": id, "summary": "Atari 2600 through the Arcade Learning Environment",
                "observation_shape": shape, "observation_dtype": "uint8",
                "frameskip": config.ale.frameskip, "repeat_action_probability": config.ale.repeat_action_probability,
                "max_num_frames_per_episode": config.ale.max_num_frames_per_episode,
                "max_episode_steps": config.ale.max_episode_steps,
            });
            out += &format!("{line}\n");
        } else {
            out += &format!(
                "{id}  —  frameskip {}, sticky actions {}, observation uint8 {shape:?}\n",
                config.ale.frameskip, config.ale.repeat_action_probability
            );
        }
    }
    Ok(out)
}

#[cfg(not(feature = "atari"))]
fn atari_envs(json: bool) -> Result<String> {
    Ok(if json {
        String::new()
    } else {
        "Atari ids (ALE/<Game>-v5, <Game>NoFrameskip-v4): build with `--features atari`\n".into()
    })
}

#[cfg(feature = "atari")]
fn bench_atari(args: BenchEnvArgs) -> Result<ExitCode> {
    use myriad::bench::{bench_atari, AtariBenchConfig};
    if args.backend != "cpu" {
        return Err(myriad::envs::Error::Backend(format!(
            "Atari emulators run on CPU threads (--backend cpu), not on {}",
            args.backend
        ))
        .into());
    }
    let config = AtariBenchConfig {
        env: args.env,
        env_config: args.env_config.parse()?,
        num_envs: args.num_envs,
        batch_size: args.batch_size.unwrap_or(args.num_envs),
        threads: args.threads,
        seconds: args.seconds,
        warmup_seconds: args.warmup_seconds,
        seed: args.seed,
    };
    if config.batch_size == 0 || config.batch_size > config.num_envs {
        return Err(myriad::envs::Error::BadConfigValue {
            env: config.env,
            key: "batch_size".into(),
            reason: format!("must lie in 1..={}", config.num_envs),
        }
        .into());
    }
    let result = bench_atari(&config)?;
    let threads =
        if config.threads > 0 { config.threads } else { std::thread::available_parallelism().map_or(1, |n| n.get()) };
    let frame_skip = myriad::atari::AtariConfig::from_env_config(&config.env, &config.env_config)?
        .preprocessing
        .map_or(1, |p| p.frame_skip.max(1)) as f64;
    let mode = if config.batch_size < config.num_envs {
        format!("async, batches of {}", config.batch_size)
    } else {
        "sync".to_string()
    };
    println!(
        "{} on {threads} CPU threads ({mode}): {} envs: {:.0} env steps/s, {:.0} frames/s, {:.0} frames/s per thread \
         ({} steps in {:.2} s)",
        config.env,
        config.num_envs,
        result.steps_per_s,
        result.steps_per_s * frame_skip,
        result.steps_per_s * frame_skip / threads as f64,
        result.steps,
        result.seconds
    );
    if args.json {
        println!("{}", serde_json::to_string(&result).expect("result serialises"));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "atari"))]
fn bench_atari(args: BenchEnvArgs) -> Result<ExitCode> {
    Err(atari_missing(&args.env).into())
}

fn check_env(args: CheckEnvArgs) -> Result<ExitCode> {
    if ale_trace(&args.trace)? {
        return check_ale_trace(&args);
    }
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

#[cfg(not(feature = "atari"))]
fn atari_missing(what: &str) -> myriad::envs::Error {
    myriad::envs::Error::Backend(format!(
        "{what} needs Atari support: rebuild with `--features atari` (needs cmake and a C++ compiler)"
    ))
}

/// Whether the trace's first line is a raw ALE header (it names a `rom`).
fn ale_trace(path: &std::path::Path) -> Result<bool> {
    use std::io::BufRead;
    let file =
        std::fs::File::open(path).map_err(|e| myriad::envs::Error::Io(format!("reading {}: {e}", path.display())))?;
    let mut first = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut first)
        .map_err(|e| myriad::envs::Error::Io(format!("reading {}: {e}", path.display())))?;
    Ok(serde_json::from_str::<serde_json::Value>(&first).ok().is_some_and(|v| v.get("rom").is_some()))
}

#[cfg(feature = "atari")]
fn check_ale_trace(args: &CheckEnvArgs) -> Result<ExitCode> {
    let report = myriad::atari::trace::replay_ale_trace(&args.trace)?;
    let verdict = match &report.mismatch {
        None => "replays clean".to_string(),
        Some(m) => format!("differs at frame {} (line {}): {}", m.frame, m.line, m.fields.join("; ")),
    };
    if args.json {
        let line = serde_json::json!({
            "env": report.env, "rom": report.rom, "recorded_with": report.recorded_with, "frames": report.frames,
            "resets": report.resets, "passed": report.mismatch.is_none(),
            "mismatch": report.mismatch.as_ref().map(|m| serde_json::json!({"line": m.line, "frame": m.frame, "fields": m.fields})),
        });
        emit(&format!("{line}\n"));
    } else {
        emit(&format!(
            "{} ({}.bin, recorded with ALE {}, replayed on ALE 0.6.0): {} frames matched, {} resets; {verdict}\n",
            report.env, report.rom, report.recorded_with, report.frames, report.resets
        ));
    }
    Ok(if report.mismatch.is_none() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(not(feature = "atari"))]
fn check_ale_trace(args: &CheckEnvArgs) -> Result<ExitCode> {
    Err(atari_missing(&format!("the raw ALE trace {}", args.trace.display())).into())
}

fn bench(args: BenchEnvArgs) -> Result<ExitCode> {
    if myriad::runners::is_atari_id(&args.env) {
        return bench_atari(args);
    }
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
