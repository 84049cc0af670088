//! Config groups every algorithm shares, named and grouped as RLlib's `AlgorithmConfig` has them: one
//! [`AlgorithmConfig`] shape whose `training` group each algorithm supplies, its builder and the validation of the
//! shared groups written once, plus loading a config from TOML and applying `group.field=value` overrides.

mod schedule;

pub use schedule::Schedule;

use crate::envs::{Backend, EnvConfig};
use crate::model::ModelConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Everything a run needs, grouped as RLlib's `AlgorithmConfig`: the shared groups plus the algorithm's own
/// `training` group `T`. Loads from and saves to TOML with RLlib's group and field names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlgorithmConfig<T> {
    pub environment: EnvironmentConfig,
    pub env_runners: EnvRunnersConfig,
    pub training: T,
    pub rl_module: ModelConfig,
    pub evaluation: EvaluationConfig,
    pub resources: ResourcesConfig,
    pub debugging: DebuggingConfig,
}

impl<T> AlgorithmConfig<T> {
    /// `environment(env, env_config)`.
    pub fn environment(mut self, env: &str, env_config: EnvConfig) -> Self {
        self.environment.env = env.to_string();
        self.environment.env_config = match env_config.to_json() {
            serde_json::Value::Object(map) => map,
            _ => Default::default(),
        };
        self
    }

    /// `env_runners(num_envs_per_env_runner, rollout_fragment_length)`.
    pub fn env_runners(mut self, num_envs: usize, rollout_fragment_length: usize) -> Self {
        self.env_runners.num_envs_per_env_runner = num_envs;
        self.env_runners.rollout_fragment_length = rollout_fragment_length;
        self
    }

    /// `env_runners(num_env_runners=...)`: runner threads for the asynchronous algorithms (0: collect on the
    /// learner's thread, in lockstep).
    pub fn num_env_runners(mut self, runners: usize) -> Self {
        self.env_runners.num_env_runners = runners;
        self
    }

    /// Refuses runner threads for `algo`, an algorithm that collects in lockstep with its learner.
    pub fn require_lockstep(&self, algo: &str) -> Result<(), crate::Error> {
        match self.env_runners.num_env_runners {
            0 => Ok(()),
            k => Err(crate::Error::Config(format!(
                "env_runners.num_env_runners = {k}: {algo} collects in lockstep with its learner on the learner's \
                 thread; set it to 0, or train IMPALA or APPO, whose runner threads act asynchronously"
            ))),
        }
    }

    /// `training(...)`: the algorithm's own group.
    pub fn training(mut self, training: T) -> Self {
        self.training = training;
        self
    }

    /// `rl_module(...)`: the network's encoder and trunk.
    pub fn rl_module(mut self, model: ModelConfig) -> Self {
        self.rl_module = model;
        self
    }

    /// `evaluation(interval, duration, explore)`.
    pub fn evaluation(mut self, interval: u32, duration: u32, explore: bool) -> Self {
        self.evaluation = EvaluationConfig {
            evaluation_interval: interval,
            evaluation_duration: duration,
            evaluation_explore: explore,
        };
        self
    }

    /// `resources(backend, device)`.
    pub fn resources(mut self, backend: Backend, device: usize) -> Self {
        self.resources = ResourcesConfig { backend, device };
        self
    }

    /// `debugging(seed)`.
    pub fn debugging(mut self, seed: u64) -> Self {
        self.debugging = DebuggingConfig { seed };
        self
    }

    /// Checks the shared groups; each algorithm's `validate` calls it before checking its `training` group.
    pub fn validate_shared(&self) -> Result<(), crate::Error> {
        let bad = |msg: String| Err(crate::Error::Config(msg));
        if self.environment.env.is_empty() {
            return bad("environment.env is empty: name a registered env id (`myriad envs` lists them)".into());
        }
        let n = self.env_runners.num_envs_per_env_runner;
        if n == 0 {
            return bad("env_runners.num_envs_per_env_runner must be at least 1".into());
        }
        if self.evaluation.evaluation_interval > 0 && self.evaluation.evaluation_duration == 0 {
            return bad("evaluation.evaluation_duration must be at least 1 episode when evaluation is on".into());
        }
        if self.resources.device != 0 {
            return bad(format!(
                "resources.device = {}: the {} backend runs on its default device (index 0) in this build",
                self.resources.device, self.resources.backend
            ));
        }
        Ok(())
    }
}

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

impl EnvironmentConfig {
    /// The env kwargs as an [`EnvConfig`].
    pub fn kwargs(&self) -> Result<EnvConfig, crate::Error> {
        Ok(EnvConfig::from_json(&serde_json::Value::Object(self.env_config.clone()))?)
    }
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
    /// Envs stepped together as one batch on the device (per runner thread where there are several).
    pub num_envs_per_env_runner: usize,
    /// Steps per env per iteration (per fragment a runner sends), T; 0 means "auto":
    /// `train_batch_size / num_envs_per_env_runner`.
    pub rollout_fragment_length: usize,
    /// Runner threads acting asynchronously from the learner (IMPALA, APPO); 0 collects in lockstep on the
    /// learner's thread, as PPO and DQN always do.
    pub num_env_runners: usize,
    /// Restart a runner thread that fails or panics, with a fresh batch of envs, and go on.
    pub restart_failed_env_runners: bool,
    /// Restarts allowed over a run before a failing runner stops it.
    pub max_num_env_runner_restarts: u64,
}

impl Default for EnvRunnersConfig {
    fn default() -> Self {
        Self {
            num_envs_per_env_runner: 64,
            rollout_fragment_length: 0,
            num_env_runners: 0,
            restart_failed_env_runners: true,
            max_num_env_runner_restarts: 1000,
        }
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
    // A JSON tree keeps unset optional fields (as null), so they can be set too.
    let mut tree = serde_json::to_value(config).map_err(|e| e.to_string())?;
    for item in overrides {
        let (path, raw) =
            item.split_once('=').ok_or_else(|| format!("`{item}`: an override is written group.field=value"))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .map(|mut t| t.remove("v").expect("parsed key"))
            .unwrap_or_else(|_| toml::Value::String(raw.to_string()));
        let value = serde_json::to_value(value).map_err(|e| e.to_string())?;
        set_path(&mut tree, path.trim(), value)?;
    }
    // Back through TOML, whose errors name the field and the group.
    strip_nulls(&mut tree);
    let tree = toml::Value::try_from(tree).map_err(|e| e.to_string())?;
    tree.try_into().map_err(|e: toml::de::Error| e.to_string().trim_end().to_string())
}

/// Removes unset (null) fields, which TOML cannot hold; they deserialize as unset again.
fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn set_path(tree: &mut serde_json::Value, path: &str, value: serde_json::Value) -> Result<(), String> {
    let mut node = tree;
    let parts: Vec<&str> = path.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        let table =
            node.as_object_mut().ok_or_else(|| format!("`{path}`: {} is not a group", parts[..depth].join(".")))?;
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
