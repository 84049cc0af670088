"""Myriad's learners from Python, in the shape of RLlib's ``Algorithm``: ``train()`` runs one iteration and returns
its result dict, ``evaluate()`` plays greedy episodes, ``save(path)`` / ``restore(path)`` write and read checkpoints,
and ``compute_actions(obs)`` acts on NumPy observations."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Mapping

import gymnasium
import numpy as np

from . import _myriad
from . import host

__all__ = ["Algorithm", "train", "algorithms"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    if not isinstance(key, str):
        raise ValueError(f"config keys are strings, got {key!r}")
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any, where: str) -> str:
    """``value`` as a TOML value (inline tables for dicts)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, os.PathLike):
        return json.dumps(os.fspath(value))
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v, f'{where}.{k}')}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(v, f"{where}[]") for v in list(value)) + "]"
    if value is None:
        raise ValueError(f"{where} is None, which a config cannot hold: leave the key out for its default")
    raise ValueError(f"{where}: a {type(value).__name__} has no place in a config (numbers, strings, lists, dicts)")


def _config_toml(config: Mapping[str, Any]) -> str:
    """A dict with RLlib's group names (``{"training": {"lr": 3e-4}, "stop": {...}}``) as TOML text."""
    lines = []
    for group, fields in config.items():
        if not isinstance(fields, Mapping):
            raise ValueError(
                f"config[{group!r}] must be a dict of fields (groups: environment, env_runners, training, "
                "evaluation, rl_module, resources, debugging, stop)"
            )
        lines.append(f"[{_toml_key(group)}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v, f'{group}.{k}')}" for k, v in fields.items())
    return "\n".join(lines) + "\n"


def _overrides(overrides: Mapping[str, Any]) -> list[str]:
    """``group={"field": value}`` and ``**{"group.field": value}`` as ``group.field=value`` items."""
    items = []
    for key, value in overrides.items():
        if "." in key:
            items.append(f"{key}={_toml_value(value, key)}")
        elif isinstance(value, Mapping):
            items.extend(f"{key}.{field}={_toml_value(v, f'{key}.{field}')}" for field, v in value.items())
        else:
            raise ValueError(
                f"override {key}={value!r}: give a group as a dict ({key}={{'field': value}}) or one field as "
                f"**{{'{key}.field': value}}"
            )
    return items


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"env_runners/episode_return_mean": x}`` as ``{"env_runners": {"episode_return_mean": x}}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *groups, last = key.split("/")
        node = nested
        for group in groups:
            node = node.setdefault(group, {})
        node[last] = value
    return nested


class Algorithm:
    """One of Myriad's learners, made by :func:`train` or :meth:`Algorithm.from_checkpoint`."""

    def __init__(self, trainer: "_myriad.Trainer") -> None:
        self._trainer = trainer

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, algo: str | None = None, env=None) -> "Algorithm":
        """The run of the checkpoint at ``path`` (a checkpoint folder or the folder holding one), ready to train on.
        ``algo`` is the command name (``ppo``, ``dqn``, ``rainbow``, ...); by default it is read from the
        checkpoint. A run on a ``VectorEnv`` the caller handed over needs that env again as ``env``."""
        name, env_id = _myriad.checkpoint_info(os.fspath(path))
        if algo is None:
            algo = {rllib: cli for cli, rllib, _ in _myriad.algorithms()}.get(name, name.lower())
        if env_id.startswith(host.GYMNASIUM_PREFIX):
            host.register_gymnasium_id(env_id)
        elif env_id.startswith(host.PYTHON_PREFIX):
            if env is None:
                raise ValueError(
                    f"{os.fspath(path)} was trained on a VectorEnv handed over from Python ({env_id}): pass it again "
                    "as from_checkpoint(path, env=...)"
                )
            host.register_vector_env(env, name=env_id[len(host.PYTHON_PREFIX):])
        return cls(_myriad.Trainer(algo, resume=os.fspath(path)))

    def train(self) -> dict[str, Any]:
        """Runs one training iteration and returns its result, nested as RLlib's is: ``training_iteration``,
        ``num_env_steps_sampled_lifetime``, ``env_runners`` (``episode_return_mean``, ``episode_len_mean``),
        ``evaluation`` (``env_runners.episode_return_mean``, in iterations that evaluated), ``learners``
        (``default_policy``: losses and statistics), ``timers``, ..."""
        return _nest(json.loads(self._trainer.train_json()))

    def evaluate(self, episodes: int | None = None, explore: bool = False, seed: int | None = None) -> dict[str, Any]:
        """Plays ``episodes`` episodes (default: ``evaluation.evaluation_duration``) on fresh envs, greedily unless
        ``explore``; returns ``{"episodes", "return_mean", "return_std", "length_mean"}``."""
        return json.loads(self._trainer.evaluate_json(episodes, explore, seed))

    def save(self, path: str | os.PathLike) -> str:
        """Writes a checkpoint into the folder ``path`` (as ``path/checkpoint``, atomically) and returns its path.
        A folder holding another run's checkpoint is refused."""
        return self._trainer.save(os.fspath(path))

    def restore(self, path: str | os.PathLike) -> None:
        """Continues from the checkpoint at ``path`` (weights, optimiser state, counters, envs, replay)."""
        self._trainer.restore(os.fspath(path))

    def compute_actions(self, obs, explore: bool = False) -> np.ndarray:
        """Actions for a batch of observations ``[B, ...]`` (float32; Atari frames as uint8), greedy unless
        ``explore``: int64 ``[B]`` for Discrete spaces, float32 ``[B, ...]`` within the bounds for Box."""
        obs = np.asarray(obs)
        if obs.dtype != np.uint8:
            obs = np.ascontiguousarray(obs, dtype=np.float32)
        return self._trainer.compute_actions(obs, explore)

    def compute_single_action(self, obs, explore: bool = False):
        """The action for one observation."""
        return self.compute_actions(np.asarray(obs)[None], explore)[0]

    @property
    def algorithm(self) -> str:
        """RLlib's name of the algorithm (``PPO``, ``DQN``, ...)."""
        return self._trainer.algorithm

    @property
    def env_id(self) -> str:
        return self._trainer.env_id

    @property
    def iteration(self) -> int:
        return self._trainer.iteration

    @property
    def num_envs(self) -> int:
        return self._trainer.num_envs

    @property
    def config(self) -> dict[str, Any]:
        """The whole config, with RLlib's group names."""
        return json.loads(self._trainer.config_json())

    @property
    def config_toml(self) -> str:
        return self._trainer.config_toml()

    @property
    def stop(self) -> dict[str, Any]:
        """The config's ``[stop]`` criteria (``None`` where absent)."""
        return json.loads(self._trainer.stop_json())

    @property
    def origin(self) -> str:
        """Where the config came from (a tuned config, the defaults, a file, a dict, a checkpoint)."""
        return self._trainer.origin

    def __repr__(self) -> str:
        return f"myriad.Algorithm({self.algorithm} on {self.env_id}, iteration {self.iteration})"


