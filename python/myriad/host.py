"""Users' own Gymnasium envs for Myriad's learners.

``myriad.train(algo, env)`` takes, besides Myriad's own env ids, any ``gymnasium.vector.VectorEnv`` and any id of
Gymnasium's registry (``"gymnasium:LunarLander-v3"``, or a bare id Myriad does not have). Such envs are stepped
on the host, from the learner's thread, through :class:`HostAdapter`: each step the actions come to NumPy, the
vector env steps, and its outputs go to the learner's device in one upload. That is slower than Myriad's own
envs, which step on the learner's device, but it runs any env a Gymnasium user has.

Spaces: observations a ``Box`` (flattened to float32) or ``Discrete``; actions ``Discrete`` or ``Box``. Any
autoreset mode works: ``SAME_STEP`` as it is, ``NEXT_STEP`` and ``DISABLED`` by resetting the envs that ended in
the step that ended them (``reset(options={"reset_mask": ...})``), so the learner always sees same-step autoreset.
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from . import _myriad

__all__ = ["HostAdapter", "GYMNASIUM_PREFIX", "register_vector_env", "register_gymnasium_id"]

#: Ids ``gymnasium:<id>`` name envs of Gymnasium's registry, made with ``gymnasium.make_vec``.
GYMNASIUM_PREFIX = "gymnasium:"
#: Ids ``python:<name>`` name a ``VectorEnv`` a caller handed over.
PYTHON_PREFIX = "python:"


def _space_json(space: spaces.Space, what: str) -> dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        if int(space.n) < 1:
            raise ValueError(f"the {what} space {space} is empty")
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, spaces.Box):
        def bounds(values):
            flat = np.asarray(values, dtype=np.float64).reshape(-1)
            return [None if not np.isfinite(v) else float(v) for v in flat]

        return {"type": "Box", "low": bounds(space.low), "high": bounds(space.high), "shape": list(space.shape)}
    raise ValueError(
        f"the {what} space is {space}: Myriad's learners take Box or Discrete spaces (wrap the env, e.g. with "
        "gymnasium.wrappers.vector.FlattenObservation, to flatten a Dict or Tuple space)"
    )


class HostAdapter:
    """A ``gymnasium.vector.VectorEnv`` in the form the learner steps: flat float32 observations ``[N·D]``,
    actions ``[N·A]`` as float32, and same-step autoreset whatever the env's own mode."""

    def __init__(self, env: gymnasium.vector.VectorEnv, max_episode_steps: int | None = None) -> None:
        self.env = env
        self.num_envs = int(env.num_envs)
        self.obs_space = env.single_observation_space
        self.action_space = env.single_action_space
        self._obs_json = _space_json(self.obs_space, "observation")
        self._action_json = _space_json(self.action_space, "action")
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.mode = AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode
        spec = getattr(env, "spec", None)
        if max_episode_steps is None and spec is not None:
            max_episode_steps = spec.max_episode_steps
        self.max_episode_steps = int(max_episode_steps or 0)
        self.reward_threshold = None if spec is None else spec.reward_threshold

    def spec_json(self) -> str:
        return json.dumps(
            {
                "observation_space": self._obs_json,
                "action_space": self._action_json,
                "max_episode_steps": self.max_episode_steps,
                "reward_threshold": self.reward_threshold,
            }
        )

    def _flat(self, obs) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.shape[:1] != (self.num_envs,):
            raise ValueError(f"the env returned observations of shape {obs.shape} for {self.num_envs} envs")
        return np.ascontiguousarray(obs, dtype=np.float32).reshape(-1)

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=int(seed) % 2**63)
        return self._flat(obs)

    def _actions(self, actions: np.ndarray):
        if isinstance(self.action_space, spaces.Discrete):
            return actions.astype(np.int64) + int(self.action_space.start)
        shape = (self.num_envs, *self.action_space.shape)
        return actions.reshape(shape).astype(self.action_space.dtype, copy=False)

    def step(self, actions: np.ndarray):
        obs, reward, terminated, truncated, infos = self.env.step(self._actions(actions))
        terminated = np.asarray(terminated, dtype=np.bool_).reshape(-1)
        truncated = np.asarray(truncated, dtype=np.bool_).reshape(-1)
        reward = np.ascontiguousarray(reward, dtype=np.float32).reshape(-1)
        ended = terminated | truncated
        final = None
        if ended.any():
            if self.mode == AutoresetMode.SAME_STEP:
                final = np.array(obs, dtype=np.float32, copy=True).reshape(self.num_envs, -1)
                mask = infos.get("_final_obs", ended)
                for i in np.flatnonzero(mask):
                    final[i] = np.asarray(infos["final_obs"][i], dtype=np.float32).reshape(-1)
                final = final.reshape(-1)
            else:
                # NEXT_STEP would reset these envs in the next step, ignoring their actions; DISABLED never
                # would. Resetting them now gives the learner same-step autoreset in both.
                final = self._flat(obs).copy()
                obs, _ = self.env.reset(options={"reset_mask": ended.copy()})
        return self._flat(obs), final, reward, terminated, truncated


