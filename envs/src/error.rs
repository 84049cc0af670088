//! The one error type of `myriad-envs`: every bad input ends here with a message a person can act on.

use crate::device::Backend;
use std::fmt;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when making, configuring, stepping or checking an environment batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No environment is registered under this id; `suggestions` holds the closest registered ids.
    UnknownEnv { id: String, suggestions: Vec<String> },
    /// `register` was given an id that is already taken, by a built-in env or an earlier `register`.
    EnvIdTaken { id: String, built_in: bool },
    /// `register` was given an id it cannot accept (empty, too long, whitespace or control characters).
    BadEnvId { id: String, reason: String },
    /// The env supplies no kernel for this GPU backend (a custom env that runs on the CPU only).
    NoKernel { id: String, backend: Backend },
    /// A config key the environment does not accept.
    UnknownConfigKey { env: String, key: String, valid: Vec<String> },
    /// A config value of the wrong type or out of range.
    BadConfigValue { env: String, key: String, reason: String },
    /// A `key=value,...` string that does not parse.
    ConfigSyntax(String),
    /// A discrete action outside `0..n`, or a continuous action of the wrong width.
    InvalidAction(String),
    /// Host data of the wrong length or shape for this batch.
    Shape(String),
    /// The requested backend is not usable here (not compiled in, no adapter, no driver).
    Backend(String),
    /// A device-side failure (shader compilation, launch, transfer).
    Device(String),
    /// A malformed trace file or trace line.
    Trace(String),
    /// Reading or writing a file.
    Io(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownEnv { id, suggestions } => {
                write!(f, "unknown env id `{id}`")?;
                if !suggestions.is_empty() {
                    write!(f, "; did you mean {}?", quoted_list(suggestions))?;
                }
                write!(f, " (`myriad envs` lists every id)")
            }
            Error::EnvIdTaken { id, built_in } => {
                let owner = if *built_in { "a built-in env" } else { "an env registered earlier" };
                write!(f, "cannot register env `{id}`: the id is taken by {owner}; choose another id")
            }
            Error::BadEnvId { id, reason } => write!(f, "cannot register env {}: {reason}", quote_id(id)),
            Error::NoKernel { id, backend } => {
                let kernel = match backend {
                    Backend::Cpu => "CPU",
                    Backend::Wgpu => "WGSL",
                    Backend::Cuda => "CUDA",
                };
                write!(f, "env `{id}` supplies no {kernel} kernel; it runs on the CPU backend (--backend cpu)")
            }
            Error::UnknownConfigKey { env, key, valid } => {
                write!(f, "{env} has no config key `{key}`; valid keys: {}", quoted_list(valid))
            }
            Error::BadConfigValue { env, key, reason } => {
                write!(f, "{env}: bad value for `{key}`: {reason}")
            }
            Error::ConfigSyntax(msg) => write!(f, "env config: {msg}"),
            Error::InvalidAction(msg) => write!(f, "invalid action: {msg}"),
            Error::Shape(msg) => write!(f, "shape mismatch: {msg}"),
            Error::Backend(msg) => write!(f, "backend unavailable: {msg}"),
            Error::Device(msg) => write!(f, "device error: {msg}"),
            Error::Trace(msg) => write!(f, "trace: {msg}"),
            Error::Io(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {}

fn quoted_list(items: &[String]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// An id as a user typed it, for messages: escaped (control characters show as `\n`, `\u{..}`) and cut to its
/// first 100 characters.
fn quote_id(id: &str) -> String {
    const SHOWN: usize = 100;
    let head: String = id.chars().take(SHOWN).collect();
    let more = id.chars().count().saturating_sub(SHOWN);
    let tail = if more > 0 { format!("… ({more} more characters)") } else { String::new() };
    format!("`{}`{tail}", head.escape_debug())
}
