//! `myriad train` and `myriad evaluate`.

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use myriad::algo::{
    self, Algorithm, AppoTraining, DqnTraining, ImpalaTraining, PpoTraining, PqnTraining, SacTraining, TrainResult,
    Training,
};
use myriad::envs::Backend;
use myriad::run::{load_config, run, ConfigSource, RunOptions, Start, Stop};
use myriad::{checkpoint, Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The algorithms `myriad train` runs, one subcommand each.
#[derive(Subcommand)]
pub enum TrainCommand {
    /// Proximal Policy Optimization on batched envs.
    ///
    /// Without --config, the tuned config for the env (tuned/*-ppo.toml, built in) is used when there is one, else
    /// PPO's defaults. The run stops at the first criterion met: those of the config's [stop] table (without one:
    /// the env's reward threshold, or 10 M env steps), each replaced by its --stop-* flag when given.
    Ppo(TrainArgs),
    /// DQN and its Rainbow extensions (double_q, dueling, n_step, num_atoms, noisy, prioritized replay), each
    /// switched by its own `training` key.
    ///
    /// Without --config, the tuned config for the env (tuned/*-dqn.toml, built in) is used when there is one, else
    /// DQN's defaults (RLlib's). Discrete actions only.
    Dqn(TrainArgs),
    /// Rainbow (Hessel et al. 2018): DQN with double Q, dueling, 3-step returns, C51 (51 atoms), noisy nets and
    /// prioritized replay all on.
    ///
    /// Without --config, the tuned config for the env (tuned/*-rainbow.toml, built in) is used when there is one,
    /// else Rainbow's defaults. Checkpoints are DQN checkpoints.
    Rainbow(TrainArgs),
    /// IMPALA (Espeholt et al. 2018): a V-trace actor-critic. With env_runners.num_env_runners ≥ 1, runner
    /// threads act with the weights they last received and send fragments through a bounded queue; with 0 the
    /// batch is collected in lockstep on the learner's thread.
    ///
    /// Without --config, the tuned config for the env (tuned/*-impala.toml, built in) is used when there is one,
    /// else IMPALA's defaults (RLlib's).
    Impala(TrainArgs),
    /// APPO: IMPALA's data path with PPO's clipped surrogate on V-trace advantages, a target network and an
    /// optional KL loss.
    ///
    /// Without --config, the tuned config for the env (tuned/*-appo.toml, built in) is used when there is one,
    /// else APPO's defaults (RLlib's).
    Appo(TrainArgs),
    /// PQN (Gallici et al. 2024): Q(λ) on rollouts of many parallel envs, ε-greedy, LayerNorm in the Q network,
    /// no replay buffer and no target network. Discrete actions only.
    ///
    /// Without --config, the tuned config for the env (tuned/*-pqn.toml, built in) is used when there is one,
    /// else PQN's defaults.
    Pqn(TrainArgs),
    /// SAC (Haarnoja et al. 2018): a tanh-squashed Gaussian actor, twin Q critics with Polyak targets and a
    /// temperature α tuned toward a target entropy, on replayed n-step transitions. Box actions only.
    ///
    /// Without --config, the tuned config for the env (tuned/*-sac.toml, built in) is used when there is one,
    /// else SAC's defaults (RLlib's).
    Sac(TrainArgs),
    /// An algorithm Myriad does not know (the error lists the known ones).
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

#[derive(Args)]
pub struct TrainArgs {
    /// Env id, e.g. CartPole-v1 (`myriad envs` lists them).
    #[arg(long)]
    env: Option<String>,
    /// A config in TOML (RLlib's group and field names) with an optional [stop] table.
    #[arg(long, conflicts_with = "resume")]
    config: Option<PathBuf>,
    /// Override one config value, e.g. --set training.lr=3e-4 --set rl_module.fcnet_hiddens=[64,64].
    #[arg(long = "set", value_name = "GROUP.FIELD=VALUE")]
    set: Vec<String>,
    /// Envs stepped together (env_runners.num_envs_per_env_runner).
    #[arg(long)]
    num_envs: Option<usize>,
    /// Stop once the mean return (evaluation's when evaluation is on) reaches this.
    #[arg(long, value_parser = finite, allow_negative_numbers = true)]
    stop_reward: Option<f64>,
    /// Stop after this many env steps.
    #[arg(long)]
    stop_timesteps: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = seconds, allow_negative_numbers = true)]
    stop_seconds: Option<f64>,
    /// Where envs and the learner run: cpu or wgpu.
    #[arg(long)]
    backend: Option<Backend>,
    /// Seed of envs, initial weights and every random draw.
    #[arg(long)]
    seed: Option<u64>,
    /// Run folder for progress.jsonl, progress.csv, tb/ and the checkpoint [default: runs/<algo>_<env>_<time>].
    /// A folder is held by one run at a time and a new run refuses a folder holding another run's files.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the run the --out folder holds (its checkpoint and logs are deleted) instead of refusing it.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Continue the run whose checkpoint (or run folder) this is, in that run's folder unless --out is given; its
    /// config is used (--set still applies). Logs written after the checkpoint are cut off first.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Checkpoint every this many iterations (always at the end; 0: only at the end).
    #[arg(long, default_value_t = 10)]
    checkpoint_frequency: u64,
    /// End with one JSON line: {"solved", "env_steps", "wall_s", "episode_return_mean", "eval_return_mean"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// A checkpoint folder (or the run folder holding it).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Episodes to play, in parallel.
    #[arg(long, default_value_t = 100)]
    episodes: usize,
    /// Where to run: cpu or wgpu [default: the checkpoint's].
    #[arg(long)]
    backend: Option<Backend>,
    /// Seed of the evaluation envs.
    #[arg(long, default_value_t = 12345)]
    seed: u64,
    /// Print one JSON line: {"episodes", "return_mean", "return_std", "length_mean"}.
    #[arg(long)]
    json: bool,
}

