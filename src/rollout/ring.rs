//! The slot arithmetic of a time-major replay ring, on the host: `capacity_steps` rows of `N` envs, the step of
//! time t in row t mod capacity, slot s = row·N + i for env i.
//!
//! A slot starts an n-step window when the window's n rows are all written and still kept: the newest n − 1
//! rows cannot start one yet (even where an episode ended early in the window: they are simply excluded), and
//! a row stops being a start when the ring overwrites it. Windows read forward in time, so the oldest kept row
//! is a valid start.

use std::ops::Range;

/// Slots whose role changed with a push (for a prioritized sampler's tree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The row just written: these slots are not valid starts (unless also `ready`, when n = 1).
    pub written: Range<u32>,
    /// The row whose n steps are now all written: these slots became valid starts (empty before n pushes).
    pub ready: Range<u32>,
}

/// Which slots of a ring are written and which start n-step windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    capacity_steps: usize,
    num_envs: usize,
    n_step: usize,
    /// Rows pushed so far.
    pushed: u64,
}

impl Ring {
    /// An empty ring; 1 ≤ `n_step` ≤ `capacity_steps`, and its slots fit an i32 index.
    pub fn new(capacity_steps: usize, num_envs: usize, n_step: usize) -> Result<Ring, String> {
        if n_step == 0 || capacity_steps < n_step {
            return Err(format!("replay needs 1 ≤ n_step ({n_step}) ≤ capacity in steps ({capacity_steps})"));
        }
        if num_envs == 0 || capacity_steps.saturating_mul(num_envs) > i32::MAX as usize {
            return Err(format!("replay of {capacity_steps} × {num_envs} slots is empty or too large"));
        }
        Ok(Ring { capacity_steps, num_envs, n_step, pushed: 0 })
    }

    /// Slots: `capacity_steps · num_envs`.
    pub fn capacity(&self) -> usize {
        self.capacity_steps * self.num_envs
    }

    /// Envs per row.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// Steps per window.
    pub fn n_step(&self) -> usize {
        self.n_step
    }

    /// Valid start slots now.
    pub fn len(&self) -> usize {
        (self.pushed.min(self.capacity_steps as u64) as usize + 1).saturating_sub(self.n_step) * self.num_envs
    }

    /// No valid start slot yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Time of the oldest kept row.
    fn oldest(&self) -> u64 {
        self.pushed - self.pushed.min(self.capacity_steps as u64)
    }

    /// The slots of the row holding time `time`.
    fn row_slots(&self, time: u64) -> Range<u32> {
        let row = (time % self.capacity_steps as u64) as usize;
        (row * self.num_envs) as u32..((row + 1) * self.num_envs) as u32
    }

    /// The slots the next push writes.
    /// Rows pushed so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Puts back the count of rows pushed (restoring a saved buffer).
    pub fn set_pushed(&mut self, pushed: u64) {
        self.pushed = pushed;
    }

    pub fn next_row(&self) -> Range<usize> {
        let slots = self.row_slots(self.pushed);
        slots.start as usize..slots.end as usize
    }

    /// Marks the next row written.
    pub fn advance(&mut self) -> Pushed {
        let written = self.row_slots(self.pushed);
        self.pushed += 1;
        let ready = self.pushed.checked_sub(self.n_step as u64).map_or(0..0, |time| self.row_slots(time));
        Pushed { written, ready }
    }

    /// Whether `slot` can start a window now.
    pub fn is_valid_start(&self, slot: u32) -> bool {
        let (row, cap) = (slot as u64 / self.num_envs as u64, self.capacity_steps as u64);
        if self.pushed == 0 || row >= cap {
            return false;
        }
        let newest = self.pushed - 1;
        let back = (newest % cap + cap - row) % cap; // rows between this one and the newest
        match newest.checked_sub(back) {
            Some(time) => time >= self.oldest() && time + self.n_step as u64 <= self.pushed,
            None => false, // not written yet
        }
    }

    /// Maps random 32-bit words to valid start slots, uniformly over them (multiply-shift: the word's fraction of
    /// 2³² picks the slot, oldest row first).
    ///
    /// # Panics
    /// If no slot is valid yet.
    pub fn sample_uniform(&self, draws: &[u32]) -> Vec<u32> {
        let len = self.len() as u64;
        assert!(len > 0, "sampling an empty replay buffer");
        let n = self.num_envs as u64;
        let slot = |v: u64| ((self.oldest() + v / n) % self.capacity_steps as u64 * n + v % n) as u32;
        draws.iter().map(|&w| slot((w as u64 * len) >> 32)).collect()
    }

    /// The slots of each start's window, `[B, n]` row-major: slot k of a window is k rows after its start.
    pub fn windows(&self, starts: &[u32]) -> Result<Vec<i32>, String> {
        let (n, envs, cap) = (self.n_step, self.num_envs, self.capacity_steps);
        if let Some(bad) = starts.iter().find(|&&s| !self.is_valid_start(s)) {
            return Err(format!("slot {bad} does not start {n} written steps ({} valid slots)", self.len()));
        }
        let mut window = Vec::with_capacity(starts.len() * n);
        for &s in starts {
            let (row, env) = (s as usize / envs, s as usize % envs);
            window.extend((0..n).map(|k| (((row + k) % cap) * envs + env) as i32));
        }
        Ok(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(ring: &Ring) -> Vec<u32> {
        (0..ring.capacity() as u32).filter(|&s| ring.is_valid_start(s)).collect()
    }

    #[test]
    fn starts_are_the_kept_rows_less_the_newest() {
        // 3 rows of 2 envs, 2-step windows
        let mut ring = Ring::new(3, 2, 2).unwrap();
        assert_eq!(ring.advance(), Pushed { written: 0..2, ready: 0..0 });
        assert!(ring.is_empty() && valid(&ring).is_empty());
        assert_eq!(ring.advance(), Pushed { written: 2..4, ready: 0..2 });
        assert_eq!(valid(&ring), [0, 1]);
        for _ in 2..5 {
            ring.advance();
        }
        // times 2, 3, 4 kept in rows 2, 0, 1; times 2 and 3 start windows
        assert_eq!((ring.len(), valid(&ring)), (4, vec![0, 1, 4, 5]));
        let words: Vec<u32> = (0..4u64).map(|k| ((k << 32) / 4 + 7) as u32).collect();
        assert_eq!(ring.sample_uniform(&words), [4, 5, 0, 1], "evenly spread words hit each start once");
        assert_eq!(ring.windows(&[5, 0]).unwrap(), [5, 1, 0, 2], "windows wrap around the ring");
        assert!(ring.windows(&[2]).is_err(), "the newest row");
        // one-step windows: a written row is ready at once
        let mut ring = Ring::new(2, 1, 1).unwrap();
        assert_eq!(ring.advance(), Pushed { written: 0..1, ready: 0..1 });
        ring.advance();
        assert_eq!(ring.advance(), Pushed { written: 0..1, ready: 0..1 });
        assert_eq!(valid(&ring), [0, 1]);
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(Ring::new(2, 1, 3).is_err());
        assert!(Ring::new(4, 1, 0).is_err());
        assert!(Ring::new(4, 0, 1).is_err());
        assert!(Ring::new(1 << 20, 1 << 12, 1).is_err());
    }
}
