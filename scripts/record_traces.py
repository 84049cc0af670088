#!/usr/bin/env python3
"""Record Gymnasium transition traces used as golden fixtures by Myriad.

Every line of an output ``.jsonl`` file is one self-contained transition
recorded from Gymnasium (the reference implementation):

    {"env": "<gymnasium id>", "env_config": {<kwargs for gymnasium.make>},
     "state": [...], "elapsed_steps": <int>, "action": <int | [float, ...]>,
     "next_state": [...], "next_obs": [...], "reward": <float>,
     "terminated": <bool>, "truncated": <bool>}

* ``state`` / ``next_state``: the env's internal state, ``env.unwrapped.state``
  (``[env.unwrapped.s]`` for FrozenLake) as Python floats.
* ``elapsed_steps``: the TimeLimit wrapper counter *before* the step.
* ``next_obs``: the observation returned by ``step`` (float32 values widened
  exactly to float64; FrozenLake: ``[s]``).

Every line is replayable in isolation: before each recorded step the recorder
overwrites the internal state, the TimeLimit counter and any other hidden
per-episode field (CartPole ``steps_beyond_terminated = None``), exactly as a
replayer does.  State dtypes used when setting the state:

* MountainCarContinuous-v0: **float32** (Gymnasium itself stores the state as a
  float32 array after every step; its dynamics then run in float32 under NumPy 2
  promotion rules).  The float64 reset state is rounded to float32 before use.
* every other classic-control env: float64.
* FrozenLake: ``env.unwrapped.s = int``.

Slippery FrozenLake transitions are random: a replayer can only check that
``next_state`` (with its reward/terminated) is one of the outcomes listed in
the transition table for (state, action).

Coverage per file: random-action rollouts (reset when an episode ends), states
near termination thresholds, clipping edges, time-limit edges
(elapsed_steps = max_episode_steps-1 and -2, combined with termination where
possible); FrozenLake: every non-terminal (state, action) pair several times,
plus a step from every terminal cell.

Usage:
    python3 scripts/record_traces.py --out envs/fixtures [--env ID] [--lines N] [--seed S]
    python3 scripts/record_traces.py --out envs/fixtures --check-only

Only gymnasium and numpy are needed.  Deterministic for a given gymnasium /
numpy version and --seed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

import gymnasium as gym

warnings.filterwarnings("ignore")
gym.logger.min_level = 40  # only errors

F32 = np.float32
PI = math.pi


def f32(x: float) -> float:
    """Round to the nearest float32 and widen back (exact) to a Python float."""
    return float(F32(x))


# --------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------


@dataclass
class Config:
    env_id: str
    kwargs: dict = field(default_factory=dict)
    name_suffix: str | None = None  # override for the file-name part after "__"

    @property
    def stem(self) -> str:
        if not self.kwargs:
            return self.env_id
        if self.name_suffix is not None:
            return f"{self.env_id}__{self.name_suffix}"
        parts = []
        for k, v in self.kwargs.items():
            if isinstance(v, (list, tuple)):
                v = ",".join(str(x) for x in v)
            parts.append(f"{k}={v}")
        return self.env_id + "__" + "__".join(parts)


CONFIGS: list[Config] = [
    Config("CartPole-v1"),
    Config("CartPole-v1", {"sutton_barto_reward": True}),
    Config("Pendulum-v1"),
    Config("Pendulum-v1", {"g": 9.81}),
    Config("Acrobot-v1"),
    Config("MountainCar-v0"),
    Config("MountainCar-v0", {"goal_velocity": 0.01}),
    Config("MountainCarContinuous-v0"),
    Config("MountainCarContinuous-v0", {"goal_velocity": 0.01}),
    Config("FrozenLake-v1", {"is_slippery": False}),
    Config("FrozenLake-v1"),  # map_name=4x4, is_slippery=True (defaults)
    Config("FrozenLake-v1", {"map_name": "8x8"}),
    Config("FrozenLake-v1", {"desc": ["SFFH", "FHFF", "FFFF", "HFFG"]},
           name_suffix="desc=SFFH_FHFF_FFFF_HFFG"),
    Config("FrozenLake-v1", {"desc": ["SFFFH", "FHFFF", "FFHFG"], "is_slippery": False},
           name_suffix="desc=SFFFH_FHFFF_FFHFG__is_slippery=False"),
    Config("FrozenLake-v1", {"success_rate": 0.8}),
    Config("FrozenLake-v1", {"reward_schedule": [10.0, -2.0, -0.5]}),
    Config("FrozenLake-v1", {"map_name": "8x8", "is_slippery": False,
                             "reward_schedule": [1.0, -1.0, -0.01]}),
]


# --------------------------------------------------------------------------
# Env access helpers
# --------------------------------------------------------------------------


def find_time_limit(env: gym.Env) -> gym.wrappers.TimeLimit:
    e = env
    while True:
        if isinstance(e, gym.wrappers.TimeLimit):
            return e
        if not hasattr(e, "env"):
            raise RuntimeError("no TimeLimit wrapper found")
        e = e.env


def is_frozen_lake(env_id: str) -> bool:
    return env_id.startswith("FrozenLake")


def is_box_action(env_id: str) -> bool:
    return env_id in ("Pendulum-v1", "MountainCarContinuous-v0")


def state_dtype(env_id: str):
    return np.float32 if env_id == "MountainCarContinuous-v0" else np.float64


def get_state(env_id: str, u) -> list:
    if is_frozen_lake(env_id):
        return [int(u.s)]
    dt = state_dtype(env_id)
    return [float(dt(x)) for x in u.state]


def set_state(env_id: str, u, state: list) -> None:
    if is_frozen_lake(env_id):
        u.s = int(state[0])
        u.lastaction = None
        return
    u.state = np.array(state, dtype=state_dtype(env_id))
    if hasattr(u, "steps_beyond_terminated"):
        u.steps_beyond_terminated = None
    if hasattr(u, "last_u"):
        u.last_u = None


def env_action(env_id: str, action):
    if is_box_action(env_id):
        return np.array(action, dtype=np.float32)
    return int(action)


def canon_action(env_id: str, action):
    """JSON form of an action: int, or list of float32-representable floats."""
    if is_box_action(env_id):
        return [f32(a) for a in np.atleast_1d(action)]
    return int(action)


def obs_to_list(obs) -> list:
    if isinstance(obs, (int, np.integer)):
        return [int(obs)]
    return [float(x) for x in np.asarray(obs).ravel()]


class Recorder:
    def __init__(self, cfg: Config, seed: int):
        self.cfg = cfg
        self.env = gym.make(cfg.env_id, **cfg.kwargs)
        self.tl = find_time_limit(self.env)
        self.u = self.env.unwrapped
        self.max_steps = self.tl._max_episode_steps
        self.env.reset(seed=seed)
        self.rng = np.random.default_rng(seed)

    def step_from(self, state: list, elapsed: int, action) -> dict:
        env_id = self.cfg.env_id
        if env_id == "MountainCarContinuous-v0":
            state = [f32(x) for x in state]
        else:
            state = [int(x) for x in state] if is_frozen_lake(env_id) else [float(x) for x in state]
        set_state(env_id, self.u, state)
        self.tl._elapsed_steps = int(elapsed)
        action = canon_action(env_id, action)
        obs, reward, terminated, truncated, _info = self.env.step(env_action(env_id, action))
        return {
            "env": env_id,
            "env_config": self.cfg.kwargs,
            "state": state,
            "elapsed_steps": int(elapsed),
            "action": action,
            "next_state": get_state(env_id, self.u),
            "next_obs": obs_to_list(obs),
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        }

    # ----- generic building blocks -------------------------------------

    def rollouts(self, n: int, sample_action: Callable[[], Any]) -> list[dict]:
        """n transitions from random-action episodes; reset when one ends."""
        out = []
        self.env.reset()
        while len(out) < n:
            state = get_state(self.cfg.env_id, self.u)
            elapsed = self.tl._elapsed_steps
            rec = self.step_from(state, elapsed, sample_action())
            out.append(rec)
            if rec["terminated"] or rec["truncated"]:
                self.env.reset()
        return out

    def balanced(self, n: int, gen: Iterator[tuple], max_tries: int = 20000) -> list[dict]:
        """Step candidates (state, elapsed, action) and keep about n/2 with
        terminated=True and n/2 with terminated=False."""
        want = {True: n // 2, False: n - n // 2}
        got: dict[bool, list] = {True: [], False: []}
        for i, (state, elapsed, action) in enumerate(gen):
            if i >= max_tries or (len(got[True]) >= want[True] and len(got[False]) >= want[False]):
                break
            rec = self.step_from(state, elapsed, action)
            t = rec["terminated"]
            if len(got[t]) < want[t]:
                got[t].append(rec)
        # Fill any shortfall with whatever class we have.
        out = got[True] + got[False]
        return out

    def terminating(self, make: Callable[[], tuple], elapsed: int, tries: int = 1000) -> dict:
        """Step candidates (state, action) from make() at the given elapsed
        count until one terminates; return that record (or the last one)."""
        rec = None
        for _ in range(tries):
            state, action = make()
            rec = self.step_from(state, elapsed, action)
            if rec["terminated"]:
                break
        return rec

    def cases(self, items: Iterable[tuple]) -> list[dict]:
        return [self.step_from(s, e, a) for (s, e, a) in items]

    def ordinary_elapsed(self) -> int:
        return int(self.rng.integers(0, max(1, self.max_steps - 2)))


# --------------------------------------------------------------------------
# Per-environment coverage
# --------------------------------------------------------------------------


def split(n: int, fractions: list[float]) -> list[int]:
    parts = [int(round(n * f)) for f in fractions]
    parts[0] += n - sum(parts)
    return parts


def cover_cartpole(r: Recorder, n: int) -> list[dict]:
    rng = r.rng
    n_roll, n_x, n_th, n_edge, n_tl = split(n, [0.45, 0.17, 0.17, 0.06, 0.15])
    out = r.rollouts(n_roll, lambda: int(rng.integers(0, 2)))
    thr = 12 * 2 * PI / 360

    def near_x():
        while True:
            sgn = rng.choice([-1.0, 1.0])
            x = sgn * rng.uniform(2.36, 2.44)
            yield ([x, rng.uniform(-1.5, 1.5), rng.uniform(-0.1, 0.1), rng.uniform(-0.5, 0.5)],
                   r.ordinary_elapsed(), int(rng.integers(0, 2)))

    def near_th():
        while True:
            sgn = rng.choice([-1.0, 1.0])
            th = sgn * rng.uniform(thr - 0.02, thr + 0.02)
            yield ([rng.uniform(-1, 1), rng.uniform(-1, 1), th, rng.uniform(-1.0, 1.0)],
                   r.ordinary_elapsed(), int(rng.integers(0, 2)))

    out += r.balanced(n_x, near_x())
    out += r.balanced(n_th, near_th())
    # exact-threshold and beyond-threshold states
    edge = [
        ([2.4, 0.0, 0.0, 0.0], 10, 1), ([-2.4, 0.0, 0.0, 0.0], 10, 0),
        ([0.0, 0.0, thr, 0.0], 10, 0), ([0.0, 0.0, -thr, 0.0], 10, 1),
        ([3.0, 1.0, 0.0, 0.0], 10, 1), ([0.0, 0.0, 0.5, 2.0], 10, 0),
        ([0.1, 5.0, 0.1, -5.0], 10, 1), ([-0.1, -3.0, -0.3, 4.0], 10, 0),
    ]
    out += r.cases(edge[:max(n_edge, 0)] if n_edge < len(edge) else edge)
    # time limit: max-1 (truncates) / max-2, ordinary and terminating states
    for i in range(n_tl):
        elapsed = r.max_steps - 1 - (i % 2)
        if i % 4 < 2:
            out += r.cases([(list(rng.uniform(-0.05, 0.05, size=4)), elapsed, int(rng.integers(0, 2)))])
        else:  # terminates on the same step
            out.append(r.terminating(lambda: (
                [rng.choice([-1, 1]) * rng.uniform(2.39, 2.41), rng.uniform(-1, 1), 0.0, 0.0]
                if rng.random() < 0.5 else
                [0.0, 0.0, rng.choice([-1, 1]) * rng.uniform(thr - 0.01, thr + 0.01), rng.uniform(-1, 1)],
                int(rng.integers(0, 2))), elapsed))
    return out


def cover_pendulum(r: Recorder, n: int) -> list[dict]:
    rng = r.rng
    n_roll, n_vel, n_act, n_ang, n_tl = split(n, [0.45, 0.17, 0.13, 0.12, 0.13])

    def act():
        if rng.random() < 0.8:
            return [rng.uniform(-2.0, 2.0)]
        return [rng.choice([-1, 1]) * rng.uniform(2.0, 4.0)]

    out = r.rollouts(n_roll, act)
    # thdot near +-8 with torques pushing beyond / back
    vel = []
    for _ in range(n_vel):
        sgn = rng.choice([-1.0, 1.0])
        thdot = sgn * rng.uniform(7.3, 8.0)
        th = rng.uniform(-PI, PI)
        a = rng.choice([-3.5, -2.0, 0.0, 2.0, 3.5, rng.uniform(-2, 2)])
        vel.append(([th, thdot], r.ordinary_elapsed(), [a]))
    vel[:2] = [([PI / 2, 8.0], 3, [2.0]), ([-PI / 2, -8.0], 3, [-2.0])]
    out += r.cases(vel)
    # actions beyond +-2 (clipped torque; reward uses the clipped torque)
    specials = [3.5, -3.5, 2.0, -2.0, float(np.nextafter(F32(2.0), F32(3.0))), -100.0, 100.0, 1e-7]
    acts = []
    for i in range(n_act):
        a = specials[i] if i < len(specials) else rng.choice([-1, 1]) * rng.uniform(2.0, 10.0)
        acts.append(([rng.uniform(-PI, PI), rng.uniform(-8, 8)], r.ordinary_elapsed(), [a]))
    out += r.cases(acts)
    # angles far outside [-pi, pi]
    angs = [10.0, -10.0, 20.0, -20.0, 100.0, -100.0, PI, -PI, 3 * PI, -3 * PI, 2 * PI, 1e3]
    ang = []
    for i in range(n_ang):
        th = angs[i] if i < len(angs) else rng.choice([-1, 1]) * rng.uniform(4.0, 50.0)
        ang.append(([th, rng.uniform(-8, 8)], r.ordinary_elapsed(), [rng.uniform(-2.5, 2.5)]))
    out += r.cases(ang)
    tl = []
    for i in range(n_tl):
        tl.append(([rng.uniform(-PI, PI), rng.uniform(-1, 1)], r.max_steps - 1 - (i % 2),
                   [rng.uniform(-2.5, 2.5)]))
    out += r.cases(tl)
    return out


def cover_acrobot(r: Recorder, n: int) -> list[dict]:
    rng = r.rng
    n_roll, n_term, n_vel, n_wrap, n_tl = split(n, [0.42, 0.22, 0.14, 0.08, 0.14])
    out = r.rollouts(n_roll, lambda: int(rng.integers(0, 3)))
    m1, m2 = 4 * PI, 9 * PI

    def near_height(h_lo=0.85, h_hi=1.15, vmax=1.5):
        # -cos(t1) - cos(t1 + t2) = h  ->  choose t1 with cos(t1) <= 1 - h
        while True:
            h = rng.uniform(h_lo, h_hi)
            t1 = rng.choice([-1, 1]) * rng.uniform(PI / 2 + 0.05, PI)
            c = -math.cos(t1) - h
            if abs(c) > 1:
                continue
            t12 = rng.choice([-1, 1]) * math.acos(c)
            t2 = (t12 - t1 + PI) % (2 * PI) - PI
            yield [t1, t2, rng.uniform(-vmax, vmax), rng.uniform(-vmax, vmax)]

    gen_h = near_height()

    def term_gen():
        while True:
            yield next(gen_h), r.ordinary_elapsed(), int(rng.integers(0, 3))

    out += r.balanced(n_term, term_gen())
    vel = []
    for i in range(n_vel):
        d1 = rng.choice([-1, 1]) * rng.uniform(m1 - 0.6, m1 + 0.3)
        d2 = rng.choice([-1, 1]) * rng.uniform(m2 - 0.6, m2 + 0.3)
        if i % 3 == 0:
            d1 = rng.uniform(-2, 2)
        elif i % 3 == 1:
            d2 = rng.uniform(-2, 2)
        vel.append(([rng.uniform(-PI, PI), rng.uniform(-PI, PI), d1, d2], r.ordinary_elapsed(),
                    int(rng.integers(0, 3))))
    vel[:2] = [([0.0, 0.0, m1, m2], 5, 2), ([0.0, 0.0, -m1, -m2], 5, 0)]
    out += r.cases(vel)
    wrap = []
    for _ in range(n_wrap):
        t1 = rng.choice([-1, 1]) * rng.uniform(PI - 0.2, PI)
        t2 = rng.choice([-1, 1]) * rng.uniform(PI - 0.2, PI)
        wrap.append(([t1, t2, math.copysign(rng.uniform(1, 6), t1), math.copysign(rng.uniform(1, 12), t2)],
                     r.ordinary_elapsed(), int(rng.integers(0, 3))))
    out += r.cases(wrap)
    gen_t = near_height(0.95, 1.1, 0.5)
    for i in range(n_tl):
        elapsed = r.max_steps - 1 - (i % 2)
        if i % 4 < 2:
            out += r.cases([(list(rng.uniform(-0.1, 0.1, size=4)), elapsed, int(rng.integers(0, 3)))])
        else:  # terminates on the same step
            out.append(r.terminating(lambda: (next(gen_t), int(rng.integers(0, 3))), elapsed))
    return out


def cover_mountain_car(r: Recorder, n: int, continuous: bool) -> list[dict]:
    rng = r.rng
    goal = 0.45 if continuous else 0.5
    gv = float(r.cfg.kwargs.get("goal_velocity", 0.0))
    n_roll, n_goal, n_left, n_vel, n_act, n_tl = split(n, [0.42, 0.2, 0.1, 0.1, 0.06, 0.12])
    if not continuous:
        n_roll += n_act
        n_act = 0

    def act():
        if continuous:
            if rng.random() < 0.8:
                return [rng.uniform(-1.0, 1.0)]
            return [rng.choice([-1, 1]) * rng.uniform(1.0, 3.0)]
        return int(rng.integers(0, 3))

    out = r.rollouts(n_roll, act)

    def goal_gen():
        while True:
            p = rng.uniform(goal - 0.06, goal + 0.02)
            v = rng.uniform(gv - 0.015, gv + 0.03)
            yield [p, v], r.ordinary_elapsed(), act()

    out += r.balanced(n_goal, goal_gen())
    left = [([-1.2, 0.0], 7, 0 if not continuous else [-1.0]),
            ([-1.2, -0.07], 7, 0 if not continuous else [-3.5])]
    for _ in range(n_left - len(left)):
        left.append(([rng.uniform(-1.2, -1.12), -rng.uniform(0.0, 0.07)], r.ordinary_elapsed(), act()))
    out += r.cases(left)
    vel = []
    for i in range(n_vel):
        sgn = 1.0 if i % 2 == 0 else -1.0
        v = sgn * rng.uniform(0.066, 0.07)
        p = rng.uniform(-0.9, 0.3)
        a = (2 if sgn > 0 else 0) if not continuous else [sgn * rng.uniform(0.5, 2.0)]
        vel.append(([p, v], r.ordinary_elapsed(), a))
    # right edge: clip to max_position (terminates)
    vel[:1] = [([0.59, 0.07], 9, 2 if not continuous else [1.0])]
    out += r.cases(vel)
    if continuous:
        specials = [3.5, -3.5, 1.0, -1.0, float(np.nextafter(F32(1.0), F32(2.0))), 100.0, -100.0, 0.0]
        acts = []
        for i in range(n_act):
            a = specials[i] if i < len(specials) else rng.choice([-1, 1]) * rng.uniform(1.0, 5.0)
            if i % 3 == 2:
                s = [rng.uniform(goal - 0.03, goal), rng.uniform(0.0, 0.04)]
            else:
                s = [rng.uniform(-1.1, 0.4), rng.uniform(-0.05, 0.05)]
            acts.append((s, r.ordinary_elapsed(), [a]))
        out += r.cases(acts)
    for i in range(n_tl):
        elapsed = r.max_steps - 1 - (i % 2)
        if i % 4 < 2:
            out += r.cases([([rng.uniform(-0.6, -0.4), rng.uniform(-0.01, 0.01)], elapsed, act())])
        else:  # terminates on the same step
            out.append(r.terminating(lambda: (
                [rng.uniform(goal - 0.03, goal + 0.01), rng.uniform(gv - 0.005, gv + 0.03)], act()),
                elapsed))
    return out


def cover_frozen_lake(r: Recorder, n: int) -> list[dict]:
    rng = r.rng
    u = r.u
    desc = u.desc
    nrow, ncol = desc.shape
    ns = nrow * ncol
    terminal = [s for s in range(ns) if desc.ravel()[s] in (b"G", b"H")]
    nonterm = [s for s in range(ns) if s not in terminal]
    slippery = bool(r.cfg.kwargs.get("is_slippery", True))
    reps = 4 if len(nonterm) * 4 <= 100 else (3 if slippery else 2)
    out = []
    pairs = [(s, a) for s in nonterm for a in range(4)] * reps
    order = rng.permutation(len(pairs))
    out += r.cases(([pairs[i][0]], r.ordinary_elapsed(), pairs[i][1]) for i in order)
    # steps from terminal cells (Gymnasium: stays, reward 0, terminated=True)
    out += r.cases(([s], r.ordinary_elapsed(), int(rng.integers(0, 4))) for s in terminal)
    # time-limit edges, incl. moves into G/H at elapsed = max-1 / max-2
    into_terminal = []  # (state, action) pairs whose intended move reaches G/H
    for t in terminal:
        tr, tc = divmod(t, ncol)
        for a, (dr, dc) in enumerate([(0, 1), (-1, 0), (0, -1), (1, 0)]):
            # neighbour at (tr+dr, tc+dc) taking action a (L, D, R, U) moves onto t
            rr, cc = tr + dr, tc + dc
            if 0 <= rr < nrow and 0 <= cc < ncol and rr * ncol + cc in nonterm:
                into_terminal.append((rr * ncol + cc, a))
    for i in range(24):
        elapsed = r.max_steps - 1 - (i % 2)
        if i % 4 < 2:
            s, a = nonterm[int(rng.integers(len(nonterm)))], int(rng.integers(0, 4))
            out += r.cases([([s], elapsed, a)])
        else:
            def make():
                s, a = into_terminal[int(rng.integers(len(into_terminal)))]
                return [s], a
            out.append(r.terminating(make, elapsed))
    n_roll = max(60, n - len(out))
    out += r.rollouts(n_roll, lambda: int(rng.integers(0, 4)))
    return out


def cover(cfg: Config, seed: int, n: int) -> list[dict]:
    r = Recorder(cfg, seed)
    eid = cfg.env_id
    if eid == "CartPole-v1":
        return cover_cartpole(r, n)
    if eid == "Pendulum-v1":
        return cover_pendulum(r, n)
    if eid == "Acrobot-v1":
        return cover_acrobot(r, n)
    if eid == "MountainCar-v0":
        return cover_mountain_car(r, n, continuous=False)
    if eid == "MountainCarContinuous-v0":
        return cover_mountain_car(r, n, continuous=True)
    if is_frozen_lake(eid):
        return cover_frozen_lake(r, n)
    raise ValueError(eid)


# --------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------

KEYS = ["env", "env_config", "state", "elapsed_steps", "action", "next_state", "next_obs",
        "reward", "terminated", "truncated"]


def check_file(path: str) -> dict:
    """Validate every line and replay it in isolation (in reverse order, on a
    fresh env).  Deterministic envs must reproduce the line exactly; slippery
    FrozenLake lines must be one of the table outcomes for (state, action)."""
    recs = []
    with open(path) as fh:
        for ln, line in enumerate(fh, 1):
            rec = json.loads(line)
            assert list(rec.keys()) == KEYS, (path, ln, list(rec.keys()))
            assert isinstance(rec["elapsed_steps"], int)
            assert isinstance(rec["terminated"], bool) and isinstance(rec["truncated"], bool)
            assert isinstance(rec["reward"], float)
            recs.append(rec)
    env_id, kwargs = recs[0]["env"], recs[0]["env_config"]
    assert all(r["env"] == env_id and r["env_config"] == kwargs for r in recs)
    env = gym.make(env_id, **kwargs)
    tl = find_time_limit(env)
    u = env.unwrapped
    env.reset(seed=12345)
    mismatches = 0
    for rec in reversed(recs):
        set_state(env_id, u, rec["state"])
        tl._elapsed_steps = rec["elapsed_steps"]
        obs, rew, term, trunc, _ = env.step(env_action(env_id, rec["action"]))
        if is_frozen_lake(env_id):
            s, a = rec["state"][0], rec["action"]
            outcomes = {(int(ns_), float(rw), bool(t)) for p, ns_, rw, t in u.P[s][a] if p > 0}
            ok = ((rec["next_state"][0], rec["reward"], rec["terminated"]) in outcomes
                  and rec["next_obs"] == rec["next_state"]
                  and rec["truncated"] == (rec["elapsed_steps"] + 1 >= tl._max_episode_steps))
        else:
            ok = (get_state(env_id, u) == rec["next_state"] and obs_to_list(obs) == rec["next_obs"]
                  and float(rew) == rec["reward"] and bool(term) == rec["terminated"]
                  and bool(trunc) == rec["truncated"])
        mismatches += not ok
    return {
        "lines": len(recs),
        "bytes": os.path.getsize(path),
        "terminated": sum(r["terminated"] for r in recs),
        "truncated": sum(r["truncated"] for r in recs),
        "both": sum(r["terminated"] and r["truncated"] for r in recs),
        "replay_mismatches": mismatches,
        "max_episode_steps": tl._max_episode_steps,
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Files are named <id>.jsonl or <id>__<key>=<value>[__...].jsonl.",
    )
    ap.add_argument("--out", default="envs/fixtures", help="output directory (default: envs/fixtures)")
    ap.add_argument("--env", default=None,
                    help="only this gymnasium id (all its configs) or this file stem")
    ap.add_argument("--lines", type=int, default=300,
                    help="target lines per file (FrozenLake adds (state, action) coverage; default 300)")
    ap.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    ap.add_argument("--check-only", action="store_true", help="only validate/replay existing files")
    args = ap.parse_args(argv)

    cfgs = [c for c in CONFIGS if args.env is None or args.env in (c.env_id, c.stem)]
    if not cfgs:
        ap.error(f"unknown --env {args.env!r}; known: " + ", ".join(sorted({c.stem for c in CONFIGS})))
    os.makedirs(args.out, exist_ok=True)

    if not args.check_only:
        for cfg in cfgs:
            seed = (args.seed * 1_000_003 + zlib.crc32(cfg.stem.encode())) % (2**31)
            recs = cover(cfg, seed, args.lines)
            path = os.path.join(args.out, cfg.stem + ".jsonl")
            with open(path, "w") as fh:
                for rec in recs:
                    fh.write(json.dumps(rec, separators=(",", ":")) + "\n")

    print(f"gymnasium {gym.__version__}, numpy {np.__version__}")
    print(f"{'file':<62} {'lines':>5} {'KiB':>6} {'term':>5} {'trunc':>5} {'both':>4} {'T':>4} {'mism':>4}")
    bad = 0
    for cfg in cfgs:
        path = os.path.join(args.out, cfg.stem + ".jsonl")
        st = check_file(path)
        print(f"{cfg.stem + '.jsonl':<62} {st['lines']:>5} {st['bytes'] / 1024:>6.1f} "
              f"{st['terminated']:>5} {st['truncated']:>5} {st['both']:>4} "
              f"{st['max_episode_steps']:>4} {st['replay_mismatches']:>4}")
        if st["replay_mismatches"] or st["bytes"] >= 150 * 1024:
            bad += 1
    if bad:
        print(f"{bad} file(s) with replay mismatches or >= 150 KiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
