"""Myriad's batched envs as a ``gymnasium.vector.VectorEnv``.

``make_vec(env_id, num_envs)`` steps ``num_envs`` envs of one id together in Rust (on the CPU, or on a GPU through
wgpu or CUDA), with Gymnasium's vector API: ``reset(seed=..., options=...)`` returns ``(obs, infos)`` and
``step(actions)`` returns ``(obs, rewards, terminations, truncations, infos)`` as NumPy arrays. Episodes reset in
the step that ends them (``AutoresetMode.SAME_STEP``): ``obs`` then holds the new episode's first observation and
``infos["final_obs"]`` the one the episode ended on, as Gymnasium puts it.

Every array returned is new and owns its memory (one copy out of the batch's buffers per step); it stays valid
after later steps.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv as GymVectorEnv
from gymnasium.vector.utils import batch_space

from . import _myriad

__all__ = ["VectorEnv", "make_vec", "list_envs"]

#: CPU batches of at most this many envs step on the calling thread by default.
INLINE_ENVS = 8192


def _bounds(values: list, fill: float, shape: list[int]) -> np.ndarray:
    # JSON has no infinities: the Rust side writes a non-finite bound as null.
    array = np.array([fill if v is None else v for v in values], dtype=np.float32)
    return array.reshape(shape)


def _space(desc: dict, dtype: str | None = None) -> spaces.Space:
    if desc["type"] == "Discrete":
        return spaces.Discrete(int(desc["n"]))
    shape = [int(d) for d in desc["shape"]]
    if dtype == "uint8":
        return spaces.Box(low=0, high=255, shape=tuple(shape), dtype=np.uint8)
    low = _bounds(desc["low"], -np.inf, shape)
    high = _bounds(desc["high"], np.inf, shape)
    return spaces.Box(low=low, high=high, dtype=np.float32)


class VectorEnv(GymVectorEnv):
    """``num_envs`` Myriad envs of ``env_id`` stepped together; see :func:`make_vec`."""

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        seed: int = 0,
        backend: str = "cpu",
        batch_size: int | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(env_id, str):
            raise TypeError(f"env_id must be a str, not {type(env_id).__name__}")
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if backend not in ("cpu", "wgpu", "cuda"):
            raise ValueError(f"unknown backend {backend!r} (expected 'cpu', 'wgpu' or 'cuda')")
        try:
            kwargs_json = json.dumps(kwargs)
        except TypeError as e:
            raise ValueError(f"env kwargs of {env_id} must be numbers, strings, booleans or lists of them: {e}") from None
        if num_threads is None:
            atari = _myriad.is_atari_id(env_id)
            # Batches up to INLINE_ENVS step on the calling thread: waking rayon's pool for one step of a few
            # thousand envs costs more than the step (see make_vec).
            num_threads = 0 if atari or backend != "cpu" or num_envs > INLINE_ENVS else 1
        self._env = _myriad.VecEnv(env_id, int(num_envs), int(seed), backend, kwargs_json, batch_size, int(num_threads))
        spec = json.loads(self._env.spec_json())
        self.env_id = env_id
        self.num_envs = int(num_envs)
        self.batch_size = self._env.batch_size
        self.backend = backend
        self.max_episode_steps = spec["max_episode_steps"]
        self.reward_threshold = spec["reward_threshold"]
        self.single_observation_space = _space(spec["observation_space"], spec["obs_dtype"])
        self.single_action_space = _space(spec["action_space"])
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
        self.render_mode = None
        self._discrete_actions = isinstance(self.single_action_space, spaces.Discrete)

    # Gymnasium's API -------------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Resets every env. With ``seed`` env i draws from the stream keyed by ``(seed, i)``, so one seed gives the
        same episodes; without one the next episodes follow from the last seed."""
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(
                f"seed must be one int for the whole batch (env i draws from the stream keyed by (seed, i)), got {seed!r}"
            )
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        if options:
            raise ValueError(f"{self.env_id} takes no reset options, got {sorted(options)}")
        obs = self._env.reset(None if seed is None else int(seed))
        return obs, {}

    def step(self, actions):
        """Steps every env with ``actions`` (one per env); returns ``(obs, rewards, terminations, truncations,
        infos)``. Where an episode ended, ``infos["final_obs"][i]`` is its last observation and ``obs[i]`` the next
        episode's first (``infos["_final_obs"]`` masks them)."""
        obs, rewards, terminated, truncated, final_obs, _ids = self._env.step(self._actions(actions))
        return obs, rewards, terminated, truncated, self._infos(terminated, truncated, final_obs, None)

    def close_extras(self, **kwargs: Any) -> None:
        self._env.close()

    # EnvPool's asynchronous API --------------------------------------------------------------------------------

    def async_reset(self) -> None:
        """Resets every env; the first observations come from :meth:`recv` (``batch_size`` envs at a time)."""
        self._env.async_reset()

    def send(self, actions, env_id=None) -> None:
        """Steps env ``env_id[k]`` with ``actions[k]`` (every env when ``env_id`` is None) and returns at once."""
        ids = None if env_id is None else np.ascontiguousarray(env_id, dtype=np.int64).reshape(-1)
        self._env.send(self._actions(actions), ids)

    def recv(self):
        """The next ``batch_size`` envs that finished stepping, as :meth:`step` returns them, with their ids in
        ``infos["env_id"]``."""
        obs, rewards, terminated, truncated, final_obs, ids = self._env.recv()
        if ids is None:
            ids = np.arange(len(rewards), dtype=np.int64)
        return obs, rewards, terminated, truncated, self._infos(terminated, truncated, final_obs, ids)

    # Helpers ---------------------------------------------------------------------------------------------------

    def _actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if self._discrete_actions:
            if not (np.issubdtype(actions.dtype, np.integer) or actions.dtype == np.bool_):
                raise ValueError(
                    f"{self.env_id} has Discrete({self.single_action_space.n}) actions: give integers, "
                    f"not an array of {actions.dtype}"
                )
            return np.ascontiguousarray(actions, dtype=np.int64).reshape(-1)
        if not np.issubdtype(actions.dtype, np.number):
            raise ValueError(f"{self.env_id} has Box actions: give numbers, not an array of {actions.dtype}")
        return np.ascontiguousarray(actions, dtype=np.float32)

    def _infos(self, terminated, truncated, final_obs, ids) -> dict[str, Any]:
        infos: dict[str, Any] = {}
        if ids is not None:
            infos["env_id"] = ids
        if final_obs is not None:
            ended = np.logical_or(terminated, truncated)
            # Gymnasium's form: an object array, None where no episode ended. fromiter fills it from the rows of
            # final_obs in one C loop (a Python loop over the ended envs costs more than the step at 4,096 envs).
            finals = np.empty(len(ended), dtype=object)  # None everywhere
            where = np.flatnonzero(ended)
            finals[where] = np.fromiter(final_obs[where], dtype=object, count=len(where))
            infos["final_obs"] = finals
            infos["_final_obs"] = ended
            infos["final_info"] = {}
            infos["_final_info"] = ended.copy()
        return infos

    def __repr__(self) -> str:
        return f"myriad.VectorEnv({self.env_id!r}, num_envs={self.num_envs}, backend={self.backend!r})"


