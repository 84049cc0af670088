//! A run folder, held by one run at a time: an advisory lock on `run.lock` (released by the OS when the process
//! ends, however it ends), the run's id in `run.json`, and the rules that keep two runs from mixing their files.
//!
//! | start | folder holds no run | folder holds a run |
//! |---|---|---|
//! | [`Start::New`] | new run id | error: resume it, overwrite it or choose another folder |
//! | [`Start::Overwrite`] | new run id | its checkpoint and logs are removed first, then a new run id |
//! | [`Start::Resume`] | the checkpoint's run id | must be the checkpoint's run; logs cut back to the checkpoint |
//!
//! Opening also removes temporary checkpoint folders a crash left behind (safe: the lock says no live run is
//! writing one).

use crate::checkpoint::{self, TEMPORARY_PREFIX};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// How a run takes its folder.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// A new run: the folder must not hold another run's checkpoint or logs.
    New,
    /// A new run that replaces whatever run the folder holds (`--overwrite`).
    Overwrite,
    /// The continuation of the run `run_id`, restored from its checkpoint at `iteration` and `env_steps`: logs
    /// written after that checkpoint are cut off before the run appends.
    Resume { run_id: String, iteration: u64, env_steps: u64 },
}

/// `run.json`.
#[derive(Serialize, Deserialize)]
struct RunFile {
    run_id: String,
}

/// The files of a run besides `run.lock`.
const RUN_FILES: &[&str] = &["checkpoint", "checkpoint.old", "progress.jsonl", "progress.csv", "tb", "run.json"];

/// A run folder this process holds until it is dropped.
pub struct RunFolder {
    path: PathBuf,
    run_id: String,
    /// Dropped releases the lock.
    _lock: File,
}

impl RunFolder {
    /// Creates (if need be) and locks `path` for a run started as `start`.
    pub fn open(path: &Path, start: Start) -> Result<RunFolder, Error> {
        let io = |what: &str, e: &dyn std::fmt::Display| Error::Io(format!("{what} {}: {e}", path.display()));
        fs::create_dir_all(path).map_err(|e| io("creating the run folder", &e))?;
        let lock = lock(path)?;
        for entry in fs::read_dir(path).map_err(|e| io("reading the run folder", &e))? {
            let entry = entry.map_err(|e| io("reading the run folder", &e))?;
            if entry.file_name().to_string_lossy().starts_with(TEMPORARY_PREFIX) {
                fs::remove_dir_all(entry.path()).map_err(|e| io("removing a stale temporary checkpoint in", &e))?;
            }
        }
        let held = held_run(path)?;
        let run_id = match start {
            Start::New => {
                if let Some(existing) = held {
                    return Err(Error::Io(format!(
                        "{} holds another run's files ({existing}): continue it with `--resume {}`, replace it \
                         with `--overwrite`, or choose another --out",
                        path.display(),
                        path.display()
                    )));
                }
                checkpoint::new_run_id()
            }
            Start::Overwrite => {
                for name in RUN_FILES {
                    let item = path.join(name);
                    let removed = if item.is_dir() { fs::remove_dir_all(&item) } else { fs::remove_file(&item) };
                    if let Err(e) = removed {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            return Err(io(&format!("removing {name} from"), &e));
                        }
                    }
                }
                checkpoint::new_run_id()
            }
            Start::Resume { run_id, iteration, env_steps } => {
                if let Some(existing) = read_run_id(path)? {
                    if existing != run_id {
                        return Err(Error::Io(format!(
                            "{} holds run {existing}, but the checkpoint being resumed belongs to run {}: resume \
                             into that run's folder or into an empty one (--out)",
                            path.display(),
                            crate::algo::clip(&run_id, 40)
                        )));
                    }
                } else if let Some(existing) = held {
                    return Err(Error::Io(format!(
                        "{} holds another run's files ({existing}): resume into that run's folder or into an \
                         empty one (--out)",
                        path.display()
                    )));
                }
                let cut = crate::metrics::truncate_logs(path, iteration, env_steps)?;
                if !cut.is_empty() {
                    eprintln!("resume: {cut}");
                }
                run_id
            }
        };
        write_run_file(path, &run_id)?;
        Ok(RunFolder { path: path.to_path_buf(), run_id, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id every checkpoint of this run records.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }
}

/// Takes the folder's advisory lock, naming the process that holds it when another does.
fn lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join("run.lock");
    let io = |e: &dyn std::fmt::Display| Error::Io(format!("locking {}: {e}", path.display()));
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| io(&e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let by =
                if holder.is_empty() { String::new() } else { format!(" (process {})", crate::algo::clip(holder, 20)) };
            return Err(Error::Io(format!(
                "{} is in use by another run{by}: wait for it to end or choose another --out",
                dir.display()
            )));
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(&e)),
    }
    file.set_len(0).and_then(|_| file.rewind()).map_err(|e| io(&e))?;
    write!(file, "{}", std::process::id()).and_then(|_| file.flush()).map_err(|e| io(&e))?;
    Ok(file)
}

/// A description of the run `dir` holds, if it holds one.
fn held_run(dir: &Path) -> Result<Option<String>, Error> {
    let present: Vec<&str> = RUN_FILES.iter().copied().filter(|name| dir.join(name).exists()).collect();
    if present.is_empty() {
        return Ok(None);
    }
    let id = read_run_id(dir)?.map(|id| format!("run {id}: ")).unwrap_or_default();
    Ok(Some(format!("{id}{}", present.join(", "))))
}

/// The id of the run `dir` holds: `run.json`'s, else (a folder a checkpoint was saved into directly) its
/// checkpoint's.
fn read_run_id(dir: &Path) -> Result<Option<String>, Error> {
    let path = dir.join("run.json");
    if !path.exists() {
        let manifest = checkpoint::locate(dir).ok().and_then(|c| checkpoint::Manifest::read(&c).ok());
        return Ok(manifest.map(|m| m.run_id));
    }
    match fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<RunFile>(&bytes) {
            Ok(file) => Ok(Some(file.run_id)),
            Err(e) => Err(Error::Io(format!("{} is unreadable or corrupt: {e}", path.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("reading {}: {e}", path.display()))),
    }
}

/// Writes `run.json` atomically.
fn write_run_file(dir: &Path, run_id: &str) -> Result<(), Error> {
    let path = dir.join("run.json");
    let tmp = dir.join("run.json.tmp");
    let io = |e: &dyn std::fmt::Display| Error::Io(format!("writing {}: {e}", path.display()));
    let json = serde_json::to_vec(&RunFile { run_id: run_id.into() }).map_err(|e| io(&e))?;
    fs::write(&tmp, json).map_err(|e| io(&e))?;
    File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| io(&e))?;
    fs::rename(&tmp, &path).map_err(|e| io(&e))?;
    checkpoint::sync_dir(dir).map_err(|e| io(&e))
}
