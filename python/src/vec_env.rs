//! `VecEnv`: N envs of one id stepped together, with NumPy arrays in and out. A device batch (classic control,
//! toy text, users' envs; on the CPU, wgpu or CUDA backend) autoresets in the same step, as Gymnasium's
//! `AutoresetMode.SAME_STEP`; Atari games (feature `atari`) run on CPU threads, in lockstep or, with a
//! `batch_size` below the number of envs, EnvPool-style through `send` / `recv`.
//!
//! Every array handed back is a new NumPy array that owns its memory: the step's outputs are read from the
//! batch's buffers once (the one copy, from the device or the batch's host buffers) into the array's storage.

use crate::errors::{env_error, value_error};
use myriad::envs::{make, Backend, Device, EnvBatch, EnvConfig, Field, Space};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Mutex;
use std::thread::JoinHandle;

/// One step's outputs, on the host.
struct Outputs {
    /// Device batches: f32 observations; Atari: u8 frames (as `frames`).
    obs: Vec<f32>,
    frames: Vec<u8>,
    reward: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// The observations the episodes that ended in this step ended on; `None` where none ended.
    final_obs: Option<Vec<f32>>,
    final_frames: Option<Vec<u8>>,
    /// The envs these rows belong to, in row order; `None` where every env is a row, in order.
    env_ids: Option<Vec<usize>>,
}

/// The envs behind a [`VecEnv`].
enum Envs {
    Batch(EnvBatch),
    #[cfg(feature = "atari")]
    Atari(myriad::atari::AtariBatch),
    #[cfg(feature = "atari")]
    AtariAsync(myriad::atari::AsyncAtariBatch),
}

struct State {
    /// `None` while a device batch steps on a worker thread between `send` and `recv`.
    envs: Option<Envs>,
    pending: Option<JoinHandle<(EnvBatch, Result<Outputs, myriad::envs::Error>)>>,
    /// A device batch's first observations after `async_reset`, for the next `recv`.
    ready: Option<Outputs>,
    /// The seed of the last reset, and the resets since one that named a seed.
    seed: u64,
    unseeded_resets: u64,
}

/// The shapes and dtypes a `VecEnv` speaks in.
#[derive(Clone)]
struct Shapes {
    obs_shape: Vec<usize>,
    /// `float32` (Box), `int64` (Discrete) or `uint8` (Atari frames).
    obs_dtype: &'static str,
    action_space: Space,
}

#[pyclass(module = "myriad._myriad")]
pub struct VecEnv {
    state: Mutex<State>,
    shapes: Shapes,
    num_envs: usize,
    batch_size: usize,
    spec_json: String,
    env_id: String,
    config: EnvConfig,
    threads: usize,
}

fn parse_kwargs(env_id: &str, kwargs_json: &str) -> PyResult<EnvConfig> {
    let value: serde_json::Value =
        serde_json::from_str(kwargs_json).map_err(|e| value_error(format!("env kwargs of {env_id}: {e}")))?;
    EnvConfig::from_json(&value).map_err(env_error)
}

