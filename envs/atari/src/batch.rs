//! Batched Atari envs on a thread pool: synchronous steps of the whole batch, and EnvPool-style asynchronous
//! `send`/`recv` over a batch smaller than the number of envs.
//!
//! Observations are u8, written by the envs straight into one staging buffer `[batch, obs...]`, ready to be
//! uploaded to a device in a single copy per step. Envs reset themselves in the step that ends an episode (as
//! every Myriad batch does); the observation that ended it is kept in a second buffer, which only truncated envs
//! need (a learner bootstraps from it).

use crate::config::AtariConfig;
use crate::env::{AtariEnv, AtariEnvState, Transition};
use crate::roms::Rom;
use myriad_envs::{EnvConfig, Error, Result, Space};
use rayon::prelude::*;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The fixed facts of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct AtariSpec {
    pub id: String,
    pub config: AtariConfig,
    /// Shape of one u8 observation.
    pub observation_shape: Vec<usize>,
    pub action_space: Space,
    /// The ALE action id behind each action index.
    pub action_ids: Vec<u8>,
}

impl AtariSpec {
    /// Bytes of one observation.
    pub fn observation_bytes(&self) -> usize {
        self.observation_shape.iter().product()
    }

    /// Gymnasium's rendering of the observation space.
    pub fn observation_space(&self) -> String {
        let dims: Vec<String> = self.observation_shape.iter().map(|d| d.to_string()).collect();
        format!("Box(0, 255, ({}), uint8)", dims.join(", "))
    }
}

/// Per-env outputs of one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepOutputs {
    pub reward: Vec<f32>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
    /// `(env, score, length)` of every game that ended in this step, in env order (`recv` order when async).
    pub finished_games: Vec<(usize, f32, u32)>,
}

impl StepOutputs {
    fn with_len(n: usize) -> Self {
        Self { reward: vec![0.0; n], terminated: vec![false; n], truncated: vec![false; n], finished_games: Vec::new() }
    }

    fn set(&mut self, i: usize, t: &Transition) {
        self.reward[i] = t.reward;
        self.terminated[i] = t.terminated;
        self.truncated[i] = t.truncated;
    }
}

fn open_envs(id: &str, config: &EnvConfig, n: usize, seed: u64) -> Result<(AtariSpec, Vec<AtariEnv>)> {
    if n == 0 {
        return Err(Error::BadConfigValue {
            env: id.into(),
            key: "num_envs".into(),
            reason: "must be at least 1".into(),
        });
    }
    let config = Arc::new(AtariConfig::from_env_config(id, config)?);
    let rom: Rom = config.ale.game.rom()?;
    let envs: Vec<AtariEnv> =
        (0..n).into_par_iter().map(|i| AtariEnv::new(config.clone(), &rom, seed, i as u32)).collect::<Result<_>>()?;
    let spec = AtariSpec {
        id: id.into(),
        observation_shape: config.observation_shape(),
        action_space: Space::Discrete { n: envs[0].num_actions() as u32 },
        action_ids: envs[0].action_ids().to_vec(),
        config: (*config).clone(),
    };
    Ok((spec, envs))
}

fn check_actions(spec: &AtariSpec, actions: &[u32], expected: usize) -> Result<()> {
    if actions.len() != expected {
        return Err(Error::Shape(format!("{} actions for {expected} envs", actions.len())));
    }
    let n = spec.action_ids.len() as u32;
    if let Some((i, a)) = actions.iter().enumerate().find(|(_, a)| **a >= n) {
        return Err(Error::InvalidAction(format!("env {i}: action {a} outside Discrete({n}) of {}", spec.id)));
    }
    Ok(())
}

fn worker_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("myriad-atari-{i}"))
        .build()
        .map_err(|e| Error::Device(format!("starting the Atari thread pool: {e}")))
}

/// Threads to use when the caller says 0: every core.
fn default_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// N envs stepped together, every step, on `threads` worker threads.
pub struct AtariBatch {
    spec: AtariSpec,
    envs: Vec<AtariEnv>,
    pool: rayon::ThreadPool,
    staging: Vec<u8>,
    final_obs: Vec<u8>,
    outputs: StepOutputs,
}

impl AtariBatch {
    /// Makes `n` envs of `id` (kwargs in `config`) on `threads` threads (0: all cores) and resets them.
    pub fn new(id: &str, config: &EnvConfig, n: usize, threads: usize, seed: u64) -> Result<AtariBatch> {
        let pool = worker_pool(default_threads(threads))?;
        let (spec, envs) = pool.install(|| open_envs(id, config, n, seed))?;
        let bytes = spec.observation_bytes();
        let mut batch = AtariBatch {
            spec,
            envs,
            pool,
            staging: vec![0; n * bytes],
            final_obs: vec![0; n * bytes],
            outputs: StepOutputs::with_len(n),
        };
        batch.reset();
        Ok(batch)
    }

