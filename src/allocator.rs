//! The allocator the `myriad` binary runs on: mimalloc.
//!
//! A learner frees and reallocates tensors of megabytes every minibatch (a `[4096, 128]` activation is 2 MiB).
//! glibc's allocator serves blocks that large from fresh mappings or from the top of its heap, returns them to
//! the kernel as they are freed, and takes them back page fault by page fault, zeroed, on the next allocation.
//! In a PQN iteration at 4,096 envs on the CPU backend that cost more than half the time, most of it in the
//! kernel; mimalloc keeps the freed pages and hands them out again. One PQN run on CartPole-v1 (4,096 envs × 16
//! steps, 4 epochs of 16 minibatches, 2-core VM): 13.7 s with glibc, 5–6 s with mimalloc.
//!
//! A program linking this library picks its own allocator; the binary installs this one with
//! `#[global_allocator] static ALLOCATOR: Allocator = Allocator;`.

/// The global allocator of the `myriad` binary.
pub use mimalloc::MiMalloc as Allocator;