/// Host action words for `n` envs: discrete actions checked against `0..n_actions`, Box actions as f32 bits.
fn action_words(space: &Space, actions: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<u32>> {
    match space {
        Space::Discrete { n: count } => {
            let actions: PyReadonlyArray1<i64> = actions.extract()?;
            let actions = actions.as_slice().map_err(|e| value_error(e.to_string()))?;
            if actions.len() != n {
                return Err(value_error(format!("{} actions for {n} envs", actions.len())));
            }
            if let Some((i, a)) = actions.iter().enumerate().find(|(_, &a)| a < 0 || a >= *count as i64) {
                return Err(value_error(format!("invalid action: env {i}: action {a} outside Discrete({count})")));
            }
            Ok(actions.iter().map(|&a| a as u32).collect())
        }
        Space::Box { shape, .. } => {
            let actions: PyReadonlyArrayDyn<f32> = actions.extract()?;
            let width: usize = shape.iter().product();
            let expected: Vec<usize> = std::iter::once(n).chain(shape.iter().copied()).collect();
            if actions.shape() != expected.as_slice() && actions.shape() != [n, width] {
                return Err(value_error(format!("actions of shape {:?}; expected {expected:?}", actions.shape())));
            }
            let actions = actions.as_slice().map_err(|e| value_error(e.to_string()))?;
            if let Some(i) = actions.iter().position(|a| !a.is_finite()) {
                return Err(value_error(format!("invalid action: env {}: a non-finite value", i / width.max(1))));
            }
            Ok(actions.iter().map(|a| a.to_bits()).collect())
        }
    }
}

/// Steps a device batch with host action words and reads the outputs back.
fn step_batch(batch: &mut EnvBatch, words: &[u32]) -> Result<Outputs, myriad::envs::Error> {
    let actions = batch.upload_actions(words)?;
    batch.step(&actions)?;
    read_batch(batch)
}

fn read_batch(batch: &EnvBatch) -> Result<Outputs, myriad::envs::Error> {
    let terminated = batch.read_bool(Field::Terminated)?;
    let truncated = batch.read_bool(Field::Truncated)?;
    let ended = terminated.iter().zip(&truncated).any(|(a, b)| *a || *b);
    Ok(Outputs {
        obs: batch.read_f32(Field::Obs)?,
        frames: Vec::new(),
        reward: batch.read_f32(Field::Reward)?,
        final_obs: if ended { Some(batch.read_f32(Field::FinalObs)?) } else { None },
        final_frames: None,
        terminated,
        truncated,
        env_ids: None,
    })
}

#[cfg(feature = "atari")]
fn atari_outputs(
    obs: &[u8],
    final_obs: &[u8],
    out: &myriad::atari::StepOutputs,
    env_ids: Option<Vec<usize>>,
) -> Outputs {
    let ended = out.terminated.iter().zip(&out.truncated).any(|(a, b)| *a || *b);
    Outputs {
        obs: Vec::new(),
        frames: obs.to_vec(),
        reward: out.reward.clone(),
        terminated: out.terminated.clone(),
        truncated: out.truncated.clone(),
        final_obs: None,
        final_frames: ended.then(|| final_obs.to_vec()),
        env_ids,
    }
}

impl VecEnv {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Observations `[rows, obs...]` in the env's dtype.
    fn obs_array<'py>(&self, py: Python<'py>, obs: Vec<f32>, frames: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        let rows = match self.shapes.obs_dtype {
            "uint8" => frames.len() / self.shapes.obs_shape.iter().product::<usize>().max(1),
            _ => obs.len() / self.shapes.obs_shape.iter().product::<usize>().max(1),
        };
        let shape: Vec<usize> = std::iter::once(rows).chain(self.shapes.obs_shape.iter().copied()).collect();
        Ok(match self.shapes.obs_dtype {
            "uint8" => PyArray1::from_vec(py, frames).reshape(shape)?.into_any(),
            "int64" => {
                let ints: Vec<i64> = obs.iter().map(|&o| o as i64).collect();
                PyArray1::from_vec(py, ints).reshape(shape)?.into_any()
            }
            _ => PyArray1::from_vec(py, obs).reshape(shape)?.into_any(),
        })
    }

    /// `(obs, rewards, terminations, truncations, final_obs or None, env_ids or None)` as NumPy arrays; no
    /// `env_ids` means every env, in order.
    fn outputs<'py>(&self, py: Python<'py>, out: Outputs) -> PyResult<Bound<'py, PyTuple>> {
        let obs = self.obs_array(py, out.obs, out.frames)?;
        let final_obs = match (out.final_obs, out.final_frames) {
            (Some(o), _) => Some(self.obs_array(py, o, Vec::new())?),
            (None, Some(f)) => Some(self.obs_array(py, Vec::new(), f)?),
            (None, None) => None,
        };
        let reward: Vec<f64> = out.reward.iter().map(|&r| r as f64).collect();
        let ids = out.env_ids.map(|ids| PyArray1::from_vec(py, ids.iter().map(|&i| i as i64).collect()).into_any());
        PyTuple::new(
            py,
            [
                obs,
                PyArray1::from_vec(py, reward).into_any(),
                PyArray1::from_vec(py, out.terminated).into_any(),
                PyArray1::from_vec(py, out.truncated).into_any(),
                final_obs.map_or_else(|| py.None().into_bound(py), |a| a),
                ids.unwrap_or_else(|| py.None().into_bound(py)),
            ],
        )
    }

    /// Waits for a device batch stepping between `send` and `recv`, putting it back.
    fn settle(state: &mut State) -> Option<Result<Outputs, myriad::envs::Error>> {
        if let Some(ready) = state.ready.take() {
            return Some(Ok(ready));
        }
        let handle = state.pending.take()?;
        match handle.join() {
            Ok((batch, result)) => {
                state.envs = Some(Envs::Batch(batch));
                Some(result)
            }
            Err(_) => Some(Err(myriad::envs::Error::Device("the stepping thread panicked".into()))),
        }
    }
}

