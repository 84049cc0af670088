//! The registry: Gymnasium ids to env families, and `make`. The built-in ids are a static table; users add
//! their own envs at run time with [`register`].

use crate::batch::{BatchKernel, EnvBatch};
use crate::classic_control::CartPole;
use crate::classic_control::{Acrobot, Pendulum};
use crate::classic_control::{MountainCar, MountainCarContinuous};
use crate::config::EnvConfig;
use crate::cpu::CpuBatch;
use crate::device::{Backend, Device};
use crate::env::{Env, EnvSpec};
use crate::error::{Error, Result};
use crate::toy_text::FrozenLake;
use std::sync::{PoisonError, RwLock};

/// One registered id.
#[derive(Clone, Copy)]
pub struct EnvInfo {
    /// The Gymnasium id.
    pub id: &'static str,
    /// The kwargs that id registers (e.g. `map_name=8x8`), applied before the user's.
    pub registered_kwargs: &'static str,
    /// One line about the env.
    pub summary: &'static str,
    make: fn(&str, &EnvConfig, usize, &Device) -> Result<EnvBatch>,
    spec: fn(&str, &EnvConfig) -> Result<EnvSpec>,
    has_wgsl: bool,
    has_cuda: bool,
}

impl EnvInfo {
    /// The spec of an instance with `config`.
    pub fn spec(&self, config: &EnvConfig) -> Result<EnvSpec> {
        (self.spec)(self.id, &self.full_config(config)?)
    }

    /// The config keys this id accepts, with their defaults (`None` where unset means "use the registered value").
    pub fn config_keys(&self) -> Result<Vec<(&'static str, String)>> {
        self.spec(&EnvConfig::new())?;
        Ok(crate::config::last_keys())
    }

    /// Whether this env can be made on `backend`: always on the CPU (the Rust `step` is the specification), on
    /// wgpu and CUDA only where the env supplies that kernel (`Env::WGSL`, `Env::CUDA` not empty). Whether the
    /// backend is compiled in and has hardware here is the device's business ([`Device::new`]).
    pub fn has_kernel(&self, backend: Backend) -> bool {
        match backend {
            Backend::Cpu => true,
            Backend::Wgpu => self.has_wgsl,
            Backend::Cuda => self.has_cuda,
        }
    }

    fn full_config(&self, config: &EnvConfig) -> Result<EnvConfig> {
        let mut full: EnvConfig = self.registered_kwargs.parse()?;
        for key in config.keys() {
            full.set(key, config.get(key).cloned().unwrap_or_default());
        }
        Ok(full)
    }
}

const fn entry<E: Env>(id: &'static str, registered_kwargs: &'static str, summary: &'static str) -> EnvInfo {
    EnvInfo {
        id,
        registered_kwargs,
        summary,
        make: build::<E>,
        spec: spec_of::<E>,
        has_wgsl: !E::WGSL.is_empty(),
        has_cuda: !E::CUDA.is_empty(),
    }
}

static REGISTRY: &[EnvInfo] = &[
    entry::<CartPole>("CartPole-v1", "", "balance a pole on a cart; Discrete(2), 500 steps"),
    entry::<MountainCar>("MountainCar-v0", "", "drive an underpowered car up a hill; Discrete(3), 200 steps"),
    entry::<MountainCarContinuous>("MountainCarContinuous-v0", "", "push a car up a hill; Box(-1, 1, (1,)), 999 steps"),
    entry::<FrozenLake>("FrozenLake-v1", "map_name=4x4", "cross a slippery 4x4 lake; Discrete(4), 100 steps"),
    entry::<FrozenLake>("FrozenLake8x8-v1", "map_name=8x8", "cross a slippery 8x8 lake; Discrete(4), 200 steps"),
    entry::<Pendulum>("Pendulum-v1", "", "swing a pendulum up with a bounded torque; Box(-2, 2, (1,)), 200 steps"),
    entry::<Acrobot>("Acrobot-v1", "", "swing a two-link arm's tip above a line; Discrete(3), 500 steps"),
];

/// Envs registered at run time by [`register`], in registration order. Entries are leaked so that `lookup` can
/// hand out `&'static EnvInfo` for built-in and custom ids alike.
static CUSTOM: RwLock<Vec<&'static EnvInfo>> = RwLock::new(Vec::new());

/// The longest id [`register`] accepts, in characters.
pub const MAX_ID_CHARS: usize = 200;

