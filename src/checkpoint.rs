//! Checkpoints: a folder holding the model (`model.bpk`, burnpack), the optimiser state (`optimizer.bpk`), the
//! config (`config.toml`), the counters with the envs' state (`state.json`) and, for Atari, every emulator's
//! state with its frame stack (`atari.json`). A run resumed from one continues exactly as the uninterrupted run
//! would have (Atari with sticky actions: up to the first sticky draw, see `myriad_atari::ale::EmulatorState`).
//!
//! Writes are atomic: the new checkpoint is written beside the old one, synced, and swapped in by renames, so a
//! crash at any point leaves the previous checkpoint (`checkpoint`, or `checkpoint.old` mid-swap) intact.

use crate::algo::ppo::{Ppo, PpoConfig, Progress};
use crate::envs::{BatchSnapshot, Space};
use crate::Error;
use burn::module::Module;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 1;

/// `state.json`.
#[derive(Serialize, Deserialize)]
struct State {
    format: u32,
    algorithm: String,
    env: String,
    observation_space: Space,
    action_space: Space,
    progress: Progress,
    envs: BatchSnapshot,
}

/// Writes `ppo`'s checkpoint as `<run_dir>/checkpoint`, replacing the previous one atomically. Returns its path.
pub fn save(ppo: &Ppo, run_dir: &Path) -> Result<PathBuf, Error> {
    let io = |what: &str, e: &dyn std::fmt::Display| Error::Io(format!("writing a checkpoint ({what}): {e}"));
    let final_dir = run_dir.join("checkpoint");
    let tmp = run_dir.join(format!("checkpoint.tmp-{}", std::process::id()));
    let old = run_dir.join("checkpoint.old");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io("clearing a stale temporary folder", &e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| io("creating the folder", &e))?;
    ppo.model.clone().into_record().save(tmp.join("model.bpk")).map_err(|e| io("model.bpk", &e))?;
    ppo.optimizer.save(tmp.join("optimizer.bpk")).map_err(|e| io("optimizer.bpk", &e))?;
    let config = crate::config::to_toml(&ppo.config).map_err(|e| io("config.toml", &e))?;
    fs::write(tmp.join("config.toml"), config).map_err(|e| io("config.toml", &e))?;
    let spec = ppo.env.spec();
    let state = State {
        format: FORMAT,
        algorithm: "PPO".into(),
        env: spec.id.clone(),
        observation_space: spec.observation_space.clone(),
        action_space: spec.action_space.clone(),
        progress: ppo.progress.clone(),
        envs: ppo.env.snapshot()?,
    };
    let json = serde_json::to_vec(&state).map_err(|e| io("state.json", &e))?;
    fs::write(tmp.join("state.json"), json).map_err(|e| io("state.json", &e))?;
    let mut files = vec!["model.bpk", "optimizer.bpk", "config.toml", "state.json"];
    if let Some(atari) = ppo.env.atari_json()? {
        fs::write(tmp.join("atari.json"), atari).map_err(|e| io("atari.json", &e))?;
        files.push("atari.json");
    }
    for name in files {
        fs::File::open(tmp.join(name)).and_then(|f| f.sync_all()).map_err(|e| io(name, &e))?;
    }
    if final_dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| io("removing checkpoint.old", &e))?;
        }
        fs::rename(&final_dir, &old).map_err(|e| io("moving the previous checkpoint aside", &e))?;
    }
    fs::rename(&tmp, &final_dir).map_err(|e| io("moving the new checkpoint in place", &e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| io("removing checkpoint.old", &e))?;
    }
    Ok(final_dir)
}

/// Finds the checkpoint folder for `path`: a checkpoint itself, or a run folder holding `checkpoint` (or, after a
/// crash mid-swap, `checkpoint.old`).
pub fn locate(path: &Path) -> Result<PathBuf, Error> {
    for candidate in [path.to_path_buf(), path.join("checkpoint"), path.join("checkpoint.old")] {
        if candidate.join("state.json").is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::Checkpoint(format!(
        "no checkpoint at {} (expected state.json there or in its `checkpoint` folder)",
        path.display()
    )))
}

/// Reads the config a checkpoint was trained with.
pub fn load_config(path: &Path) -> Result<PpoConfig, Error> {
    let dir = locate(path)?;
    let text = fs::read_to_string(dir.join("config.toml"))
        .map_err(|e| Error::Checkpoint(format!("{}: {e}", dir.join("config.toml").display())))?;
    crate::config::from_toml(&text)
        .map_err(|e| Error::Checkpoint(format!("{}: {e}", dir.join("config.toml").display())))
}

/// Builds the run `config` describes and loads the checkpoint at `path` into it. The checkpoint must come from
/// the same env id and spaces.
pub fn restore(path: &Path, config: &PpoConfig) -> Result<Ppo, Error> {
    let dir = locate(path)?;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        Error::Checkpoint(format!("{} is unreadable or corrupt ({what}): {e}", dir.display()))
    };
    let bytes = fs::read(dir.join("state.json")).map_err(|e| corrupt("state.json", &e))?;
    let state: State = serde_json::from_slice(&bytes).map_err(|e| corrupt("state.json", &e))?;
    if state.format != FORMAT || state.algorithm != "PPO" {
        return Err(Error::Checkpoint(format!(
            "{} holds a {} checkpoint of format {}, expected PPO format {FORMAT}",
            dir.display(),
            state.algorithm,
            state.format
        )));
    }
    if state.env != config.environment.env {
        return Err(Error::Checkpoint(format!(
            "{} was trained on {}, not {}",
            dir.display(),
            state.env,
            config.environment.env
        )));
    }
    let mut ppo = config.build()?;
    let spec = ppo.env.spec().clone();
    if spec.observation_space != state.observation_space || spec.action_space != state.action_space {
        return Err(Error::Checkpoint(format!(
            "{} has observation space {} and action space {}, but this {} has {} and {}",
            dir.display(),
            state.observation_space,
            state.action_space,
            spec.id,
            spec.observation_space,
            spec.action_space
        )));
    }
    let record = ModuleRecord::load(dir.join("model.bpk")).map_err(|e| corrupt("model.bpk", &e))?;
    ppo.model = ppo.model.clone().try_load_record(record).map_err(|e| corrupt("model.bpk", &e))?;
    let optimizer_record =
        burn::optim::OptimizerRecord::load(dir.join("optimizer.bpk")).map_err(|e| corrupt("optimizer.bpk", &e))?;
    ppo.optimizer = ppo.optimizer.clone().load_record(optimizer_record);
    if state.envs.num_envs != ppo.sizes().num_envs {
        return Err(Error::Checkpoint(format!(
            "{} was taken with {} envs; resume with the same number (env_runners.num_envs_per_env_runner)",
            dir.display(),
            state.envs.num_envs
        )));
    }
    let atari = dir.join("atari.json");
    if atari.is_file() {
        let json = fs::read(&atari).map_err(|e| corrupt("atari.json", &e))?;
        ppo.env.load_atari_json(&json).map_err(|e| corrupt("atari.json", &e))?;
    } else {
        ppo.env.restore(config.debugging.seed, &state.envs)?;
    }
    ppo.progress = state.progress;
    Ok(ppo)
}
