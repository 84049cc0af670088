"""Users' own Gymnasium envs trained by Myriad's learners: an env of Gymnasium's registry by id, a VectorEnv handed
over (any autoreset mode), and the errors a misfit env gets."""

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import myriad
from myriad.host import HostAdapter


class Corridor(gymnasium.Env):
    """Walk right along a corridor of ``length`` cells: +1 at the end, -0.01 a step; 30 steps at most."""

    def __init__(self, length=6):
        self.length = length
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)

    def _obs(self):
        return np.array([self.position / self.length, 1.0], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = int(self.np_random.integers(0, 2))
        return self._obs(), {}

    def step(self, action):
        self.position = max(0, self.position + (1 if action == 1 else -1))
        done = self.position >= self.length
        return self._obs(), (1.0 if done else -0.01), done, False, {}


class Bad(Corridor):
    def step(self, action):
        raise KeyError("the simulator lost its state")


gymnasium.register("MyriadTestCorridor-v0", entry_point=Corridor, max_episode_steps=30)
gymnasium.register("MyriadTestBad-v0", entry_point=Bad, max_episode_steps=30)

PPO = {"env_runners.num_envs_per_env_runner": 8, "training.train_batch_size": 256, "training.minibatch_size": 64,
       "training.lr": 3e-3, "training.num_epochs": 6}


def test_a_gymnasium_env_by_id_trains_with_ppo():
    algo = myriad.train("ppo", "MyriadTestCorridor-v0", **PPO)
    assert algo.env_id == "gymnasium:MyriadTestCorridor-v0"
    for _ in range(25):
        result = algo.train()
    assert result["num_env_steps_sampled_lifetime"] == 25 * 256
    assert result["env_runners"]["episode_len_mean"] > 0
    # The best walk is 5 or 6 steps right: a return of 0.95 or so; random walks score far less.
    assert algo.evaluate(episodes=8)["return_mean"] > 0.9


def test_a_vector_env_in_next_step_mode_trains_and_resumes(tmp_path):
    envs = gymnasium.make_vec("CartPole-v1", num_envs=4, vectorization_mode="sync")
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    algo = myriad.train("ppo", envs, training={"train_batch_size": 256, "minibatch_size": 64})
    assert algo.num_envs == 4 and algo.env_id == "python:CartPole-v1"
    for _ in range(8):
        result = algo.train()
    # Every CartPole episode earns 1 a step: a return equal to its length shows no reset step was counted.
    assert result["env_runners"]["episode_return_mean"] == pytest.approx(result["env_runners"]["episode_len_mean"])
    saved = algo.save(tmp_path / "run")
    with pytest.raises(ValueError, match="pass it again"):
        myriad.Algorithm.from_checkpoint(saved)
    resumed = myriad.Algorithm.from_checkpoint(saved, env=gymnasium.make_vec("CartPole-v1", 4))
    assert resumed.train()["training_iteration"] == 9


def test_sac_trains_on_gymnasiums_pendulum():
    algo = myriad.train("sac", "gymnasium:Pendulum-v1", **{"env_runners.num_envs_per_env_runner": 2,
                                                           "training.num_steps_sampled_before_learning_starts": 64,
                                                           "training.train_batch_size": 32})
    result = algo.train()
    assert result["num_env_steps_sampled_lifetime"] > 0
    assert algo.compute_actions(np.zeros((3, 3), dtype=np.float32)).shape == (3, 1)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_the_adapter_autoresets_in_the_same_step_in_every_mode(mode):
    envs = gymnasium.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync",
                              vector_kwargs={"autoreset_mode": mode})
    adapter = HostAdapter(envs)
    obs = adapter.reset(5)
    assert obs.shape == (12,) and obs.dtype == np.float32
    ended_once = False
    for _ in range(60):
        obs, final, reward, terminated, truncated = adapter.step(np.zeros(3, dtype=np.float32))
        assert reward.dtype == np.float32 and np.all(reward == 1.0)
        ended = terminated | truncated
        if ended.any():
            ended_once = True
            final, obs = final.reshape(3, 4), obs.reshape(3, 4)
            for i in np.flatnonzero(ended):
                assert abs(final[i, 2]) > 0.2 or abs(final[i, 0]) > 2.4  # the pole fell
                assert np.all(np.abs(obs[i]) <= 0.05)  # a fresh episode
    assert ended_once


def test_misfit_envs_are_clear_errors():
    with pytest.raises(ValueError, match="Box or Discrete"):
        HostAdapter(gymnasium.make_vec("Blackjack-v1", 2, vectorization_mode="sync"))
    with pytest.raises(ValueError, match="neither"):
        myriad.train("ppo", "gymnasium:NoSuchEnv-v9")
    with pytest.raises(TypeError, match="single gymnasium.Env"):
        myriad.train("ppo", gymnasium.make("CartPole-v1"))
    bad = myriad.train("ppo", "MyriadTestBad-v0", **PPO)
    with pytest.raises(RuntimeError, match="lost its state"):
        bad.train()
    envs = gymnasium.make_vec("CartPole-v1", num_envs=4, vectorization_mode="sync")
    with pytest.raises(ValueError, match="num_envs_per_env_runner = 4"):
        myriad.train("ppo", envs, **{"env_runners.num_envs_per_env_runner": 8})
    with pytest.raises(ValueError, match="learner's thread"):
        myriad.train("appo", "gymnasium:CartPole-v1", **{"env_runners.num_envs_per_env_runner": 4, "env_runners.num_env_runners": 2})
