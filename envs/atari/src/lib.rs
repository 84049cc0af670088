//! # myriad-atari
//!
//! Atari 2600 games through the Arcade Learning Environment (ALE 0.6.0, built from the `ale-sys` crate) as
//! batched Myriad envs: Gymnasium's `ALE/<Game>-v5` and `<Game>NoFrameskip-v4` ids with their kwargs, the
//! standard preprocessing (Gymnasium's `AtariPreprocessing`, DeepMind's wrappers, frame stacking) and the
//! `atari100k` and `machado` presets, stepped on a thread pool synchronously or EnvPool-style asynchronously,
//! observations as u8 in one staging buffer per step.
//!
//! ```no_run
//! use myriad_atari::AtariBatch;
//! let config = "preset=atari100k".parse()?;
//! let mut envs = AtariBatch::new("ALE/Pong-v5", &config, 8, 0, 0)?;
//! let out = envs.step(&[0; 8])?;
//! assert_eq!(envs.observations().len(), 8 * 4 * 84 * 84);
//! # Ok::<(), myriad_envs::Error>(())
//! ```
//!
//! This crate links ALE statically and is licensed GPL-2.0-only, as ALE is.

pub mod ale;
pub mod batch;
pub mod config;
pub mod env;
pub mod resize;
pub mod roms;
pub mod trace;

pub use batch::{AsyncAtariBatch, AtariBatch, AtariSpec, StepOutputs};
pub use config::{is_atari_id, registered_ids, AtariConfig, Preprocessing};
pub use env::{AtariEnv, AtariEnvState, Transition};
pub use roms::{Game, Rom};
