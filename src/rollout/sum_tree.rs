//! A sum tree on the host for prioritized replay (Schaul et al. 2016, "Prioritized Experience Replay", §3.3 and
//! Appendix B.2.1): leaves hold priorities, every inner node the sum of its children, so that setting a priority
//! and finding the leaf where a prefix sum falls both take O(log capacity). Beside the sums it keeps the maximum
//! and the smallest positive priority (for new transitions and the importance-weight normaliser).
//!
//! Layout: node 1 is the root, node k has children 2k and 2k + 1, leaves sit at `leaves..2·leaves` with `leaves`
//! the capacity rounded up to a power of two (the padding leaves stay 0). Parents are recomputed from their
//! children on every update, so rounding errors do not accumulate.

/// Priorities of `capacity` entries with O(log n) updates and prefix-sum search. A priority of 0 means "never
/// sampled".
#[derive(Clone, Debug)]
pub struct SumTree {
    capacity: usize,
    leaves: usize,
    sum: Vec<f64>,
    max: Vec<f64>,
    /// Smallest positive priority below each node (+∞ where none).
    min: Vec<f64>,
}

impl SumTree {
    /// A tree of `capacity` ≥ 1 zero priorities.
    pub fn new(capacity: usize) -> SumTree {
        assert!(capacity > 0, "a sum tree holds at least one entry");
        let leaves = capacity.next_power_of_two();
        SumTree {
            capacity,
            leaves,
            sum: vec![0.0; 2 * leaves],
            max: vec![0.0; 2 * leaves],
            min: vec![f64::INFINITY; 2 * leaves],
        }
    }

    /// Entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets entry `i`'s priority (finite, ≥ 0).
    pub fn set(&mut self, i: usize, priority: f64) {
        assert!(i < self.capacity, "entry {i} of a sum tree of {}", self.capacity);
        assert!(priority >= 0.0 && priority.is_finite(), "priority {priority} must be finite and non-negative");
        let mut node = self.leaves + i;
        self.sum[node] = priority;
        self.max[node] = priority;
        self.min[node] = if priority > 0.0 { priority } else { f64::INFINITY };
        while node > 1 {
            node /= 2;
            let (l, r) = (2 * node, 2 * node + 1);
            self.sum[node] = self.sum[l] + self.sum[r];
            self.max[node] = self.max[l].max(self.max[r]);
            self.min[node] = self.min[l].min(self.min[r]);
        }
    }

    /// Entry `i`'s priority.
    pub fn get(&self, i: usize) -> f64 {
        self.sum[self.leaves + i]
    }

    /// Sum of all priorities.
    pub fn total(&self) -> f64 {
        self.sum[1]
    }

    /// Largest priority (0 when all are 0).
    pub fn max(&self) -> f64 {
        self.max[1]
    }

    /// Smallest positive priority, `None` when all are 0.
    pub fn min_positive(&self) -> Option<f64> {
        Some(self.min[1]).filter(|m| m.is_finite())
    }

    /// The entry where the running sum of priorities passes `prefix` (clamped into [0, total)): entry i for
    /// prefixes in [Σ_{k<i} p_k, Σ_{k≤i} p_k). Never an entry of priority 0 while the total is positive.
    pub fn find(&self, prefix: f64) -> usize {
        let mut prefix = prefix.max(0.0);
        let mut node = 1;
        while node < self.leaves {
            let (l, r) = (2 * node, 2 * node + 1);
            // Past the left sum (or rounding left nothing on the right): go where the mass is.
            if prefix < self.sum[l] || self.sum[r] <= 0.0 {
                node = l;
            } else {
                prefix -= self.sum[l];
                node = r;
            }
        }
        node - self.leaves
    }

    /// Stratified sampling: the total split into `uniforms.len()` equal segments, draw k at
    /// `(k + uniforms[k]) · total / B` (uniforms in [0, 1)). Returns the entries; the total must be positive.
    pub fn sample(&self, uniforms: &[f32]) -> Vec<usize> {
        assert!(self.total() > 0.0, "sampling a sum tree whose priorities are all 0");
        let segment = self.total() / uniforms.len() as f64;
        uniforms.iter().enumerate().map(|(k, &u)| self.find((k as f64 + u as f64) * segment)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::{Noise, NoiseKind};

    #[test]
    fn sampling_frequencies_follow_the_priorities() {
        let alpha = 0.6;
        let p = [1.0f64, 0.0, 3.0, 0.5, 8.0, 0.0, 2.0];
        let mut tree = SumTree::new(p.len());
        for (i, &pi) in p.iter().enumerate() {
            tree.set(i, pi.powf(alpha));
        }
        let total: f64 = p.iter().map(|x| x.powf(alpha)).sum();
        assert!((tree.total() - total).abs() < 1e-12);
        let mut noise = Noise::new(1, 0);
        let (draws, batch) = (4000, 32);
        let mut counts = vec![0usize; p.len()];
        for _ in 0..draws {
            for i in tree.sample(&noise.sample(NoiseKind::Uniform, batch)) {
                counts[i] += 1;
            }
        }
        let n = (draws * batch) as f64;
        for (i, &pi) in p.iter().enumerate() {
            let want = pi.powf(alpha) / total;
            let got = counts[i] as f64 / n;
            assert!((got - want).abs() < 4.0 * (want * (1.0 - want) / n).sqrt() + 1e-9, "entry {i}: {got} vs {want}");
            if pi == 0.0 {
                assert_eq!(counts[i], 0, "a zero priority is never sampled");
            }
        }
    }

    #[test]
    fn updates_move_sums_extremes_and_search() {
        let mut tree = SumTree::new(5);
        for (i, p) in [2.0, 1.0, 4.0, 3.0, 0.5].into_iter().enumerate() {
            tree.set(i, p);
        }
        assert_eq!((tree.total(), tree.max(), tree.min_positive()), (10.5, 4.0, Some(0.5)));
        assert_eq!(
            [0.0, 1.99, 2.0, 2.99, 3.0, 6.99, 7.0, 9.99, 10.0, 10.49].map(|x| tree.find(x)),
            [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
        );
        assert_eq!(tree.find(100.0), 4, "prefixes past the total land on the last positive entry");
        tree.set(2, 0.0);
        tree.set(4, 6.0);
        assert_eq!((tree.get(2), tree.get(4)), (0.0, 6.0));
        assert_eq!((tree.total(), tree.max(), tree.min_positive()), (12.0, 6.0, Some(1.0)));
        assert_eq!([2.5, 3.0, 5.9, 6.0].map(|x| tree.find(x)), [1, 3, 3, 4]);
    }

    #[test]
    fn capacity_one_and_all_zero() {
        let mut tree = SumTree::new(1);
        assert_eq!(tree.min_positive(), None);
        tree.set(0, 0.7);
        assert_eq!(tree.sample(&[0.0, 0.5, 0.999]), vec![0, 0, 0]);
        assert_eq!((tree.total(), tree.max(), tree.min_positive()), (0.7, 0.7, Some(0.7)));
        let mut tree = SumTree::new(6);
        tree.set(5, 1.0);
        assert!(tree.sample(&[0.0, 0.3, 0.9999]).iter().all(|&i| i == 5));
    }
}