    pub fn spec(&self) -> &AtariSpec {
        &self.spec
    }

    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }

    /// Resets every env (new games, fresh no-op draws); observations land in the staging buffer.
    pub fn reset(&mut self) {
        let bytes = self.spec.observation_bytes();
        let (envs, staging) = (&mut self.envs, &mut self.staging);
        self.pool.install(|| {
            envs.par_iter_mut().zip(staging.par_chunks_mut(bytes)).for_each(|(env, obs)| env.reset(obs));
        });
        self.outputs = StepOutputs::with_len(self.envs.len());
    }

    /// Steps every env with its action index; envs whose episode ended start the next one in the same step.
    pub fn step(&mut self, actions: &[u32]) -> Result<&StepOutputs> {
        check_actions(&self.spec, actions, self.envs.len())?;
        let bytes = self.spec.observation_bytes();
        let (envs, staging, finals) = (&mut self.envs, &mut self.staging, &mut self.final_obs);
        let transitions: Vec<Transition> = self.pool.install(|| {
            envs.par_iter_mut()
                .zip(staging.par_chunks_mut(bytes))
                .zip(finals.par_chunks_mut(bytes))
                .zip(actions.par_iter())
                .map(|(((env, obs), final_obs), &a)| step_one(env, a, obs, final_obs))
                .collect()
        });
        self.outputs.finished_games.clear();
        for (i, t) in transitions.iter().enumerate() {
            self.outputs.set(i, t);
            if t.game_over {
                self.outputs.finished_games.push((i, t.game_return, t.game_length));
            }
        }
        Ok(&self.outputs)
    }

    /// The current observations, `[n, obs...]` u8, row-major: the one buffer to upload per step.
    pub fn observations(&self) -> &[u8] {
        &self.staging
    }

    /// The observations that ended an episode in the last step (meaningful where `terminated | truncated`).
    pub fn final_observations(&self) -> &[u8] {
        &self.final_obs
    }

    pub fn outputs(&self) -> &StepOutputs {
        &self.outputs
    }

    /// Env `i` (for inspection).
    pub fn env(&self, i: usize) -> &AtariEnv {
        &self.envs[i]
    }

    /// Every env's state, in env order (for a checkpoint).
    pub fn save_states(&self) -> Vec<AtariEnvState> {
        let bytes = self.spec.observation_bytes();
        self.envs.iter().zip(self.staging.chunks_exact(bytes)).map(|(env, obs)| env.save(obs)).collect()
    }

    /// Continues every env from `states` (saved by a batch of the same id, config and size); their observations
    /// land in the staging buffer.
    pub fn load_states(&mut self, states: &[AtariEnvState]) -> Result<()> {
        if states.len() != self.envs.len() {
            return Err(Error::Shape(format!("{} saved env states for a batch of {}", states.len(), self.envs.len())));
        }
        let bytes = self.spec.observation_bytes();
        for ((env, obs), state) in self.envs.iter_mut().zip(self.staging.chunks_exact_mut(bytes)).zip(states) {
            env.load(state, obs)?;
        }
        self.outputs = StepOutputs::with_len(self.envs.len());
        Ok(())
    }
}

fn step_one(env: &mut AtariEnv, action: u32, obs: &mut [u8], final_obs: &mut [u8]) -> Transition {
    let t = env.step(action, obs);
    if t.terminated || t.truncated {
        final_obs.copy_from_slice(obs);
        env.next_episode(&t, obs);
    }
    t
}

/// One env's slot in an asynchronous pool: the env and its latest results.
struct Slot {
    env: AtariEnv,
    obs: Vec<u8>,
    final_obs: Vec<u8>,
    transition: Transition,
}

enum Job {
    Reset(usize),
    Step(usize, u32),
}

/// EnvPool-style asynchronous envs: `send` hands actions to some envs, `recv` returns the first `batch_size`
/// envs that finished, whichever they are, with their ids. Envs not in a received batch keep stepping.
pub struct AsyncAtariBatch {
    spec: AtariSpec,
    batch_size: usize,
    slots: Arc<Vec<Mutex<Slot>>>,
    jobs: Option<Sender<Job>>,
    done: Receiver<usize>,
    workers: Vec<JoinHandle<()>>,
    /// Envs that were sent work and have not yet been received.
    in_flight: usize,
    staging: Vec<u8>,
    final_obs: Vec<u8>,
    env_ids: Vec<usize>,
    outputs: StepOutputs,
}

