//! Building any algorithm by its command name from a resolved config (`run::build`, as the CLI and the Python
//! package do), and acting on host observations with its policy (`runners::act_on_host`).

use myriad::algo::DqnTraining;
use myriad::envs::Space;
use myriad::run::{build, load_config, ConfigSource};
use myriad::runners::{act_on_host, Stream};

fn actions(algo: &dyn myriad::algo::Algorithm, obs: Vec<f32>, explore: bool, seed: u64) -> Vec<f32> {
    let mut noise = Stream::InferenceActions.noise(seed);
    let spec = algo.env_spec().clone();
    act_on_host(&*algo.policy(), algo.config().environment(), &spec, algo.bridge(), obs, explore, &mut noise).unwrap()
}

#[test]
fn every_algorithm_builds_by_name_and_acts_in_its_space() {
    for (cli, env) in [
        ("ppo", "CartPole-v1"),
        ("dqn", "CartPole-v1"),
        ("rainbow", "CartPole-v1"),
        ("impala", "CartPole-v1"),
        ("appo", "CartPole-v1"),
        ("pqn", "CartPole-v1"),
        ("sac", "Pendulum-v1"),
        ("ppo", "Pendulum-v1"),
    ] {
        let built = build(cli, Some(env), ConfigSource::Tuned, &[]).unwrap_or_else(|e| panic!("{cli} {env}: {e}"));
        let algo = &*built.algo;
        assert_eq!(algo.env_spec().id, env);
        let dim = algo.env_spec().obs_dim();
        // Observations inside the spaces: CartPole near upright, Pendulum's (cos, sin, velocity).
        let rows = 5;
        let obs: Vec<f32> = (0..rows * dim).map(|k| ((k * 37 % 11) as f32 / 11.0 - 0.5) * 0.2).collect();
        let greedy = actions(algo, obs.clone(), false, 1);
        assert_eq!(greedy, actions(algo, obs.clone(), false, 2), "{cli}: greedy actions do not depend on the draws");
        let explored = actions(algo, obs, true, 1);
        match &algo.env_spec().action_space {
            Space::Discrete { n } => {
                assert_eq!(greedy.len(), rows, "{cli}");
                for a in greedy.iter().chain(&explored) {
                    assert!(a.fract() == 0.0 && *a >= 0.0 && *a < *n as f32, "{cli}: action {a} outside Discrete({n})");
                }
            }
            Space::Box { low, high, .. } => {
                assert_eq!(greedy.len(), rows * low.len(), "{cli}");
                for (k, a) in greedy.iter().chain(&explored).enumerate() {
                    let j = k % low.len();
                    assert!(*a >= low[j] && *a <= high[j], "{cli}: action {a} outside [{}, {}]", low[j], high[j]);
                }
            }
        }
    }
}

#[test]
fn observations_of_the_wrong_length_are_an_error() {
    let built = build("ppo", Some("CartPole-v1"), ConfigSource::Tuned, &[]).unwrap();
    let algo = &*built.algo;
    let mut noise = Stream::InferenceActions.noise(0);
    let spec = algo.env_spec().clone();
    for obs in [vec![0.0; 6], Vec::new()] {
        let err =
            act_on_host(&*algo.policy(), algo.config().environment(), &spec, algo.bridge(), obs, false, &mut noise)
                .err()
                .expect("a partial observation");
        assert!(err.to_string().contains("hold 4 values each"), "{err}");
    }
}

#[test]
fn a_config_resolves_from_text_with_overrides_and_bad_names_are_errors() {
    let text =
        "[environment]\nenv = \"CartPole-v1\"\n[training]\nlr = 0.002\n[stop]\nnum_env_steps_sampled_lifetime = 5000\n";
    let set = ["training.train_batch_size=32".to_string()];
    let (config, stop, origin) =
        load_config::<DqnTraining>("dqn", None, ConfigSource::Text { text, origin: "a dict" }, &set).unwrap();
    assert_eq!((config.training.lr.value_at(0), config.training.train_batch_size), (0.002, 32));
    assert_eq!((stop.num_env_steps_sampled_lifetime, origin.as_str()), (Some(5000), "a dict"));

    let unknown = build("dreamer", Some("CartPole-v1"), ConfigSource::Tuned, &[]).err().unwrap().to_string();
    assert!(unknown.contains("unknown algorithm `dreamer`") && unknown.contains("ppo, dqn"), "{unknown}");
    let foreign = build("dqn", Some("CartPole-v1"), ConfigSource::Tuned, &["training.clip_param=0.2".to_string()])
        .err()
        .unwrap()
        .to_string();
    assert!(foreign.contains("PPO") || foreign.contains("ppo"), "{foreign}");
    let no_env = load_config::<DqnTraining>("dqn", None, ConfigSource::Text { text: "[training]\n", origin: "x" }, &[])
        .err()
        .unwrap()
        .to_string();
    assert!(no_env.contains("names no env"), "{no_env}");
}

#[test]
fn learners_built_one_after_another_draw_their_own_weights() {
    // burn draws parameters lazily from one generator the process shares; each learner's are drawn when it is
    // built, under its own seed, so whatever is built or run in between changes nothing. The second learner acts
    // (and would draw) first each time.
    let obs: Vec<f32> = (0..30).map(|k| ((k * 29 % 13) as f32 / 13.0 - 0.5) * 0.3).collect();
    for (cli, env) in [("ppo", "Pendulum-v1"), ("sac", "Pendulum-v1")] {
        let first = build(cli, Some(env), ConfigSource::Tuned, &[]).unwrap().algo;
        let second = build(cli, Some(env), ConfigSource::Tuned, &[]).unwrap().algo;
        let b = actions(&*second, obs.clone(), false, 4);
        assert_eq!(actions(&*first, obs.clone(), false, 4), b, "{cli}: the greedy (continuous) actions of one seed");
    }
    // Q-learners act discretely: their first iteration's losses tell their weights apart.
    for (cli, learning_starts) in [("dqn", "training.num_steps_sampled_before_learning_starts=0"), ("pqn", "")] {
        let set: Vec<String> = ["env_runners.num_envs_per_env_runner=8", learning_starts]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
            .collect();
        let mut first = build(cli, Some("CartPole-v1"), ConfigSource::Tuned, &set).unwrap().algo;
        let mut second = build(cli, Some("CartPole-v1"), ConfigSource::Tuned, &set).unwrap().algo;
        let b = serde_json::to_string(&second.train().unwrap().learner).unwrap();
        assert_eq!(serde_json::to_string(&first.train().unwrap().learner).unwrap(), b, "{cli}: the first losses");
    }
}
