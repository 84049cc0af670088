//! A checkpoint's `manifest.json`: what the checkpoint is (format, algorithm, env id and spaces, the model's
//! parameter shapes, the run it belongs to and its counters) and the SHA-256 and size of every file in it. It is
//! written last, after every file it lists is synced, and [`Manifest::verify`] checks all of it before anything
//! is loaded: a file that was changed, truncated, swapped with another run's or is missing is refused by name.

use crate::envs::Space;
use crate::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

/// The checkpoint format this Myriad writes and reads.
pub const FORMAT: u32 = 3;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The Myriad version that wrote it.
    pub myriad_version: String,
    /// The run this checkpoint belongs to: a resumed run keeps it.
    pub run_id: String,
    /// RLlib's name of the algorithm (`PPO`, `DQN`).
    pub algorithm: String,
    pub env: String,
    pub observation_space: Space,
    pub action_space: Space,
    /// The shape of every parameter of the policy's model, in the model's order.
    pub model_layout: Vec<Vec<usize>>,
    pub training_iteration: u64,
    pub num_env_steps_sampled_lifetime: u64,
    /// Every file of the checkpoint but the manifest itself.
    pub files: BTreeMap<String, FileEntry>,
}

/// One file's size and digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub bytes: u64,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
}

impl FileEntry {
    /// Reads `path` and digests it.
    pub fn of(path: &Path) -> std::io::Result<FileEntry> {
        let mut file = fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
        Ok(FileEntry { bytes, sha256: hex(&hasher.finalize()) })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    /// Reads `dir/manifest.json`, refusing other formats.
    pub fn read(dir: &Path) -> Result<Manifest, Error> {
        let path = dir.join(MANIFEST);
        let corrupt =
            |e: &dyn std::fmt::Display| Error::Checkpoint(format!("{} is unreadable or corrupt: {e}", path.display()));
        let bytes = fs::read(&path).map_err(|e| corrupt(&e))?;
        // The format is read alone first, so an older or newer checkpoint is named as such.
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format: Format = serde_json::from_slice(&bytes).map_err(|e| corrupt(&e))?;
        if format.format != FORMAT {
            return Err(Error::Checkpoint(format!(
                "{} has checkpoint format {}, this Myriad reads format {FORMAT}",
                dir.display(),
                format.format
            )));
        }
        let mut manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| corrupt(&e))?;
        // CartPole's velocity bounds were ±f32::MAX before they became Gymnasium's ±∞; its older checkpoints
        // name the same space.
        if let Space::Box { low, high, .. } = &mut manifest.observation_space {
            for v in low.iter_mut().chain(high.iter_mut()).filter(|v| v.abs() == f32::MAX) {
                *v = v.signum() * f32::INFINITY;
            }
        }
        Ok(manifest)
    }

    /// Writes `dir/manifest.json` and syncs it.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let io = |e: &dyn std::fmt::Display| Error::Io(format!("writing a checkpoint ({MANIFEST}): {e}"));
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(&e))?;
        let path = dir.join(MANIFEST);
        fs::write(&path, json).map_err(|e| io(&e))?;
        fs::File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io(&e))
    }

    /// Checks that every file the manifest lists is in `dir` with its recorded size and digest, and that the
    /// files a checkpoint cannot do without are listed.
    pub fn verify(&self, dir: &Path) -> Result<(), Error> {
        for required in ["config.toml", "state.json", "model.bpk"] {
            if !self.files.contains_key(required) {
                return Err(Error::Checkpoint(format!(
                    "{}: the manifest does not list {required}, which every checkpoint has",
                    dir.display()
                )));
            }
        }
        for (name, want) in &self.files {
            if name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(Error::Checkpoint(format!(
                    "{}: the manifest lists `{}`, which is not a file name",
                    dir.display(),
                    crate::algo::clip(name, 100)
                )));
            }
            let path = dir.join(name);
            let got = FileEntry::of(&path).map_err(|e| {
                Error::Checkpoint(format!("{} is listed in the manifest but cannot be read: {e}", path.display()))
            })?;
            if got.bytes != want.bytes {
                return Err(Error::Checkpoint(format!(
                    "{} has {} bytes, the manifest records {}: the file was truncated or changed, or comes from another \
                     checkpoint",
                    path.display(),
                    got.bytes,
                    want.bytes
                )));
            }
            if got.sha256 != want.sha256 {
                return Err(Error::Checkpoint(format!(
                    "{} does not match the manifest (SHA-256 {} recorded, {} found): the file was changed or \
                     comes from another checkpoint",
                    path.display(),
                    crate::algo::clip(&want.sha256, 64),
                    got.sha256
                )));
            }
        }
        Ok(())
    }
}

/// A fresh run id: 16 hex digits from the clock, the process id and a process-wide count.
pub fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut hasher = Sha256::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hex(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_sha256_test_vector() {
        let dir = std::env::temp_dir().join(format!("myriad-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("abc"), b"abc").unwrap();
        let entry = FileEntry::of(&dir.join("abc")).unwrap();
        assert_eq!(entry.bytes, 3);
        assert_eq!(entry.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn run_ids_differ() {
        let a = new_run_id();
        assert_eq!(a.len(), 16);
        assert_ne!(a, new_run_id());
    }
}
