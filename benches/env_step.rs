//! Env steps per second over env × backend × batch size, with random actions drawn on the device. The device is
//! synchronised before the clock stops; throughput is declared in env steps.
//!
//! `cargo bench --bench env_step` (CPU always; wgpu where an adapter exists).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use myriad::envs::{make, Device, EnvConfig};
use std::time::{Duration, Instant};

const ENVS: [&str; 4] = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "FrozenLake-v1"];
/// Steps of every env per call (fused in one launch on GPUs).
const STEPS_PER_CALL: u32 = 16;

fn env_step(c: &mut Criterion) {
    let mut devices = vec![Device::cpu()];
    match Device::wgpu() {
        Ok(d) => devices.push(d),
        Err(e) => eprintln!("wgpu skipped: {e}"),
    }
    for device in &devices {
        let sizes: &[usize] = match device {
            Device::Cpu => &[256, 4096, 65_536],
            _ => &[4096, 65_536],
        };
        for env in ENVS {
            let mut group = c.benchmark_group(format!("{}/{env}", device.backend()));
            group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(10);
            for &n in sizes {
                let mut batch = make(env, &EnvConfig::new(), n, device).expect("env builds");
                batch.reset(0).expect("reset");
                group.throughput(Throughput::Elements(n as u64 * STEPS_PER_CALL as u64));
                group.bench_function(BenchmarkId::from_parameter(n), |b| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        for _ in 0..iters {
                            batch.step_random(STEPS_PER_CALL).expect("step");
                        }
                        batch.sync().expect("sync");
                        start.elapsed()
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, env_step);
criterion_main!(benches);
