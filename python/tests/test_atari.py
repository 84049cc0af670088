"""Atari games from Python (a build with the ``atari`` feature and the ROMs): lockstep stepping with the
preprocessing keys, and EnvPool's asynchronous send/recv."""

import numpy as np
import pytest

import myriad

pytestmark = pytest.mark.skipif(not myriad.has_atari(), reason="this build of myriad has no Atari games")


def test_pong_steps_in_lockstep_with_preprocessing():
    envs = myriad.make_vec("ALE/Pong-v5", 2, seed=1, preset="atari100k", num_threads=2)
    assert envs.single_observation_space.dtype == np.uint8
    obs, _ = envs.reset(seed=1)
    assert obs.shape == envs.observation_space.shape and obs.dtype == np.uint8
    assert envs.single_action_space.n == 6
    total = np.zeros(2)
    for _ in range(50):
        obs, rewards, terminations, truncations, infos = envs.step(np.array([0, 3]))
        total += rewards
        assert obs.shape == envs.observation_space.shape
    assert envs.observation_space.contains(obs)
    again = myriad.make_vec("ALE/Pong-v5", 2, seed=1, preset="atari100k", num_threads=2)
    np.testing.assert_array_equal(again.reset(seed=1)[0], envs.reset(seed=1)[0])


def test_breakout_steps_asynchronously_like_envpool():
    envs = myriad.make_vec("ALE/Breakout-v5", 4, seed=2, batch_size=2, num_threads=2)
    envs.async_reset()
    seen = set()
    for _ in range(40):
        obs, rewards, terminations, truncations, infos = envs.recv()
        ids = infos["env_id"]
        assert obs.shape == (2, *envs.single_observation_space.shape) and len(ids) == 2
        seen.update(int(i) for i in ids)
        envs.send(np.ones(2, dtype=np.int64), ids)
    assert seen == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="send"):
        envs.step(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="env id 9"):
        envs.send(np.zeros(1, dtype=np.int64), np.array([9]))


def test_atari_errors():
    with pytest.raises(ValueError, match="cpu"):
        myriad.make_vec("ALE/Pong-v5", 2, backend="wgpu")
    with pytest.raises(ValueError):
        myriad.make_vec("ALE/Pongg-v5", 2)