def _make_same_step(env_id: str, num_envs: int, kwargs: dict) -> gymnasium.vector.VectorEnv:
    """``num_envs`` of Gymnasium's ``env_id`` in a ``SyncVectorEnv`` that autoresets in the ending step."""
    return gymnasium.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        **kwargs,
    )


def _register(host_id: str, make) -> str:
    def factory(num_envs: int, seed: int, kwargs_json: str) -> HostAdapter:
        return HostAdapter(make(num_envs, json.loads(kwargs_json)))

    _myriad.register_gymnasium_env(host_id, factory)
    return host_id


def register_gymnasium_id(env_id: str) -> str:
    """Registers Gymnasium's ``env_id`` (made with ``gymnasium.make_vec``, one env per sub-env, same-step
    autoreset) for Myriad's learners; returns the id they know it by, ``gymnasium:<env_id>``."""
    bare = env_id[len(GYMNASIUM_PREFIX):] if env_id.startswith(GYMNASIUM_PREFIX) else env_id
    try:
        gymnasium.spec(bare)
    except gymnasium.error.Error as e:
        raise ValueError(f"{bare} is neither one of Myriad's envs nor in Gymnasium's registry: {e}") from None

    return _register(GYMNASIUM_PREFIX + bare, lambda num_envs, kwargs: _make_same_step(bare, num_envs, kwargs))


def register_vector_env(env: gymnasium.vector.VectorEnv, name: str | None = None) -> str:
    """Registers a caller's ``VectorEnv`` for Myriad's learners and returns its id, ``python:<name>`` (by default
    the id of its spec, else its class's name). Training steps ``env`` itself; evaluation and restores, which need
    batches of their own, make them with ``gymnasium.make_vec`` from the env's spec (``env.spec``, set by
    ``gymnasium.make_vec``); a VectorEnv without a spec trains but cannot be evaluated or restored."""
    if not isinstance(env, gymnasium.vector.VectorEnv):
        raise TypeError(f"expected a gymnasium.vector.VectorEnv, got {type(env).__name__}")
    spec = getattr(env, "spec", None)
    name = name or (spec.id if spec is not None else type(env).__name__)
    handed = [env]

    def make(num_envs: int, kwargs: dict):
        if kwargs:
            raise ValueError(f"{PYTHON_PREFIX}{name} is a VectorEnv made by the caller: it takes no env_config")
        if handed and num_envs == env.num_envs:
            return handed.pop()
        if handed:
            raise ValueError(
                f"the VectorEnv {name} holds {env.num_envs} envs but the learner asked for {num_envs}: set "
                f"env_runners.num_envs_per_env_runner = {env.num_envs}"
            )
        if spec is None:
            raise ValueError(
                f"the VectorEnv {name} has no spec to make another batch from (evaluation and restore make envs of "
                "their own): hand over an env made with gymnasium.make_vec, or a Gymnasium id"
            )
        return _make_same_step(spec.id, num_envs, spec.kwargs or {})

    return _register(PYTHON_PREFIX + name, make)
