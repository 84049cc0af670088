//! Checkpoints, written once for every algorithm: a folder holding the config (`config.toml`), the manifest with
//! the counters and the envs' state (`state.json`: format, algorithm, env id and spaces), the learner's files
//! (`model.bpk` and `optimizer.bpk`, burnpack, plus whatever else the algorithm keeps) and, for Atari, every
//! emulator's state with its frame stack (`atari.json`). A run resumed from one continues exactly as the
//! uninterrupted run would have (Atari with sticky actions: up to the first sticky draw, see
//! `myriad_atari::ale::EmulatorState`).
//!
//! Writes are atomic: the new checkpoint is written beside the old one, synced, and swapped in by renames, so a
//! crash at any point leaves the previous checkpoint (`checkpoint`, or `checkpoint.old` mid-swap) intact.

use crate::algo::dqn::{q_network, QPolicy};
use crate::algo::ppo::ppo_model;
use crate::algo::{Algorithm, DqnTraining, PpoTraining, Training};
use crate::config::AlgorithmConfig;
use crate::envs::{BatchSnapshot, Space};
use crate::runners::{self, Bridge, EvalSummary};
use crate::Error;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 2;

/// `state.json`.
#[derive(Serialize, Deserialize)]
struct State {
    format: u32,
    algorithm: String,
    env: String,
    observation_space: Space,
    action_space: Space,
    progress: serde_json::Value,
    envs: BatchSnapshot,
}

