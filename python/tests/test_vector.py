"""``myriad.make_vec`` against Gymnasium's vector-env API: spaces, dtypes, same-step autoreset, seeding, info keys,
EnvPool's send/recv, and errors as Python exceptions."""

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import myriad

# Every env Myriad has that is not an Atari game.
ENV_IDS = [i for i in myriad.list_envs() if not i.startswith("ALE/") and not i.endswith("NoFrameskip-v4")]


def random_actions(envs, rng):
    space = envs.single_action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        return rng.integers(0, space.n, size=envs.num_envs)
    return rng.uniform(space.low, space.high, size=(envs.num_envs, *space.shape)).astype(np.float32)


def test_every_registered_env_is_listed():
    for env_id in ["CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "FrozenLake-v1",
                   "FrozenLake8x8-v1", "Pendulum-v1", "Acrobot-v1"]:
        assert env_id in ENV_IDS
    details = {e["id"]: e for e in myriad.list_envs(details=True)}
    assert details["CartPole-v1"]["max_episode_steps"] == 500


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spaces_equal_gymnasium_make(env_id):
    envs = myriad.make_vec(env_id, 3)
    reference = gymnasium.make(env_id)
    assert envs.single_observation_space == reference.observation_space, env_id
    assert envs.single_action_space == reference.action_space, env_id
    batched = gymnasium.vector.utils.batch_space(reference.observation_space, 3)
    assert envs.observation_space == batched
    assert envs.action_space == gymnasium.vector.utils.batch_space(reference.action_space, 3)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.max_episode_steps == reference.spec.max_episode_steps
    assert isinstance(envs, gymnasium.vector.VectorEnv)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_steps_have_gymnasium_dtypes_and_shapes(env_id):
    n = 5
    envs = myriad.make_vec(env_id, n, seed=1)
    obs, infos = envs.reset(seed=1)
    assert infos == {}
    assert obs.shape == envs.observation_space.shape
    assert obs.dtype == envs.single_observation_space.dtype
    assert envs.observation_space.contains(obs)
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs, rewards, terminations, truncations, infos = envs.step(random_actions(envs, rng))
        assert obs.shape == envs.observation_space.shape and obs.dtype == envs.single_observation_space.dtype
        assert rewards.shape == (n,) and rewards.dtype == np.float64
        assert terminations.dtype == np.bool_ and truncations.dtype == np.bool_
        assert terminations.shape == truncations.shape == (n,)


def test_same_step_autoreset_puts_the_final_observation_in_infos():
    n = 16
    envs = myriad.make_vec("CartPole-v1", n, seed=3)
    obs, _ = envs.reset(seed=3)
    ended_any = False
    for _ in range(200):
        actions = np.zeros(n, dtype=np.int64)  # always push left: episodes end within a few dozen steps
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        ended = terminations | truncations
        if not ended.any():
            assert "final_obs" not in infos
            continue
        ended_any = True
        assert set(infos) >= {"final_obs", "_final_obs", "final_info", "_final_info"}
        np.testing.assert_array_equal(infos["_final_obs"], ended)
        for i in range(n):
            if ended[i]:
                final = infos["final_obs"][i]
                assert final.shape == (4,) and final.dtype == np.float32
                # The episode ended outside the limits; the new one starts near upright.
                assert abs(final[2]) > 0.2 or abs(final[0]) > 2.4
                assert np.all(np.abs(obs[i]) <= 0.05)
            else:
                assert infos["final_obs"][i] is None
    assert ended_any


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_the_same_seed_gives_the_same_trajectories(env_id):
    def rollout(seed):
        envs = myriad.make_vec(env_id, 4)
        obs, _ = envs.reset(seed=seed)
        rng = np.random.default_rng(7)
        trace = [obs]
        for _ in range(50):
            obs, rewards, terminations, truncations, _ = envs.step(random_actions(envs, rng))
            trace += [obs, rewards, terminations, truncations]
        return trace

    first, again, other = rollout(11), rollout(11), rollout(12)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other)), "seeds 11 and 12 gave one trajectory"


def test_resets_without_a_seed_start_new_episodes():
    envs = myriad.make_vec("CartPole-v1", 8, seed=5)
    first, _ = envs.reset(seed=5)
    second, _ = envs.reset()
    assert not np.array_equal(first, second)
    again, _ = envs.reset(seed=5)
    np.testing.assert_array_equal(first, again)


