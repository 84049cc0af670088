//! The envs a learner drives: a device batch (classic control, toy text; on the learner's device) or, with the
//! `atari` feature, Atari emulators on CPU threads whose frames are uploaded once per step, or host envs a caller
//! registered ([`super::host`]: a Python Gymnasium env), stepped on the host and uploaded once per step.

use crate::envs::{make, BatchSnapshot, Device as EnvDevice, EnvBatch, EnvConfig, EnvSpec};
use crate::Error;

/// A batch of envs of one id.
pub enum Envs {
    Batch(EnvBatch),
    #[cfg(feature = "atari")]
    Atari(super::atari::AtariEnvs),
    Host(super::host::HostEnvs),
}

/// Whether `id` names an Atari env (`ALE/<Game>-v5`, `<Game>NoFrameskip-v4`).
pub fn is_atari_id(id: &str) -> bool {
    id.starts_with("ALE/") || id.ends_with("NoFrameskip-v4")
}

/// Registers a user's own env under `id` for every algorithm (see `myriad_envs::register`); ids of the Atari
/// families (`ALE/...`, `...NoFrameskip-v4`) are refused as well as taken ones.
pub fn register_env<E: crate::envs::Env>(id: &str, summary: &str) -> Result<(), Error> {
    if is_atari_id(id) {
        return Err(Error::Config(format!(
            "cannot register env `{}`: ids `ALE/...` and `...NoFrameskip-v4` name Atari games; choose another id",
            crate::algo::clip(id, 100)
        )));
    }
    Ok(crate::envs::register::<E>(id, summary)?)
}

impl Envs {
    /// Makes `n` envs of `id` for a learner whose envs run on `device`, reset with `seed`.
    pub fn make(id: &str, config: &EnvConfig, n: usize, device: &EnvDevice, seed: u64) -> Result<Envs, Error> {
        if let Some((factory, _)) = super::host::host_env(id) {
            return Ok(Envs::Host(super::host::HostEnvs::new(id, &factory, config, n, seed)?));
        }
        if is_atari_id(id) {
            #[cfg(feature = "atari")]
            return Ok(Envs::Atari(super::atari::AtariEnvs::new(id, config, n, seed)?));
            #[cfg(not(feature = "atari"))]
            return Err(Error::Config(format!(
                "{id} is an Atari env: rebuild Myriad with `--features atari` (needs cmake and a C++ compiler)"
            )));
        }
        let mut batch = make(id, config, n, device)?;
        batch.reset(seed)?;
        Ok(Envs::Batch(batch))
    }

    pub fn spec(&self) -> &EnvSpec {
        match self {
            Envs::Batch(b) => b.spec(),
            #[cfg(feature = "atari")]
            Envs::Atari(a) => a.spec(),
            Envs::Host(h) => h.spec(),
        }
    }

    pub fn num_envs(&self) -> usize {
        match self {
            Envs::Batch(b) => b.num_envs(),
            #[cfg(feature = "atari")]
            Envs::Atari(a) => a.num_envs(),
            Envs::Host(h) => h.num_envs(),
        }
    }

    /// The batch's state for a checkpoint. For Atari its fields list is empty: the emulators' states are in
    /// [`Envs::atari_json`]. Host envs keep no state in a checkpoint: a resume starts new episodes.
    pub fn snapshot(&self) -> Result<BatchSnapshot, Error> {
        match self {
            Envs::Batch(b) => Ok(b.snapshot()?),
            #[cfg(feature = "atari")]
            Envs::Atari(a) => {
                Ok(BatchSnapshot { env: a.spec().id.clone(), num_envs: a.num_envs(), fields: Vec::new() })
            }
            Envs::Host(h) => Ok(BatchSnapshot { env: h.spec().id.clone(), num_envs: h.num_envs(), fields: Vec::new() }),
        }
    }

    /// Puts a snapshot back (Atari and host envs: new episodes, seeded from `seed`; a checkpoint with
    /// `atari.json` continues the saved games through [`Envs::load_atari_json`] instead).
    pub fn restore(&mut self, seed: u64, snapshot: &BatchSnapshot) -> Result<(), Error> {
        match self {
            Envs::Batch(b) => Ok(b.restore(seed, snapshot)?),
            #[cfg(feature = "atari")]
            Envs::Atari(a) => a.restart(super::Stream::EnvRestart.seed(seed)),
            Envs::Host(h) => h.restart(super::Stream::EnvRestart.seed(seed)),
        }
    }

    /// Atari: every emulator's state as the JSON a checkpoint keeps in `atari.json`; `None` for device batches.
    pub fn atari_json(&self) -> Result<Option<Vec<u8>>, Error> {
        match self {
            Envs::Batch(_) | Envs::Host(_) => Ok(None),
            #[cfg(feature = "atari")]
            Envs::Atari(a) => a.save_json().map(Some),
        }
    }

    /// Atari: continues the games saved in a checkpoint's `atari.json`. Device batches keep no such file.
    pub fn load_atari_json(&mut self, json: &[u8]) -> Result<(), Error> {
        match self {
            Envs::Batch(_) | Envs::Host(_) => {
                let _ = json;
                Err(Error::Io(format!("Atari env states do not belong to a run of {}", self.spec().id)))
            }
            #[cfg(feature = "atari")]
            Envs::Atari(a) => a.load_json(json),
        }
    }
}
