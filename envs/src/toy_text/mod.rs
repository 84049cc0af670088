//! Gymnasium's toy-text suite.

pub mod frozen_lake;

pub use frozen_lake::FrozenLake;
