//! Envs stepped on the host by code outside Myriad (`runners::register_host_env`): a learner trains on them as on
//! Myriad's own envs. The host batch here wraps a CPU batch of Myriad's CartPole, so a run on it must see the same
//! transitions, and learn the same, as a run on `CartPole-v1` itself.

use myriad::envs::{make, Device, EnvBatch, EnvConfig, EnvSpec, Field};
use myriad::run::{build, ConfigSource};
use myriad::runners::{register_host_env, HostBatch, HostOutputs};
use myriad::Error;
use std::sync::Arc;

/// Myriad's CartPole behind the host-batch interface; `bad_rewards` makes every step return one reward too few.
struct Wrapped {
    batch: EnvBatch,
    spec: EnvSpec,
    bad_rewards: bool,
}

impl HostBatch for Wrapped {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn num_envs(&self) -> usize {
        self.batch.num_envs()
    }

    fn reset(&mut self, seed: u64, obs: &mut Vec<f32>) -> Result<(), Error> {
        self.batch.reset(seed)?;
        *obs = self.batch.read_f32(Field::Obs)?;
        Ok(())
    }

    fn step(&mut self, actions: &[f32], out: &mut HostOutputs) -> Result<(), Error> {
        let words: Vec<u32> = actions.iter().map(|&a| a as u32).collect();
        let buffer = self.batch.upload_actions(&words)?;
        self.batch.step(&buffer)?;
        out.obs = self.batch.read_f32(Field::Obs)?;
        out.final_obs = self.batch.read_f32(Field::FinalObs)?;
        out.reward = self.batch.read_f32(Field::Reward)?;
        if self.bad_rewards {
            out.reward.pop();
        }
        out.terminated = self.batch.read_bool(Field::Terminated)?;
        out.truncated = self.batch.read_bool(Field::Truncated)?;
        Ok(())
    }
}

fn register(id: &str, bad_rewards: bool) {
    let factory = Arc::new(move |config: &EnvConfig, n: usize, _seed: u64| -> Result<Box<dyn HostBatch>, Error> {
        let batch = make("CartPole-v1", config, n, &Device::Cpu)?;
        let mut spec = batch.spec().clone();
        spec.id = "host/CartPole".into();
        Ok(Box::new(Wrapped { batch, spec, bad_rewards }))
    });
    register_host_env(id, false, factory).unwrap();
}

/// The algorithms' defaults (no tuned config), the same for both ids.
const TEXT: ConfigSource = ConfigSource::Text { text: "[debugging]\nseed = 3\n", origin: "the test's config" };

const SET: [&str; 2] = ["env_runners.num_envs_per_env_runner=8", "training.train_batch_size=256"];

fn set(env: &str) -> Vec<String> {
    SET.iter().map(|s| s.to_string()).chain([format!("environment.env=\"{env}\"")]).collect()
}

#[test]
fn a_run_on_host_envs_matches_the_same_envs_on_the_device_path() {
    register("host/CartPole", false);
    let mut native = build("ppo", Some("CartPole-v1"), TEXT, &set("CartPole-v1")).unwrap().algo;
    let mut host = build("ppo", Some("host/CartPole"), TEXT, &set("host/CartPole")).unwrap().algo;
    assert_eq!(host.env_spec().obs_dim(), 4);
    for _ in 0..3 {
        let (a, b) = (native.train().unwrap(), host.train().unwrap());
        assert_eq!(a.num_env_steps_sampled_lifetime, b.num_env_steps_sampled_lifetime);
        assert_eq!(a.num_episodes_lifetime, b.num_episodes_lifetime, "the same episodes ended");
        assert!(b.num_episodes_lifetime > 0);
        let (ra, rb) = (a.episode_return_mean.unwrap(), b.episode_return_mean.unwrap());
        assert!((ra - rb).abs() < 1e-3, "returns {ra} vs {rb}");
        let (la, lb) = (serde_json::to_value(&a.learner).unwrap(), serde_json::to_value(&b.learner).unwrap());
        for (key, va) in la.as_object().unwrap() {
            let (x, y) = (va.as_f64(), lb[key].as_f64());
            if let (Some(x), Some(y)) = (x, y) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{key}: {x} vs {y}");
            }
        }
    }
    let (ea, eb) = (native.evaluate_with_seed(4, false, 9).unwrap(), host.evaluate_with_seed(4, false, 9).unwrap());
    assert_eq!((ea.return_mean, ea.length_mean), (eb.return_mean, eb.length_mean));
}

#[test]
fn host_envs_train_with_every_synchronous_learner_and_save_and_resume() {
    register("host/CartPole-any", false);
    for (cli, extra) in [
        ("dqn", "training.num_steps_sampled_before_learning_starts=64"),
        ("pqn", "training.minibatch_size=64"),
        ("impala", "env_runners.num_env_runners=0"),
    ] {
        let mut set = set("host/CartPole-any");
        set.push(extra.into());
        let mut algo = build(cli, Some("host/CartPole-any"), TEXT, &set).unwrap().algo;
        let result = algo.train().unwrap_or_else(|e| panic!("{cli}: {e}"));
        assert!(result.num_env_steps_sampled_lifetime > 0, "{cli}");
    }
    let mut algo = build("ppo", Some("host/CartPole-any"), TEXT, &set("host/CartPole-any")).unwrap().algo;
    algo.train().unwrap();
    let dir = std::env::temp_dir().join(format!("myriad-host-envs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let saved = myriad::checkpoint::save(&*algo, &dir, "host-run").unwrap();
    let opened = myriad::checkpoint::open(&saved).unwrap();
    let mut resumed =
        build("ppo", None, ConfigSource::Resumed { path: &saved, checkpoint: &opened }, &[]).unwrap().algo;
    assert_eq!(resumed.iteration(), 1);
    assert_eq!(resumed.train().unwrap().training_iteration, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn host_envs_that_misbehave_or_misuse_are_clear_errors() {
    register("host/CartPole-bad", true);
    let mut algo = build("ppo", Some("host/CartPole-bad"), TEXT, &set("host/CartPole-bad")).unwrap().algo;
    let err = algo.train().err().expect("a short reward vector").to_string();
    assert!(err.contains("7 rewards") && err.contains("for 8 envs"), "{err}");

    // An id of Myriad's own envs cannot be taken over.
    let factory: myriad::runners::HostFactory = Arc::new(|_: &EnvConfig, _, _| unreachable!("never made"));
    for id in ["CartPole-v1", "ALE/Pong-v5", ""] {
        assert!(register_host_env(id, true, factory.clone()).is_err(), "{id:?}");
    }

    // Asynchronous runners would step a learner-thread-only batch on their own threads.
    register("host/CartPole-local", false);
    let mut threads = set("host/CartPole-local");
    threads.push("env_runners.num_env_runners=2".into());
    let err = build("appo", Some("host/CartPole-local"), TEXT, &threads).err().expect("runner threads").to_string();
    assert!(err.contains("learner's thread") && err.contains("num_env_runners = 0"), "{err}");
}
