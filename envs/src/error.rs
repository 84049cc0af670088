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
    /// A batch (or one of its buffers) does not fit the memory of its device; see
    /// [`Device::check_fits`](crate::Device::check_fits).
    OutOfMemory(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownEnv { id, suggestions } => {
                write!(f, "unknown env id `{}`", clip(id))?;
                if !suggestions.is_empty() {
                    write!(f, "; did you mean {}?", quoted_list(suggestions))?;
                }
                write!(f, " (`myriad envs` lists every id)")
            }
            Error::EnvIdTaken { id, built_in } => {
                let owner = if *built_in { "a built-in env" } else { "an env registered earlier" };
                write!(f, "cannot register env `{}`: the id is taken by {owner}; choose another id", clip(id))
            }
            Error::BadEnvId { id, reason } => write!(f, "cannot register env {}: {reason}", quote_id(id)),
            Error::NoKernel { id, backend } => {
                let kernel = match backend {
                    Backend::Cpu => "CPU",
                    Backend::Wgpu => "WGSL",
                    Backend::Cuda => "CUDA",
                };
                let id = clip(id);
                write!(f, "env `{id}` supplies no {kernel} kernel; it runs on the CPU backend (--backend cpu)")
            }
            Error::UnknownConfigKey { env, key, valid } => {
                let (env, key) = (clip(env), clip(key));
                write!(f, "{env} has no config key `{key}`; valid keys: {}", quoted_list(valid))
            }
            Error::BadConfigValue { env, key, reason } => {
                write!(f, "{}: bad value for `{}`: {reason}", clip(env), clip(key))
            }
            Error::ConfigSyntax(msg) => write!(f, "env config: {msg}"),
            Error::InvalidAction(msg) => write!(f, "invalid action: {msg}"),
            Error::Shape(msg) => write!(f, "shape mismatch: {msg}"),
            Error::Backend(msg) => write!(f, "backend unavailable: {msg}"),
            Error::Device(msg) => write!(f, "device error: {msg}"),
            Error::Trace(msg) => write!(f, "trace: {msg}"),
            Error::Io(msg) => write!(f, "{msg}"),
            Error::OutOfMemory(msg) => write!(f, "not enough memory: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

fn quoted_list(items: &[String]) -> String {
    items.iter().map(|s| format!("`{}`", clip(s))).collect::<Vec<_>>().join(", ")
}

/// The most characters of one piece of user input (an env id, a kwarg key or value, a trace field) that an error
/// message quotes; [`clip`] cuts longer input to this and marks the cut with `…`.
pub const MAX_QUOTED_CHARS: usize = 100;

/// User input as an error message quotes it: unchanged up to [`MAX_QUOTED_CHARS`] characters, else its first
/// `MAX_QUOTED_CHARS` characters and a trailing `…`. Reads only that far, so a 100 MB id costs nothing, and
/// clipping twice gives the same string as clipping once.
pub fn clip(input: &str) -> String {
    clip_to(input, MAX_QUOTED_CHARS)
}

/// [`clip`] with another limit, for text that quotes user input among its own words (a parser's message).
pub fn clip_to(input: &str, max_chars: usize) -> String {
    match input.char_indices().nth(max_chars) {
        None => input.to_string(),
        Some((end, _)) => format!("{}…", &input[..end]),
    }
}

/// A JSON value as an error message quotes it: a string's text clipped before it is quoted, anything else
/// serialized and clipped.
pub(crate) fn clip_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => format!("\"{}\"", clip(s)),
        other => clip(&other.to_string()),
    }
}

/// An id as a user typed it, for messages: cut by [`clip`] and escaped (control characters show as `\n`,
/// `\u{..}`).
fn quote_id(id: &str) -> String {
    format!("`{}`", clip(id).escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_input_once_and_leaves_short_input_alone() {
        assert_eq!(clip("CartPole-v1"), "CartPole-v1");
        let exact = "a".repeat(MAX_QUOTED_CHARS);
        assert_eq!(clip(&exact), exact);
        let long = "é".repeat(10 * MAX_QUOTED_CHARS);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(clipped.ends_with('…') && clipped.starts_with("éé"));
        assert_eq!(clip(&clipped), clipped, "clipping twice changes nothing");
        assert_eq!(clip_json(&serde_json::Value::from(long.as_str())), format!("\"{clipped}\""));
    }

    #[test]
    fn every_message_clips_the_input_it_quotes() {
        let long = "z".repeat(100_000);
        let errors = [
            Error::UnknownEnv { id: long.clone(), suggestions: vec![long.clone()] },
            Error::EnvIdTaken { id: long.clone(), built_in: true },
            Error::BadEnvId { id: long.clone(), reason: "it is long".into() },
            Error::NoKernel { id: long.clone(), backend: Backend::Wgpu },
            Error::UnknownConfigKey { env: long.clone(), key: long.clone(), valid: vec!["g".into()] },
            Error::BadConfigValue { env: long.clone(), key: long.clone(), reason: "no".into() },
        ];
        for err in errors {
            let message = err.to_string();
            assert!(message.len() < 1_000, "{} characters", message.len());
        }
    }
}
