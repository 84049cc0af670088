//! Asynchronous env runners, in the spirit of IMPALA's actors (Espeholt et al. 2018) and Sebulba's actor threads:
//! `num_env_runners` threads, each owning its own batch of envs on the CPU, act with the weights they last
//! received and send fragments of `rollout_fragment_length` steps, tagged with the version of the weights that
//! acted, through a bounded queue (`learner_queue_size` fragments) to the learner. The learner publishes new
//! weights when it likes ([`AsyncRunners::publish`]); a runner takes them before its next fragment.
//!
//! Runners are supervised: one whose collection fails or panics is restarted with a fresh batch of envs (each
//! start has its own seed streams, [`Stream::RunnerEnvs`]) and counted, as RLlib's `restart_failed_env_runners`
//! does; the learner never waits on a dead runner. A full queue blocks the runners (back-pressure), and dropping
//! [`AsyncRunners`] stops and joins every thread.

use super::{Behaviour, Bridge, Stream, SyncRunner};
use crate::config::{EnvRunnersConfig, EnvironmentConfig, ResourcesConfig};
use crate::envs::EnvSpec;
use crate::rollout::{RolloutShape, RolloutStorage};
use crate::Error;
use burn::tensor::Tensor;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the runner threads collect.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    pub environment: EnvironmentConfig,
    pub env_runners: EnvRunnersConfig,
    /// T: steps per env in one fragment.
    pub fragment: usize,
    /// Fragments the queue holds before the runners wait.
    pub queue: usize,
    /// The run's seed.
    pub seed: u64,
    /// The longest the learner waits for any fragment before the run is stopped with an error.
    pub patience: Duration,
}

/// `fragment` steps of one runner's `n` envs, on the CPU.
pub struct Fragment {
    /// Which runner sent it.
    pub runner: usize,
    /// The version of the weights that acted (the behaviour policy's), as [`AsyncRunners::publish`] numbered it.
    pub version: u64,
    /// `[T, n]` steps, time-major.
    pub steps: RolloutStorage,
    /// `[n, obs_dim]`: the observations after the last step.
    pub last_obs: Tensor<2>,
    /// `[episodes finished, sum of their returns, sum of their lengths]` during the fragment.
    pub episodes: [f32; 3],
}

/// A runner's start that ended with an error or a panic.
struct Failure {
    runner: usize,
    generation: u32,
    reason: String,
}

/// The weights runners act with, and their version.
struct Published<P> {
    version: u64,
    policy: P,
}

/// What a runner thread is handed.
struct Worker<P> {
    runner: usize,
    generation: u32,
    settings: RunnerSettings,
    shape: RolloutShape,
    weights: Arc<Mutex<Published<P>>>,
    stop: Arc<AtomicBool>,
    sender: SyncSender<Fragment>,
    failures: Sender<Failure>,
}

/// The runner threads, their queue and the weights they act with.
pub struct AsyncRunners<P> {
    settings: RunnerSettings,
    shape: RolloutShape,
    spec: EnvSpec,
    weights: Arc<Mutex<Published<P>>>,
    stop: Arc<AtomicBool>,
    sender: SyncSender<Fragment>,
    receiver: Option<Receiver<Fragment>>,
    /// Failures travel apart from the bounded queue, so a failing runner is never stuck behind a full one.
    failure_sender: Sender<Failure>,
    failures: Receiver<Failure>,
    /// Per runner: its thread and its start count (0 for the first start).
    threads: Vec<(Option<JoinHandle<()>>, u32)>,
    restarts: u64,
}