/// Writes `algo`'s checkpoint as `<run_dir>/checkpoint`, replacing the previous one atomically. Returns its path.
pub fn save(algo: &dyn Algorithm, run_dir: &Path) -> Result<PathBuf, Error> {
    let io = |what: &str, e: &dyn std::fmt::Display| Error::Io(format!("writing a checkpoint ({what}): {e}"));
    let final_dir = run_dir.join("checkpoint");
    let tmp = run_dir.join(format!("checkpoint.tmp-{}", std::process::id()));
    let old = run_dir.join("checkpoint.old");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io("clearing a stale temporary folder", &e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| io("creating the folder", &e))?;
    let mut files = algo.save_learner(&tmp)?;
    fs::write(tmp.join("config.toml"), algo.config().to_toml()?).map_err(|e| io("config.toml", &e))?;
    let envs = algo.runner().envs();
    let spec = envs.spec();
    let state = State {
        format: FORMAT,
        algorithm: algo.name().into(),
        env: spec.id.clone(),
        observation_space: spec.observation_space.clone(),
        action_space: spec.action_space.clone(),
        progress: algo.progress().to_json(),
        envs: envs.snapshot()?,
    };
    let json = serde_json::to_vec(&state).map_err(|e| io("state.json", &e))?;
    fs::write(tmp.join("state.json"), json).map_err(|e| io("state.json", &e))?;
    files.extend(["config.toml".to_string(), "state.json".to_string()]);
    if let Some(atari) = envs.atari_json()? {
        fs::write(tmp.join("atari.json"), atari).map_err(|e| io("atari.json", &e))?;
        files.push("atari.json".into());
    }
    for name in files {
        fs::File::open(tmp.join(&name)).and_then(|f| f.sync_all()).map_err(|e| io(&name, &e))?;
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

fn read_state(dir: &Path) -> Result<State, Error> {
    let corrupt = |e: &dyn std::fmt::Display| {
        Error::Checkpoint(format!("{} is unreadable or corrupt (state.json): {e}", dir.display()))
    };
    let bytes = fs::read(dir.join("state.json")).map_err(|e| corrupt(&e))?;
    let state: State = serde_json::from_slice(&bytes).map_err(|e| corrupt(&e))?;
    if state.format != FORMAT {
        return Err(Error::Checkpoint(format!(
            "{} has checkpoint format {}, this Myriad reads format {FORMAT}",
            dir.display(),
            state.format
        )));
    }
    Ok(state)
}

/// The algorithm (RLlib's name, e.g. `PPO`, `DQN`) whose checkpoint `path` holds.
pub fn algorithm_of(path: &Path) -> Result<String, Error> {
    let dir = locate(path)?;
    Ok(read_state(&dir)?.algorithm)
}

/// Reads the config a checkpoint was trained with.
pub fn load_config<T: Training>(path: &Path) -> Result<AlgorithmConfig<T>, Error> {
    let dir = locate(path)?;
    check_algorithm::<T>(&dir, &read_state(&dir)?)?;
    let text = fs::read_to_string(dir.join("config.toml"))
        .map_err(|e| Error::Checkpoint(format!("{}: {e}", dir.join("config.toml").display())))?;
    crate::config::from_toml(&text)
        .map_err(|e| Error::Checkpoint(format!("{}: {e}", dir.join("config.toml").display())))
}

fn check_algorithm<T: Training>(dir: &Path, state: &State) -> Result<(), Error> {
    if state.algorithm != T::NAME {
        return Err(Error::Checkpoint(format!(
            "{} holds a {} run, not a {} one: resume it with `myriad train {}`",
            dir.display(),
            state.algorithm,
            T::NAME,
            state.algorithm.to_lowercase()
        )));
    }
    Ok(())
}

/// Builds the run `config` describes and loads the checkpoint at `path` into it. The checkpoint must come from
/// the same algorithm, env id and spaces.
pub fn restore<T: Training>(path: &Path, config: &AlgorithmConfig<T>) -> Result<T::Algo, Error> {
    let dir = locate(path)?;
    let state = read_state(&dir)?;
    check_algorithm::<T>(&dir, &state)?;
    if state.env != config.environment.env {
        return Err(Error::Checkpoint(format!(
            "{} was trained on {}, not {}",
            dir.display(),
            state.env,
            config.environment.env
        )));
    }
    let mut algo = T::build(config)?;
    let spec = algo.env_spec().clone();
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
    algo.load_learner(&dir)?;
    let num_envs = algo.runner().num_envs();
    if state.envs.num_envs != num_envs {
        return Err(Error::Checkpoint(format!(
            "{} was taken with {} envs; resume with the same number (env_runners.num_envs_per_env_runner)",
            dir.display(),
            state.envs.num_envs
        )));
    }
    let seed = algo.seed();
    let envs = algo.runner_mut().envs_mut();
    let atari = dir.join("atari.json");
    if atari.is_file() {
        let corrupt = |e: &dyn std::fmt::Display| {
            Error::Checkpoint(format!("{} is unreadable or corrupt (atari.json): {e}", dir.display()))
        };
        let json = fs::read(&atari).map_err(|e| corrupt(&e))?;
        envs.load_atari_json(&json).map_err(|e| corrupt(&e))?;
    } else {
        envs.restore(seed, &state.envs)?;
    }
    algo.progress_mut().load_json(state.progress)?;
    Ok(algo)
}

/// Plays `episodes` episodes with the policy of the checkpoint at `path` (on `backend`, default the run's own),
/// loading only the policy's weights: no optimiser state and no training envs. Returns the env id and the
/// summary.
pub fn evaluate(
    path: &Path,
    backend: Option<crate::envs::Backend>,
    episodes: usize,
    explore: bool,
    seed: u64,
) -> Result<(String, EvalSummary), Error> {
    let dir = locate(path)?;
    let state = read_state(&dir)?;
    match state.algorithm.as_str() {
        "PPO" => {
            let mut config = load_config::<PpoTraining>(&dir)?;
            if let Some(backend) = backend {
                config.resources.backend = backend;
            }
            let bridge = Bridge::new(&config.resources)?;
            let model = ppo_model(&config, &state.observation_space, &state.action_space, &bridge)?;
            let model = crate::model::load_weights(model, &dir)?;
            let summary = runners::evaluate(&model.valid(), &config.environment, &bridge, episodes, explore, seed)?;
            Ok((state.env, summary))
        }
        "DQN" => {
            let mut config = load_config::<DqnTraining>(&dir)?;
            if let Some(backend) = backend {
                config.resources.backend = backend;
            }
            let bridge = Bridge::new(&config.resources)?;
            let net = q_network(&config, &state.observation_space, &state.action_space, &bridge)?;
            let net = crate::model::load_weights(net, &dir)?.valid();
            let epsilon = config.training.epsilon.value_at(u64::MAX);
            let policy = QPolicy { net, epsilon };
            let summary = runners::evaluate(&policy, &config.environment, &bridge, episodes, explore, seed)?;
            Ok((state.env, summary))
        }
        other => Err(Error::Checkpoint(format!(
            "{} holds a run of `{}`, an algorithm this Myriad does not know",
            dir.display(),
            crate::algo::clip(other, 100)
        ))),
    }
}