impl AsyncAtariBatch {
    /// `num_envs` envs on `threads` threads (0: all cores), received `batch_size` at a time.
    pub fn new(
        id: &str,
        config: &EnvConfig,
        num_envs: usize,
        batch_size: usize,
        threads: usize,
        seed: u64,
    ) -> Result<AsyncAtariBatch> {
        if batch_size == 0 || batch_size > num_envs {
            return Err(Error::BadConfigValue {
                env: id.into(),
                key: "batch_size".into(),
                reason: format!("must lie in 1..={num_envs} (the number of envs), got {batch_size}"),
            });
        }
        let (spec, envs) = open_envs(id, config, num_envs, seed)?;
        let bytes = spec.observation_bytes();
        let slots: Arc<Vec<Mutex<Slot>>> = Arc::new(
            envs.into_iter()
                .map(|env| {
                    Mutex::new(Slot {
                        env,
                        obs: vec![0; bytes],
                        final_obs: vec![0; bytes],
                        transition: Transition::default(),
                    })
                })
                .collect(),
        );
        let (job_tx, job_rx) = channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = channel::<usize>();
        let workers = (0..default_threads(threads))
            .map(|w| {
                let (jobs, done, slots) = (job_rx.clone(), done_tx.clone(), slots.clone());
                std::thread::Builder::new()
                    .name(format!("myriad-atari-async-{w}"))
                    .spawn(move || worker(&jobs, &done, &slots))
                    .map_err(|e| Error::Device(format!("starting an Atari worker: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AsyncAtariBatch {
            spec,
            batch_size,
            slots,
            jobs: Some(job_tx),
            done: done_rx,
            workers,
            in_flight: 0,
            staging: vec![0; batch_size * bytes],
            final_obs: vec![0; batch_size * bytes],
            env_ids: Vec::with_capacity(batch_size),
            outputs: StepOutputs::with_len(batch_size),
        })
    }

    pub fn spec(&self) -> &AtariSpec {
        &self.spec
    }

    pub fn num_envs(&self) -> usize {
        self.slots.len()
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn submit(&mut self, job: Job) {
        self.in_flight += 1;
        self.jobs.as_ref().expect("jobs open until drop").send(job).expect("Atari workers run until drop");
    }

    /// Resets every env; their first observations arrive through `recv`.
    pub fn async_reset(&mut self) {
        for i in 0..self.slots.len() {
            self.submit(Job::Reset(i));
        }
    }

    /// Steps env `env_ids[k]` with `actions[k]`. Each env must have been received since it was last sent work.
    pub fn send(&mut self, actions: &[u32], env_ids: &[usize]) -> Result<()> {
        check_actions(&self.spec, actions, env_ids.len())?;
        if let Some(&bad) = env_ids.iter().find(|&&i| i >= self.slots.len()) {
            return Err(Error::Shape(format!("env id {bad} of a pool of {}", self.slots.len())));
        }
        for (&i, &a) in env_ids.iter().zip(actions) {
            self.submit(Job::Step(i, a));
        }
        Ok(())
    }

    /// Waits for the next `batch_size` envs to finish and gathers their observations (into the staging buffer)
    /// and outputs, in the order they finished. Returns their env ids.
    pub fn recv(&mut self) -> Result<&[usize]> {
        if self.in_flight < self.batch_size {
            return Err(Error::Shape(format!(
                "recv needs {} envs at work, {} are (send actions first)",
                self.batch_size, self.in_flight
            )));
        }
        let bytes = self.spec.observation_bytes();
        self.env_ids.clear();
        self.outputs.finished_games.clear();
        for k in 0..self.batch_size {
            let i = self.done.recv().map_err(|_| Error::Device("an Atari worker stopped".into()))?;
            self.in_flight -= 1;
            let slot = self.slots[i].lock().unwrap_or_else(|p| p.into_inner());
            self.staging[k * bytes..(k + 1) * bytes].copy_from_slice(&slot.obs);
            self.final_obs[k * bytes..(k + 1) * bytes].copy_from_slice(&slot.final_obs);
            self.outputs.set(k, &slot.transition);
            if slot.transition.game_over {
                let t = &slot.transition;
                self.outputs.finished_games.push((i, t.game_return, t.game_length));
            }
            self.env_ids.push(i);
        }
        Ok(&self.env_ids)
    }

    /// Observations of the last received batch, `[batch_size, obs...]`.
    pub fn observations(&self) -> &[u8] {
        &self.staging
    }

    pub fn final_observations(&self) -> &[u8] {
        &self.final_obs
    }

    /// Outputs of the last received batch, in `recv`'s order.
    pub fn outputs(&self) -> &StepOutputs {
        &self.outputs
    }
}

fn worker(jobs: &Mutex<Receiver<Job>>, done: &Sender<usize>, slots: &[Mutex<Slot>]) {
    loop {
        let job = match jobs.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let i = match job {
            Job::Reset(i) => {
                let mut slot = slots[i].lock().unwrap_or_else(|p| p.into_inner());
                let Slot { env, obs, transition, .. } = &mut *slot;
                env.reset(obs);
                *transition = Transition::default();
                i
            }
            Job::Step(i, action) => {
                let mut slot = slots[i].lock().unwrap_or_else(|p| p.into_inner());
                let Slot { env, obs, final_obs, transition } = &mut *slot;
                *transition = step_one(env, action, obs, final_obs);
                i
            }
        };
        if done.send(i).is_err() {
            return;
        }
    }
}

impl Drop for AsyncAtariBatch {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