impl<P: Behaviour + Clone + Send + 'static> AsyncRunners<P> {
    /// Starts `env_runners.num_env_runners` threads acting with `policy` (version 0) on envs of `spec` (the
    /// caller made one to read it, so the id and kwargs are known to work). `shape` gives the fragment's row
    /// widths (its horizon and env count are the settings').
    pub fn start(settings: RunnerSettings, spec: EnvSpec, shape: RolloutShape, policy: P) -> Result<Self, Error> {
        let r = &settings.env_runners;
        if r.num_env_runners == 0 || settings.queue == 0 || settings.fragment == 0 {
            return Err(Error::Config(
                "asynchronous runners need at least one runner, fragment step and queue slot".into(),
            ));
        }
        let id = &settings.environment.env;
        if super::host_env(id).is_some_and(|(_, any_thread)| !any_thread) {
            return Err(Error::Config(format!(
                "host env {} steps on the learner's thread; asynchronous env runners cannot run it (set \
                 env_runners.num_env_runners = 0, or train it with ppo, dqn, pqn or sac)",
                crate::algo::clip(id, 100)
            )));
        }
        let shape = RolloutShape { horizon: settings.fragment, num_envs: r.num_envs_per_env_runner, ..shape };
        let (sender, receiver) = mpsc::sync_channel(settings.queue);
        let (failure_sender, failures) = mpsc::channel();
        let mut runners = Self {
            threads: Vec::with_capacity(r.num_env_runners),
            settings,
            shape,
            spec,
            weights: Arc::new(Mutex::new(Published { version: 0, policy })),
            stop: Arc::new(AtomicBool::new(false)),
            sender,
            receiver: Some(receiver),
            failure_sender,
            failures,
            restarts: 0,
        };
        for runner in 0..runners.settings.env_runners.num_env_runners {
            let handle = runners.spawn(runner, 0)?;
            runners.threads.push((Some(handle), 0));
        }
        Ok(runners)
    }

    /// The spec of the runners' envs.
    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    /// Restarts of failed runners so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Hands new weights to the runners; each takes them before its next fragment.
    pub fn publish(&self, version: u64, policy: P) {
        *lock(&self.weights) = Published { version, policy };
    }

    /// The next fragment any runner sent, restarting runners that failed meanwhile. An error if restarts are off
    /// or used up, or no fragment came for `patience`.
    pub fn next_fragment(&mut self) -> Result<Fragment, Error> {
        let started = Instant::now();
        loop {
            while let Ok(Failure { runner, generation, reason }) = self.failures.try_recv() {
                self.restart(runner, generation, &reason)?;
            }
            let receiver = self.receiver.as_ref().expect("the receiver lives until drop");
            match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(fragment) => return Ok(fragment),
                Err(RecvTimeoutError::Timeout) => {
                    while let Ok(Failure { runner, generation, reason }) = self.failures.try_recv() {
                        self.restart(runner, generation, &reason)?;
                    }
                    // A thread that ended without a word (it cannot: every exit but a stop reports) is restarted
                    // all the same; a late report of the start it replaced is then ignored.
                    for runner in 0..self.threads.len() {
                        let (handle, generation) = &self.threads[runner];
                        if handle.as_ref().is_none_or(|h| h.is_finished()) {
                            let generation = *generation;
                            self.restart(runner, generation, "its thread ended")?;
                        }
                    }
                    if started.elapsed() > self.settings.patience {
                        return Err(Error::Runner(format!(
                            "no env runner sent a fragment in {:.0} s",
                            self.settings.patience.as_secs_f64()
                        )));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the runners' sender lives as long as self"),
            }
        }
    }

    /// Replaces runner `runner`'s thread after its `generation`-th start failed with `reason`.
    fn restart(&mut self, runner: usize, generation: u32, reason: &str) -> Result<(), Error> {
        let (handle, current) = &mut self.threads[runner];
        if *current != generation {
            return Ok(()); // that start was already replaced
        }
        if let Some(handle) = handle.take() {
            let _ = handle.join(); // its panic, if any, was caught and reported in `reason`
        }
        let r = &self.settings.env_runners;
        if !r.restart_failed_env_runners || self.restarts >= r.max_num_env_runner_restarts {
            return Err(Error::Runner(format!(
                "env runner {runner} failed: {reason} ({} restarts so far; env_runners.restart_failed_env_runners = \
                 {}, max_num_env_runner_restarts = {})",
                self.restarts, r.restart_failed_env_runners, r.max_num_env_runner_restarts
            )));
        }
        self.restarts += 1;
        eprintln!("warning: env runner {runner} failed ({reason}); restarting it with a fresh batch of envs");
        let handle = self.spawn(runner, generation + 1)?;
        self.threads[runner] = (Some(handle), generation + 1);
        Ok(())
    }

    fn spawn(&self, runner: usize, generation: u32) -> Result<JoinHandle<()>, Error> {
        let worker = Worker {
            runner,
            generation,
            settings: self.settings.clone(),
            shape: self.shape,
            weights: self.weights.clone(),
            stop: self.stop.clone(),
            sender: self.sender.clone(),
            failures: self.failure_sender.clone(),
        };
        std::thread::Builder::new()
            .name(format!("env-runner-{runner}"))
            .spawn(move || worker.run())
            .map_err(|e| Error::Runner(format!("starting env runner {runner}: {e}")))
    }
}

impl<P> Drop for AsyncRunners<P> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Runners blocked on a full queue see it closed and return.
        drop(self.receiver.take());
        for (handle, _) in &mut self.threads {
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
    }
}

impl<P: Behaviour + Clone> Worker<P> {
    /// Collects until stopped; a failure or a panic is reported to the learner, which restarts this runner.
    fn run(self) {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.collect()));
        let reason = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(payload) => match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
                (Some(s), _) => format!("panicked: {s}"),
                (_, Some(s)) => format!("panicked: {s}"),
                _ => "panicked".to_string(),
            },
        };
        let _ = self.failures.send(Failure { runner: self.runner, generation: self.generation, reason });
    }

    fn collect(&self) -> Result<(), Error> {
        let (runner, generation) = (self.runner as u32, self.generation);
        let s = &self.settings;
        let bridge = Bridge::new(&ResourcesConfig::default())?;
        let seed = Stream::RunnerEnvs { runner, generation }.seed(s.seed);
        let mut envs = SyncRunner::new(&s.environment, s.env_runners.num_envs_per_env_runner, &bridge, seed)?;
        let (mut version, mut policy) = {
            let w = lock(&self.weights);
            (w.version, w.policy.clone())
        };
        for fragment in 0u64.. {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            {
                let w = lock(&self.weights);
                if w.version != version {
                    (version, policy) = (w.version, w.policy.clone());
                }
            }
            let mut noise = Stream::RunnerActions { runner, generation, fragment }.noise(s.seed);
            let eps = bridge.noise(&mut noise, policy.noise(), self.shape.num_envs, self.shape.horizon)?;
            let mut steps = RolloutStorage::new(self.shape, bridge.inner());
            let last_obs = envs.collect(&bridge, &policy, eps, &mut steps)?;
            let sums = bridge.to_vec(envs.episode_sums(&bridge)?)?;
            let episodes = [sums[0], sums[1], sums[2]];
            let fragment = Fragment { runner: self.runner, version, steps, last_obs, episodes };
            if self.sender.send(fragment).is_err() {
                return Ok(()); // the learner is gone
            }
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
