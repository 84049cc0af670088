//! V-trace over a `[T, N]` rollout: the CPU reference (the CPU backend) against the wgpu kernel, device
//! synchronised before the clock stops; throughput in (t, env) elements.
//!
//! `cargo bench --bench vtrace`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use myriad::envs::Device;
use myriad::returns::{Vtrace, VtraceBuffers, VtraceParams};
use std::time::{Duration, Instant};

fn vtrace(c: &mut Criterion) {
    let mut devices = vec![Device::cpu()];
    match Device::wgpu() {
        Ok(d) => devices.push(d),
        Err(e) => eprintln!("wgpu skipped: {e}"),
    }
    let (t, n) = (128, 4096);
    let mut group = c.benchmark_group("vtrace");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(10);
    group.throughput(Throughput::Elements((t * n) as u64));
    for device in &devices {
        let plane = t * n;
        let values: Vec<f32> = (0..plane).map(|k| (k % 17) as f32 - 8.0).collect();
        let dones: Vec<u32> = (0..2 * plane).map(|k| (k % 23 == 0) as u32).collect();
        // Ratios e^(target − behaviour) from e^-0.5 to e^0.5: some clipped, some not.
        let log_probs: Vec<f32> = (0..2 * plane).map(|k| (k % 11) as f32 * -0.1).collect();
        let up = |v: &[f32]| device.upload_f32("input", v).unwrap();
        let (rewards, vals, fv, lv) = (up(&values), up(&values), up(&values), up(&values[..n]));
        let (dones, log_probs) = (device.upload("dones", &dones).unwrap(), up(&log_probs));
        let mut vs = device.zeros("vs", plane).unwrap();
        let mut pg = device.zeros("pg advantages", plane).unwrap();
        let kernel = Vtrace::new(device, t, n, VtraceParams::default()).unwrap();
        let inputs = VtraceBuffers {
            rewards: &rewards,
            values: &vals,
            dones: &dones,
            final_values: &fv,
            last_values: &lv,
            log_probs: &log_probs,
        };
        group.bench_function(BenchmarkId::new(device.backend().name(), format!("{t}x{n}")), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    kernel.compute(&inputs, &mut vs, &mut pg).unwrap();
                }
                device.sync().unwrap();
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, vtrace);
criterion_main!(benches);
