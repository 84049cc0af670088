//! The registry: Gymnasium ids to env families, and `make`. The built-in ids are a static table; users add
//! their own envs at run time with [`register`].

use crate::batch::{BatchKernel, EnvBatch};
use crate::classic_control::CartPole;
use crate::classic_control::{Acrobot, Pendulum};
use crate::classic_control::{MountainCar, MountainCarContinuous};
use crate::config::{EnvConfig, MAX_EPISODE_STEPS};
use crate::cpu::CpuBatch;
use crate::device::{Backend, Device};
use crate::env::{Env, EnvSpec};
use crate::error::{clip, Error, Result};
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
        return Err(Error::EnvIdTaken { id: clip(id), built_in: true });
    }
    if custom.iter().any(|e| e.id == id) {
        return Err(Error::EnvIdTaken { id: clip(id), built_in: false });
    }
    let id: &'static str = id.to_owned().leak();
    let summary: &'static str = summary.to_owned().leak();
    custom.push(Box::leak(Box::new(entry::<E>(id, "", summary))));
    Ok(())
}

fn check_id(id: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::BadEnvId { id: clip(id), reason: reason.to_string() });
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.chars().nth(MAX_ID_CHARS).is_some() {
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

/// Ids longer than this get no "did you mean" suggestions: no registered id is that long (see [`MAX_ID_CHARS`]),
/// and the edit distance to a long id costs time in proportion to its length.
const MAX_SUGGEST_CHARS: usize = MAX_ID_CHARS;

/// Looks up `id` among built-in and custom ids; an unknown id is an error that names the closest ids (none for
/// ids longer than [`MAX_ID_CHARS`]), quoting the id cut by [`clip`].
pub fn lookup(id: &str) -> Result<&'static EnvInfo> {
    if let Some(info) = REGISTRY.iter().find(|e| e.id == id) {
        return Ok(info);
    }
    let custom = CUSTOM.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(info) = custom.iter().find(|e| e.id == id).copied() {
        return Ok(info);
    }
    if id.chars().nth(MAX_SUGGEST_CHARS).is_some() {
        return Err(Error::UnknownEnv { id: clip(id), suggestions: Vec::new() });
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
    Err(Error::UnknownEnv { id: clip(id), suggestions })
}

/// Makes `num_envs` copies of env `id` with Gymnasium kwargs `config` on `device`. Call `reset` before stepping.
pub fn make(id: &str, config: &EnvConfig, num_envs: usize, device: &Device) -> Result<EnvBatch> {
    let info = lookup(id)?;
    if num_envs == 0 || num_envs > u32::MAX as usize / 16 {
        return Err(Error::Shape(format!("num_envs must be in 1..={}, got {num_envs}", u32::MAX / 16)));
    }
    if !info.has_kernel(device.backend()) {
        return Err(Error::NoKernel { id: clip(id), backend: device.backend() });
    }
    (info.make)(id, &info.full_config(config)?, num_envs, device)
}

fn spec_of<E: Env>(id: &str, config: &EnvConfig) -> Result<EnvSpec> {
    let (params, max_steps) = E::params(id, config)?;
    checked_spec(E::spec(id, &params, max_steps))
}

/// `spec`, if it holds what every env's must, whatever its `Env::params` read: Gymnasium's `TimeLimit` needs a
/// limit of at least one step.
fn checked_spec(spec: EnvSpec) -> Result<EnvSpec> {
    if spec.max_episode_steps == 0 {
        return Err(Error::BadConfigValue {
            env: clip(&spec.id),
            key: MAX_EPISODE_STEPS.into(),
            reason: "must be at least 1, got 0".into(),
        });
    }
    Ok(spec)
}

/// Per-env scalars of a batch, 4 bytes each: reward, terminated, truncated, elapsed steps, rng key, rng counter,
/// action-stream counter, running return and length, finished episodes and their summed returns and lengths,
/// and one to spare (the CPU batch keeps 12 columns, the GPU batches 3 `floats` and 9 `ints` rows).
const SCALARS_PER_ENV: u64 = 13;

/// Bytes one env of `E` takes in a batch on any backend (a little over what each allocates): the state, the
/// observation and final observation, the action and the per-env scalars.
pub(crate) fn bytes_per_env<E: Env>(spec: &EnvSpec) -> u64 {
    let word = 4u64;
    let state = (std::mem::size_of::<E::State>() as u64).max(spec.state_dim as u64 * word);
    let action = (std::mem::size_of::<E::Action>() as u64).max(spec.action_dim() as u64 * word);
    state + 2 * spec.obs_dim() as u64 * word + action + SCALARS_PER_ENV * word
}

fn build<E: Env>(id: &str, config: &EnvConfig, num_envs: usize, device: &Device) -> Result<EnvBatch> {
    let (params, max_steps) = E::params(id, config)?;
    let spec = checked_spec(E::spec(id, &params, max_steps))?;
    let what = format!("{num_envs} envs of {}", clip(id));
    device.check_fits(&what, (num_envs as u64).saturating_mul(bytes_per_env::<E>(&spec)))?;
    let kernel: Box<dyn BatchKernel> = match device {
        Device::Cpu => Box::new(CpuBatch::<E>::new(params, &spec, num_envs)?),
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

    #[test]
    fn max_episode_steps_zero_is_a_config_error() {
        let config: EnvConfig = "max_episode_steps=0".parse().unwrap();
        for id in ["CartPole-v1", "FrozenLake-v1", "Pendulum-v1"] {
            let err = make(id, &config, 1, &Device::Cpu).err().expect("max_episode_steps=0 must be rejected");
            assert!(matches!(&err, Error::BadConfigValue { key, .. } if key == "max_episode_steps"), "{id}: {err:?}");
            assert!(err.to_string().contains("must be at least 1"), "{err}");
            assert!(lookup(id).unwrap().spec(&config).is_err(), "{id}: the spec must reject it too");
        }
        let one: EnvConfig = "max_episode_steps=1".parse().unwrap();
        assert_eq!(make("CartPole-v1", &one, 1, &Device::Cpu).unwrap().spec().max_episode_steps, 1);
    }

    #[test]
    fn a_spec_with_no_time_limit_is_rejected_whatever_the_env_read() {
        let (params, _) = CartPole::params("CartPole-v1", &EnvConfig::new()).unwrap();
        let err = checked_spec(CartPole::spec("CartPole-v1", &params, Some(0))).unwrap_err();
        assert!(matches!(&err, Error::BadConfigValue { key, .. } if key == "max_episode_steps"), "{err:?}");
    }

    /// `f` returns within a second with an error message of under 1,000 characters.
    fn short_error_quickly(what: &str, f: impl FnOnce() -> Result<EnvBatch>) {
        let start = std::time::Instant::now();
        let err = f().err().unwrap_or_else(|| panic!("{what}: expected an error"));
        let message = err.to_string();
        assert!(start.elapsed().as_secs_f64() < 1.0, "{what}: took {:?}", start.elapsed());
        assert!(message.chars().count() < 1_000, "{what}: {} characters", message.chars().count());
        assert!(message.contains('…'), "{what}: the clipped input is marked: {message}");
    }

    #[test]
    fn huge_user_input_is_clipped_in_errors_and_answered_quickly() {
        let huge = "x".repeat(10_000_000);
        short_error_quickly("a 10 MB id", || make(&huge, &EnvConfig::new(), 1, &Device::Cpu));
        let near = format!("CartPole-v1{}", "1".repeat(300));
        short_error_quickly("a long id near a real one", || make(&near, &EnvConfig::new(), 1, &Device::Cpu));
        let key = EnvConfig::new().with(&huge, 1);
        short_error_quickly("a 10 MB kwarg key", || make("CartPole-v1", &key, 1, &Device::Cpu));
        let value = EnvConfig::new().with("gravity", huge.clone());
        short_error_quickly("a 10 MB kwarg value", || make("CartPole-v1", &value, 1, &Device::Cpu));
        let list = EnvConfig::new().with("gravity", vec![1; 1_000_000]);
        short_error_quickly("a long list as a kwarg value", || make("CartPole-v1", &list, 1, &Device::Cpu));
        let map = EnvConfig::new().with("map_name", huge.clone());
        short_error_quickly("a 10 MB map name", || make("FrozenLake-v1", &map, 1, &Device::Cpu));
        short_error_quickly("a 10 MB config string", || {
            let config: EnvConfig = format!("gravity={huge}").parse()?;
            make("CartPole-v1", &config, 1, &Device::Cpu)
        });
        short_error_quickly("a 10 MB malformed config string", || {
            let config: EnvConfig = huge.parse()?;
            make("CartPole-v1", &config, 1, &Device::Cpu)
        });
        let err = register::<CartPole>(&huge, "").unwrap_err().to_string();
        assert!(err.chars().count() < 1_000, "{} characters", err.chars().count());
    }

    #[test]
    fn a_batch_larger_than_memory_is_an_error_not_an_abort() {
        let n = u32::MAX as usize / 16;
        let spec = lookup("CartPole-v1").unwrap().spec(&EnvConfig::new()).unwrap();
        let needed = n as u64 * bytes_per_env::<CartPole>(&spec);
        match Device::Cpu.available_memory() {
            Some(available) if available < needed => {}
            other => {
                eprintln!("skipped: {n} CartPole envs need {needed} bytes and this host has {other:?} available");
                return;
            }
        }
        let err = make("CartPole-v1", &EnvConfig::new(), n, &Device::Cpu).err().expect("too large to fit");
        assert!(matches!(err, Error::OutOfMemory(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("memory") && message.contains("use fewer envs"), "{message}");
        assert!(message.contains(&format!("{n} envs of CartPole-v1")), "{message}");
    }

    #[test]
    fn the_estimate_covers_what_the_cpu_batch_allocates() {
        let spec = lookup("CartPole-v1").unwrap().spec(&EnvConfig::new()).unwrap();
        // 4 state and 2 × 4 observation floats, one action, 12 scalar columns.
        assert!(bytes_per_env::<CartPole>(&spec) >= 4 * (4 + 8 + 1 + 12));
    }
}
