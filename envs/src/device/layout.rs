//! The buffer layout the GPU backends share (`batch_step.wgsl`, `batch_step.cu`): per-env scalars packed into
//! two row-major buffers, `floats [FLOAT_ROWS, N]` and `ints [INT_ROWS, N]`, beside `state`, `obs` and
//! `final_obs`.

use crate::batch::Field;
use bytemuck::{Pod, Zeroable};

/// Rows of `floats`: reward, return of the running episode, sum of finished episodes' returns.
pub(crate) const FLOAT_ROWS: usize = 3;
/// Rows of `ints`: terminated, truncated, elapsed, rng key, rng counter, episode length, finished episodes,
/// sum of their lengths, action-stream counter.
pub(crate) const INT_ROWS: usize = 9;
pub(crate) const F_DONE_RETURN: usize = 2;
pub(crate) const I_ELAPSED: usize = 2;
pub(crate) const I_DONE_COUNT: usize = 6;

/// Where a field lives.
pub(crate) enum Slot {
    State,
    Obs,
    FinalObs,
    /// A row of `floats`.
    Float(usize),
    /// A row of `ints`.
    Int(usize),
}

pub(crate) fn slot(field: Field) -> Slot {
    match field {
        Field::State => Slot::State,
        Field::Obs => Slot::Obs,
        Field::FinalObs => Slot::FinalObs,
        Field::Reward => Slot::Float(0),
        Field::EpisodeReturn => Slot::Float(1),
        Field::DoneReturn => Slot::Float(F_DONE_RETURN),
        Field::Terminated => Slot::Int(0),
        Field::Truncated => Slot::Int(1),
        Field::Elapsed => Slot::Int(I_ELAPSED),
        Field::RngCounter => Slot::Int(4),
        Field::EpisodeLength => Slot::Int(5),
        Field::DoneCount => Slot::Int(I_DONE_COUNT),
        Field::DoneLength => Slot::Int(7),
    }
}

/// The batch-wide scalars of every launch: WGSL's `BatchParams` uniform field for field, and the first six
/// arguments of the CUDA kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(crate) struct BatchParams {
    pub num_envs: u32,
    pub max_steps: u32,
    pub autoreset: u32,
    /// Steps per `step_random` launch.
    pub steps: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<BatchParams>() == 32);
