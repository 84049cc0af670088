//! Observation and action spaces, as Gymnasium defines them (`Discrete`, `Box`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Gymnasium space. Discrete values are stored in f32 buffers as exact integers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Space {
    /// `{0, 1, ..., n-1}`.
    Discrete { n: u32 },
    /// An f32 box with per-element bounds (±∞ allowed), flattened in row-major order.
    Box {
        #[serde(serialize_with = "bounds::serialize", deserialize_with = "bounds::low")]
        low: Vec<f32>,
        #[serde(serialize_with = "bounds::serialize", deserialize_with = "bounds::high")]
        high: Vec<f32>,
        shape: Vec<usize>,
    },
}

/// Box bounds in serialized form: an infinite bound is `null` (JSON has no infinities, and serde_json would write
/// `null` and then refuse to read it back), and `null` reads back as the infinity of its side.
mod bounds {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| v.is_finite().then_some(*v)))
    }

    fn read<'de, D: Deserializer<'de>>(d: D, infinity: f32) -> Result<Vec<f32>, D::Error> {
        let values: Vec<Option<f32>> = Deserialize::deserialize(d)?;
        Ok(values.into_iter().map(|v| v.unwrap_or(infinity)).collect())
    }

    pub fn low<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        read(d, f32::NEG_INFINITY)
    }

    pub fn high<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        read(d, f32::INFINITY)
    }
}

impl Space {
    /// A one-dimensional box.
    pub fn bounded(low: Vec<f32>, high: Vec<f32>) -> Space {
        assert_eq!(low.len(), high.len(), "box bounds of different lengths");
        let shape = vec![low.len()];
        Space::Box { low, high, shape }
    }

    /// Number of f32 values one element of the space takes in a batch buffer.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { shape, .. } => shape.iter().product(),
        }
    }

    /// Whether `x` (one flattened element) lies in the space.
    pub fn contains(&self, x: &[f32]) -> bool {
        match self {
            Space::Discrete { n } => x.len() == 1 && x[0] >= 0.0 && x[0] < *n as f32 && x[0].fract() == 0.0,
            Space::Box { low, high, .. } => {
                x.len() == low.len() && x.iter().zip(low.iter().zip(high)).all(|(v, (lo, hi))| v >= lo && v <= hi)
            }
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete { n } => write!(f, "Discrete({n})"),
            Space::Box { low, high, shape } => {
                let fmt_bound = |v: &[f32]| {
                    let first = v[0];
                    if v.iter().all(|x| *x == first) {
                        format!("{first}")
                    } else {
                        format!("{v:?}")
                    }
                };
                write!(f, "Box({}, {}, {:?}, float32)", fmt_bound(low), fmt_bound(high), shape)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_checks_bounds_and_integrality() {
        let d = Space::Discrete { n: 4 };
        assert!(d.contains(&[3.0]));
        assert!(!d.contains(&[4.0]));
        assert!(!d.contains(&[1.5]));
        let b = Space::bounded(vec![-1.0, f32::NEG_INFINITY], vec![1.0, f32::INFINITY]);
        assert!(b.contains(&[0.5, 1e30]));
        assert!(!b.contains(&[1.5, 0.0]));
        assert_eq!(b.flat_dim(), 2);
        assert_eq!(d.to_string(), "Discrete(4)");
        assert_eq!(Space::bounded(vec![-2.0], vec![2.0]).to_string(), "Box(-2, 2, [1], float32)");
    }

    #[test]
    fn infinite_bounds_survive_json() {
        let b = Space::bounded(vec![-1.5, f32::NEG_INFINITY], vec![2.0, f32::INFINITY]);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(json, r#"{"type":"Box","low":[-1.5,null],"high":[2.0,null],"shape":[2]}"#);
        assert_eq!(serde_json::from_str::<Space>(&json).unwrap(), b);
    }
}
