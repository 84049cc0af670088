//! Storage for what the env runners collect, on the learner's device: on-policy rollouts `[T, N, ...]`, the replay ring of the DQN family (with its
//! n-step windows and prioritized sampling over a host sum tree) and the stored forms of observations.

mod obs;
mod prioritized;
mod replay;
mod ring;
mod snapshot;
mod storage;
mod sum_tree;

pub use obs::{pack, unpack, ObsStorage, StoredObs};
pub use prioritized::PrioritizedSampler;
pub use replay::{ReplayBuffer, ReplaySample, ReplayStep};
pub use ring::{Pushed, Ring};
pub use storage::{RolloutShape, RolloutStorage, Transition};
pub use sum_tree::SumTree;
