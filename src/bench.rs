//! Environment throughput: steady-state env steps per second with uniformly random actions drawn on the device.
//!
//! The clock runs over whole calls of `EnvBatch::step_random(k)` (k steps of every env per call, fused in one
//! launch on GPUs) and stops only after the device has finished the queued work. A warm-up with the same
//! calls runs first (it also compiles the kernels).

use myriad_envs::{make, Device, EnvConfig, Error, Result};
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Debug)]
pub struct EnvBenchConfig {
    /// Gymnasium id.
    pub env: String,
    /// Env kwargs.
    pub env_config: EnvConfig,
    /// Envs stepped together.
    pub num_envs: usize,
    /// Steps of every env per call (`1` measures one `step` per call).
    pub steps_per_call: u32,
    /// Length of the timed run.
    pub seconds: f64,
    /// Length of the untimed warm-up.
    pub warmup_seconds: f64,
    /// Seed of the batch.
    pub seed: u64,
}

/// What was measured.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct EnvBenchResult {
    /// Env steps (batch steps × envs) in the timed run.
    pub steps: u64,
    pub seconds: f64,
    pub steps_per_s: f64,
}

/// The longest timed run or warm-up a benchmark accepts, in seconds (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

/// Checks a benchmark's durations: finite, at least 0 (the timed run: above 0) and at most [`MAX_SECONDS`].
fn check_durations(env: &str, seconds: f64, warmup_seconds: f64) -> Result<()> {
    for (key, value, min) in [("seconds", seconds, f64::MIN_POSITIVE), ("warmup_seconds", warmup_seconds, 0.0)] {
        if !(value.is_finite() && (min..=MAX_SECONDS).contains(&value)) {
            return Err(Error::BadConfigValue {
                env: env.into(),
                key: key.into(),
                reason: format!(
                    "{value} is not a number of seconds {} and at most {MAX_SECONDS}",
                    if min > 0.0 { "above 0" } else { "from 0" }
                ),
            });
        }
    }
    Ok(())
}

/// Runs the benchmark on `device`.
pub fn bench_env(config: &EnvBenchConfig, device: &Device) -> Result<EnvBenchResult> {
    check_durations(&config.env, config.seconds, config.warmup_seconds)?;
    if config.steps_per_call == 0 {
        return Err(Error::BadConfigValue {
            env: config.env.clone(),
            key: "steps_per_call".into(),
            reason: "must be at least 1 (steps of every env per call)".into(),
        });
    }
    let mut envs = make(&config.env, &config.env_config, config.num_envs, device)?;
    envs.reset(config.seed)?;
    let k = config.steps_per_call;
    let run = |envs: &mut myriad_envs::EnvBatch, budget: Duration| -> Result<(u64, f64)> {
        let start = Instant::now();
        let mut calls = 0u64;
        loop {
            envs.step_random(k)?;
            calls += 1;
            // Sync every call so the host never runs ahead of the device by more than one launch.
            envs.sync()?;
            if start.elapsed() >= budget {
                break;
            }
        }
        Ok((calls * k as u64 * config.num_envs as u64, start.elapsed().as_secs_f64()))
    };
    run(&mut envs, Duration::from_secs_f64(config.warmup_seconds))?;
    let (steps, seconds) = run(&mut envs, Duration::from_secs_f64(config.seconds))?;
    envs.check()?;
    Ok(EnvBenchResult { steps, seconds, steps_per_s: steps as f64 / seconds })
}

/// What to measure on Atari envs (CPU emulators on a thread pool).
#[cfg(feature = "atari")]
#[derive(Clone, Debug)]
pub struct AtariBenchConfig {
    /// Atari id, e.g. `ALE/Pong-v5`.
    pub env: String,
    /// Env kwargs (preset and preprocessing keys included).
    pub env_config: EnvConfig,
    /// Envs in the pool.
    pub num_envs: usize,
    /// Envs per `recv` (`num_envs`: synchronous steps of the whole batch; fewer: EnvPool-style asynchronous).
    pub batch_size: usize,
    /// Worker threads (0: every core).
    pub threads: usize,
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub seed: u64,
}

/// Env steps/s of Atari envs with uniformly random actions, drawn on the host from a counter-based stream.
#[cfg(feature = "atari")]
pub fn bench_atari(config: &AtariBenchConfig) -> Result<EnvBenchResult> {
    check_durations(&config.env, config.seconds, config.warmup_seconds)?;
    use myriad_atari::{AsyncAtariBatch, AtariBatch};
    use myriad_envs::rng::{below, draw};
    let key = myriad_envs::rng::stream_key(config.seed, u32::MAX);
    let mut counter = 0u32;
    let mut random = |n: u32| {
        counter = counter.wrapping_add(1);
        below(draw(key, counter), n)
    };
    let timed = |budget: f64, step: &mut dyn FnMut() -> Result<u64>| -> Result<(u64, f64)> {
        let start = Instant::now();
        let mut steps = 0;
        while start.elapsed().as_secs_f64() < budget.max(1e-3) {
            steps += step()?;
        }
        Ok((steps, start.elapsed().as_secs_f64()))
    };
    let (steps, seconds) = if config.batch_size >= config.num_envs {
        let mut envs = AtariBatch::new(&config.env, &config.env_config, config.num_envs, config.threads, config.seed)?;
        let n = envs.spec().action_ids.len() as u32;
        let mut actions = vec![0u32; config.num_envs];
        let mut step = || -> Result<u64> {
            actions.iter_mut().for_each(|a| *a = random(n));
            envs.step(&actions)?;
            Ok(actions.len() as u64)
        };
        timed(config.warmup_seconds, &mut step)?;
        timed(config.seconds, &mut step)?
    } else {
        let mut pool = AsyncAtariBatch::new(
            &config.env,
            &config.env_config,
            config.num_envs,
            config.batch_size,
            config.threads,
            config.seed,
        )?;
        let n = pool.spec().action_ids.len() as u32;
        pool.async_reset();
        let mut step = || -> Result<u64> {
            let ids = pool.recv()?.to_vec();
            let actions: Vec<u32> = ids.iter().map(|_| random(n)).collect();
            pool.send(&actions, &ids)?;
            Ok(ids.len() as u64)
        };
        timed(config.warmup_seconds, &mut step)?;
        timed(config.seconds, &mut step)?
    };
    Ok(EnvBenchResult { steps, seconds, steps_per_s: steps as f64 / seconds })
}
