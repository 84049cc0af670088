//! Users' own Gymnasium envs for Myriad's learners: a Python factory registered under an id makes an adapter
//! (`myriad.host.HostAdapter`) around a `gymnasium.vector.VectorEnv`, and [`PyHostBatch`] steps it from the
//! learner's thread as a [`HostBatch`]. The adapter speaks flat float32 arrays and same-step autoreset; every
//! call takes the GIL, which the learner's thread holds already while a trainer runs.

use myriad::envs::{EnvConfig, EnvSpec, Space};
use myriad::runners::{register_host_env, HostBatch, HostFactory, HostOutputs};
use myriad::Error;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;

/// A Python adapter with `reset(seed) -> obs` and `step(actions) -> (obs, final_obs or None, reward, terminated,
/// truncated)`, flat float32 `[N·D]` observations and `[N]` fields.
struct PyHostBatch {
    adapter: Py<PyAny>,
    spec: EnvSpec,
    num_envs: usize,
}

/// A Python exception raised inside the adapter or the env, keeping its message: a `ValueError` or `TypeError`
/// (an env that does not fit, a bad kwarg) as a config error, which reaches Python as a `ValueError`; any other
/// as a run error (a `RuntimeError`).
fn py_error(e: PyErr) -> Error {
    Python::attach(|py| {
        let text = e.value(py).to_string();
        let kind = e.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
        if e.is_instance_of::<pyo3::exceptions::PyValueError>(py)
            || e.is_instance_of::<pyo3::exceptions::PyTypeError>(py)
        {
            Error::Config(text)
        } else {
            Error::Runner(format!("the Gymnasium env raised {kind}: {text}"))
        }
    })
}

fn floats(value: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    let array: PyReadonlyArray1<f32> = value.extract()?;
    Ok(array.as_slice()?.to_vec())
}

fn flags(value: &Bound<'_, PyAny>) -> PyResult<Vec<bool>> {
    let array: PyReadonlyArray1<bool> = value.extract()?;
    Ok(array.as_slice()?.to_vec())
}

impl HostBatch for PyHostBatch {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn num_envs(&self) -> usize {
        self.num_envs
    }

    fn reset(&mut self, seed: u64, obs: &mut Vec<f32>) -> Result<(), Error> {
        Python::attach(|py| -> PyResult<()> {
            let out = self.adapter.call_method1(py, "reset", (seed,))?;
            *obs = floats(out.bind(py))?;
            Ok(())
        })
        .map_err(py_error)
    }

    fn step(&mut self, actions: &[f32], out: &mut HostOutputs) -> Result<(), Error> {
        Python::attach(|py| -> PyResult<()> {
            let actions = PyArray1::from_slice(py, actions);
            let result = self.adapter.call_method1(py, "step", (actions,))?;
            let result = result.bind(py).cast::<PyTuple>()?.clone();
            out.obs = floats(&result.get_item(0)?)?;
            let final_obs = result.get_item(1)?;
            if final_obs.is_none() {
                out.final_obs.clear();
            } else {
                out.final_obs = floats(&final_obs)?;
            }
            out.reward = floats(&result.get_item(2)?)?;
            out.terminated = flags(&result.get_item(3)?)?;
            out.truncated = flags(&result.get_item(4)?)?;
            Ok(())
        })
        .map_err(py_error)
    }
}

/// A space in Myriad's JSON form (`{"type": "Box", "low", "high", "shape"}` with null for an infinite bound, or
/// `{"type": "Discrete", "n"}`), checked for consistency.
fn parse_space(value: &serde_json::Value) -> Result<Space, String> {
    let space: Space = serde_json::from_value(value.clone()).map_err(|e| format!("{e} in {value}"))?;
    match &space {
        Space::Discrete { n: 0 } => Err("an empty Discrete space".into()),
        Space::Box { low, high, shape } if low.len() != shape.iter().product::<usize>() || high.len() != low.len() => {
            Err(format!("a Box of shape {shape:?} with {} low and {} high bounds", low.len(), high.len()))
        }
        _ => Ok(space),
    }
}

fn parse_spec(id: &str, json: &str) -> Result<EnvSpec, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(EnvSpec {
        id: id.to_string(),
        observation_space: parse_space(&value["observation_space"])?,
        action_space: parse_space(&value["action_space"])?,
        max_episode_steps: value["max_episode_steps"].as_u64().unwrap_or(0).min(u32::MAX as u64) as u32,
        reward_threshold: value["reward_threshold"].as_f64().map(|r| r as f32),
        state_dim: 0,
    })
}

/// Registers `id` for every algorithm: `factory(num_envs, seed, kwargs_json)` returns an adapter whose
/// `spec_json()` gives the spaces (Myriad's JSON form) and limits. Registering an id again replaces it.
#[pyfunction]
pub fn register_gymnasium_env(id: &str, factory: Py<PyAny>) -> PyResult<()> {
    let owned_id = id.to_string();
    let factory: HostFactory = Arc::new(move |config: &EnvConfig, n: usize, seed: u64| {
        Python::attach(|py| -> Result<Box<dyn HostBatch>, Error> {
            let kwargs = config.to_json().to_string();
            let adapter = factory.call1(py, (n, seed, kwargs)).map_err(py_error)?;
            let spec_json: String =
                adapter.call_method0(py, "spec_json").and_then(|s| s.extract(py)).map_err(py_error)?;
            let spec = parse_spec(&owned_id, &spec_json)
                .map_err(|e| Error::Config(format!("the Gymnasium env {owned_id}'s spaces: {e}")))?;
            Ok(Box::new(PyHostBatch { adapter, spec, num_envs: n }))
        })
    });
    register_host_env(id, false, factory).map_err(crate::errors::error)
}