pub fn train(command: TrainCommand) -> Result<ExitCode> {
    match command {
        TrainCommand::Ppo(args) => train_with::<PpoTraining>("ppo", args),
        TrainCommand::Dqn(args) => train_with::<DqnTraining>("dqn", args),
        TrainCommand::Rainbow(args) => train_with::<DqnTraining>("rainbow", args),
        TrainCommand::Impala(args) => train_with::<ImpalaTraining>("impala", args),
        TrainCommand::Appo(args) => train_with::<AppoTraining>("appo", args),
        TrainCommand::Pqn(args) => train_with::<PqnTraining>("pqn", args),
        TrainCommand::Sac(args) => train_with::<SacTraining>("sac", args),
        TrainCommand::Unknown(words) => {
            algo::lookup(words.first().map_or("", String::as_str))?;
            unreachable!("every known algorithm has its own subcommand")
        }
    }
}

/// A run of the algorithm whose command name is `cli` and whose config type is `C`.
fn train_with<T: Training>(cli: &str, args: TrainArgs) -> Result<ExitCode> {
    // A resumed checkpoint is opened (its files verified) once; its config and its state are read from that.
    let resumed = args.resume.as_deref().map(checkpoint::open).transpose()?;
    let text;
    let file_name;
    let source = match (&args.resume, &resumed, &args.config) {
        (Some(path), Some(checkpoint), _) => ConfigSource::Resumed { path, checkpoint },
        (_, _, Some(path)) => {
            text = std::fs::read_to_string(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
            file_name = path.display().to_string();
            ConfigSource::Text { text: &text, origin: &file_name }
        }
        _ => ConfigSource::Tuned,
    };
    let (mut config, file_stop, origin) = load_config::<T>(cli, args.env.as_deref(), source, &args.set)?;
    file_stop.validate()?;
    if let Some(n) = args.num_envs {
        config.env_runners.num_envs_per_env_runner = n;
    }
    if let Some(backend) = args.backend {
        config.resources.backend = backend;
    }
    if let Some(seed) = args.seed {
        config.debugging.seed = seed;
    }
    let (mut algo, start) = match &resumed {
        Some(checkpoint) => {
            let manifest = &checkpoint.manifest;
            let start = Start::Resume {
                run_id: manifest.run_id.clone(),
                iteration: manifest.training_iteration,
                env_steps: manifest.num_env_steps_sampled_lifetime,
            };
            (checkpoint::restore_opened(checkpoint, &config)?, start)
        }
        None if args.overwrite => (T::build(&config)?, Start::Overwrite),
        None => (T::build(&config)?, Start::New),
    };
    let spec = algo.env_spec().clone();
    // The config's [stop] table, with each criterion given on the command line replacing its own.
    let mut stop = file_stop;
    if stop.is_empty() {
        stop.episode_return_mean = spec.reward_threshold.map(f64::from);
        stop.num_env_steps_sampled_lifetime = Some(10_000_000);
    }
    if args.stop_reward.is_some() {
        stop.episode_return_mean = args.stop_reward;
    }
    if args.stop_timesteps.is_some() {
        stop.num_env_steps_sampled_lifetime = args.stop_timesteps;
    }
    if args.stop_seconds.is_some() {
        stop.time_total_s = args.stop_seconds;
    }
    let out = args.out.clone().or_else(|| args.resume.as_ref().map(|p| run_folder_of(p))).unwrap_or_else(|| {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from("runs").join(format!("{cli}_{}_{secs}", spec.id.replace('/', "-")))
    });
    eprintln!(
        "{} on {} ({origin}): {} envs on {}; run folder {}",
        algo.name(),
        spec.id,
        algo.num_envs(),
        config.resources.backend,
        out.display()
    );
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // A second Ctrl-C is not caught again; the first asks for a final checkpoint after the current iteration.
    // Ctrl-C, SIGTERM and SIGHUP alike: the first asks for a final checkpoint after the current iteration, a
    // second quits at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the iteration and writing a checkpoint (interrupt again to quit now)");
    });
    let summary = run(
        &mut algo,
        RunOptions {
            stop,
            out: Some(out),
            start,
            checkpoint_frequency: args.checkpoint_frequency,
            interrupt,
            on_result: progress_display(),
        },
    )?;
    eprintln!(
        "stopped ({}) after {} iterations, {} env steps, {:.1} s; return {}; evaluation {}; checkpoint {}",
        summary.stopped_by,
        summary.iterations,
        summary.env_steps,
        summary.wall_s,
        fmt_opt(summary.episode_return_mean),
        fmt_opt(summary.eval_return_mean),
        summary.checkpoint.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into())
    );
    if args.json {
        let line = serde_json::json!({
            "solved": summary.solved,
            "env_steps": summary.env_steps,
            "wall_s": summary.wall_s,
            "episode_return_mean": summary.episode_return_mean,
            "eval_return_mean": summary.eval_return_mean,
        });
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A finite number (clap value parser).
pub fn finite(text: &str) -> std::result::Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("must be a finite number".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A finite number of seconds, at least 0 and at most a year (clap value parser).
pub fn seconds(text: &str) -> std::result::Result<f64, String> {
    const YEAR: f64 = 365.0 * 86_400.0;
    match finite(text)? {
        v if (0.0..=YEAR).contains(&v) => Ok(v),
        _ => Err(format!("must be between 0 and {YEAR} seconds (a year)")),
    }
}

fn run_folder_of(path: &std::path::Path) -> PathBuf {
    match checkpoint::locate(path) {
        Ok(dir) => dir.parent().map(|p| p.to_path_buf()).unwrap_or_else(|| PathBuf::from(".")),
        Err(_) => path.to_path_buf(),
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "n/a".into())
}

/// A progress bar on a terminal, one line per iteration otherwise (both on stderr).
fn progress_display() -> Box<dyn FnMut(&TrainResult, &Stop)> {
    let tty = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    Box::new(move |r: &TrainResult, stop: &Stop| {
        let line = format!(
            "iter {:>4}  steps {:>9}  {:>9.0} steps/s  return {}  eval {}  loss {:.3}",
            r.training_iteration,
            r.num_env_steps_sampled_lifetime,
            r.num_env_steps_sampled_per_second,
            fmt_opt(r.episode_return_mean),
            fmt_opt(r.evaluation_episode_return_mean),
            r.learner.total_loss(),
        );
        if !tty {
            eprintln!("{line}");
            return;
        }
        let bar = bar.get_or_insert_with(|| {
            let total = stop.num_env_steps_sampled_lifetime.unwrap_or(0);
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} env steps  {msg}").expect("valid template"),
            );
            bar
        });
        bar.set_position(r.num_env_steps_sampled_lifetime);
        bar.set_message(line);
    })
}

pub fn evaluate(args: EvaluateArgs) -> Result<ExitCode> {
    let (env, summary) = checkpoint::evaluate(&args.checkpoint, args.backend, args.episodes, false, args.seed)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary).expect("summary serialises"));
    } else {
        println!(
            "{} episodes of {env}: return {:.2} ± {:.2} (mean ± std), length {:.1}",
            summary.episodes, summary.return_mean, summary.return_std, summary.length_mean
        );
    }
    Ok(ExitCode::SUCCESS)
}
