//! A replay buffer's contents in a checkpoint (`replay.bin`), so that a resumed off-policy run samples from the
//! same transitions with the same priorities as the uninterrupted one.
//!
//! Layout: the magic `MYRIADRB`, a little-endian u32 header length, a JSON header (ring shape, observation
//! storage, rows pushed, prioritized state sizes), then the columns as little-endian 32-bit words in header order
//! and, for prioritized replay, the leaf priorities as f64.

use super::{ObsStorage, PrioritizedSampler, ReplayBuffer, StoredObs};
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"MYRIADRB";

/// What the header records; a buffer loads only a file whose header equals its own shape.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    capacity_steps: usize,
    num_envs: usize,
    n_step: usize,
    storage: String,
    width: usize,
    /// Values per action (files written before Box actions were stored hold discrete indices: 1).
    #[serde(default = "one")]
    action_width: usize,
    pushed: u64,
    /// Prioritized replay: leaf count and the largest priority seen.
    prioritized: Option<(usize, f64)>,
}

fn one() -> usize {
    1
}

fn words_of_f32(t: &Tensor<1>) -> Result<Vec<u32>, String> {
    let v = t.clone().into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
    Ok(v.into_iter().map(f32::to_bits).collect())
}

fn obs_words(obs: &StoredObs) -> Result<Vec<u32>, String> {
    match obs {
        StoredObs::F32(t) => words_of_f32(&t.clone().reshape([-1])),
        StoredObs::Packed(t) => {
            let v = t
                .clone()
                .reshape([-1])
                .into_data()
                .convert::<i32>()
                .try_into_vec::<i32>()
                .map_err(|e| format!("{e:?}"))?;
            Ok(v.into_iter().map(|w| w as u32).collect())
        }
    }
}

impl ReplayBuffer {
    /// Writes the buffer (and the prioritized sampler's priorities) to `path`.
    pub fn save(&self, prioritized: Option<&PrioritizedSampler>, path: &Path) -> Result<(), String> {
        let header = self.header(prioritized);
        let json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let row = 2 * self.storage.width() + self.action_width() + 3;
        let mut out = Vec::with_capacity(16 + json.len() + self.capacity() * row * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        let actions = self.actions.clone().reshape([-1]);
        let mut columns = vec![obs_words(&self.obs)?, obs_words(&self.next_obs)?];
        for t in [&actions, &self.rewards, &self.terminated, &self.truncated] {
            columns.push(words_of_f32(t)?);
        }
        for column in columns {
            column.iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
        }
        if let Some(p) = prioritized {
            (0..p.tree.capacity()).for_each(|i| out.extend_from_slice(&p.tree.get(i).to_le_bytes()));
        }
        let mut file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.write_all(&out).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Loads what [`ReplayBuffer::save`] wrote into this buffer (and sampler), which must have the same shape.
    pub fn load(&mut self, prioritized: Option<&mut PrioritizedSampler>, path: &Path) -> Result<(), String> {
        let mut bytes = Vec::new();
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
        let short = || "the file ends early".to_string();
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err("not a Myriad replay buffer".into());
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let json = bytes.get(12..12 + len).ok_or_else(short)?;
        let saved: Header = serde_json::from_slice(json).map_err(|e| format!("header: {e}"))?;
        let mut mine = self.header(prioritized.as_deref());
        mine.pushed = saved.pushed;
        if let (Some((leaves, _)), Some((saved_leaves, max))) = (mine.prioritized, saved.prioritized) {
            mine.prioritized = Some((leaves, max));
            if leaves != saved_leaves {
                return Err(format!("{saved_leaves} prioritized slots saved, this buffer has {leaves}"));
            }
        }
        if saved != mine {
            return Err(format!("saved with shape {saved:?}, this run's buffer is {mine:?}"));
        }
        let mut at = 12 + len;
        let mut take = |count: usize, size: usize| -> Result<&[u8], String> {
            let slice = bytes.get(at..at + count * size).ok_or_else(short)?;
            at += count * size;
            Ok(slice)
        };
        let slots = self.capacity();
        let width = self.storage.width();
        let read_words = |raw: &[u8]| -> Vec<u32> {
            raw.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
        };
        let mut observations = Vec::new();
        for _ in 0..2 {
            let words = read_words(take(slots * width, 4)?);
            observations.push(match self.storage {
                ObsStorage::F32 { .. } => {
                    let values: Vec<f32> = words.into_iter().map(f32::from_bits).collect();
                    StoredObs::F32(Tensor::from_data(TensorData::new(values, [slots, width]), &self.device))
                }
                ObsStorage::PackedU8 { .. } => {
                    let values: Vec<i32> = words.into_iter().map(|w| w as i32).collect();
                    StoredObs::Packed(Tensor::<2, Int>::from_data(
                        TensorData::new(values, [slots, width]),
                        &self.device,
                    ))
                }
            });
        }
        let action_width = self.action_width();
        let mut column = |width: usize| -> Result<Tensor<1>, String> {
            let values: Vec<f32> = read_words(take(slots * width, 4)?).into_iter().map(f32::from_bits).collect();
            Ok(Tensor::from_data(TensorData::new(values, [slots * width]), &self.device))
        };
        let actions = column(action_width)?.reshape([slots, action_width]);
        let (rewards, terminated, truncated) = (column(1)?, column(1)?, column(1)?);
        let priorities = match saved.prioritized {
            Some((leaves, _)) => {
                let raw = take(leaves, 8)?;
                Some(
                    raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect::<Vec<_>>(),
                )
            }
            None => None,
        };
        if at != bytes.len() {
            return Err(format!("{} bytes after the last column", bytes.len() - at));
        }
        self.next_obs = observations.pop().expect("two read");
        self.obs = observations.pop().expect("two read");
        (self.actions, self.rewards, self.terminated, self.truncated) = (actions, rewards, terminated, truncated);
        self.ring.set_pushed(saved.pushed);
        if let (Some(p), Some(leaves), Some((_, max))) = (prioritized, priorities, saved.prioritized) {
            leaves.iter().enumerate().for_each(|(i, &v)| p.tree.set(i, v));
            p.max_priority = max;
        }
        Ok(())
    }

    fn header(&self, prioritized: Option<&PrioritizedSampler>) -> Header {
        Header {
            capacity_steps: self.ring.capacity() / self.ring.num_envs(),
            num_envs: self.ring.num_envs(),
            n_step: self.ring.n_step(),
            storage: format!("{:?}", self.storage),
            width: self.storage.width(),
            action_width: self.action_width(),
            pushed: self.ring.pushed(),
            prioritized: prioritized.map(|p| (p.tree.capacity(), p.max_priority)),
        }
    }
}