#[pymethods]
impl VecEnv {
    /// `num_envs` envs of `env_id` with Gymnasium-style kwargs (a JSON object), on `backend` (cpu, wgpu, cuda),
    /// reset with `seed`. Atari: `num_threads` emulator threads (0: every core) and, with `batch_size` below
    /// `num_envs`, EnvPool-style asynchronous stepping.
    #[new]
    #[pyo3(signature = (env_id, num_envs, seed=0, backend="cpu", kwargs_json="{}", batch_size=None, num_threads=0))]
    fn new(
        env_id: &str,
        num_envs: usize,
        seed: u64,
        backend: &str,
        kwargs_json: &str,
        batch_size: Option<usize>,
        num_threads: usize,
    ) -> PyResult<Self> {
        let config = parse_kwargs(env_id, kwargs_json)?;
        if num_envs == 0 {
            return Err(value_error("num_envs must be at least 1"));
        }
        let batch_size = batch_size.unwrap_or(num_envs);
        let backend: Backend = backend.parse().map_err(env_error)?;
        if myriad::runners::is_atari_id(env_id) {
            return Self::atari(env_id, config, num_envs, batch_size, seed, backend, num_threads);
        }
        if batch_size != num_envs {
            return Err(value_error(format!(
                "batch_size {batch_size} with {num_envs} envs: {env_id} steps as one batch (batch_size = num_envs); \
                 only Atari envs step asynchronously"
            )));
        }
        let device = Device::new(backend).map_err(env_error)?;
        let mut batch = make(env_id, &config, num_envs, &device).map_err(env_error)?;
        match num_threads {
            0 => {}
            1 => batch.set_inline(true),
            n => {
                return Err(value_error(format!(
                    "num_threads={n}: {env_id} steps on rayon's pool (0, every core) or on the calling thread (1)"
                )))
            }
        }
        batch.reset(seed).map_err(env_error)?;
        let spec = batch.spec().clone();
        let obs_dtype = match spec.observation_space {
            Space::Discrete { .. } => "int64",
            Space::Box { .. } => "float32",
        };
        let obs_shape = match &spec.observation_space {
            Space::Discrete { .. } => Vec::new(),
            Space::Box { shape, .. } => shape.clone(),
        };
        let spec_json = serde_json::json!({
            "id": spec.id, "observation_space": spec.observation_space, "action_space": spec.action_space,
            "max_episode_steps": spec.max_episode_steps, "reward_threshold": spec.reward_threshold,
            "obs_dtype": obs_dtype, "obs_shape": obs_shape, "backend": backend.name(), "atari": false,
        })
        .to_string();
        Ok(VecEnv {
            state: Mutex::new(State {
                envs: Some(Envs::Batch(batch)),
                pending: None,
                ready: None,
                seed,
                unseeded_resets: 0,
            }),
            shapes: Shapes { obs_shape, obs_dtype, action_space: spec.action_space },
            num_envs,
            batch_size,
            spec_json,
            env_id: env_id.to_string(),
            config,
            threads: num_threads,
        })
    }

    /// The spaces, dtypes and limits of the envs, as JSON.
    fn spec_json(&self) -> String {
        self.spec_json.clone()
    }

    #[getter]
    fn num_envs(&self) -> usize {
        self.num_envs
    }

