//! IMPALA and APPO end to end: config validation, runner threads (policy lag, supervision of failing runners),
//! lockstep determinism and exact resume, checkpoints of threaded runs, and learning runs of the tuned configs.

use bytemuck::{Pod, Zeroable};
use myriad::algo::TrainResult;
use myriad::algo::{Algorithm, AppoConfig, AppoTraining, ImpalaConfig, ImpalaStats, ImpalaTraining, PpoTraining};
use myriad::envs::config::{ConfigReader, EnvConfig};
use myriad::envs::rng::Stream as EnvStream;
use myriad::envs::{Env, EnvSpec, Space};
use myriad::{checkpoint, tuned};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

fn tuned_impala(env: &str) -> ImpalaConfig {
    let t = tuned::find("impala", env).unwrap();
    tuned::parse::<ImpalaTraining>(t.text, t.file).unwrap().0
}

fn tuned_appo(env: &str) -> AppoConfig {
    let t = tuned::find("appo", env).unwrap();
    tuned::parse::<AppoTraining>(t.text, t.file).unwrap().0
}

/// A small CartPole IMPALA with `runners` runner threads (0: lockstep).
fn small(runners: usize) -> ImpalaConfig {
    let mut c = ImpalaConfig::default().env_runners(4, 8).num_env_runners(runners);
    c.training.train_batch_size = 4 * 8 * runners.max(1);
    c.training.learner_queue_size = 4;
    c.rl_module.fcnet_hiddens = vec![16];
    c
}

fn stats(r: &TrainResult) -> &ImpalaStats {
    r.learner.impala().expect("an IMPALA result")
}

