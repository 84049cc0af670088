//! Where a run's config comes from, written once for the CLI and the Python package: a resumed checkpoint's, a
//! TOML text's (a file, a Python dict), the env's tuned config or else the algorithm's defaults; then `--set`
//! overrides. [`build`] makes the algorithm a command name picks from such a config.

use super::Stop;
use crate::algo::{
    self, Algorithm, AppoTraining, DqnTraining, ImpalaTraining, PpoTraining, PqnTraining, SacTraining, Training,
};
use crate::config::{self, AlgorithmConfig};
use crate::{checkpoint, tuned, Error};
use std::path::Path;

/// The config a run starts from, before `--set` overrides.
#[derive(Clone, Copy)]
pub enum ConfigSource<'a> {
    /// The config of a checkpoint being resumed (`path`: as the user gave it, for messages).
    Resumed { path: &'a Path, checkpoint: &'a checkpoint::Opened },
    /// A config in TOML, with an optional `[stop]` table; `origin` names it in messages (a file's path).
    Text { text: &'a str, origin: &'a str },
    /// The env's tuned config (built in) where there is one, else the algorithm's defaults.
    Tuned,
}

/// What [`build`] makes: the algorithm, the config's `[stop]` table and where the config came from.
pub struct Built {
    pub algo: Box<dyn Algorithm>,
    pub stop: Stop,
    pub origin: String,
}

/// The config of a run of the algorithm whose command name is `cli`, on `env` where given (it must agree with
/// `environment.env` of a `set` item and of a resumed checkpoint), from `source`, then the `set` overrides
/// (`group.field=value`, TOML values). Returns the config, its `[stop]` table and where it came from.
pub fn load_config<T: Training>(
    cli: &str,
    env: Option<&str>,
    source: ConfigSource,
    set: &[String],
) -> Result<(AlgorithmConfig<T>, Stop, String), Error> {
    // `environment.env=ID` in `set` names the env as `env` does (and picks its tuned config); the two must agree.
    let mut env = env.map(str::to_string);
    for item in set {
        if let Some((path, value)) = item.split_once('=') {
            if path.trim() == "environment.env" {
                let value = value.trim().trim_matches('"').to_string();
                if env.as_ref().is_some_and(|e| *e != value) {
                    return Err(Error::Config(format!(
                        "--env {} and --set environment.env={} name different envs; give one",
                        algo::clip(env.as_deref().unwrap_or(""), 100),
                        algo::clip(&value, 100)
                    )));
                }
                env = Some(value);
            }
        }
    }
    let (mut config, stop, origin) = match source {
        ConfigSource::Resumed { path, checkpoint } => {
            let config: AlgorithmConfig<T> = checkpoint::config_of(checkpoint)?;
            if let Some(env) = &env {
                if *env != config.environment.env {
                    return Err(Error::Checkpoint(format!(
                        "{} was trained on {}, not {}",
                        path.display(),
                        config.environment.env,
                        algo::clip(env, 100)
                    )));
                }
            }
            (config, Stop::default(), format!("resumed from {}", path.display()))
        }
        ConfigSource::Text { text, origin } => {
            let names_env = text
                .parse::<toml::Table>()
                .ok()
                .and_then(|t| t.get("environment").and_then(|e| e.get("env")).map(|_| ()))
                .is_some();
            if !names_env && env.is_none() {
                return Err(Error::Config(format!(
                    "{origin} names no env (environment.env); add it to the file or give --env ID"
                )));
            }
            let (mut config, stop) = tuned::parse::<T>(text, origin)?;
            if let Some(env) = &env {
                config.environment.env = env.clone();
            }
            (config, stop, origin.to_string())
        }
        ConfigSource::Tuned => {
            let env = env.ok_or_else(|| Error::Config("give --env ID, --config FILE or --resume DIR".into()))?;
            if !crate::runners::is_atari_id(&env) && crate::runners::host_env(&env).is_none() {
                crate::envs::registry::lookup(&env)?;
            }
            match tuned::find(cli, &env) {
                Some(t) => {
                    let (config, stop) = tuned::parse::<T>(t.text, t.file)?;
                    (config, stop, format!("tuned/{}", t.file))
                }
                None => {
                    let mut config = T::defaults_for(cli);
                    config.environment = config::EnvironmentConfig { env, ..Default::default() };
                    (config, Stop::default(), format!("{} defaults", cli))
                }
            }
        }
    };
    if !set.is_empty() {
        let keys: Vec<&str> = set.iter().filter_map(|i| i.split_once('=').map(|(k, _)| k.trim())).collect();
        for key in &keys {
            if let Some(key) = key.strip_prefix("training.") {
                algo::check_training_key::<T>(key).map_err(Error::Config)?;
            }
        }
        config = config::apply_overrides(&config, set).map_err(Error::Config)?;
        // Where the rollout is train_batch_size long, setting it makes the fragment derived from it again (a tuned
        // config fixes env_runners.rollout_fragment_length, which would otherwise win silently).
        let rollout_batch = config.training.rollout_batch().filter(|_| keys.contains(&"training.train_batch_size"));
        if rollout_batch.is_some() && !keys.contains(&"env_runners.rollout_fragment_length") {
            config.env_runners.rollout_fragment_length = 0;
        }
        if let Some(batch) = rollout_batch.filter(|_| config.env_runners.rollout_fragment_length != 0) {
            let (n, t) = (config.env_runners.num_envs_per_env_runner, config.env_runners.rollout_fragment_length);
            if n.checked_mul(t) != Some(batch) {
                return Err(Error::Config(format!(
                    "training.train_batch_size = {batch} but {n} envs × env_runners.rollout_fragment_length {t} = \
                     {} steps per iteration; set one of them (rollout_fragment_length = 0 derives it)",
                    n as u128 * t as u128
                )));
            }
        }
    }
    Ok((config, stop, origin))
}

/// Makes the algorithm `cli` names (`ppo`, `dqn`, `rainbow`, `impala`, `appo`, `pqn`, `sac`) from the config
/// [`load_config`] resolves; a resumed checkpoint is restored (its algorithm must be `cli`'s).
pub fn build(cli: &str, env: Option<&str>, source: ConfigSource, set: &[String]) -> Result<Built, Error> {
    fn with<T: Training>(cli: &str, env: Option<&str>, source: ConfigSource, set: &[String]) -> Result<Built, Error>
    where
        T::Algo: 'static,
    {
        let (config, stop, origin) = load_config::<T>(cli, env, source, set)?;
        stop.validate()?;
        let algo: T::Algo = match source {
            ConfigSource::Resumed { checkpoint, .. } => checkpoint::restore_opened(checkpoint, &config)?,
            _ => T::build(&config)?,
        };
        Ok(Built { algo: Box::new(algo), stop, origin })
    }
    match algo::lookup(cli)?.cli {
        "ppo" => with::<PpoTraining>(cli, env, source, set),
        "dqn" | "rainbow" => with::<DqnTraining>(cli, env, source, set),
        "impala" => with::<ImpalaTraining>(cli, env, source, set),
        "appo" => with::<AppoTraining>(cli, env, source, set),
        "pqn" => with::<PqnTraining>(cli, env, source, set),
        "sac" => with::<SacTraining>(cli, env, source, set),
        other => Err(Error::Config(format!("`{other}` has no builder (a catalogue entry without an algorithm)"))),
    }
}