/// Registers env `E` under `id` for the rest of the process, so that [`make`], [`lookup`] and [`registered`]
/// find it as they find the built-in ids. `E` needs no GPU kernels: with `WGSL` and `CUDA` empty it runs on the
/// CPU backend (see [`EnvInfo::has_kernel`]).
///
/// The id must be new (built-in or custom), non-empty, at most [`MAX_ID_CHARS`] characters, and free of
/// whitespace and control characters. The id and summary are leaked, as is the entry itself (a few dozen bytes
/// per registration), so that lookups can hand out `&'static` references; registration cannot be undone.
pub fn register<E: Env>(id: &str, summary: &str) -> Result<()> {
    check_id(id)?;
    let mut custom = CUSTOM.write().unwrap_or_else(PoisonError::into_inner);
    if REGISTRY.iter().any(|e| e.id == id) {
        return Err(Error::EnvIdTaken { id: id.to_string(), built_in: true });
    }
    if custom.iter().any(|e| e.id == id) {
        return Err(Error::EnvIdTaken { id: id.to_string(), built_in: false });
    }
    let id: &'static str = id.to_owned().leak();
    let summary: &'static str = summary.to_owned().leak();
    custom.push(Box::leak(Box::new(entry::<E>(id, "", summary))));
    Ok(())
}

fn check_id(id: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::BadEnvId { id: id.to_string(), reason: reason.to_string() });
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.chars().count() > MAX_ID_CHARS {
        return bad(&format!("it is longer than {MAX_ID_CHARS} characters"));
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or control characters");
    }
    Ok(())
}

/// Every registered id: the built-in ones in registration order, then those added by [`register`].
pub fn registered() -> Vec<EnvInfo> {
    let custom = CUSTOM.read().unwrap_or_else(PoisonError::into_inner);
    REGISTRY.iter().chain(custom.iter().copied()).copied().collect()
}

/// Looks up `id` among built-in and custom ids; an unknown id is an error that names the closest ids.
pub fn lookup(id: &str) -> Result<&'static EnvInfo> {
    if let Some(info) = REGISTRY.iter().find(|e| e.id == id) {
        return Ok(info);
    }
    let custom = CUSTOM.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(info) = custom.iter().find(|e| e.id == id).copied() {
        return Ok(info);
    }
    let lower = id.to_lowercase();
    let mut scored: Vec<(usize, &str)> =
        REGISTRY.iter().chain(custom.iter().copied()).map(|e| (distance(&lower, &e.id.to_lowercase()), e.id)).collect();
    scored.sort();
    // Close names only: within a quarter of the id's length, or as close as the best match.
    let best = scored.first().map_or(0, |s| s.0);
    let cutoff = (id.len() / 4).max(2);
    let suggestions = scored
        .iter()
        .filter(|(d, _)| *d <= cutoff || (*d == best && best <= id.len() / 2))
        .take(3)
        .map(|(_, s)| s.to_string())
        .collect();
    Err(Error::UnknownEnv { id: id.to_string(), suggestions })
}

/// Makes `num_envs` copies of env `id` with Gymnasium kwargs `config` on `device`. Call `reset` before stepping.
pub fn make(id: &str, config: &EnvConfig, num_envs: usize, device: &Device) -> Result<EnvBatch> {
    let info = lookup(id)?;
    if num_envs == 0 || num_envs > u32::MAX as usize / 16 {
        return Err(Error::Shape(format!("num_envs must be in 1..={}, got {num_envs}", u32::MAX / 16)));
    }
    if !info.has_kernel(device.backend()) {
        return Err(Error::NoKernel { id: id.to_string(), backend: device.backend() });
    }
    (info.make)(id, &info.full_config(config)?, num_envs, device)
}

fn spec_of<E: Env>(id: &str, config: &EnvConfig) -> Result<EnvSpec> {
    let (params, max_steps) = E::params(id, config)?;
    Ok(E::spec(id, &params, max_steps))
}

fn build<E: Env>(id: &str, config: &EnvConfig, num_envs: usize, device: &Device) -> Result<EnvBatch> {
    let (params, max_steps) = E::params(id, config)?;
    let spec = E::spec(id, &params, max_steps);
    let kernel: Box<dyn BatchKernel> = match device {
        Device::Cpu => Box::new(CpuBatch::<E>::new(params, &spec, num_envs)),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(ctx) => Box::new(crate::device::wgpu::WgpuBatch::new::<E>(ctx, &params, &spec, num_envs)?),
        #[cfg(feature = "cuda")]
        Device::Cuda(ctx) => Box::new(crate::device::cuda::CudaBatch::new::<E>(ctx, &params, &spec, num_envs)?),
    };
    Ok(EnvBatch::new(spec, num_envs, device.clone(), kernel))
}

/// Levenshtein distance, for suggestions of close names.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + (ca != *cb) as usize).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ids_suggest_close_names() {
        let err = lookup("CartPole-v0").err().unwrap();
        assert!(err.to_string().contains("did you mean `CartPole-v1`"), "{err}");
    }
}
