//! PPO on CartPole-v1 through the library, CleanRL-style: a config from the builder, `train()` until the greedy
//! evaluation reaches the target, then a 100-episode evaluation.
//!
//! `cargo run --release --example ppo_cartpole -- --seed 1`

use clap::Parser;
use myriad::algo::{Algorithm, PpoConfig, PpoTraining};
use myriad::envs::EnvConfig;
use myriad::model::{Activation, ModelConfig};

#[derive(Parser)]
struct Args {
    /// Seed of envs, weights and every draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many env steps.
    #[arg(long, default_value_t = 200_000)]
    total_timesteps: u64,
    /// Stop once the greedy evaluation mean reaches this.
    #[arg(long, default_value_t = 475.0)]
    target: f64,
}

fn main() -> Result<(), myriad::Error> {
    let args = Args::parse();
    let training = PpoTraining {
        lr: 3e-3.into(),
        lambda_: 0.95,
        train_batch_size: 1024,
        minibatch_size: 256,
        num_epochs: 6,
        clip_param: 0.2,
        vf_clip_param: 1e4,
        vf_loss_coeff: 0.5,
        use_kl_loss: false,
        grad_clip: 0.5,
        ..Default::default()
    };
    let model = ModelConfig { fcnet_hiddens: vec![64, 64], fcnet_activation: Activation::Relu, ..Default::default() };
    let config = PpoConfig::default()
        .environment("CartPole-v1", EnvConfig::new())
        .env_runners(16, 64)
        .training(training)
        .rl_module(model)
        .evaluation(4, 32, false)
        .debugging(args.seed);
    let mut ppo = config.build()?;
    while ppo.progress().counters.env_steps < args.total_timesteps {
        let r = ppo.train()?;
        if let Some(eval) = r.evaluation_episode_return_mean {
            println!("steps {:>7}  evaluation return {eval:.1}", r.num_env_steps_sampled_lifetime);
            if eval >= args.target {
                break;
            }
        }
    }
    let summary = ppo.evaluate(100, false)?;
    println!("100 greedy episodes: return {:.1} ± {:.1}", summary.return_mean, summary.return_std);
    Ok(())
}
