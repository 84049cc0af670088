//! A training run as the CLI drives it, written once for every algorithm: iterate until a stop criterion, log
//! every result, checkpoint periodically and at the end (also on Ctrl-C, SIGTERM and SIGHUP), and never checkpoint
//! a model whose loss went non-finite. The run folder is held by one run at a time ([`RunFolder`]).

mod folder;
pub mod setup;

pub use folder::{RunFolder, Start};
pub use setup::{build, load_config, Built, ConfigSource};

use crate::algo::{Algorithm, TrainResult};
use crate::metrics::RunLog;
use crate::{checkpoint, Error};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// When to stop (the first criterion met ends the run), as RLlib's `stop` dict names them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stop {
    /// Stop once the evaluation mean return (the training mean when evaluation is off) reaches this.
    pub episode_return_mean: Option<f64>,
    /// Stop after this many env steps.
    pub num_env_steps_sampled_lifetime: Option<u64>,
    /// Stop after this many seconds of training (this process).
    pub time_total_s: Option<f64>,
    /// Stop after this many iterations.
    pub training_iteration: Option<u64>,
}

impl Stop {
    pub fn is_empty(&self) -> bool {
        *self == Stop::default()
    }

    /// Rejects criteria that could never be met or would always be: NaN or infinite rewards, negative or
    /// non-finite times.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(r) = self.episode_return_mean {
            if !r.is_finite() {
                return Err(Error::Config(format!(
                    "stop.episode_return_mean = {r}: a stop reward must be a finite number"
                )));
            }
        }
        if let Some(s) = self.time_total_s {
            if !(s.is_finite() && s >= 0.0) {
                return Err(Error::Config(format!(
                    "stop.time_total_s = {s}: a stop time must be a finite number of seconds, at least 0"
                )));
            }
        }
        Ok(())
    }
}

/// How a run is driven.
pub struct RunOptions {
    pub stop: Stop,
    /// Run folder for logs and checkpoints; `None` writes nothing.
    pub out: Option<PathBuf>,
    /// How the run takes its folder: new, overwriting another run's, or resuming its own.
    pub start: Start,
    /// Write a checkpoint every this many iterations (and always at the end); 0: only at the end.
    pub checkpoint_frequency: u64,
    /// Set (e.g. by a Ctrl-C handler) to end the run after the current iteration, with a final checkpoint.
    pub interrupt: Arc<AtomicBool>,
    /// Called with every result (progress display).
    pub on_result: Box<dyn FnMut(&TrainResult, &Stop)>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// The stop reward was reached.
    pub solved: bool,
    pub env_steps: u64,
    pub wall_s: f64,
    pub episode_return_mean: Option<f64>,
    pub eval_return_mean: Option<f64>,
    pub iterations: u64,
    /// `reward`, `timesteps`, `time`, `iterations` or `interrupted`.
    pub stopped_by: String,
    pub checkpoint: Option<PathBuf>,
}

/// The return a stop reward is compared with: the latest evaluation mean when evaluation is on, else the
/// training mean.
pub fn tracked_return(algo: &dyn Algorithm, result: &TrainResult, last_eval: Option<f64>) -> Option<f64> {
    if algo.config().evaluation().evaluation_interval > 0 {
        last_eval
    } else {
        result.episode_return_mean
    }
}

/// Trains `algo` until a stop criterion is met (or an interrupt), logging and checkpointing into the run folder.
pub fn run(algo: &mut dyn Algorithm, mut options: RunOptions) -> Result<RunSummary, Error> {
    options.stop.validate()?;
    let started = Instant::now();
    let folder = match &options.out {
        Some(dir) => Some(RunFolder::open(dir, options.start.clone())?),
        None => None,
    };
    let mut log = match &folder {
        Some(folder) => Some(RunLog::open(folder.path())?),
        None => None,
    };
    let mut last_eval = None;
    let mut checkpoint_path = None;
    let stop = options.stop.clone();
    let stopped_by = loop {
        let result = algo.train()?;
        if result.evaluation_episode_return_mean.is_some() {
            last_eval = result.evaluation_episode_return_mean;
        }
        if let Some(log) = log.as_mut() {
            log.log(&result)?;
        }
        (options.on_result)(&result, &stop);
        let tracked = tracked_return(algo, &result, last_eval);
        let reason = if stop.episode_return_mean.is_some_and(|r| tracked.is_some_and(|t| t >= r)) {
            Some("reward")
        } else if stop.num_env_steps_sampled_lifetime.is_some_and(|s| result.num_env_steps_sampled_lifetime >= s) {
            Some("timesteps")
        } else if stop.time_total_s.is_some_and(|s| started.elapsed().as_secs_f64() >= s) {
            Some("time")
        } else if stop.training_iteration.is_some_and(|i| result.training_iteration >= i) {
            Some("iterations")
        } else if options.interrupt.load(Ordering::SeqCst) {
            Some("interrupted")
        } else {
            None
        };
        let periodic =
            options.checkpoint_frequency > 0 && result.training_iteration % options.checkpoint_frequency == 0;
        if let Some(folder) = &folder {
            if periodic || reason.is_some() {
                checkpoint_path = Some(checkpoint::save(algo, folder.path(), folder.run_id())?);
            }
        }
        if let Some(reason) = reason {
            break (reason.to_string(), result);
        }
    };
    let (stopped_by, last) = stopped_by;
    let solved = stopped_by == "reward";
    Ok(RunSummary {
        solved,
        env_steps: last.num_env_steps_sampled_lifetime,
        wall_s: started.elapsed().as_secs_f64(),
        episode_return_mean: last.episode_return_mean,
        eval_return_mean: last_eval,
        iterations: last.training_iteration,
        stopped_by,
        checkpoint: checkpoint_path,
    })
}
