//! # Myriad
//!
//! GPU-first reinforcement learning: thousands of batched environments stepped on the device, next to the
//! model. This crate holds the learners (PPO, APPO, IMPALA, DQN/Rainbow, PQN, SAC), their configs, checkpoints,
//! metrics and the command-line tools; the environments, spaces, registry and device layer live in
//! [`myriad_envs`], re-exported here as [`envs`].

/// Atari games through the Arcade Learning Environment (feature `atari`).
#[cfg(feature = "atari")]
pub use myriad_atari as atari;
pub use myriad_envs as envs;

pub mod algo;
pub mod allocator;
pub mod bench;
pub mod checkpoint;
pub mod config;
mod error;
pub mod metrics;
pub mod model;
pub mod returns;
pub mod rollout;
pub mod run;
pub mod runners;
pub mod tuned;

pub use error::{Error, Result};
pub use runners::register_env;
