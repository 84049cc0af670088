"""``myriad.train`` from Python: learning CartPole, the result dict, evaluation, checkpoints, inference on NumPy
arrays, configs as dicts and TOML files, and errors as Python exceptions."""

import numpy as np
import pytest

import myriad


def learn(algo, goal, max_steps):
    """Trains until an evaluation reaches ``goal`` or ``max_steps`` env steps; returns the best evaluation."""
    best = -np.inf
    while True:
        result = algo.train()
        evaluation = result.get("evaluation", {}).get("env_runners", {}).get("episode_return_mean")
        if evaluation is not None:
            best = max(best, evaluation)
        if best >= goal or result["num_env_steps_sampled_lifetime"] >= max_steps:
            return best


def test_ppo_learns_cartpole_from_python():
    algo = myriad.train("ppo", "CartPole-v1")
    assert algo.origin == "tuned/cartpole-ppo.toml" and algo.algorithm == "PPO"
    best = learn(algo, 475.0, 300_000)
    assert best >= 475.0, best
    assert algo.evaluate(episodes=8)["return_mean"] >= 400.0


def test_results_have_rllibs_keys():
    algo = myriad.train("dqn", "CartPole-v1", training={"train_batch_size": 32})
    result = algo.train()
    assert result["training_iteration"] == 1 == algo.iteration
    assert result["num_env_steps_sampled_lifetime"] > 0
    assert "default_policy" in result["learners"]
    assert {"episode_return_mean", "episode_len_mean"} <= set(result["env_runners"])
    assert algo.config["training"]["train_batch_size"] == 32


def test_compute_actions_on_numpy_observations():
    algo = myriad.train("sac", "Pendulum-v1")
    obs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -2.0]], dtype=np.float32)
    greedy = algo.compute_actions(obs)
    assert greedy.shape == (2, 1) and greedy.dtype == np.float32
    np.testing.assert_array_equal(greedy, algo.compute_actions(obs))
    explored = algo.compute_actions(obs, explore=True)
    assert np.all(np.abs(explored) <= 2.0)
    assert algo.compute_single_action(obs[0]).shape == (1,)
    cartpole = myriad.train("ppo", "CartPole-v1")
    actions = cartpole.compute_actions(np.zeros((5, 4), dtype=np.float64))
    assert actions.dtype == np.int64 and actions.shape == (5,) and set(actions) <= {0, 1}
    with pytest.raises(ValueError, match="4 values"):
        cartpole.compute_actions(np.zeros((2, 3), dtype=np.float32))


def test_save_and_restore_continue_the_run(tmp_path):
    algo = myriad.train("ppo", "CartPole-v1")
    algo.train()
    saved = algo.save(tmp_path / "run")
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32) * 0.1
    before = algo.compute_actions(obs)
    resumed = myriad.Algorithm.from_checkpoint(saved)
    assert resumed.iteration == 1 and resumed.algorithm == "PPO"
    np.testing.assert_array_equal(resumed.compute_actions(obs), before)
    a, b = algo.train(), resumed.train()
    assert a["training_iteration"] == b["training_iteration"] == 2
    assert a["num_env_steps_sampled_lifetime"] == b["num_env_steps_sampled_lifetime"]
    other = myriad.train("ppo", "CartPole-v1")
    other.restore(saved)
    assert other.iteration == 1
    # Another run may not overwrite this run's checkpoint.
    with pytest.raises(ValueError, match="another run"):
        other_run = myriad.train("ppo", "CartPole-v1")
        other_run.save(tmp_path / "run")


def test_configs_from_dicts_and_files(tmp_path):
    algo = myriad.train(
        "ppo",
        config={"environment": {"env": "Acrobot-v1"}, "training": {"lr": 1e-3}, "stop": {"training_iteration": 3}},
    )
    assert algo.env_id == "Acrobot-v1" and algo.config["training"]["lr"] == pytest.approx(1e-3)
    assert algo.stop["training_iteration"] == 3
    path = tmp_path / "pqn.toml"
    path.write_text('[environment]\nenv = "CartPole-v1"\n[training]\ngamma = 0.95\n')
    pqn = myriad.train("pqn", config=path, **{"env_runners.num_envs_per_env_runner": 8})
    assert pqn.num_envs == 8 and pqn.config["training"]["gamma"] == pytest.approx(0.95)
    assert pqn.origin == str(path)


def test_bad_input_raises_the_right_exceptions(tmp_path):
    with pytest.raises(ValueError, match="ppo"):
        myriad.train("ppp", "CartPole-v1")
    with pytest.raises(ValueError, match="CartPole-v1"):
        myriad.train("ppo", "CartPole-v2")
    with pytest.raises(ValueError, match="clip_parm"):
        myriad.train("ppo", "CartPole-v1", training={"clip_parm": 0.1})
    with pytest.raises(ValueError, match="lr"):
        myriad.train("ppo", "CartPole-v1", training={"lr": -1.0})
    with pytest.raises(ValueError, match="None"):
        myriad.train("ppo", "CartPole-v1", training={"lr": None})
    with pytest.raises(OSError):
        myriad.train("ppo", config=tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="Discrete|discrete|Box"):
        myriad.train("sac", "CartPole-v1")
    with pytest.raises((ValueError, OSError)):
        myriad.Algorithm.from_checkpoint(tmp_path)
    with pytest.raises(TypeError):
        myriad.train("ppo", 42)
