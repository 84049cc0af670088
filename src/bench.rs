//! Environment throughput: steady-state env steps per second with uniformly random actions drawn on the device.
//!
//! The clock runs over whole calls of `EnvBatch::step_random(k)` (k steps of every env per call, fused in one
//! launch on GPUs) and stops only after the device has finished the queued work. A warm-up with the same
//! calls runs first (it also compiles the kernels).

use myriad_envs::{make, Device, EnvConfig, Result};
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

/// Runs the benchmark on `device`.
pub fn bench_env(config: &EnvBenchConfig, device: &Device) -> Result<EnvBenchResult> {
    let mut envs = make(&config.env, &config.env_config, config.num_envs, device)?;
    envs.reset(config.seed)?;
    let k = config.steps_per_call.max(1);
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
    run(&mut envs, Duration::from_secs_f64(config.warmup_seconds.max(0.0)))?;
    let (steps, seconds) = run(&mut envs, Duration::from_secs_f64(config.seconds.max(1e-3)))?;
    envs.check()?;
    Ok(EnvBenchResult { steps, seconds, steps_per_s: steps as f64 / seconds })
}
