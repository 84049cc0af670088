//! On-policy rollout storage: the `[T, N, ...]` fields of one iteration's collection, preallocated on the
//! learner's device (time-major, flattened to `[T·N, ...]` rows: step t of env i is row t·N + i) and written in
//! place step by step, so collection allocates nothing per step and the update reads the tensors as they are.

use burn::tensor::{Device, Tensor};

/// One step of every env, as learner tensors (`[N, ...]`).
pub struct Transition {
    pub obs: Tensor<2>,
    pub actions: Tensor<2>,
    pub log_prob: Tensor<1>,
    pub value: Tensor<1>,
    pub dist_inputs: Tensor<2>,
    pub reward: Tensor<1>,
    pub terminated: Tensor<1>,
    pub truncated: Tensor<1>,
    /// The kept final observation where the step ended an episode.
    pub final_obs: Tensor<2>,
}

/// `[T·N, ...]` tensors of every [`Transition`] field. A clone shares the tensors until either is written.
#[derive(Clone)]
pub struct RolloutStorage {
    horizon: usize,
    num_envs: usize,
    pub obs: Tensor<2>,
    pub actions: Tensor<2>,
    pub log_prob: Tensor<1>,
    pub value: Tensor<1>,
    pub dist_inputs: Tensor<2>,
    pub reward: Tensor<1>,
    pub terminated: Tensor<1>,
    pub truncated: Tensor<1>,
    pub final_obs: Tensor<2>,
}

/// The widths of a rollout's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RolloutShape {
    pub horizon: usize,
    pub num_envs: usize,
    pub obs: usize,
    pub action: usize,
    pub dist_inputs: usize,
}

