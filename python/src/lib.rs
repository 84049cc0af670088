//! `myriad._myriad`: the compiled half of the Python package. [`VecEnv`] steps a batch of Myriad's envs and
//! hands NumPy arrays back; [`Trainer`] runs one of Myriad's learners. The package `myriad` (python/myriad/)
//! wraps both in Gymnasium's and RLlib's shapes.

mod errors;
mod host;
mod trainer;
mod vec_env;

use pyo3::prelude::*;

/// The allocator the `myriad` binary runs on (see `myriad::allocator`): the learners free and reallocate tensors
/// of megabytes every minibatch. Every allocation of this module, NumPy arrays handed out included, is freed by it.
#[global_allocator]
static ALLOCATOR: myriad::allocator::Allocator = myriad::allocator::Allocator;

/// Every registered env as JSON lines, as `myriad envs --json` prints them (Atari games where built in).
#[pyfunction]
fn envs_json() -> PyResult<String> {
    use myriad::envs::{registered, EnvConfig};
    let mut out = String::new();
    for info in registered() {
        let spec = info.spec(&EnvConfig::new()).map_err(errors::env_error)?;
        let keys = info.config_keys().map_err(errors::env_error)?;
        let keys: serde_json::Map<String, serde_json::Value> =
            keys.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str()))).collect();
        let line = serde_json::json!({
            "id": info.id, "summary": info.summary, "observation_space": spec.observation_space,
            "action_space": spec.action_space, "max_episode_steps": spec.max_episode_steps,
            "reward_threshold": spec.reward_threshold, "config_keys": keys, "atari": false,
        });
        out += &format!("{line}\n");
    }
    #[cfg(feature = "atari")]
    for id in myriad::atari::registered_ids() {
        let line = serde_json::json!({ "id": id, "summary": "Atari 2600 through the Arcade Learning Environment",
            "atari": true });
        out += &format!("{line}\n");
    }
    Ok(out)
}

/// The algorithms `myriad.train` runs: `(command name, RLlib's name, summary)`.
#[pyfunction]
fn algorithms() -> Vec<(&'static str, &'static str, &'static str)> {
    myriad::algo::ALGORITHMS.iter().map(|a| (a.cli, a.name, a.summary)).collect()
}

/// Whether `id` names an Atari env (`ALE/<Game>-v5`, `<Game>NoFrameskip-v4`), built in or not.
#[pyfunction]
fn is_atari_id(id: &str) -> bool {
    myriad::runners::is_atari_id(id)
}

/// Whether this build has the Atari games (feature `atari`).
#[pyfunction]
fn has_atari() -> bool {
    cfg!(feature = "atari")
}

#[pymodule]
fn _myriad(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(envs_json, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms, m)?)?;
    m.add_function(wrap_pyfunction!(has_atari, m)?)?;
    m.add_function(wrap_pyfunction!(is_atari_id, m)?)?;
    m.add_function(wrap_pyfunction!(trainer::checkpoint_info, m)?)?;
    m.add_function(wrap_pyfunction!(host::register_gymnasium_env, m)?)?;
    m.add_class::<vec_env::VecEnv>()?;
    m.add_class::<trainer::Trainer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
