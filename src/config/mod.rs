//! Config groups every algorithm shares, named and grouped as RLlib's `AlgorithmConfig` has them, plus loading a
//! config from TOML and applying `group.field=value` overrides.

mod schedule;

pub use schedule::Schedule;

use crate::envs::Backend;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `environment(...)`: what to train on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// A registered env id (`myriad envs` lists them).
    pub env: String,
    /// The env's kwargs, as Gymnasium names them.
    pub env_config: serde_json::Map<String, serde_json::Value>,
    /// Box actions: the policy acts in [-1, 1] and actions are rescaled to the space's bounds.
    pub normalize_actions: bool,
    /// Box actions: clip to the space's bounds before stepping (applies when not normalising).
    pub clip_actions: bool,
}

impl Default for EnvironmentConfig {
    fn default() -> Self {
        Self { env: "CartPole-v1".into(), env_config: Default::default(), normalize_actions: true, clip_actions: false }
    }
}

/// `env_runners(...)`: how experience is collected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvRunnersConfig {
    /// Envs stepped together as one batch on the device.
    pub num_envs_per_env_runner: usize,
    /// Steps per env per iteration, T; 0 means "auto": `train_batch_size / num_envs_per_env_runner`.
    pub rollout_fragment_length: usize,
}

impl Default for EnvRunnersConfig {
    fn default() -> Self {
        Self { num_envs_per_env_runner: 64, rollout_fragment_length: 0 }
    }
}

/// `evaluation(...)`: periodic evaluation episodes on a separate batch of envs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Evaluate every this many iterations; 0 turns evaluation off.
    pub evaluation_interval: u32,
    /// Episodes per evaluation (run in parallel, one per env).
    pub evaluation_duration: u32,
    /// Sample actions (true) or take the most likely one (false) while evaluating.
    pub evaluation_explore: bool,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self { evaluation_interval: 0, evaluation_duration: 32, evaluation_explore: false }
    }
}

/// `resources(...)`: where envs, rollouts and the learner run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcesConfig {
    /// `cpu`, `wgpu` or `cuda`.
    pub backend: Backend,
    /// Device index on that backend.
    pub device: usize,
}

impl Default for ResourcesConfig {
    fn default() -> Self {
        Self { backend: Backend::Cpu, device: 0 }
    }
}

/// `debugging(...)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebuggingConfig {
    /// Seeds the envs, the model's initial weights and every random draw of training.
    pub seed: u64,
}

impl Default for DebuggingConfig {
    fn default() -> Self {
        Self { seed: 0 }
    }
}

/// Parses a config from TOML text; unknown keys and ill-typed values are errors naming the key.
pub fn from_toml<C: DeserializeOwned>(text: &str) -> Result<C, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
}

/// Writes a config as TOML.
pub fn to_toml<C: Serialize>(config: &C) -> Result<String, String> {
    toml::to_string_pretty(config).map_err(|e| e.to_string())
}

/// Applies `group.field=value` overrides (the value in TOML syntax: `3e-4`, `[64, 64]`, `"relu"`, `true`).
/// A path that names no field is an error listing the fields of its group.
pub fn apply_overrides<C: Serialize + DeserializeOwned>(config: &C, overrides: &[String]) -> Result<C, String> {
    let mut tree = toml::Value::try_from(config).map_err(|e| e.to_string())?;
    for item in overrides {
        let (path, raw) =
            item.split_once('=').ok_or_else(|| format!("`{item}`: an override is written group.field=value"))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .map(|mut t| t.remove("v").expect("parsed key"))
            .or_else(|_| Ok::<_, String>(toml::Value::String(raw.to_string())))?;
        set_path(&mut tree, path.trim(), value)?;
    }
    tree.try_into().map_err(|e: toml::de::Error| e.to_string().trim_end().to_string())
}

fn set_path(tree: &mut toml::Value, path: &str, value: toml::Value) -> Result<(), String> {
    let mut node = tree;
    let parts: Vec<&str> = path.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        let table =
            node.as_table_mut().ok_or_else(|| format!("`{path}`: {} is not a group", parts[..depth].join(".")))?;
        let last = depth + 1 == parts.len();
        // Env kwargs are free-form: any key may be added under environment.env_config.
        let free_form = depth > 0 && parts[depth - 1] == "env_config";
        if !table.contains_key(*part) && !free_form {
            let known: Vec<&String> = table.keys().collect();
            return Err(format!("`{path}`: no field `{part}` (known: {known:?})"));
        }
        if last {
            table.insert(part.to_string(), value);
            return Ok(());
        }
        node = table.get_mut(*part).expect("checked above");
    }
    Err(format!("`{path}`: empty override path"))
}
