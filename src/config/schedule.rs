//! Values that change over training, as RLlib writes them: a constant, or `[[t, v], ...]` pieces interpolated
//! linearly in the lifetime env-step count `t` (held at the last value after the last point).

use serde::{Deserialize, Serialize};

/// A constant (`lr = 3e-4`) or a piecewise-linear schedule over env steps (`lr = [[0, 3e-4], [1e6, 0.0]]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Schedule {
    Constant(f64),
    Piecewise(Vec<(f64, f64)>),
}

impl<'de> Deserialize<'de> for Schedule {
    /// Either form; anything else is an error that shows both forms (serde's own message for an untagged enum
    /// names only the type).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Constant(f64),
            Piecewise(Vec<(f64, f64)>),
        }
        match Form::deserialize(deserializer) {
            Ok(Form::Constant(v)) => Ok(Schedule::Constant(v)),
            Ok(Form::Piecewise(points)) => Ok(Schedule::Piecewise(points)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a number (e.g. 3e-4) or a schedule of [env_step, value] pairs (e.g. [[0, 3e-4], [1e6, 0.0]])",
            )),
        }
    }
}

impl Schedule {
    /// The value at lifetime env step `t`.
    pub fn value_at(&self, t: u64) -> f64 {
        match self {
            Schedule::Constant(v) => *v,
            Schedule::Piecewise(points) => {
                let t = t as f64;
                let Some(&(t0, v0)) = points.first() else { return 0.0 };
                if t <= t0 {
                    return v0;
                }
                for pair in points.windows(2) {
                    let ((ta, va), (tb, vb)) = (pair[0], pair[1]);
                    if t <= tb {
                        let frac = if tb > ta { (t - ta) / (tb - ta) } else { 1.0 };
                        return va + frac * (vb - va);
                    }
                }
                points[points.len() - 1].1
            }
        }
    }

    /// Checks the schedule is usable: at least one point, times increasing, values finite and within `range`.
    pub fn validate(&self, name: &str, range: std::ops::RangeInclusive<f64>) -> Result<(), String> {
        let values: Vec<f64> = match self {
            Schedule::Constant(v) => vec![*v],
            Schedule::Piecewise(points) => {
                if points.is_empty() {
                    return Err(format!("{name}: a schedule needs at least one [t, value] point"));
                }
                if points.windows(2).any(|p| p[1].0 < p[0].0) || points.iter().any(|p| p.0 < 0.0) {
                    return Err(format!("{name}: schedule times must be non-negative and non-decreasing"));
                }
                points.iter().map(|p| p.1).collect()
            }
        };
        match values.iter().find(|v| !v.is_finite() || !range.contains(v)) {
            Some(v) => Err(format!("{name}: {v} is outside [{}, {}]", range.start(), range.end())),
            None => Ok(()),
        }
    }
}

impl From<f64> for Schedule {
    fn from(v: f64) -> Self {
        Schedule::Constant(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piecewise_interpolates_and_holds() {
        let s = Schedule::Piecewise(vec![(0.0, 1.0), (100.0, 0.0), (200.0, 0.5)]);
        assert_eq!(s.value_at(0), 1.0);
        assert!((s.value_at(25) - 0.75).abs() < 1e-12);
        assert!((s.value_at(150) - 0.25).abs() < 1e-12);
        assert_eq!(s.value_at(1000), 0.5);
        assert_eq!(Schedule::Constant(3.0).value_at(7), 3.0);
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(Schedule::Constant(-1.0).validate("lr", 0.0..=f64::INFINITY).unwrap_err().contains("lr"));
        assert!(Schedule::Piecewise(vec![]).validate("lr", 0.0..=1.0).is_err());
        assert!(Schedule::Piecewise(vec![(10.0, 0.1), (5.0, 0.1)]).validate("lr", 0.0..=1.0).is_err());
        assert!(Schedule::Piecewise(vec![(0.0, 0.1), (5.0, 0.0)]).validate("lr", 0.0..=1.0).is_ok());
    }

    #[test]
    fn reads_both_forms_from_toml() {
        #[derive(Deserialize)]
        struct T {
            a: Schedule,
            b: Schedule,
        }
        let t: T = toml::from_str("a = 3e-4\nb = [[0, 1.0], [1e6, 0.0]]").unwrap();
        assert_eq!(t.a, Schedule::Constant(3e-4));
        assert_eq!(t.b, Schedule::Piecewise(vec![(0.0, 1.0), (1e6, 0.0)]));
    }
}
