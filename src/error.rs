//! The learner-side error: everything a run can fail with, each variant a message a person can act on.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// An env, space or device problem (unknown id, bad env kwargs, no adapter, ...).
    Env(crate::envs::Error),
    /// A config value that cannot work, naming the field.
    Config(String),
    /// A learner tensor could not be read.
    Device(String),
    /// A non-finite loss: training stopped.
    NonFinite(String),
    /// A checkpoint that is missing, corrupt or from another env.
    Checkpoint(String),
    /// Reading or writing run files.
    Io(String),
    /// Env runner threads failed beyond what their supervision restarts.
    Runner(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Env(e) => write!(f, "{e}"),
            Error::Config(m) => write!(f, "invalid config: {m}"),
            Error::Device(m) => write!(f, "device: {m}"),
            Error::NonFinite(m) => write!(f, "{m}"),
            Error::Checkpoint(m) => write!(f, "checkpoint: {m}"),
            Error::Io(m) => write!(f, "{m}"),
            Error::Runner(m) => write!(f, "env runners: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::envs::Error> for Error {
    fn from(e: crate::envs::Error) -> Self {
        Error::Env(e)
    }
}
