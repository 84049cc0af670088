//! Tuned configs shipped with Myriad (`tuned/*.toml`, embedded in the binary): the config `myriad train <algo>`
//! uses for an env when no `--config` is given, found by (algorithm, env). Each file holds an algorithm's config
//! plus an optional `[stop]` table.

use crate::algo;
use crate::config::AlgorithmConfig;
use crate::run::Stop;
use crate::Error;
use serde::de::DeserializeOwned;

/// A tuned config: the algorithm's command name, the env id, the file name and its contents.
pub struct Tuned {
    pub algo: &'static str,
    pub env: &'static str,
    pub file: &'static str,
    pub text: &'static str,
}

macro_rules! tuned {
    ($algo:literal, $env:literal, $file:literal) => {
        Tuned { algo: $algo, env: $env, file: $file, text: include_str!(concat!("../tuned/", $file)) }
    };
}

/// Every tuned config.
pub const TUNED: &[Tuned] = &[
    tuned!("ppo", "CartPole-v1", "cartpole-ppo.toml"),
    tuned!("ppo", "Acrobot-v1", "acrobot-ppo.toml"),
    tuned!("ppo", "Pendulum-v1", "pendulum-ppo.toml"),
    tuned!("ppo", "FrozenLake-v1", "frozenlake-ppo.toml"),
    tuned!("ppo", "ALE/Pong-v5", "pong-ppo.toml"),
    tuned!("dqn", "CartPole-v1", "cartpole-dqn.toml"),
    tuned!("dqn", "Acrobot-v1", "acrobot-dqn.toml"),
    tuned!("dqn", "MountainCar-v0", "mountaincar-dqn.toml"),
    tuned!("rainbow", "CartPole-v1", "cartpole-rainbow.toml"),
    tuned!("rainbow", "ALE/Pong-v5", "pong-der.toml"),
    tuned!("impala", "CartPole-v1", "cartpole-impala.toml"),
    tuned!("impala", "Acrobot-v1", "acrobot-impala.toml"),
    tuned!("impala", "ALE/Pong-v5", "pong-impala.toml"),
    tuned!("appo", "CartPole-v1", "cartpole-appo.toml"),
    tuned!("appo", "ALE/Pong-v5", "pong-appo.toml"),
    tuned!("pqn", "CartPole-v1", "cartpole-pqn.toml"),
    tuned!("pqn", "Acrobot-v1", "acrobot-pqn.toml"),
    tuned!("pqn", "ALE/Pong-v5", "pong-pqn.toml"),
    tuned!("sac", "Pendulum-v1", "pendulum-sac.toml"),
    tuned!("sac", "MountainCarContinuous-v0", "mountaincarcontinuous-sac.toml"),
];

/// The embedded tuned config of `algo` (its command name: `ppo`, `dqn`, ...) for `env`, if there is one.
pub fn find(algo: &str, env: &str) -> Option<&'static Tuned> {
    TUNED.iter().find(|t| t.algo == algo && t.env == env)
}

/// Parses a run file: a config of type `C` in TOML with an optional `[stop]` table. Unknown keys are errors; a
/// `training` key of another algorithm names the algorithm it belongs to.
pub fn parse<T: algo::Training>(text: &str, origin: &str) -> Result<(AlgorithmConfig<T>, Stop), Error> {
    let mut table: toml::Table = text.parse().map_err(|e| Error::Config(format!("{origin}: {e}")))?;
    let stop = match table.remove("stop") {
        Some(value) => value.try_into().map_err(|e| Error::Config(format!("{origin}: [stop]: {e}")))?,
        None => Stop::default(),
    };
    if let Some(toml::Value::Table(training)) = table.get("training") {
        for key in training.keys() {
            algo::check_training_key::<T>(key).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        }
    }
    let config = parse_table(table).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
    Ok((config, stop))
}

fn parse_table<C: DeserializeOwned>(table: toml::Table) -> Result<C, String> {
    toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.to_string().trim_end().to_string())
}