impl RolloutShape {
    /// The bytes [`RolloutStorage::new`] allocates for this shape (saturating: a shape too large to count is
    /// `u64::MAX`).
    pub fn bytes(&self) -> u64 {
        let width = 2 * self.obs as u128 + self.action as u128 + self.dist_inputs as u128 + 5;
        let bytes = self.horizon as u128 * self.num_envs as u128 * width * 4;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

impl RolloutStorage {
    /// Zeroed storage of `shape` on `device`.
    pub fn new(shape: RolloutShape, device: &Device) -> Self {
        let rows = shape.horizon * shape.num_envs;
        let plane = || Tensor::<1>::zeros([rows], device);
        let wide = |width: usize| Tensor::<2>::zeros([rows, width], device);
        Self {
            horizon: shape.horizon,
            num_envs: shape.num_envs,
            obs: wide(shape.obs),
            actions: wide(shape.action),
            log_prob: plane(),
            value: plane(),
            dist_inputs: wide(shape.dist_inputs),
            reward: plane(),
            terminated: plane(),
            truncated: plane(),
            final_obs: wide(shape.obs),
        }
    }

    /// T, steps per env.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// N, envs per step.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// Rollouts of the same horizon side by side, as one rollout of all their envs on `device` (env columns in
    /// the order given): what the learner trains on when fragments of several runners arrive.
    ///
    /// # Panics
    /// If `parts` is empty or the horizons or row widths differ.
    pub fn join_envs(parts: Vec<RolloutStorage>, device: &Device) -> RolloutStorage {
        let horizon = parts[0].horizon;
        assert!(parts.iter().all(|p| p.horizon == horizon), "joined rollouts must share their horizon");
        let num_envs = parts.iter().map(|p| p.num_envs).sum();
        let cat2 = |field: &dyn Fn(&RolloutStorage) -> &Tensor<2>| {
            let columns = parts
                .iter()
                .map(|p| {
                    let x = field(p).clone().to_device(device);
                    let width = x.dims()[1];
                    x.reshape([horizon, p.num_envs, width])
                })
                .collect();
            let joined: Tensor<3> = Tensor::cat(columns, 1);
            let width = joined.dims()[2];
            joined.reshape([horizon * num_envs, width])
        };
        let cat1 = |field: &dyn Fn(&RolloutStorage) -> &Tensor<1>| {
            let columns =
                parts.iter().map(|p| field(p).clone().to_device(device).reshape([horizon, p.num_envs])).collect();
            Tensor::<2>::cat(columns, 1).reshape([horizon * num_envs])
        };
        RolloutStorage {
            horizon,
            num_envs,
            obs: cat2(&|p| &p.obs),
            actions: cat2(&|p| &p.actions),
            log_prob: cat1(&|p| &p.log_prob),
            value: cat1(&|p| &p.value),
            dist_inputs: cat2(&|p| &p.dist_inputs),
            reward: cat1(&|p| &p.reward),
            terminated: cat1(&|p| &p.terminated),
            truncated: cat1(&|p| &p.truncated),
            final_obs: cat2(&|p| &p.final_obs),
        }
    }

    /// Writes step `t` of every env in place.
    ///
    /// # Panics
    /// If `t ≥ T` or a field's rows are not `[N, width]`.
    pub fn write(&mut self, t: usize, step: Transition) {
        assert!(t < self.horizon, "step {t} of a rollout of {} steps", self.horizon);
        let rows = t * self.num_envs..(t + 1) * self.num_envs;
        let put2 = |column: &mut Tensor<2>, values: Tensor<2>| {
            let width = column.dims()[1];
            column.inplace(|c| c.slice_assign([rows.clone(), 0..width], values));
        };
        put2(&mut self.obs, step.obs);
        put2(&mut self.actions, step.actions);
        put2(&mut self.dist_inputs, step.dist_inputs);
        put2(&mut self.final_obs, step.final_obs);
        let put1 =
            |column: &mut Tensor<1>, values: Tensor<1>| column.inplace(|c| c.slice_assign([rows.clone()], values));
        put1(&mut self.log_prob, step.log_prob);
        put1(&mut self.value, step.value);
        put1(&mut self.reward, step.reward);
        put1(&mut self.terminated, step.terminated);
        put1(&mut self.truncated, step.truncated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn steps_land_in_time_major_rows() {
        let device = Device::flex();
        let shape = RolloutShape { horizon: 3, num_envs: 2, obs: 2, action: 1, dist_inputs: 2 };
        let mut storage = RolloutStorage::new(shape, &device);
        let row = |v: f32, w: usize| Tensor::<2>::from_data(TensorData::new(vec![v; 2 * w], [2, w]), &device);
        let col = |v: f32| Tensor::<1>::from_data(TensorData::new(vec![v, v + 0.5], [2]), &device);
        for t in 0..3 {
            let v = t as f32;
            let step = Transition {
                obs: row(v, 2),
                actions: row(v, 1),
                log_prob: col(v),
                value: col(v),
                dist_inputs: row(v, 2),
                reward: col(v),
                terminated: col(v),
                truncated: col(v),
                final_obs: row(v, 2),
            };
            storage.write(t, step);
        }
        let host = |x: Tensor<1>| x.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(host(storage.reward.clone()), vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!(
            host(storage.obs.clone().reshape([-1])),
            vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
        );
    }

    #[test]
    fn joined_rollouts_keep_time_major_rows_and_env_order() {
        let device = Device::flex();
        let part = |n: usize, base: f32| {
            let shape = RolloutShape { horizon: 2, num_envs: n, obs: 1, action: 1, dist_inputs: 1 };
            let mut storage = RolloutStorage::new(shape, &device);
            for t in 0..2 {
                let values: Vec<f32> = (0..n).map(|i| base + 10.0 * t as f32 + i as f32).collect();
                let col = Tensor::<1>::from_data(TensorData::new(values.clone(), [n]), &device);
                let row = Tensor::<2>::from_data(TensorData::new(values, [n, 1]), &device);
                storage.write(
                    t,
                    Transition {
                        obs: row.clone(),
                        actions: row.clone(),
                        log_prob: col.clone(),
                        value: col.clone(),
                        dist_inputs: row.clone(),
                        reward: col.clone(),
                        terminated: col.clone(),
                        truncated: col,
                        final_obs: row,
                    },
                );
            }
            storage
        };
        let joined = RolloutStorage::join_envs(vec![part(2, 0.0), part(1, 100.0)], &device);
        assert_eq!((joined.horizon(), joined.num_envs()), (2, 3));
        let host = |x: Tensor<1>| x.into_data().try_into_vec::<f32>().unwrap();
        // row t·3 + i: step t of env i (envs 0, 1 from the first part, env 2 from the second)
        let want = vec![0.0, 1.0, 100.0, 10.0, 11.0, 110.0];
        assert_eq!(host(joined.reward.clone()), want);
        assert_eq!(host(joined.obs.clone().reshape([-1])), want);
    }
}
