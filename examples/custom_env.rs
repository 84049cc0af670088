//! A custom environment trained end to end: `Corridor` is written here (params apart from state, spaces, a
//! scalar step), registered under its own id at run time, and trained with PPO or DQN on the CPU backend like
//! any built-in env.
//!
//! `cargo run --release --example custom_env -- --algo dqn`

use bytemuck::{Pod, Zeroable};
use clap::Parser;
use myriad::algo::{Algorithm, DqnConfig, DqnTraining, PpoConfig, PpoTraining};
use myriad::envs::config::{ConfigReader, EnvConfig};
use myriad::envs::rng::{below, Stream};
use myriad::envs::{Env, EnvSpec, Space};

/// Constants and kwargs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    /// Cells from the start (0) to the goal.
    length: f32,
    /// Reward of every step that does not reach the goal.
    step_reward: f32,
}

/// Where the walker stands, in `[0, length]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct State {
    x: f32,
}

/// Discrete(2): 0 steps left (a wall at 0), 1 steps right; reaching `length` ends the episode with reward 1.
struct Corridor;

impl Env for Corridor {
    type Params = Params;
    type State = State;
    type Action = u32;
    const OBS_DIM: usize = 1;
    // No GPU kernels: this env runs on the CPU backend.
    const WGSL: &'static str = "";
    const CUDA: &'static str = "";

    fn params(id: &str, config: &EnvConfig) -> myriad::envs::Result<(Params, Option<u32>)> {
        let mut r = ConfigReader::new(id, config);
        let p = Params { length: r.positive_f32("length", 8.0)?, step_reward: r.f32("step_reward", -0.01)? };
        let max_steps = r.u32_opt("max_episode_steps")?;
        r.finish()?;
        Ok((p, max_steps))
    }

    fn spec(id: &str, p: &Params, max_episode_steps: Option<u32>) -> EnvSpec {
        EnvSpec {
            id: id.to_string(),
            observation_space: Space::bounded(vec![0.0], vec![p.length]),
            action_space: Space::Discrete { n: 2 },
            max_episode_steps: max_episode_steps.unwrap_or(50),
            reward_threshold: None,
            state_dim: 1,
        }
    }

    fn reset(_p: &Params, _rng: &mut Stream) -> State {
        State { x: 0.0 }
    }

    fn step(p: &Params, s: &State, action: u32, _rng: &mut Stream) -> (State, f32, bool) {
        let x = if action == 1 { s.x + 1.0 } else { s.x - 1.0 };
        let at_goal = x >= p.length;
        (State { x: x.clamp(0.0, p.length) }, if at_goal { 1.0 } else { p.step_reward }, at_goal)
    }

    fn observe(p: &Params, s: &State, obs: &mut [f32]) {
        obs[0] = s.x / p.length;
    }

    fn valid_action(_p: &Params, a: &u32) -> bool {
        *a < 2
    }

    fn random_action(_p: &Params, bits: u32) -> u32 {
        below(bits, 2)
    }
}

#[derive(Parser)]
struct Args {
    /// `ppo` or `dqn`.
    #[arg(long, default_value = "ppo")]
    algo: String,
    /// Stop after this many env steps.
    #[arg(long, default_value_t = 100_000)]
    total_timesteps: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<(), myriad::Error> {
    let args = Args::parse();
    myriad::register_env::<Corridor>("Corridor-v0", "walk to the end of a corridor; Discrete(2), 50 steps")?;
    // The best return: 7 steps of -0.01, then the goal.
    let target = 1.0 - 0.07 - 1e-3;
    let mut algo: Box<dyn Algorithm> = match args.algo.as_str() {
        "ppo" => {
            let training = PpoTraining {
                lr: 1e-3.into(),
                train_batch_size: 1024,
                minibatch_size: 256,
                num_epochs: 4,
                ..Default::default()
            };
            let config = PpoConfig::default()
                .environment("Corridor-v0", EnvConfig::new())
                .env_runners(16, 64)
                .training(training);
            Box::new(config.evaluation(2, 8, false).debugging(args.seed).build()?)
        }
        "dqn" => {
            let mut training = DqnTraining {
                num_steps_sampled_before_learning_starts: 256,
                training_intensity: Some(8.0),
                ..Default::default()
            };
            training.epsilon = myriad::config::Schedule::Piecewise(vec![(0.0, 1.0), (4000.0, 0.05)]);
            let config =
                DqnConfig::default().environment("Corridor-v0", EnvConfig::new()).env_runners(8, 16).training(training);
            Box::new(config.evaluation(4, 8, false).debugging(args.seed).build()?)
        }
        other => return Err(myriad::Error::Config(format!("--algo {other}: this example trains ppo or dqn"))),
    };
    loop {
        let r = algo.train()?;
        if let Some(eval) = r.evaluation_episode_return_mean {
            println!(
                "steps {:>6}  greedy return {eval:.3} (best possible {target:.3})",
                r.num_env_steps_sampled_lifetime
            );
            if eval >= target {
                println!("solved");
                return Ok(());
            }
        }
        if r.num_env_steps_sampled_lifetime >= args.total_timesteps {
            return Err(myriad::Error::Config(format!("not solved in {} env steps", args.total_timesteps)));
        }
    }
}