/// A result without its wall-clock fields, the learner's busy share included.
fn untimed(r: TrainResult) -> TrainResult {
    let mut r = r.without_timings();
    if let myriad::algo::LearnerStats::Impala(s) = &mut r.learner {
        s.learner_busy_fraction = 0.0;
    }
    r
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("myriad-impala-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn build_rejects_bad_configs_clearly() {
    let msg = |c: ImpalaConfig| match c.build_algo() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("config was accepted"),
    };
    let mut c = small(2);
    c.training.train_batch_size = 40; // not a whole number of 4 × 8 fragments
    assert!(msg(c).contains("whole number of fragments"));
    let mut c = small(2);
    c.training.train_batch_size = 4 * 8 * 6;
    c.training.learner_queue_size = 2;
    assert!(msg(c).contains("learner_queue_size"));
    let mut c = small(0);
    c.training.train_batch_size = 64; // two lockstep rollouts
    assert!(msg(c).contains("lockstep"));
    let mut c = small(1);
    c.training.minibatch_size = Some(12);
    assert!(msg(c).contains("minibatch_size"));
    let mut c = small(1);
    c.training.vtrace_clip_rho_threshold = 0.0;
    assert!(msg(c).contains("vtrace_clip_rho_threshold"));
    let mut c = small(1).environment("NoSuchEnv-v0", EnvConfig::new());
    c.training.gamma = 0.99;
    assert!(msg(c).contains("NoSuchEnv-v0"));
    let mut a = AppoConfig::default().env_runners(4, 8);
    a.training.impala.train_batch_size = 32;
    a.training.appo.tau = 1.5;
    assert!(matches!(a.build_algo(), Err(e) if e.to_string().contains("tau")));
    // PPO and DQN collect in lockstep: runner threads are refused, naming the algorithms that have them.
    let mut p = myriad::algo::PpoConfig::default().num_env_runners(2);
    p.training.train_batch_size = 4096;
    let err = p.build().err().expect("refused").to_string();
    assert!(err.contains("num_env_runners") && err.contains("IMPALA"), "{err}");
    // V-trace keys belong to IMPALA and APPO; in a PPO file they name them.
    let err = tuned::parse::<PpoTraining>("[training]\nvtrace_clip_rho_threshold = 1.0\n", "ppo.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("belongs to IMPALA and APPO"), "{err}");
    let err = tuned::parse::<ImpalaTraining>("[training]\nclip_param = 0.2\n", "impala.toml").unwrap_err().to_string();
    assert!(err.contains("belongs to PPO and APPO"), "{err}");
    let err = tuned::parse::<AppoTraining>("[training]\nn_step = 3\n", "appo.toml").unwrap_err().to_string();
    assert!(err.contains("n_step belongs to DQN"), "{err}");
}

/// Trait-free builder access for the test's closures.
trait BuildAlgo {
    fn build_algo(&self) -> Result<Box<dyn Algorithm>, myriad::Error>;
}

impl BuildAlgo for ImpalaConfig {
    fn build_algo(&self) -> Result<Box<dyn Algorithm>, myriad::Error> {
        Ok(Box::new(myriad::algo::Impala::new(self.clone())?))
    }
}

impl BuildAlgo for AppoConfig {
    fn build_algo(&self) -> Result<Box<dyn Algorithm>, myriad::Error> {
        Ok(Box::new(myriad::algo::Appo::new(self.clone())?))
    }
}

#[test]
fn lockstep_runs_are_deterministic_on_policy_and_resume_exactly() {
    let run = |iterations: usize| {
        let mut impala = myriad::algo::Impala::new(small(0)).unwrap();
        (0..iterations).map(|_| untimed(impala.train().unwrap())).collect::<Vec<_>>()
    };
    let a = run(4);
    assert_eq!(a, run(4), "two runs of one seed differ");
    for r in &a {
        let s = stats(r);
        assert!(s.total_loss.is_finite());
        // One gradient step per batch in lockstep: the learner's policy is the behaviour policy.
        assert!((s.mean_rho - 1.0).abs() < 1e-5 && s.max_policy_lag == 0, "{s:?}");
    }
    // Resume after two iterations: the last two match the uninterrupted run's.
    let dir = temp_dir("lockstep-resume");
    let mut first = myriad::algo::Impala::new(small(0)).unwrap();
    first.train().unwrap();
    first.train().unwrap();
    let saved = checkpoint::save(&first, &dir, "test").unwrap();
    drop(first);
    let mut resumed = checkpoint::restore::<ImpalaTraining>(&saved, &small(0)).unwrap();
    let rest: Vec<_> = (0..2).map(|_| untimed(resumed.train().unwrap())).collect();
    assert_eq!(rest, a[2..], "resume differs from the uninterrupted run");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn several_epochs_are_off_policy_and_corrected() {
    let mut c = small(0);
    c.training.num_epochs = 3;
    c.training.minibatch_size = Some(16);
    let mut impala = myriad::algo::Impala::new(c).unwrap();
    let r = impala.train().unwrap();
    let s = stats(&r);
    // After the first gradient step the learner's policy has moved off the behaviour policy.
    assert!(s.total_loss.is_finite() && (s.mean_rho - 1.0).abs() > 1e-7, "{s:?}");
    assert_eq!(r.num_env_steps_trained_lifetime, 3 * 32);
}

#[test]
fn runner_threads_measure_the_policy_lag() {
    // Weights are never broadcast after the start: at update k every sample was acted by version 0.
    let mut c = small(2);
    c.training.broadcast_interval = 1_000_000;
    let mut impala = myriad::algo::Impala::new(c).unwrap();
    for k in 0..4u64 {
        let r = impala.train().unwrap();
        let s = stats(&r);
        assert_eq!((s.mean_policy_lag, s.max_policy_lag), (k as f64, k), "update {k}: {s:?}");
        assert!(s.total_loss.is_finite() && s.learner_busy_fraction > 0.0 && s.learner_busy_fraction <= 1.0);
        assert_eq!(r.num_env_steps_sampled_lifetime, 64 * (k + 1));
    }
    // Broadcasting every update keeps the lag small: the queue holds at most a few fragments.
    let mut c = small(2);
    c.training.broadcast_interval = 1;
    let mut impala = myriad::algo::Impala::new(c).unwrap();
    let mut lags = Vec::new();
    for _ in 0..12 {
        lags.push(stats(&impala.train().unwrap()).max_policy_lag);
    }
    assert!(*lags.last().unwrap() <= 8, "lags {lags:?}");
}

#[test]
fn appo_trains_with_runner_threads_and_lockstep() {
    for runners in [0, 2] {
        let mut c = AppoConfig::default().env_runners(4, 8).num_env_runners(runners);
        c.training.impala.train_batch_size = 32 * runners.max(1);
        c.training.impala.num_epochs = 2;
        c.training.appo.use_kl_loss = true;
        c.rl_module.fcnet_hiddens = vec![16];
        let mut appo = myriad::algo::Appo::new(c).unwrap();
        for _ in 0..3 {
            let r = appo.train().unwrap();
            let s = stats(&r);
            assert!(s.total_loss.is_finite(), "{s:?}");
            assert!(s.mean_kl_loss.is_some() && s.clip_fraction.is_some() && s.curr_kl_coeff.is_some(), "{s:?}");
        }
        assert_eq!(appo.name(), "APPO");
    }
}

#[test]
fn threaded_checkpoints_resume_and_evaluate() {
    let dir = temp_dir("threads-resume");
    let mut impala = myriad::algo::Impala::new(small(2)).unwrap();
    for _ in 0..3 {
        impala.train().unwrap();
    }
    let saved = checkpoint::save(&impala, &dir, "test").unwrap();
    let weights = impala.model().clone();
    drop(impala);
    let mut resumed = checkpoint::restore::<ImpalaTraining>(&saved, &small(2)).unwrap();
    assert_eq!(resumed.iteration(), 3);
    assert_eq!(myriad::model::layout_of(resumed.model()), myriad::model::layout_of(&weights));
    let r = resumed.train().unwrap();
    assert_eq!(r.training_iteration, 4);
    // A threaded checkpoint keeps no env states: resuming it in lockstep is refused.
    let err = checkpoint::restore::<ImpalaTraining>(&saved, &small(0)).err().expect("refused").to_string();
    assert!(err.contains("num_env_runners"), "{err}");
    let (env, summary) = checkpoint::evaluate(&saved, None, 4, false, 1).unwrap();
    assert_eq!((env.as_str(), summary.episodes), ("CartPole-v1", 4));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Supervision: a custom env that panics on the 40th step any runner takes ----

static FLAKY_STEPS: AtomicU64 = AtomicU64::new(0);

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct NoParams {
    unused: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct Counter {
    t: f32,
}

/// Discrete(2), reward 1 per step, 10 steps an episode; panics on the 40th step taken in this process (and on
/// every step after `FLAKY_STEPS` is set past 1,000,000).
struct Flaky;

impl Env for Flaky {
    type Params = NoParams;
    type State = Counter;
    type Action = u32;
    const OBS_DIM: usize = 1;
    const WGSL: &'static str = "";
    const CUDA: &'static str = "";

    fn params(id: &str, config: &EnvConfig) -> myriad::envs::Result<(NoParams, Option<u32>)> {
        let mut r = ConfigReader::new(id, config);
        let steps = r.u32_opt("max_episode_steps")?;
        r.finish()?;
        Ok((NoParams { unused: 0.0 }, steps))
    }

    fn spec(id: &str, _p: &NoParams, max_episode_steps: Option<u32>) -> EnvSpec {
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::bounded(vec![0.0], vec![10.0]),
            action_space: Space::Discrete { n: 2 },
            max_episode_steps: max_episode_steps.unwrap_or(10),
            reward_threshold: None,
            state_dim: 1,
        }
    }

    fn reset(_p: &NoParams, _rng: &mut EnvStream) -> Counter {
        Counter { t: 0.0 }
    }

    fn step(_p: &NoParams, s: &Counter, _action: u32, _rng: &mut EnvStream) -> (Counter, f32, bool) {
        let k = FLAKY_STEPS.fetch_add(1, Ordering::SeqCst);
        if k == 40 || k > 1_000_000 {
            panic!("the flaky env broke at step {k}");
        }
        (Counter { t: s.t + 1.0 }, 1.0, false)
    }

    fn observe(_p: &NoParams, s: &Counter, obs: &mut [f32]) {
        obs[0] = s.t;
    }

    fn valid_action(_p: &NoParams, a: &u32) -> bool {
        *a < 2
    }

    fn random_action(_p: &NoParams, bits: u32) -> u32 {
        bits % 2
    }
}

fn flaky(runners: usize) -> ImpalaConfig {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| myriad::register_env::<Flaky>("Flaky-v0", "panics on its 40th step").unwrap());
    small(runners).environment("Flaky-v0", EnvConfig::new())
}

#[test]
fn failing_runners_are_restarted_or_stop_the_run_clearly() {
    // The 40th step panics in one runner; the learner learns of it from the queue, restarts that runner and goes
    // on training on both.
    // (The panic hook may take a while to print its backtrace, so the test waits for the report up to 60 s.)
    let mut impala = myriad::algo::Impala::new(flaky(2)).unwrap();
    let started = std::time::Instant::now();
    while stats(&impala.train().unwrap()).num_env_runner_restarts == 0 {
        assert!(started.elapsed().as_secs() < 60, "the failed runner was not restarted");
    }
    let before = impala.progress().counters().env_steps;
    for _ in 0..10 {
        let r = impala.train().unwrap();
        assert_eq!(stats(&r).num_env_runner_restarts, 1, "{:?}", stats(&r));
    }
    assert_eq!(impala.progress().counters().env_steps, before + 10 * 64);
    drop(impala);
    // Every step now panics: with restarts off the first failure stops the run with a clear error, never a hang.
    FLAKY_STEPS.store(2_000_000, Ordering::SeqCst);
    let mut c = flaky(2);
    c.env_runners.restart_failed_env_runners = false;
    let mut impala = myriad::algo::Impala::new(c).unwrap();
    let err = impala.train().expect_err("the run stopped").to_string();
    assert!(err.contains("env runner") && err.contains("flaky env broke"), "{err}");
    // With restarts on, a runner that always fails uses up max_num_env_runner_restarts and stops the run.
    let mut c = flaky(1);
    c.env_runners.max_num_env_runner_restarts = 3;
    let mut impala = myriad::algo::Impala::new(c).unwrap();
    let err = impala.train().expect_err("the run stopped").to_string();
    assert!(err.contains("3 restarts so far"), "{err}");
    drop(impala);
    // A run whose learner fails (here: its runners, after about 60 good fragments) stops with the error, and the
    // last checkpoint, of the last good iteration, is intact and resumable.
    FLAKY_STEPS.store(1_000_000 - 2_000, Ordering::SeqCst);
    let dir = temp_dir("learner-error");
    let mut c = flaky(2);
    c.env_runners.restart_failed_env_runners = false;
    let mut impala = myriad::algo::Impala::new(c.clone()).unwrap();
    let options = myriad::run::RunOptions {
        stop: myriad::run::Stop::default(),
        out: Some(dir.clone()),
        start: myriad::run::Start::New,
        checkpoint_frequency: 1,
        interrupt: Default::default(),
        on_result: Box::new(|_, _| {}),
    };
    let err = myriad::run::run(&mut impala, options).expect_err("the run stopped").to_string();
    assert!(err.contains("flaky env broke"), "{err}");
    drop(impala);
    let logged = std::fs::read_to_string(dir.join("progress.jsonl")).unwrap().lines().count() as u64;
    assert!(logged >= 2, "{logged} iterations");
    FLAKY_STEPS.store(0, Ordering::SeqCst);
    let resumed = checkpoint::restore::<ImpalaTraining>(&dir, &c).unwrap();
    assert_eq!(resumed.iteration(), logged);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Learning ----

/// Trains until the evaluation reaches `target` or `steps` env steps pass; returns the best evaluation.
fn learn(mut algo: Box<dyn Algorithm>, steps: u64, target: f64) -> f64 {
    let mut best = f64::NEG_INFINITY;
    while algo.progress().counters().env_steps < steps && best < target {
        if let Some(e) = algo.train().unwrap().evaluation_episode_return_mean {
            best = best.max(e);
        }
    }
    best
}

#[test]
fn impala_solves_cartpole() {
    let best = learn(tuned_impala("CartPole-v1").build_algo().unwrap(), 1_500_000, 475.0);
    assert!(best >= 475.0, "best evaluation mean {best}");
}

#[test]
fn appo_solves_cartpole() {
    let best = learn(tuned_appo("CartPole-v1").build_algo().unwrap(), 1_500_000, 475.0);
    assert!(best >= 475.0, "best evaluation mean {best}");
}

#[test]
fn impala_solves_acrobot() {
    let best = learn(tuned_impala("Acrobot-v1").build_algo().unwrap(), 1_500_000, -100.0);
    assert!(best >= -100.0, "best evaluation mean {best}");
}

/// IMPALA and APPO on burn's wgpu backend (lavapipe in CI): V-trace runs as the wgpu kernel on the learner's
/// tensors, in lockstep (envs on the same device) and with CPU runner threads feeding a wgpu learner.
#[test]
fn wgpu_learners_train_in_lockstep_and_with_runner_threads() {
    if myriad::envs::Device::wgpu().is_err() {
        assert!(std::env::var("MYRIAD_REQUIRE_WGPU").as_deref() != Ok("1"), "no wgpu adapter");
        eprintln!("skipped: no wgpu adapter");
        return;
    }
    for runners in [0, 2] {
        let mut c = small(runners);
        c.resources.backend = myriad::envs::Backend::Wgpu;
        let mut impala = myriad::algo::Impala::new(c).unwrap();
        for _ in 0..2 {
            let r = impala.train().unwrap();
            assert!(stats(&r).total_loss.is_finite(), "{r:?}");
            if runners == 0 {
                assert!((stats(&r).mean_rho - 1.0).abs() < 1e-5, "{r:?}");
            }
        }
        let mut a = AppoConfig::default().env_runners(4, 8).num_env_runners(runners);
        a.training.impala.train_batch_size = 32 * runners.max(1);
        a.rl_module.fcnet_hiddens = vec![16];
        a.resources.backend = myriad::envs::Backend::Wgpu;
        let mut appo = myriad::algo::Appo::new(a).unwrap();
        assert!(stats(&appo.train().unwrap()).total_loss.is_finite());
    }
}

#[test]
fn box_actions_train_with_a_gaussian_policy() {
    for runners in [0, 1] {
        let mut c = small(runners).environment("Pendulum-v1", EnvConfig::new());
        c.training.num_epochs = 2;
        let mut impala = myriad::algo::Impala::new(c).unwrap();
        for _ in 0..2 {
            let s = stats(&impala.train().unwrap()).clone();
            // A diagonal Gaussian over one action dimension: entropy ½ ln(2πe σ²), finite and not Discrete's.
            assert!(s.total_loss.is_finite() && s.entropy.is_finite() && s.gradients_global_norm > 0.0, "{s:?}");
        }
        let summary = impala.evaluate(2, false).unwrap();
        assert!(summary.return_mean < 0.0 && summary.length_mean == 200.0, "{summary:?}");
    }
}
