//! Checkpoints, written once for every algorithm: a folder holding the config (`config.toml`), the counters and
//! the envs' state (`state.json`), the learner's files (`model.bpk` and `optimizer.bpk`, burnpack, plus whatever
//! else the algorithm keeps), for Atari every emulator's state with its frame stack (`atari.json`), and the
//! manifest (`manifest.json`, see [`Manifest`]) that says what the checkpoint is and holds the SHA-256 of every
//! other file. A run resumed from one continues exactly as the uninterrupted run would have (Atari with sticky
//! actions: up to the first sticky draw, see `myriad_atari::ale::EmulatorState`).
//!
//! Writes are atomic: the new checkpoint is written beside the old one, synced, and swapped in by renames, so a
//! crash at any point leaves the previous checkpoint (`checkpoint`, or `checkpoint.old` mid-swap) intact.
//! Reads verify before they load: every file against the manifest, then the algorithm, env, spaces, model layout
//! and counters against the run being built; any mismatch is an error naming the file and the reason, before
//! anything is applied.

mod manifest;

pub use manifest::{new_run_id, FileEntry, Manifest, FORMAT, MANIFEST};

use crate::algo::dqn::{q_network, QPolicy};
use crate::algo::{
    Algorithm, AppoTraining, DqnTraining, ImpalaTraining, PpoTraining, PqnTraining, SacTraining, Training,
};
use crate::config::AlgorithmConfig;
use crate::envs::BatchSnapshot;
use crate::runners::{self, Bridge, EvalSummary};
use crate::Error;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// `state.json`: what a run needs to continue besides the learner's files.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    progress: serde_json::Value,
    /// The training envs' states; absent where runner threads own the envs (IMPALA and APPO with
    /// `num_env_runners ≥ 1` restart their batches fresh on resume).
    #[serde(default)]
    envs: Option<BatchSnapshot>,
}

/// The prefix of the temporary folders [`save`] writes into; a crash can leave one behind.
pub const TEMPORARY_PREFIX: &str = "checkpoint.tmp-";

/// Writes `algo`'s checkpoint as `<run_dir>/checkpoint`, replacing the previous one atomically, and records
/// `run_id` (the run folder's, see [`crate::run::RunFolder`]) in its manifest. Returns its path.
pub fn save(algo: &dyn Algorithm, run_dir: &Path, run_id: &str) -> Result<PathBuf, Error> {
    let io = |what: &str, e: &dyn std::fmt::Display| Error::Io(format!("writing a checkpoint ({what}): {e}"));
    let final_dir = run_dir.join("checkpoint");
    let tmp = run_dir.join(format!("{TEMPORARY_PREFIX}{}", std::process::id()));
    let old = run_dir.join("checkpoint.old");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io("clearing a stale temporary folder", &e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| io("creating the folder", &e))?;
    let mut files = algo.save_learner(&tmp)?;
    fs::write(tmp.join("config.toml"), algo.config().to_toml()?).map_err(|e| io("config.toml", &e))?;
    let envs = algo.runner().map(|r| r.envs());
    let spec = algo.env_spec();
    let state = State { progress: algo.progress().to_json(), envs: envs.map(|e| e.snapshot()).transpose()? };
    let json = serde_json::to_vec(&state).map_err(|e| io("state.json", &e))?;
    fs::write(tmp.join("state.json"), json).map_err(|e| io("state.json", &e))?;
    files.extend(["config.toml".to_string(), "state.json".to_string()]);
    if let Some(atari) = envs.map(|e| e.atari_json()).transpose()?.flatten() {
        fs::write(tmp.join("atari.json"), atari).map_err(|e| io("atari.json", &e))?;
        files.push("atari.json".into());
    }
    let mut entries = std::collections::BTreeMap::new();
    for name in files {
        let path = tmp.join(&name);
        fs::File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io(&name, &e))?;
        entries.insert(name.clone(), FileEntry::of(&path).map_err(|e| io(&name, &e))?);
    }
    let counters = algo.progress().counters();
    let manifest = Manifest {
        format: FORMAT,
        myriad_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.into(),
        algorithm: algo.name().into(),
        env: spec.id.clone(),
        observation_space: spec.observation_space.clone(),
        action_space: spec.action_space.clone(),
        model_layout: algo.policy_layout(),
        training_iteration: counters.iteration,
        num_env_steps_sampled_lifetime: counters.env_steps,
        files: entries,
    };
    manifest.write(&tmp)?;
    sync_dir(&tmp).map_err(|e| io("syncing the folder", &e))?;
    if final_dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| io("removing checkpoint.old", &e))?;
        }
        fs::rename(&final_dir, &old).map_err(|e| io("moving the previous checkpoint aside", &e))?;
    }
    fs::rename(&tmp, &final_dir).map_err(|e| io("moving the new checkpoint in place", &e))?;
    sync_dir(run_dir).map_err(|e| io("syncing the run folder", &e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| io("removing checkpoint.old", &e))?;
    }
    Ok(final_dir)
}

