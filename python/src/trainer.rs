//! `Trainer`: one of Myriad's learners, driven from Python an iteration at a time, as RLlib's `Algorithm` is.

use crate::errors::{error, value_error};
use myriad::algo::Algorithm;
use myriad::checkpoint;
use myriad::run::{build, ConfigSource, Stop};
use myriad::runners::{act_on_host, Noise, Stream};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use std::path::PathBuf;

/// The learner holds tensors of its backend, which stay on the thread that made them.
#[pyclass(module = "myriad._myriad", unsendable)]
pub struct Trainer {
    algo: Box<dyn Algorithm>,
    cli: String,
    stop: Stop,
    origin: String,
    /// Names this trainer's checkpoints, so that `save` never replaces another run's.
    run_id: String,
    noise: Noise,
}

fn new_run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("python-{}-{}-{}", std::process::id(), now.as_secs(), now.subsec_nanos())
}

/// RLlib's name of the algorithm a checkpoint holds (`PPO`, `DQN`, ...) and the id of its env.
#[pyfunction]
pub fn checkpoint_info(path: PathBuf) -> PyResult<(String, String)> {
    let manifest = checkpoint::manifest_of(&path).map_err(error)?;
    Ok((manifest.algorithm, manifest.env))
}

#[pymethods]
impl Trainer {
    /// The algorithm `algo` names (`ppo`, `dqn`, ...) on `env`, from `config_toml` (TOML text with RLlib's group
    /// names; `origin` names it in messages) or else the env's tuned config or the algorithm's defaults, with
    /// `overrides` (`group.field=value`, TOML values) applied; or, with `resume`, the run of that checkpoint.
    #[new]
    #[pyo3(signature = (algo, env=None, config_toml=None, origin="the config", overrides=Vec::new(), resume=None))]
    fn new(
        algo: &str,
        env: Option<&str>,
        config_toml: Option<&str>,
        origin: &str,
        overrides: Vec<String>,
        resume: Option<PathBuf>,
    ) -> PyResult<Self> {
        let opened = resume.as_deref().map(checkpoint::open).transpose().map_err(error)?;
        let source = match (&resume, &opened, config_toml) {
            (Some(path), Some(checkpoint), _) => ConfigSource::Resumed { path, checkpoint },
            (_, _, Some(text)) => ConfigSource::Text { text, origin },
            _ => ConfigSource::Tuned,
        };
        let built = build(algo, env, source, &overrides).map_err(error)?;
        let run_id = opened.as_ref().map_or_else(new_run_id, |c| c.manifest.run_id.clone());
        let noise = Stream::InferenceActions.noise(built.algo.seed());
        Ok(Trainer { algo: built.algo, cli: algo.to_string(), stop: built.stop, origin: built.origin, run_id, noise })
    }

    /// One training iteration; its result as JSON (RLlib's keys).
    fn train_json(&mut self) -> PyResult<String> {
        let result = self.algo.train().map_err(error)?;
        serde_json::to_string(&result).map_err(|e| value_error(e.to_string()))
    }

    /// Plays `episodes` episodes (one per env of a fresh batch) greedily, or as in training with `explore`;
    /// `{"episodes", "return_mean", "return_std", "length_mean"}` as JSON.
    #[pyo3(signature = (episodes=None, explore=false, seed=None))]
    fn evaluate_json(&self, episodes: Option<usize>, explore: bool, seed: Option<u64>) -> PyResult<String> {
        let episodes = episodes.unwrap_or(self.algo.config().evaluation().evaluation_duration as usize);
        let summary = match seed {
            Some(seed) => self.algo.evaluate_with_seed(episodes, explore, seed),
            None => self.algo.evaluate(episodes, explore),
        }
        .map_err(error)?;
        serde_json::to_string(&summary).map_err(|e| value_error(e.to_string()))
    }

