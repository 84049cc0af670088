#!/usr/bin/env python3
"""Record reference traces of Gymnasium's Atari preprocessing (84 x 84 grayscale).

Myriad's Atari preprocessing (frame skip with max-pooling, grayscale, resize
to 84 x 84) is checked against these traces.  The reference is::

    env = gym.make("ALE/<Game>-v5", frameskip=1, repeat_action_probability=0.0,
                   full_action_space=False)
    env = gymnasium.wrappers.AtariPreprocessing(
        env, noop_max=0, frame_skip=4, screen_size=84, terminal_on_life_loss=False,
        grayscale_obs=True, scale_obs=False)
    obs, info = env.reset(seed=SEED)

stepped with a seeded random agent.

Format (JSON Lines, ``<out>/<rom>_preprocessing.jsonl``)
-------------------------------------------------------

Header::

    {"env": "ALE/Pong-v5", "rom": "pong", "random_seed": -617818137,
     "frame_skip": 4, "screen_size": 84, "noop_max": 0, "steps": 60,
     "ale_version": "0.11.2", "gymnasium_version": "1.4.0"}

``random_seed`` is the value the emulator was given with
``ale.setInt("random_seed", ...)`` (see below), so a replayer can build the
same raw emulator.  ``steps`` counts the step lines.  Next comes the reset
observation, then one line per agent step::

    {"reset_obs": "<base64>"}
    {"action": 2, "ale_action": 3, "reward": 0.0, "terminated": false,
     "truncated": false, "obs": "<base64>"}

* ``action``: the index into the game's minimal action set that was passed to
  ``env.step``; ``ale_action``: the ALE action id (``ale_py.Action``) it maps to;
* ``obs`` / ``reset_obs``: base64 of the 84 x 84 uint8 observation, row-major
  (7056 bytes).

When an episode ends (``terminated`` or ``truncated``) the recorder calls
``env.reset()`` without a seed and writes another ``{"reset_obs": ...}`` line.

Actions: ``numpy.random.default_rng(seed)`` draws an index into the minimal
action set uniformly and holds it for a uniformly drawn 1..4 agent steps.

What the reference does (gymnasium 1.4.0, ale-py 0.11.2, read from their sources)
----------------------------------------------------------------------------------

Seeding.  ``reset(seed=s)`` on ale-py's ``AtariEnv`` runs ``seed_game(s)``:
``np_seed, ale_seed = numpy.random.SeedSequence(s).generate_state(n_words=2)``
(two uint32 words); ``np_seed`` seeds the env's ``np_random`` and the ALE
receives ``ale.setInt("random_seed", numpy.int32(ale_seed))`` -- the second
word reinterpreted as a signed 32-bit int, so it is negative when the word is
>= 2**31 (s = 0 gives word 3677149159, passed as -617818137; ALE casts it back
to uint32 when it seeds its generator).  With repeat_action_probability 0 this
seed changes nothing in the emulation: ALE draws from it only for sticky
actions (and for Adventure's mode selection), and the console's own
generator has a fixed seed.

Raw env reset.  ``AtariEnv.reset(seed=s)`` (``s`` not None) runs
``seed_game(s)``, then ``load_game()`` = ``ale.loadROM(rom)`` (a fresh console;
loadROM resets the game once itself), then ``ale.reset_game()``.  Each ALE reset
(``StellaEnvironment::reset``) emulates 60 NOOP frames, holds RESET for 4
frames, selects the game's default mode (SELECT presses where the game has
several modes, then RESET for 4 frames), holds RESET for 4 more frames, and
plays the ROM's own starting actions, if any; none of these frames counts in
the episode frame number.  ``reset()`` without a seed only calls
``ale.reset_game()``.  The v5 registration sets
``max_num_frames_per_episode = 108000`` (truncation after 108000 emulator
frames); ALE's own ``frame_skip`` stays 1.

Raw env step.  ``AtariEnv.step(a)`` with ``frameskip=1``:
``reward = ale.act(action_set[a], 1.0)`` (one emulator frame),
``terminated = ale.game_over(with_truncation=False)``,
``truncated = ale.game_truncated()``.

AtariPreprocessing.reset: ``env.reset(seed=...)`` as above; then ``noops``
NOOP steps with ``noops = np_random.integers(1, noop_max + 1)``, here
``noop_max = 0`` so none (the random draw is skipped too); there is no FIRE
press on reset.  Then the grayscale screen (``ale.getScreenGrayscale``,
210 x 160) goes into buffer 0, buffer 1 is zero-filled, and the observation is
made as below (max with zeros = the screen itself).

AtariPreprocessing.step(a): for t = 0, 1, 2, 3, one raw step ``env.step(a)``
(one emulator frame), ``total_reward += reward``; if it terminated or
truncated, stop at once (no screen is read for that frame); else after
t = 2 read the grayscale screen into buffer 1, after t = 3 into buffer 0.
Then the observation: ``numpy.maximum(buffer0, buffer1, out=buffer0)`` (so
buffer 0 keeps the pooled frame) and
``cv2.resize(buffer0, (84, 84), interpolation=cv2.INTER_AREA)`` as uint8
(``area_resize`` below spells out that arithmetic; it matches cv2 exactly).
So a full step pools the screens after its 3rd and 4th frames.  A step that
ends the episode early reuses stale buffers: ending on its 4th frame, it pools
the 3rd frame's screen with the previous step's pooled frame; ending on its
1st or 2nd frame, both buffers are the previous step's, so it returns the
previous observation; ending on its 3rd frame, buffer 1 still holds the
previous step's 3rd-frame screen, again the previous observation.  The
returned flags are the last raw step's; ``terminal_on_life_loss = False``
leaves them alone.

INTER_AREA from 210 x 160 to 84 x 84 (a non-integer ratio, so OpenCV's
general area path): per axis, output cell ``d`` covers the source interval
``[d * scale, (d + 1) * scale)``, ``scale = in / out``; each source pixel it
overlaps gets weight ``overlap / scale``, computed in double and rounded to
float32 (overlaps under 1e-3 are dropped).  Each source row is first reduced
horizontally, ``h[d] += float32(src[x]) * wx`` in increasing x; output rows
then take ``out = h[y0] * wy0``, ``out += h[y] * wy`` for the following rows,
all in float32, and the result is rounded half to even and clamped to 0..255.

``--check FILE ...`` replays traces without Gymnasium, as a replayer would:
a raw ``ale_py.ALEInterface`` with the header's ``random_seed``,
repeat_action_probability 0 and max_num_frames_per_episode 108000,
``loadROM`` + ``reset_game()``, then the steps above with numpy and cv2, and
reports the first difference; every observation is also recomputed with
``area_resize`` and compared.

Usage::

    python3 scripts/record_atari_preprocessing.py --game pong breakout --steps 60 --seed 0 \\
        --out envs/atari/fixtures
    python3 scripts/record_atari_preprocessing.py --check envs/atari/fixtures/pong_preprocessing.jsonl

Needs gymnasium, ale-py, numpy and opencv-python(-headless).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

import ale_py
import cv2
import gymnasium as gym
from gymnasium.wrappers import AtariPreprocessing

from record_atari_traces import ATARI_100K, env_id, expand_games

warnings.filterwarnings("ignore")
gym.logger.min_level = 40  # only errors
gym.register_envs(ale_py)

FRAME_SKIP = 4
SCREEN_SIZE = 84
NOOP_MAX = 0
MAX_HOLD = 4  # agent steps an action is held, drawn from 1..MAX_HOLD
V5_MAX_FRAMES = 108_000  # max_num_frames_per_episode of the ALE/*-v5 registrations
COMPACT = (",", ":")


def ale_random_seed(seed: int) -> int:
    """The value ale-py's AtariEnv passes to ale.setInt("random_seed", ...) on reset(seed=seed)."""
    _np_seed, ale_seed = np.random.SeedSequence(seed).generate_state(n_words=2)
    return int(np.asarray(ale_seed, dtype=np.uint32).view(np.int32))