def algorithms() -> list[str]:
    """The command names :func:`train` takes."""
    return [cli for cli, _, _ in _myriad.algorithms()]


def _env_id(env, overrides: list[str]) -> str | None:
    """The id the learner knows ``env`` by, registering Gymnasium's envs and callers' VectorEnvs as host envs."""
    from .vector import VectorEnv, list_envs

    if env is None:
        return None
    if isinstance(env, VectorEnv):
        return env.env_id
    if isinstance(env, gymnasium.vector.VectorEnv):
        if not any(item.startswith("env_runners.num_envs_per_env_runner=") for item in overrides):
            overrides.append(f"env_runners.num_envs_per_env_runner={env.num_envs}")
        return host.register_vector_env(env)
    if isinstance(env, gymnasium.Env):
        raise TypeError(
            "myriad.train takes an env id or a gymnasium.vector.VectorEnv, not a single gymnasium.Env: pass its id "
            "(every sub-env is made from it) or gymnasium.make_vec(...)"
        )
    if not isinstance(env, str):
        raise TypeError(f"env must be an env id or a gymnasium.vector.VectorEnv, not {type(env).__name__}")
    if env.startswith(host.GYMNASIUM_PREFIX):
        return host.register_gymnasium_id(env)
    if env.startswith(host.PYTHON_PREFIX) or _myriad.is_atari_id(env):
        return env
    if env not in list_envs():
        try:
            gymnasium.spec(env)
        except gymnasium.error.Error:
            return env  # Myriad's error names the closest ids.
        return host.register_gymnasium_id(env)
    return env


def train(
    algo: str,
    env: str | gymnasium.vector.VectorEnv | None = None,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Algorithm:
    """A learner of ``algo`` (``"ppo"``, ``"dqn"``, ``"rainbow"``, ``"impala"``, ``"appo"``, ``"pqn"``, ``"sac"``)
    on ``env``.

    ``config`` is a TOML file's path or a dict with RLlib's group names (``environment``, ``env_runners``,
    ``training``, ``evaluation``, ``rl_module``, ``resources``, ``debugging``, ``stop``); without one the env's
    tuned config is used where Myriad has one, else the algorithm's defaults. ``overrides`` replace single fields,
    as a group dict (``training={"lr": 3e-4}``) or dotted (``**{"training.lr": 3e-4}``). Unknown keys, and keys of
    another algorithm, are errors.

    ``env`` is one of Myriad's env ids, or a user's own env: an id of Gymnasium's registry
    (``"gymnasium:LunarLander-v3"``; a bare id Myriad has not is looked up there too) or a
    ``gymnasium.vector.VectorEnv``, stepped on the host from the learner (see :mod:`myriad.host`).
    """
    if config is None:
        text, origin = None, "the config"
    elif isinstance(config, Mapping):
        text, origin = _config_toml(config), "the config dict"
    elif isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise OSError(f"{path}: {e.strerror}") from None
        origin = path
    else:
        raise TypeError(f"config must be a TOML file's path or a dict, not {type(config).__name__}")
    items = _overrides(overrides)
    env_id = _env_id(env, items)
    return Algorithm(_myriad.Trainer(algo, env_id, text, origin, items))