    #[getter]
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Resets every env and returns the first observations. With a seed, env i draws from the stream keyed by
    /// `(seed, i)`: the same seed gives the same episodes. Without one, the next episodes follow from the last
    /// seed (`seed + k` for the k-th reset since).
    #[pyo3(signature = (seed=None))]
    fn reset<'py>(&self, py: Python<'py>, seed: Option<u64>) -> PyResult<Bound<'py, PyAny>> {
        let mut state = self.lock();
        if let Some(Err(e)) = Self::settle(&mut state) {
            return Err(env_error(e));
        }
        let seed = match seed {
            Some(s) => {
                state.seed = s;
                state.unseeded_resets = 0;
                s
            }
            None => {
                state.unseeded_resets += 1;
                state.seed.wrapping_add(state.unseeded_resets)
            }
        };
        let (obs, frames) = match state.envs.as_mut().expect("settled") {
            Envs::Batch(batch) => {
                batch.reset(seed).map_err(env_error)?;
                (batch.read_f32(Field::Obs).map_err(env_error)?, Vec::new())
            }
            #[cfg(feature = "atari")]
            Envs::Atari(batch) => {
                *batch = myriad::atari::AtariBatch::new(&self.env_id, &self.config, self.num_envs, self.threads, seed)
                    .map_err(env_error)?;
                (Vec::new(), batch.observations().to_vec())
            }
            #[cfg(feature = "atari")]
            Envs::AtariAsync(_) => {
                return Err(value_error("an asynchronous VecEnv (batch_size < num_envs) resets with async_reset()"))
            }
        };
        self.obs_array(py, obs, frames)
    }

    /// Steps every env with `actions` (`int64 [N]` for Discrete, `float32 [N, ...]` for Box). Returns `(obs,
    /// rewards, terminations, truncations, final_obs, env_ids)`; `final_obs` is `None` unless an episode ended.
    fn step<'py>(&self, py: Python<'py>, actions: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let words = action_words(&self.shapes.action_space, actions, self.num_envs)?;
        let out =
            {
                let mut state = self.lock();
                if let Some(Err(e)) = Self::settle(&mut state) {
                    return Err(env_error(e));
                }
                match state.envs.as_mut().expect("settled") {
                    Envs::Batch(batch) => step_batch(batch, &words).map_err(env_error)?,
                    #[cfg(feature = "atari")]
                    Envs::Atari(batch) => {
                        batch.step(&words).map_err(env_error)?;
                        let ids = (0..self.num_envs).collect();
                        atari_outputs(batch.observations(), batch.final_observations(), batch.outputs(), Some(ids))
                    }
                    #[cfg(feature = "atari")]
                    Envs::AtariAsync(_) => return Err(value_error(
                        "an asynchronous VecEnv (batch_size < num_envs) steps with send(actions, env_ids) and recv()",
                    )),
                }
            };
        self.outputs(py, out)
    }

    /// EnvPool's `async_reset`: resets every env; their first observations come from `recv()`.
    fn async_reset(&self) -> PyResult<()> {
        let mut state = self.lock();
        if let Some(Err(e)) = Self::settle(&mut state) {
            return Err(env_error(e));
        }
        let seed = state.seed;
        match state.envs.as_mut().expect("settled") {
            Envs::Batch(batch) => {
                batch.reset(seed).map_err(env_error)?;
                let mut out = read_batch(batch).map_err(env_error)?;
                // A reset's outputs: no reward, no episode ended.
                out.reward.iter_mut().for_each(|r| *r = 0.0);
                out.terminated.iter_mut().for_each(|t| *t = false);
                out.truncated.iter_mut().for_each(|t| *t = false);
                out.final_obs = None;
                state.ready = Some(out);
            }
            #[cfg(feature = "atari")]
            Envs::Atari(_) => return Err(value_error("a lockstep Atari VecEnv resets with reset()")),
            #[cfg(feature = "atari")]
            Envs::AtariAsync(batch) => batch.async_reset(),
        }
        Ok(())
    }

    /// EnvPool's `send`: steps env `env_ids[k]` with `actions[k]` (all envs when `env_ids` is None). A device
    /// batch steps on a worker thread until `recv`, and needs every env in one `send`.
    #[pyo3(signature = (actions, env_ids=None))]
    fn send(&self, actions: &Bound<'_, PyAny>, env_ids: Option<PyReadonlyArray1<i64>>) -> PyResult<()> {
        let count = env_ids.as_ref().map_or(self.num_envs, |ids| ids.len());
        let words = action_words(&self.shapes.action_space, actions, count)?;
        let ids: Vec<usize> = match &env_ids {
            None => (0..self.num_envs).collect(),
            Some(ids) => {
                let ids = ids.as_slice().map_err(|e| value_error(e.to_string()))?;
                if let Some(bad) = ids.iter().find(|&&i| i < 0 || i as usize >= self.num_envs) {
                    return Err(value_error(format!("env id {bad} of a pool of {}", self.num_envs)));
                }
                ids.iter().map(|&i| i as usize).collect()
            }
        };
        let mut state = self.lock();
        match state.envs.as_mut() {
            None => Err(value_error("send() twice without recv(): a device batch steps every env at once")),
            Some(Envs::Batch(_)) => {
                let mut seen = vec![false; self.num_envs];
                ids.iter().for_each(|&i| seen[i] = true);
                if ids.len() != self.num_envs || seen.iter().any(|s| !s) {
                    return Err(value_error(format!(
                        "{} steps as one batch: send needs every env id 0..{} once",
                        self.env_id, self.num_envs
                    )));
                }
                let width = words.len() / self.num_envs;
                let mut ordered = vec![0u32; words.len()];
                for (k, &i) in ids.iter().enumerate() {
                    ordered[i * width..(i + 1) * width].copy_from_slice(&words[k * width..(k + 1) * width]);
                }
                let mut batch = match state.envs.take() {
                    Some(Envs::Batch(b)) => b,
                    _ => unreachable!("matched a device batch above"),
                };
                state.pending = Some(std::thread::spawn(move || {
                    let result = step_batch(&mut batch, &ordered);
                    (batch, result)
                }));
                Ok(())
            }
            #[cfg(feature = "atari")]
            Some(Envs::Atari(_)) => Err(value_error(
                "a lockstep Atari VecEnv steps with step(); make it with batch_size < num_envs for send/recv",
            )),
            #[cfg(feature = "atari")]
            Some(Envs::AtariAsync(batch)) => batch.send(&words, &ids).map_err(env_error),
        }
    }

    /// EnvPool's `recv`: the next `batch_size` envs that finished, as `step` returns them, with their ids.
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let out = {
            let mut state = self.lock();
            match Self::settle(&mut state) {
                Some(result) => result.map_err(env_error)?,
                None => match state.envs.as_mut() {
                    #[cfg(feature = "atari")]
                    Some(Envs::AtariAsync(batch)) => {
                        let ids = py.detach(|| batch.recv().map(<[usize]>::to_vec)).map_err(env_error)?;
                        atari_outputs(batch.observations(), batch.final_observations(), batch.outputs(), Some(ids))
                    }
                    _ => return Err(value_error("recv() without send() (or async_reset())")),
                },
            }
        };
        self.outputs(py, out)
    }

    /// Waits for any step in flight; the envs are freed with the object.
    fn close(&self) -> PyResult<()> {
        let mut state = self.lock();
        match Self::settle(&mut state) {
            Some(Err(e)) => Err(env_error(e)),
            _ => Ok(()),
        }
    }
}