def test_kwargs_change_the_env():
    lake = myriad.make_vec("FrozenLake-v1", 2, map_name="8x8")
    assert lake.single_observation_space == gymnasium.spaces.Discrete(64)
    cart = myriad.make_vec("CartPole-v1", 2, max_episode_steps=7)
    assert cart.max_episode_steps == 7
    cart.reset(seed=0)
    for t in range(7):
        # Alternating pushes keep the pole up: the time limit ends both episodes.
        _, _, terminations, truncations, infos = cart.step(np.array([t % 2, (t + 1) % 2]))
    assert truncations.all() and not terminations.any()
    assert infos["_final_obs"].all()


def test_send_and_recv_step_like_envpool():
    envs = myriad.make_vec("CartPole-v1", 6, seed=2)
    reference = myriad.make_vec("CartPole-v1", 6, seed=2)
    envs.async_reset()
    obs, rewards, terminations, truncations, infos = envs.recv()
    np.testing.assert_array_equal(obs, reference.reset(seed=2)[0])
    np.testing.assert_array_equal(infos["env_id"], np.arange(6))
    assert not rewards.any() and not terminations.any() and not truncations.any()
    ids = np.array([5, 4, 3, 2, 1, 0])
    actions = np.array([1, 0, 1, 0, 1, 1])
    envs.send(actions, ids)
    obs, rewards, terminations, truncations, infos = envs.recv()
    expected = reference.step(actions[np.argsort(ids)])
    np.testing.assert_array_equal(obs, expected[0])
    np.testing.assert_array_equal(rewards, expected[1])
    with pytest.raises(ValueError, match="every env id"):
        envs.send(np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="recv"):
        envs.recv()


def test_wgpu_steps_as_the_cpu_does():
    try:
        gpu = myriad.make_vec("Pendulum-v1", 64, seed=4, backend="wgpu")
    except RuntimeError as e:
        pytest.skip(f"no wgpu adapter here: {e}")
    cpu = myriad.make_vec("Pendulum-v1", 64, seed=4)
    np.testing.assert_allclose(gpu.reset(seed=4)[0], cpu.reset(seed=4)[0], atol=1e-6)
    rng = np.random.default_rng(1)
    for _ in range(30):
        actions = random_actions(cpu, rng)
        a, b = gpu.step(actions), cpu.step(actions)
        np.testing.assert_allclose(a[0], b[0], atol=1e-4)
        np.testing.assert_allclose(a[1], b[1], atol=1e-4)


def test_bad_input_raises_the_right_exceptions():
    with pytest.raises(ValueError, match="CartPole-v1"):
        myriad.make_vec("CartPole-v2", 4)  # the suggestion names the closest id
    with pytest.raises(ValueError, match="sutton_barto"):
        myriad.make_vec("CartPole-v1", 4, sutton_barto=True)
    with pytest.raises(ValueError):
        myriad.make_vec("CartPole-v1", 0)
    with pytest.raises(ValueError, match="backend"):
        myriad.make_vec("CartPole-v1", 2, backend="tpu")
    with pytest.raises(TypeError):
        myriad.make_vec(7, 2)
    envs = myriad.make_vec("CartPole-v1", 3)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="outside Discrete"):
        envs.step(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="2 actions for 3 envs"):
        envs.step(np.array([0, 1]))
    with pytest.raises(ValueError, match="integers"):
        envs.step(np.array([0.5, 1.0, 0.0]))
    with pytest.raises(ValueError, match="seed"):
        envs.reset(seed=-1)
    with pytest.raises(ValueError, match="options"):
        envs.reset(options={"low": 0.1})
    pendulum = myriad.make_vec("Pendulum-v1", 2)
    with pytest.raises(ValueError, match="non-finite"):
        pendulum.step(np.array([[0.0], [np.nan]], dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        pendulum.step(np.zeros((2, 3), dtype=np.float32))


def test_stepping_inline_or_on_every_core_gives_the_same_steps():
    inline = myriad.make_vec("CartPole-v1", 1500, seed=6, num_threads=1)
    pooled = myriad.make_vec("CartPole-v1", 1500, seed=6, num_threads=0)
    np.testing.assert_array_equal(inline.reset(seed=6)[0], pooled.reset(seed=6)[0])
    rng = np.random.default_rng(2)
    for _ in range(40):
        actions = rng.integers(0, 2, size=1500)
        for a, b in zip(inline.step(actions)[:4], pooled.step(actions)[:4]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="num_threads=3"):
        myriad.make_vec("CartPole-v1", 4, num_threads=3)
