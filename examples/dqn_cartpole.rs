//! DQN on CartPole-v1 through the library, CleanRL-style: the replay buffer, target network and ε schedule are
//! imported; this program only picks the config and loops `train()` until the greedy evaluation reaches the target.
//! `--rainbow` switches every Rainbow extension on.
//!
//! `cargo run --release --example dqn_cartpole -- --seed 1 [--rainbow]`

use clap::Parser;
use myriad::algo::{Algorithm, DqnConfig, DqnTraining};
use myriad::config::Schedule;
use myriad::envs::EnvConfig;
use myriad::model::{Activation, ModelConfig};

#[derive(Parser)]
struct Args {
    /// Seed of envs, weights and every draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many env steps.
    #[arg(long, default_value_t = 100_000)]
    total_timesteps: u64,
    /// Stop once the greedy evaluation mean reaches this.
    #[arg(long, default_value_t = 475.0)]
    target: f64,
    /// Rainbow: double Q, dueling, 3-step returns, C51, noisy nets and prioritized replay.
    #[arg(long)]
    rainbow: bool,
}

fn main() -> Result<(), myriad::Error> {
    let args = Args::parse();
    let base = if args.rainbow {
        DqnTraining { v_min: 0.0, v_max: 200.0, ..DqnTraining::rainbow() }
    } else {
        DqnTraining {
            dueling: false,
            epsilon: Schedule::Piecewise(vec![(0.0, 1.0), (8000.0, 0.04)]),
            ..Default::default()
        }
    };
    let mut training = DqnTraining {
        lr: if args.rainbow { 1e-3 } else { 2.3e-3 }.into(),
        train_batch_size: 64,
        target_network_update_freq: 256,
        training_intensity: Some(32.0),
        grad_clip: 10.0,
        ..base
    };
    training.replay_buffer_config.capacity = 100_000;
    let model = ModelConfig { fcnet_hiddens: vec![256], fcnet_activation: Activation::Relu, ..Default::default() };
    let config = DqnConfig::default()
        .environment("CartPole-v1", EnvConfig::new())
        .env_runners(8, 32)
        .training(training)
        .rl_module(model)
        .evaluation(8, 32, false)
        .debugging(args.seed);
    let mut dqn = config.build()?;
    while dqn.progress().counters.env_steps < args.total_timesteps {
        let r = dqn.train()?;
        if let Some(eval) = r.evaluation_episode_return_mean {
            println!("steps {:>7}  evaluation return {eval:.1}", r.num_env_steps_sampled_lifetime);
            if eval >= args.target {
                break;
            }
        }
    }
    let summary = dqn.evaluate(100, false)?;
    println!("100 greedy episodes: return {:.1} ± {:.1}", summary.return_mean, summary.return_std);
    Ok(())
}