impl VecEnv {
    #[cfg(feature = "atari")]
    fn atari(
        env_id: &str,
        config: EnvConfig,
        num_envs: usize,
        batch_size: usize,
        seed: u64,
        backend: Backend,
        threads: usize,
    ) -> PyResult<Self> {
        use myriad::atari::{AsyncAtariBatch, AtariBatch};
        if backend != Backend::Cpu {
            return Err(value_error(format!(
                "Atari emulators run on CPU threads: make {env_id} with backend=\"cpu\" (a learner uploads its frames)"
            )));
        }
        let (envs, spec) = if batch_size == num_envs {
            let batch = AtariBatch::new(env_id, &config, num_envs, threads, seed).map_err(env_error)?;
            let spec = batch.spec().clone();
            (Envs::Atari(batch), spec)
        } else {
            let batch =
                AsyncAtariBatch::new(env_id, &config, num_envs, batch_size, threads, seed).map_err(env_error)?;
            let spec = batch.spec().clone();
            (Envs::AtariAsync(batch), spec)
        };
        let spec_json = serde_json::json!({
            "id": env_id, "observation_space": { "type": "Box", "low": 0, "high": 255,
            "shape": spec.observation_shape }, "action_space": spec.action_space,
            "max_episode_steps": spec.config.ale.max_episode_steps, "reward_threshold": null,
            "obs_dtype": "uint8", "obs_shape": spec.observation_shape, "backend": "cpu", "atari": true,
        })
        .to_string();
        Ok(VecEnv {
            state: Mutex::new(State { envs: Some(envs), pending: None, ready: None, seed, unseeded_resets: 0 }),
            shapes: Shapes {
                obs_shape: spec.observation_shape.clone(),
                obs_dtype: "uint8",
                action_space: spec.action_space,
            },
            num_envs,
            batch_size,
            spec_json,
            env_id: env_id.to_string(),
            config,
            threads,
        })
    }

    #[cfg(not(feature = "atari"))]
    fn atari(
        env_id: &str,
        _config: EnvConfig,
        _num_envs: usize,
        _batch_size: usize,
        _seed: u64,
        _backend: Backend,
        _threads: usize,
    ) -> PyResult<Self> {
        Err(value_error(format!(
            "{env_id} is an Atari env: this build of myriad has no Atari games; reinstall with \
             MATURIN_PEP517_ARGS=\"--features atari\" pip install ./python (needs cmake and a C++ compiler)"
        )))
    }
}