def b64(obs: np.ndarray) -> str:
    assert obs.shape == (SCREEN_SIZE, SCREEN_SIZE) and obs.dtype == np.uint8, (obs.shape, obs.dtype)
    return base64.b64encode(np.ascontiguousarray(obs).tobytes()).decode("ascii")


def make_env(rom: str) -> gym.Env:
    env = gym.make(env_id(rom), frameskip=1, repeat_action_probability=0.0, full_action_space=False)
    return AtariPreprocessing(
        env,
        noop_max=NOOP_MAX,
        frame_skip=FRAME_SKIP,
        screen_size=SCREEN_SIZE,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )


def random_actions(num_actions: int, seed: int) -> Iterator[int]:
    """Endless stream of action indices, each held for 1..MAX_HOLD steps."""
    rng = np.random.default_rng(seed)
    while True:
        action = int(rng.integers(num_actions))
        for _ in range(int(rng.integers(1, MAX_HOLD + 1))):
            yield action


def record(rom: str, steps: int, seed: int) -> Iterator[dict]:
    """The header, the reset observation, then one record per step (and per later reset)."""
    env = make_env(rom)
    obs, _info = env.reset(seed=seed)
    ale = env.unwrapped.ale
    random_seed = ale.getInt("random_seed")
    if random_seed != ale_random_seed(seed):
        raise RuntimeError(f"ALE got random_seed {random_seed}, expected {ale_random_seed(seed)}")
    yield {
        "env": env_id(rom),
        "rom": rom,
        "random_seed": random_seed,
        "frame_skip": FRAME_SKIP,
        "screen_size": SCREEN_SIZE,
        "noop_max": NOOP_MAX,
        "steps": steps,
        "ale_version": ale_py.__version__,
        "gymnasium_version": gym.__version__,
    }
    yield {"reset_obs": b64(obs)}
    action_set = [int(a) for a in ale.getMinimalActionSet()]
    actions = random_actions(len(action_set), seed)
    for _ in range(steps):
        action = next(actions)
        obs, reward, terminated, truncated, _info = env.step(action)
        yield {
            "action": action,
            "ale_action": action_set[action],
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "obs": b64(obs),
        }
        if terminated or truncated:
            obs, _info = env.reset()
            yield {"reset_obs": b64(obs)}
    env.close()