def make_vec(env_id: str, num_envs: int, *, seed: int = 0, backend: str = "cpu", **kwargs: Any) -> VectorEnv:
    """``num_envs`` envs of ``env_id`` stepped together as one ``gymnasium.vector.VectorEnv``.

    ``kwargs`` are the env's own (Gymnasium's names: ``sutton_barto_reward=True``, ``map_name="8x8"``, Atari's
    ``frameskip``, ``repeat_action_probability``, ``preset="atari100k"``, ...); ``backend`` is ``"cpu"``, ``"wgpu"``
    or ``"cuda"``. ``num_threads`` picks where CPU batches step: ``1`` on the calling thread, ``0`` on every core
    (rayon's pool); by default batches of up to 8,192 envs step on the calling thread, since handing one step of a
    few thousand envs to the pool and waiting costs more than the step itself (CartPole × 4,096 on 2 cores: 53 µs a
    call inline, 86 µs through the pool). Atari envs take ``num_threads`` (emulator threads, 0: every core) and
    ``batch_size``: below ``num_envs`` the envs step asynchronously, EnvPool-style, through ``send`` / ``recv``.
    """
    return VectorEnv(env_id, num_envs, seed=seed, backend=backend, **kwargs)


def list_envs(details: bool = False):
    """The ids ``make_vec`` takes (Atari games where this build has them); with ``details``, one dict per env
    (spaces, time limit, reward threshold, config keys)."""
    envs = [json.loads(line) for line in _myriad.envs_json().splitlines() if line]
    return envs if details else [e["id"] for e in envs]
