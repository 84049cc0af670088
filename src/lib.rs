//! # Myriad
//!
//! GPU-first reinforcement learning: thousands of batched environments stepped on the device, next to the
//! model. This crate holds the command-line tools and (as they land) the learners; the environments, spaces,
//! registry and device layer live in [`myriad_envs`], re-exported here as [`envs`].

pub use myriad_envs as envs;

pub mod bench;
pub mod returns;