def write_trace(path: Path, records: Iterator[dict]) -> dict:
    tmp = path.with_name(f".{path.name}.tmp")
    resets = -1  # the first reset_obs is the initial reset
    total_reward = 0.0
    with open(tmp, "w") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=COMPACT) + "\n")
            resets += "reset_obs" in rec
            total_reward += rec.get("reward", 0.0)
    os.replace(tmp, path)
    return {"resets": resets, "total_reward": total_reward, "bytes": path.stat().st_size}


# --------------------------------------------------------------------------
# Replay without Gymnasium
# --------------------------------------------------------------------------


def area_weights(n_in: int, n_out: int) -> list[tuple[int, int, np.float32]]:
    """(output index, source index, float32 weight) triples of INTER_AREA along one axis, in order."""
    scale = n_in / n_out
    out = []
    for d in range(n_out):
        lo = d * scale
        hi = lo + scale
        width = min(scale, n_in - lo)
        last = min(math.floor(hi), n_in - 1)
        first = min(math.ceil(lo), last)
        if first - lo > 1e-3:  # partly covered pixel on the left
            out.append((d, first - 1, np.float32((first - lo) / width)))
        for s in range(first, last):  # fully covered pixels
            out.append((d, s, np.float32(1.0 / width)))
        if hi - last > 1e-3:  # partly covered pixel on the right
            out.append((d, last, np.float32(min(hi - last, 1.0, width) / width)))
    return out


