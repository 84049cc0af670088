use myriad_envs::{trace, Device};
use std::path::Path;
#[test]
fn tmp_parity() {
    let mut ok = true;
    let mut devices = vec![Device::cpu()];
    match Device::wgpu() {
        Ok(d) => devices.push(d),
        Err(e) => println!("no wgpu: {e}"),
    }
    for d in &devices {
        for f in ["Pendulum-v1.jsonl", "Pendulum-v1__g=9.81.jsonl", "Acrobot-v1.jsonl"] {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(f);
            let r = trace::check_file(&p, d, None).unwrap();
            println!("{r}");
            ok &= r.passed();
        }
    }
    assert!(ok);
}
#[test]
fn tmp_cpu_vs_wgpu_rollout() {
    use myriad_envs::{make, EnvConfig, Field};
    let Ok(gpu) = Device::wgpu() else { return };
    for id in ["Pendulum-v1", "Acrobot-v1"] {
        let mut a = make(id, &EnvConfig::new(), 1000, &Device::cpu()).unwrap();
        let mut b = make(id, &EnvConfig::new(), 1000, &gpu).unwrap();
        a.reset(7).unwrap();
        b.reset(7).unwrap();
        let r0: f32 = a.read_f32(Field::Obs).unwrap().iter().zip(b.read_f32(Field::Obs).unwrap()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        a.step_random(600).unwrap();
        b.step_random(600).unwrap();
        let ob = |e: &myriad_envs::EnvBatch| e.read_f32(Field::Obs).unwrap();
        let (oa, obb) = (ob(&a), ob(&b));
        let d = oa.iter().zip(&obb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        let sa = a.take_episode_stats().unwrap();
        let sb = b.take_episode_stats().unwrap();
        println!("{id}: reset obs max diff {r0}; after 600 random steps obs max diff {d}; stats cpu {sa:?} wgpu {sb:?}");
    }
}
