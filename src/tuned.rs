//! Tuned configs shipped with Myriad (`tuned/*.toml`, embedded in the binary): the config `myriad train` uses for
//! an env when no `--config` is given. Each file holds a `PpoConfig` plus an optional `[stop]` table.

use crate::algo::PpoConfig;
use crate::run::Stop;
use crate::Error;

/// (env id, file name, contents).
pub const TUNED: &[(&str, &str, &str)] = &[
    ("CartPole-v1", "cartpole-ppo.toml", include_str!("../tuned/cartpole-ppo.toml")),
    ("Acrobot-v1", "acrobot-ppo.toml", include_str!("../tuned/acrobot-ppo.toml")),
    ("Pendulum-v1", "pendulum-ppo.toml", include_str!("../tuned/pendulum-ppo.toml")),
    ("FrozenLake-v1", "frozenlake-ppo.toml", include_str!("../tuned/frozenlake-ppo.toml")),
    ("ALE/Pong-v5", "pong-ppo.toml", include_str!("../tuned/pong-ppo.toml")),
];

/// The embedded tuned config for `env`, if there is one.
pub fn for_env(env: &str) -> Option<(&'static str, &'static str)> {
    TUNED.iter().find(|(id, _, _)| *id == env).map(|(_, name, text)| (*name, *text))
}

/// Parses a run file: a `PpoConfig` in TOML with an optional `[stop]` table. Unknown keys are errors.
pub fn parse(text: &str, origin: &str) -> Result<(PpoConfig, Stop), Error> {
    let mut table: toml::Table = text.parse().map_err(|e| Error::Config(format!("{origin}: {e}")))?;
    let stop = match table.remove("stop") {
        Some(value) => value.try_into().map_err(|e| Error::Config(format!("{origin}: [stop]: {e}")))?,
        None => Stop::default(),
    };
    let config = toml::Value::Table(table).try_into().map_err(|e| Error::Config(format!("{origin}: {e}")))?;
    Ok((config, stop))
}