def area_resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA) for a uint8 image, shrinking."""
    src = img.astype(np.float32)
    rows = np.zeros((img.shape[0], width), np.float32)
    for d, s, w in area_weights(img.shape[1], width):
        rows[:, d] += src[:, s] * w
    out = np.zeros((height, width), np.float32)
    started = [False] * height
    for d, s, w in area_weights(img.shape[0], height):
        if started[d]:
            out[d] += rows[s] * w
        else:
            out[d] = rows[s] * w
            started[d] = True
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class RawPreprocessing:
    """The preprocessing described in the module docstring, on a raw ALEInterface."""

    def __init__(self, rom: str, random_seed: int):
        self.ale = ale_py.ALEInterface()
        self.ale.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale.setInt("random_seed", random_seed)
        self.ale.setFloat("repeat_action_probability", 0.0)
        self.ale.setInt("max_num_frames_per_episode", V5_MAX_FRAMES)
        self.ale.loadROM(str(ale_py.roms.get_rom_path(rom)))
        h, w = self.ale.getScreenDims()
        self.buffers = [np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)]

    def reset(self) -> np.ndarray:
        self.ale.reset_game()
        self.ale.getScreenGrayscale(self.buffers[0])
        self.buffers[1].fill(0)
        return self.observation()

    def step(self, ale_action: int) -> tuple[np.ndarray, float, bool, bool]:
        total = 0.0
        terminated = truncated = False
        for t in range(FRAME_SKIP):
            total += self.ale.act(ale_action, 1.0)
            terminated = self.ale.game_over(with_truncation=False)
            truncated = self.ale.game_truncated()
            if terminated or truncated:
                break
            if t == FRAME_SKIP - 2:
                self.ale.getScreenGrayscale(self.buffers[1])
            elif t == FRAME_SKIP - 1:
                self.ale.getScreenGrayscale(self.buffers[0])
        return self.observation(), total, terminated, truncated

    def observation(self) -> np.ndarray:
        np.maximum(self.buffers[0], self.buffers[1], out=self.buffers[0])
        return cv2.resize(self.buffers[0], (SCREEN_SIZE, SCREEN_SIZE), interpolation=cv2.INTER_AREA)

    def area_resize_agrees(self, obs: np.ndarray) -> bool:
        """Whether area_resize of the pooled frame gives `obs` too."""
        return np.array_equal(obs, area_resize(self.buffers[0], SCREEN_SIZE, SCREEN_SIZE))


def check_trace(path: Path) -> str | None:
    """Replay `path` with RawPreprocessing; None if every line matches, else the first difference."""
    with open(path) as f:
        lines = [json.loads(ln) for ln in f if ln.strip()]
    if len(lines) < 2:
        return "no header or no reset observation"
    header = lines[0]
    if (header["frame_skip"], header["screen_size"], header["noop_max"]) != (FRAME_SKIP, SCREEN_SIZE, NOOP_MAX):
        return "only frame_skip 4, screen_size 84, noop_max 0 can be checked"
    env = RawPreprocessing(header["rom"], int(header["random_seed"]))
    action_set = [int(a) for a in env.ale.getMinimalActionSet()]
    steps = 0
    for no, rec in enumerate(lines[1:], start=2):
        if "reset_obs" in rec:
            obs = env.reset()
            if b64(obs) != rec["reset_obs"]:
                return f"line {no}: reset observation differs"
            if not env.area_resize_agrees(obs):
                return f"line {no}: area_resize differs from cv2.resize"
            continue
        if action_set[rec["action"]] != rec["ale_action"]:
            return f"line {no}: action {rec['action']} maps to {action_set[rec['action']]}, not {rec['ale_action']}"
        obs, reward, terminated, truncated = env.step(rec["ale_action"])
        got = {"reward": reward, "terminated": terminated, "truncated": truncated, "obs": b64(obs)}
        for key, value in got.items():
            if value != rec[key]:
                return f"line {no} (step {steps}): {key} differs"
        if not env.area_resize_agrees(obs):
            return f"line {no} (step {steps}): area_resize differs from cv2.resize"
        steps += 1
    if steps != header["steps"]:
        return f"header says {header['steps']} steps, file has {steps}"
    return None


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--game", nargs="+", default=["pong"],
                    help="ROM names (snake_case, e.g. ms_pacman), or atari100k for the 26 Atari-100k games")
    ap.add_argument("--steps", type=int, default=60, help="agent steps per game (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="reset seed and action seed (default %(default)s)")
    ap.add_argument("--out", type=Path, default=Path("."), help="output folder (default: current folder)")
    ap.add_argument("--check", nargs="+", type=Path, metavar="FILE",
                    help="replay these traces on a raw ALE instead of recording")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.check:
        failed = 0
        for path in args.check:
            problem = check_trace(path)
            print(f"{path}: {'ok' if problem is None else problem}")
            failed += problem is not None
        return 1 if failed else 0

    if args.steps <= 0:
        raise SystemExit("--steps must be positive")
    games = expand_games(args.game)
    unknown = [g for g in games if env_id(g) not in gym.registry]
    if unknown:
        raise SystemExit(f"no ALE/*-v5 env for {unknown}; names are snake_case ROM names, e.g. ms_pacman "
                         f"(--game atari100k = {' '.join(ATARI_100K)})")
    args.out.mkdir(parents=True, exist_ok=True)
    for rom in games:
        path = args.out / f"{rom}_preprocessing.jsonl"
        info = write_trace(path, record(rom, args.steps, args.seed))
        print(f"{path}: {args.steps} steps, {info['resets']} episode resets, "
              f"total reward {info['total_reward']:g}, {info['bytes'] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
