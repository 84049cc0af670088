//! Myriad's errors as Python exceptions: input a caller can fix (unknown ids, bad kwargs, config values, actions
//! of the wrong shape) is a `ValueError` with the Rust side's message and suggestions; files are `OSError`s; a
//! device or a run that fails is a `RuntimeError`; a batch too big for its device a `MemoryError`.

use myriad::envs::Error as EnvError;
use myriad::Error;
use pyo3::exceptions::{PyMemoryError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// An env-side error as the Python exception it maps to.
pub fn env_error(e: EnvError) -> PyErr {
    let message = e.to_string();
    match e {
        EnvError::UnknownEnv { .. }
        | EnvError::EnvIdTaken { .. }
        | EnvError::BadEnvId { .. }
        | EnvError::UnknownConfigKey { .. }
        | EnvError::BadConfigValue { .. }
        | EnvError::ConfigSyntax(_)
        | EnvError::InvalidAction(_)
        | EnvError::Shape(_)
        | EnvError::Trace(_) => PyValueError::new_err(message),
        EnvError::Io(_) => PyOSError::new_err(message),
        EnvError::OutOfMemory(_) => PyMemoryError::new_err(message),
        EnvError::NoKernel { .. } | EnvError::Backend(_) | EnvError::Device(_) => PyRuntimeError::new_err(message),
    }
}

/// A learner-side error as the Python exception it maps to.
pub fn error(e: Error) -> PyErr {
    match e {
        Error::Env(e) => env_error(e),
        Error::Config(_) | Error::Checkpoint(_) => PyValueError::new_err(e.to_string()),
        Error::Io(_) => PyOSError::new_err(e.to_string()),
        Error::Device(_) | Error::NonFinite(_) | Error::Runner(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

/// A `ValueError` with `message`.
pub fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}