/// Makes a folder's entries (new files, renames) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Finds the checkpoint folder for `path`: a checkpoint itself, or a run folder holding `checkpoint` (or, after a
/// crash mid-swap, `checkpoint.old`).
pub fn locate(path: &Path) -> Result<PathBuf, Error> {
    for candidate in [path.to_path_buf(), path.join("checkpoint"), path.join("checkpoint.old")] {
        if candidate.join(MANIFEST).is_file() || candidate.join("state.json").is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::Checkpoint(format!(
        "no checkpoint at {} (expected {MANIFEST} there or in its `checkpoint` folder)",
        path.display()
    )))
}

/// A checkpoint found and verified by [`open`]: its folder and its manifest. Reading the config from it and
/// restoring it take this, so a resume digests the checkpoint's files once.
pub struct Opened {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Finds the checkpoint for `path`, reads its manifest and verifies every file against it. Nothing of a
/// checkpoint is read but through this.
pub fn open(path: &Path) -> Result<Opened, Error> {
    let dir = locate(path)?;
    if !dir.join(MANIFEST).is_file() {
        return Err(Error::Checkpoint(format!(
            "{} has no {MANIFEST}: it was written by an older Myriad (checkpoint format 2), this one reads format \
             {FORMAT}",
            dir.display()
        )));
    }
    let manifest = Manifest::read(&dir)?;
    manifest.verify(&dir)?;
    Ok(Opened { dir, manifest })
}

/// The manifest of the checkpoint at `path`, verified.
pub fn manifest_of(path: &Path) -> Result<Manifest, Error> {
    Ok(open(path)?.manifest)
}

fn read_state(dir: &Path, manifest: &Manifest) -> Result<State, Error> {
    let corrupt = |e: &dyn std::fmt::Display| {
        Error::Checkpoint(format!("{} is unreadable or corrupt: {e}", dir.join("state.json").display()))
    };
    let bytes = fs::read(dir.join("state.json")).map_err(|e| corrupt(&e))?;
    let state: State = serde_json::from_slice(&bytes).map_err(|e| corrupt(&e))?;
    // The shared counters sit in `progress` itself (flattened) or under its `counters`.
    let counters = state.progress.get("counters").unwrap_or(&state.progress).clone();
    let counters: crate::algo::Counters = serde_json::from_value(counters).map_err(|e| corrupt(&e))?;
    if (counters.iteration, counters.env_steps)
        != (manifest.training_iteration, manifest.num_env_steps_sampled_lifetime)
    {
        return Err(corrupt(&format!(
            "its counters (iteration {}, {} env steps) are not the manifest's (iteration {}, {} env steps)",
            counters.iteration,
            counters.env_steps,
            manifest.training_iteration,
            manifest.num_env_steps_sampled_lifetime
        )));
    }
    Ok(state)
}

/// The algorithm (RLlib's name, e.g. `PPO`, `DQN`) whose checkpoint `path` holds.
pub fn algorithm_of(path: &Path) -> Result<String, Error> {
    Ok(open(path)?.manifest.algorithm)
}

/// Reads the config a checkpoint was trained with.
pub fn load_config<T: Training>(path: &Path) -> Result<AlgorithmConfig<T>, Error> {
    config_of(&open(path)?)
}

/// The config an opened checkpoint was trained with.
pub fn config_of<T: Training>(checkpoint: &Opened) -> Result<AlgorithmConfig<T>, Error> {
    check_algorithm::<T>(&checkpoint.dir, &checkpoint.manifest)?;
    config_in::<T>(&checkpoint.dir)
}

fn config_in<T: Training>(dir: &Path) -> Result<AlgorithmConfig<T>, Error> {
    let path = dir.join("config.toml");
    let text = fs::read_to_string(&path).map_err(|e| Error::Checkpoint(format!("{}: {e}", path.display())))?;
    crate::config::from_toml(&text).map_err(|e| Error::Checkpoint(format!("{}: {e}", path.display())))
}

/// The checkpoint's config with `backend` (if any) replacing the run's, and the bridge for it.
fn evaluation_config<T: Training>(
    dir: &Path,
    backend: Option<crate::envs::Backend>,
) -> Result<(AlgorithmConfig<T>, Bridge), Error> {
    let mut config = config_in::<T>(dir)?;
    if let Some(backend) = backend {
        config.resources.backend = backend;
    }
    let bridge = Bridge::new(&config.resources)?;
    Ok((config, bridge))
}

/// [`evaluate`] for the algorithms whose policy is the actor-critic (PPO, IMPALA, APPO).
fn evaluate_actor_critic<T: Training>(
    dir: &Path,
    manifest: &Manifest,
    backend: Option<crate::envs::Backend>,
    (episodes, explore, seed): (usize, bool, u64),
) -> Result<EvalSummary, Error> {
    let (config, bridge) = evaluation_config::<T>(dir, backend)?;
    let model = crate::algo::actor_critic(&config, &manifest.observation_space, &manifest.action_space, &bridge)?;
    check_layout(dir, manifest, &crate::model::layout_of(&model))?;
    let model = crate::model::load_weights(model, dir)?;
    runners::evaluate(&model.valid(), &config.environment, &bridge, episodes, explore, seed)
}

fn check_algorithm<T: Training>(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    if manifest.algorithm != T::NAME {
        return Err(Error::Checkpoint(format!(
            "{} holds a {} run, not a {} one: resume it with `myriad train {}`",
            dir.display(),
            crate::algo::clip(&manifest.algorithm, 100),
            T::NAME,
            crate::algo::clip(&manifest.algorithm.to_lowercase(), 100)
        )));
    }
    Ok(())
}

/// Checks that a model built for this run has the checkpoint's parameter shapes.
fn check_layout(dir: &Path, manifest: &Manifest, built: &[Vec<usize>]) -> Result<(), Error> {
    if manifest.model_layout != built {
        let first = manifest.model_layout.iter().zip(built).position(|(a, b)| a != b);
        let detail = match first {
            Some(i) => format!("parameter {i} is {:?} there and {:?} here", manifest.model_layout[i], built[i]),
            None => format!("{} parameters there, {} here", manifest.model_layout.len(), built.len()),
        };
        return Err(Error::Checkpoint(format!(
            "{}: the model this config builds does not have the checkpoint's layout ({detail}); resume with the \
             checkpoint's rl_module settings",
            dir.display()
        )));
    }
    Ok(())
}

/// Builds the run `config` describes and loads the checkpoint at `path` into it. The checkpoint must come from
/// the same algorithm, env id, spaces, model layout and number of envs; all of it is checked, and every file
/// verified against the manifest, before anything is loaded.
///
/// burn places a restored optimiser's state on its implicit default device (`BURN_DEVICE`, else the first GPU
/// backend compiled in) until the next update moves it to the parameters' device. The `myriad` binary pins that
/// device to the CPU; a program restoring a CPU run where no GPU driver is installed sets `BURN_DEVICE=flex`
/// before it starts any thread.
pub fn restore<T: Training>(path: &Path, config: &AlgorithmConfig<T>) -> Result<T::Algo, Error> {
    restore_opened(&open(path)?, config)
}

/// [`restore`] from a checkpoint already opened.
pub fn restore_opened<T: Training>(checkpoint: &Opened, config: &AlgorithmConfig<T>) -> Result<T::Algo, Error> {
    let Opened { dir, manifest } = checkpoint;
    check_algorithm::<T>(dir, manifest)?;
    if manifest.env != config.environment.env {
        return Err(Error::Checkpoint(format!(
            "{} was trained on {}, not {}",
            dir.display(),
            crate::algo::clip(&manifest.env, 100),
            crate::algo::clip(&config.environment.env, 100)
        )));
    }
    let state = read_state(dir, manifest)?;
    let saved_envs = state.envs.as_ref().map(|e| e.num_envs);
    if saved_envs.is_some_and(|n| n != config.env_runners.num_envs_per_env_runner) {
        return Err(Error::Checkpoint(format!(
            "{} was taken with {} envs; resume with the same number (env_runners.num_envs_per_env_runner)",
            dir.display(),
            saved_envs.unwrap_or(0)
        )));
    }
    let mut algo = T::build(config)?;
    let spec = algo.env_spec().clone();
    if spec.observation_space != manifest.observation_space || spec.action_space != manifest.action_space {
        return Err(Error::Checkpoint(format!(
            "{} has observation space {} and action space {}, but this {} has {} and {}",
            dir.display(),
            manifest.observation_space,
            manifest.action_space,
            spec.id,
            spec.observation_space,
            spec.action_space
        )));
    }
    check_layout(dir, manifest, &algo.policy_layout())?;
    algo.load_learner(dir)?;
    let seed = algo.seed();
    match (algo.runner_mut(), &state.envs) {
        (Some(runner), Some(snapshot)) => {
            let envs = runner.envs_mut();
            let atari = dir.join("atari.json");
            if manifest.files.contains_key("atari.json") {
                let corrupt = |e: &dyn std::fmt::Display| {
                    Error::Checkpoint(format!("{} is unreadable or corrupt (atari.json): {e}", dir.display()))
                };
                let json = fs::read(&atari).map_err(|e| corrupt(&e))?;
                envs.load_atari_json(&json).map_err(|e| corrupt(&e))?;
            } else {
                envs.restore(seed, snapshot)?;
            }
        }
        (Some(_), None) => {
            return Err(Error::Checkpoint(format!(
                "{} was taken with runner threads, which keep no env states; resume it with \
                 env_runners.num_env_runners ≥ 1",
                dir.display()
            )))
        }
        // Runner threads start fresh batches from their own seed streams.
        (None, _) => {}
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
    let Opened { dir, manifest } = open(path)?;
    let (obs, act) = (&manifest.observation_space, &manifest.action_space);
    let summary = match manifest.algorithm.as_str() {
        "PPO" => evaluate_actor_critic::<PpoTraining>(&dir, &manifest, backend, (episodes, explore, seed))?,
        "IMPALA" => evaluate_actor_critic::<ImpalaTraining>(&dir, &manifest, backend, (episodes, explore, seed))?,
        "APPO" => evaluate_actor_critic::<AppoTraining>(&dir, &manifest, backend, (episodes, explore, seed))?,
        "PQN" => {
            let (config, bridge) = evaluation_config::<PqnTraining>(&dir, backend)?;
            let net = crate::algo::pqn::pqn_network(&config, obs, act, &bridge)?;
            check_layout(&dir, &manifest, &crate::model::layout_of(&net))?;
            let net = crate::model::load_weights(net, &dir)?.valid();
            let epsilon = config.training.epsilon.value_at(u64::MAX);
            runners::evaluate(&QPolicy { net, epsilon }, &config.environment, &bridge, episodes, explore, seed)?
        }
        "SAC" => {
            let (config, bridge) = evaluation_config::<SacTraining>(&dir, backend)?;
            let actor = crate::algo::sac::actor_network(&config, obs, act, &bridge)?;
            check_layout(&dir, &manifest, &crate::model::layout_of(&actor))?;
            let actor = crate::model::load_weights(actor, &dir)?.valid();
            let policy = crate::algo::sac::SacPolicy { actor };
            runners::evaluate(&policy, &config.environment, &bridge, episodes, explore, seed)?
        }
        "DQN" => {
            let (config, bridge) = evaluation_config::<DqnTraining>(&dir, backend)?;
            let net = q_network(&config, obs, act, &bridge)?;
            check_layout(&dir, &manifest, &crate::model::layout_of(&net))?;
            let net = crate::model::load_weights(net, &dir)?.valid();
            let epsilon = config.training.epsilon.value_at(u64::MAX);
            let policy = QPolicy { net, epsilon };
            runners::evaluate(&policy, &config.environment, &bridge, episodes, explore, seed)?
        }
        other => {
            return Err(Error::Checkpoint(format!(
                "{} holds a run of `{}`, an algorithm this Myriad does not know",
                dir.display(),
                crate::algo::clip(other, 100)
            )))
        }
    };
    Ok((manifest.env, summary))
}
