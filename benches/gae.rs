//! GAE over a `[T, N]` rollout: the CPU reference (the CPU backend) against the wgpu kernel, device synchronised
//! before the clock stops; throughput in (t, env) elements.
//!
//! `cargo bench --bench gae`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use myriad::envs::Device;
use myriad::returns::{Gae, GaeBuffers, GaeParams};
use std::time::{Duration, Instant};

fn gae(c: &mut Criterion) {
    let mut devices = vec![Device::cpu()];
    match Device::wgpu() {
        Ok(d) => devices.push(d),
        Err(e) => eprintln!("wgpu skipped: {e}"),
    }
    let (t, n) = (128, 4096);
    let mut group = c.benchmark_group("gae");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(10);
    group.throughput(Throughput::Elements((t * n) as u64));
    for device in &devices {
        let plane = t * n;
        let values: Vec<f32> = (0..plane).map(|k| (k % 17) as f32 - 8.0).collect();
        let dones: Vec<u32> = (0..2 * plane).map(|k| (k % 23 == 0) as u32).collect();
        let up = |v: &[f32]| device.upload_f32("input", v).unwrap();
        let (rewards, vals, fv, lv) = (up(&values), up(&values), up(&values), up(&values[..n]));
        let dones = device.upload("dones", &dones).unwrap();
        let mut adv = device.zeros("advantages", plane).unwrap();
        let mut ret = device.zeros("returns", plane).unwrap();
        let kernel = Gae::new(device, t, n, GaeParams::default()).unwrap();
        let inputs =
            GaeBuffers { rewards: &rewards, values: &vals, dones: &dones, final_values: &fv, last_values: &lv };
        group.bench_function(BenchmarkId::new(device.backend().name(), format!("{t}x{n}")), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    kernel.compute(&inputs, &mut adv, &mut ret).unwrap();
                }
                device.sync().unwrap();
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gae);
criterion_main!(benches);