    /// Writes a checkpoint into the folder `path` (as `path/checkpoint`, replacing this trainer's previous one
    /// there atomically) and returns the checkpoint's path. A folder holding another run's checkpoint is refused.
    fn save(&self, path: PathBuf) -> PyResult<String> {
        std::fs::create_dir_all(&path).map_err(|e| error(myriad::Error::Io(format!("{}: {e}", path.display()))))?;
        let existing = path.join("checkpoint");
        if existing.exists() {
            let theirs = checkpoint::manifest_of(&existing).map_err(error)?.run_id;
            if theirs != self.run_id {
                return Err(value_error(format!(
                    "{} holds a checkpoint of another run ({theirs}); save into another folder",
                    path.display()
                )));
            }
        }
        let saved = checkpoint::save(&*self.algo, &path, &self.run_id).map_err(error)?;
        Ok(saved.display().to_string())
    }

    /// Replaces this trainer with the run of the checkpoint at `path` (a checkpoint or the folder holding one),
    /// which must be of the same algorithm.
    fn restore(&mut self, path: PathBuf) -> PyResult<()> {
        let opened = checkpoint::open(&path).map_err(error)?;
        let source = ConfigSource::Resumed { path: &path, checkpoint: &opened };
        let built = build(&self.cli, None, source, &[]).map_err(error)?;
        self.algo = built.algo;
        self.stop = built.stop;
        self.run_id = opened.manifest.run_id.clone();
        self.noise = Stream::InferenceActions.noise(self.algo.seed());
        Ok(())
    }

    /// Actions `[B, ...]` (int64 for Discrete, float32 for Box) for observations `[B, ...]` (float32; Atari frames
    /// as uint8, scaled to [0, 1] as the learner sees them): greedy, or as in training with `explore`.
    #[pyo3(signature = (obs, explore=false))]
    fn compute_actions<'py>(
        &mut self,
        py: Python<'py>,
        obs: &Bound<'py, PyAny>,
        explore: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let values: Vec<f32> = if let Ok(frames) = obs.extract::<PyReadonlyArrayDyn<u8>>() {
            frames.as_array().iter().map(|&b| b as f32 / 255.0).collect()
        } else {
            let obs: PyReadonlyArrayDyn<f32> = obs.extract()?;
            obs.as_array().iter().copied().collect()
        };
        let spec = self.algo.env_spec().clone();
        let policy = self.algo.policy();
        let actions = act_on_host(
            &*policy,
            self.algo.config().environment(),
            &spec,
            self.algo.bridge(),
            values,
            explore,
            &mut self.noise,
        )
        .map_err(error)?;
        let rows = actions.len() / spec.action_dim().max(1);
        Ok(match &spec.action_space {
            myriad::envs::Space::Discrete { .. } => {
                let ints: Vec<i64> = actions.iter().map(|&a| a as i64).collect();
                PyArray1::from_vec(py, ints).into_any()
            }
            myriad::envs::Space::Box { shape, .. } => {
                let shape: Vec<usize> = std::iter::once(rows).chain(shape.iter().copied()).collect();
                PyArray1::from_vec(py, actions).reshape(shape)?.into_any()
            }
        })
    }

    /// The whole config as TOML (what a checkpoint's config.toml holds).
    fn config_toml(&self) -> PyResult<String> {
        self.algo.config().to_toml().map_err(error)
    }

    /// The whole config as JSON (RLlib's group names).
    fn config_json(&self) -> PyResult<String> {
        let toml = self.algo.config().to_toml().map_err(error)?;
        let value: toml::Value = toml::from_str(&toml).map_err(|e| value_error(e.to_string()))?;
        serde_json::to_string(&value).map_err(|e| value_error(e.to_string()))
    }

    /// The config's `[stop]` table as JSON (RLlib's stop keys; absent criteria are null).
    fn stop_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.stop).map_err(|e| value_error(e.to_string()))
    }

    /// RLlib's name of the algorithm (`PPO`, `DQN`, ...).
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.algo.name()
    }

    #[getter]
    fn env_id(&self) -> String {
        self.algo.env_spec().id.clone()
    }

    /// Where the config came from: a tuned config, the defaults, the caller's, a checkpoint.
    #[getter]
    fn origin(&self) -> String {
        self.origin.clone()
    }

    #[getter]
    fn iteration(&self) -> u64 {
        self.algo.iteration()
    }

    #[getter]
    fn num_envs(&self) -> usize {
        self.algo.num_envs()
    }

    #[getter]
    fn run_id(&self) -> String {
        self.run_id.clone()
    }
}
