//! The synchronous env runner: owns a batch of envs, the mapping from policy actions to the env's action space
//! and the observations the policy acts on next. Every algorithm that steps envs in lockstep with its learner
//! (PPO's rollouts, DQN's replay inserts) collects through it.

use super::{ActionMap, Behaviour, Bridge, Envs, Step};
use crate::config::EnvironmentConfig;
use crate::envs::EnvSpec;
use crate::rollout::{RolloutStorage, Transition};
use crate::Error;
use burn::tensor::{Int, Tensor};

/// N envs stepped together, with the observations to act on next.
pub struct SyncRunner {
    envs: Envs,
    actions: ActionMap,
    /// `[N, obs_dim]`, read from the envs on first use and after a restore.
    obs: Option<Tensor<2>>,
    /// The same observations as packed u8 words, for emulators on the host (Atari).
    packed: Option<Tensor<2, Int>>,
}

impl SyncRunner {
    /// Makes `n` envs of `environment.env` on the bridge's env device, reset with `seed`.
    pub fn new(environment: &EnvironmentConfig, n: usize, bridge: &Bridge, seed: u64) -> Result<Self, Error> {
        let env_config = environment.kwargs()?;
        let envs = Envs::make(&environment.env, &env_config, n, bridge.env_device(), seed)?;
        let actions = ActionMap::new(&envs.spec().action_space, environment, bridge.device())?;
        Ok(Self { envs, actions, obs: None, packed: None })
    }

    pub fn spec(&self) -> &EnvSpec {
        self.envs.spec()
    }

    pub fn num_envs(&self) -> usize {
        self.envs.num_envs()
    }

    /// The observations to act on, `[N, obs_dim]`.
    pub fn obs(&mut self, bridge: &Bridge) -> Result<Tensor<2>, Error> {
        if self.obs.is_none() {
            self.obs = Some(bridge.obs(&mut self.envs)?);
        }
        Ok(self.obs.clone().expect("set above"))
    }

    /// Steps every env with the policy's actions `[N, A]` (mapped to the env's space) and keeps the new
    /// observations for the next step.
    pub fn step(&mut self, bridge: &Bridge, policy_actions: Tensor<2>) -> Result<Step, Error> {
        let step = bridge.step(&mut self.envs, self.actions.to_env(policy_actions))?;
        self.obs = Some(step.obs.clone());
        self.packed = step.packed.as_ref().map(|p| p.obs.clone());
        Ok(step)
    }

    /// Collects `storage.horizon()` steps of every env with `policy`, step t sampling with rows
    /// `t·N .. (t+1)·N` of `eps` (`[T·N, width]`), into `storage`; returns the observations after the last step.
    pub fn collect(
        &mut self,
        bridge: &Bridge,
        policy: &impl Behaviour,
        eps: Tensor<2>,
        storage: &mut RolloutStorage,
    ) -> Result<Tensor<2>, Error> {
        let n = self.num_envs();
        let mut obs = self.obs(bridge)?;
        for t in 0..storage.horizon() {
            let acted = policy.act(obs.clone(), eps.clone().narrow(0, t * n, n));
            let next = self.step(bridge, acted.actions.clone())?;
            let transition = Transition {
                obs,
                actions: acted.actions,
                log_prob: acted.log_prob,
                value: acted.value,
                dist_inputs: acted.dist_inputs,
                reward: next.reward,
                terminated: next.terminated,
                truncated: next.truncated,
                final_obs: next.final_obs,
            };
            storage.write(t, transition);
            obs = next.obs;
        }
        Ok(obs)
    }

    /// Bytes per observation where observations are u8 frames crossing as packed words (Atari); `None` for f32
    /// observations.
    pub fn packed_obs_bytes(&self) -> Option<usize> {
        match &self.envs {
            Envs::Batch(_) | Envs::Host(_) => None,
            #[cfg(feature = "atari")]
            Envs::Atari(a) => Some(a.spec().obs_dim()),
        }
    }

    /// The observations to act on as packed u8 words `[N, ⌈bytes / 4⌉]` (Atari), or `None`.
    pub fn packed_obs(&mut self, bridge: &Bridge) -> Option<Tensor<2, Int>> {
        if self.packed.is_none() {
            self.packed = bridge.obs_packed(&self.envs);
        }
        self.packed.clone()
    }

    /// `[episodes, return sum, length sum]` finished since the last call (see [`Bridge::episode_sums`]).
    pub fn episode_sums(&mut self, bridge: &Bridge) -> Result<Tensor<1>, Error> {
        bridge.episode_sums(&mut self.envs)
    }

    /// The envs, for checkpoints.
    pub fn envs(&self) -> &Envs {
        &self.envs
    }

    /// The envs, for restoring a checkpoint; the kept observations are read again on next use.
    pub fn envs_mut(&mut self) -> &mut Envs {
        (self.obs, self.packed) = (None, None);
        &mut self.envs
    }
}
