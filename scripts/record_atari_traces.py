#!/usr/bin/env python3
"""Record raw Atari 2600 emulator traces with ale-py, for ``myriad check-env --trace``.

A trace follows one emulator frame by frame, with no preprocessing at all (no
frame skip, no sticky actions, no max-pooling, no resizing), so that Myriad's
emulator can be checked against the Arcade Learning Environment one frame at
a time.

Format (JSON Lines, one compact object per line, ``<out>/<rom>.jsonl``)
----------------------------------------------------------------------

First line, the header::

    {"env": "ALE/Pong-v5", "rom": "pong", "random_seed": 0,
     "repeat_action_probability": 0.0, "frameskip": 1,
     "ale_version": "0.11.2", "frames": 2000}

``frames`` is the number of frame lines that follow.  Then one line per
emulated frame::

    {"action": 3, "reward": 0, "game_over": false, "lives": 0,
     "ram": [<128 ints, 0..255>], "screen_sha256": "<64 hex digits>"}

* ``action``: the ALE action id (``ale_py.Action``, 0..17) passed to
  ``ale.act`` -- not an index into the minimal action set;
* ``reward``, ``game_over``, ``lives``, ``ram``, ``screen_sha256``: read right
  after ``reward = ale.act(action)``: its return value, ``ale.game_over()``,
  ``ale.lives()``, ``ale.getRAM()`` and the SHA-256 of the 210 x 160 grayscale
  screen, ``ale.getScreenGrayscale()`` as uint8 bytes in row-major order.

When ``game_over`` is true the recorder calls ``ale.reset_game()``, writes the
line ``{"reset": true}`` and carries on with the next frame.

The emulator
------------

One ``ale_py.ALEInterface`` per game, configured before the ROM is loaded:
``setLoggerMode(Error)``, ``setInt("random_seed", S)``,
``setFloat("repeat_action_probability", 0.0)``, ``setInt("frame_skip", 1)``,
``setInt("max_num_frames_per_episode", 0)`` (no truncation), then
``loadROM(ale_py.roms.get_rom_path(rom))``.  ``loadROM`` itself resets the
game (ALE 0.11.2, ``StellaEnvironment::reset``: 60 NOOP frames; RESET held
for 4 frames; the game's default mode selected -- games with several modes
press SELECT until their RAM shows it, then hold RESET for 4 frames; RESET
held for 4 more frames; then the ROM's own starting actions, if any.  None of
these frames counts in ALE's frame numbers), and the recorder steps from
there, without a further ``reset_game()`` before the first frame.  ``reset_game()`` after a game over runs the same sequence.
With ``repeat_action_probability = 0`` the random seed does not change the
emulation: ALE uses it only to draw sticky actions (and, for Adventure, how
long SELECT is held when the mode is set), and the console's own random
generator has a fixed seed (``system_random_seed``).

Actions
-------

A seeded random agent (``numpy.random.default_rng(seed)``): it draws an
action uniformly from the game's minimal action set
(``ale.getMinimalActionSet()``) and holds it for a uniformly drawn 1..8
frames, then draws again.  Holding actions lets games progress (Breakout's
ball is only served after FIRE, which is one of its four actions).  The action
stream depends only on the seed and the action set, not on resets.

Usage::

    python3 scripts/record_atari_traces.py --game pong breakout --frames 2000 --seed 0 \\
        --out envs/atari/fixtures
    python3 scripts/record_atari_traces.py --game atari100k --out /tmp/traces
    python3 scripts/record_atari_traces.py --check envs/atari/fixtures/pong.jsonl

``--game atari100k`` stands for the 26 games of the Atari 100k benchmark.
``--check FILE ...`` replays existing traces with the installed ale-py and
reports the first frame that differs.  ROMs come from ale-py (or from
``$ALE_ROMS_DIR``, see ``scripts/install_roms.py``).  Needs ale-py and numpy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

import ale_py

ATARI_100K = [
    "alien", "amidar", "assault", "asterix", "bank_heist", "battle_zone", "boxing",
    "breakout", "chopper_command", "crazy_climber", "demon_attack", "freeway",
    "frostbite", "gopher", "hero", "jamesbond", "kangaroo", "krull",
    "kung_fu_master", "ms_pacman", "pong", "private_eye", "qbert", "road_runner",
    "seaquest", "up_n_down",
]
MAX_HOLD = 8  # frames an action is held, drawn from 1..MAX_HOLD
COMPACT = (",", ":")


def env_id(rom: str) -> str:
    """The Gymnasium id ale-py registers for `rom`: ms_pacman -> ALE/MsPacman-v5."""
    return f"ALE/{rom.title().replace('_', '')}-v5"


def expand_games(names: list[str]) -> list[str]:
    games: list[str] = []
    for name in names:
        for g in ATARI_100K if name == "atari100k" else [name]:
            if g not in games:
                games.append(g)
    return games


def rom_path(rom: str) -> Path:
    if rom not in ale_py.roms.get_all_rom_ids():
        raise SystemExit(f"unknown ROM {rom!r}: use ale-py's snake_case names, e.g. ms_pacman")
    path = ale_py.roms.get_rom_path(rom)
    if path is None:
        raise SystemExit(f"ROM {rom!r} is not available")
    return Path(path)


def make_ale(rom: str, random_seed: int) -> ale_py.ALEInterface:
    """A raw emulator: no frame skip, no sticky actions, no episode frame limit."""
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", random_seed)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.setInt("frame_skip", 1)
    try:
        ale.setInt("max_num_frames_per_episode", 0)
    except Exception:  # an ALE without this setting has no limit to lift
        pass
    ale.loadROM(str(rom_path(rom)))
    return ale


def random_actions(action_set: list[int], seed: int) -> Iterator[int]:
    """Endless stream of ALE action ids, each held for 1..MAX_HOLD frames."""
    rng = np.random.default_rng(seed)
    while True:
        action = action_set[int(rng.integers(len(action_set)))]
        for _ in range(int(rng.integers(1, MAX_HOLD + 1))):
            yield action


def screen_sha256(ale: ale_py.ALEInterface) -> str:
    screen = np.ascontiguousarray(ale.getScreenGrayscale(), dtype=np.uint8)
    return hashlib.sha256(screen.tobytes()).hexdigest()


def frame_record(ale: ale_py.ALEInterface, action: int, reward: int) -> dict:
    return {
        "action": int(action),
        "reward": int(reward),
        "game_over": bool(ale.game_over()),
        "lives": int(ale.lives()),
        "ram": [int(x) for x in ale.getRAM()],
        "screen_sha256": screen_sha256(ale),
    }


def record(rom: str, frames: int, seed: int) -> Iterator[dict]:
    """The header, then frame and reset records."""
    ale = make_ale(rom, seed)
    yield {
        "env": env_id(rom),
        "rom": rom,
        "random_seed": seed,
        "repeat_action_probability": 0.0,
        "frameskip": 1,
        "ale_version": ale_py.__version__,
        "frames": frames,
    }
    action_set = [int(a) for a in ale.getMinimalActionSet()]
    actions = random_actions(action_set, seed)
    for _ in range(frames):
        action = next(actions)
        reward = ale.act(action)
        rec = frame_record(ale, action, reward)
        yield rec
        if rec["game_over"]:
            ale.reset_game()
            yield {"reset": True}


def write_trace(path: Path, records: Iterator[dict]) -> dict:
    """Write `records` to `path` (via a temporary file); a summary of what was written."""
    tmp = path.with_name(f".{path.name}.tmp")
    resets = total_reward = 0
    with open(tmp, "w") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=COMPACT) + "\n")
            if rec.get("reset"):
                resets += 1
            total_reward += rec.get("reward", 0)
    os.replace(tmp, path)
    return {"resets": resets, "total_reward": total_reward, "bytes": path.stat().st_size}


def check_trace(path: Path) -> str | None:
    """Replay `path` with the installed ale-py; None if every line matches, else the first difference."""
    with open(path) as f:
        lines = [json.loads(ln) for ln in f if ln.strip()]
    if not lines:
        return "empty file"
    header, body = lines[0], lines[1:]
    if header.get("repeat_action_probability", 0.0) != 0.0 or header.get("frameskip", 1) != 1:
        return "only traces with repeat_action_probability 0 and frameskip 1 can be checked"
    ale = make_ale(header["rom"], int(header["random_seed"]))
    frames = 0
    for no, rec in enumerate(body, start=2):
        if rec.get("reset"):
            ale.reset_game()
            continue
        reward = ale.act(int(rec["action"]))
        got = frame_record(ale, rec["action"], reward)
        for key in ("reward", "game_over", "lives", "ram", "screen_sha256"):
            if got[key] != rec[key]:
                return f"line {no} (frame {frames}): {key} differs"
        frames += 1
    if frames != header.get("frames"):
        return f"header says {header.get('frames')} frames, file has {frames}"
    return None


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--game", nargs="+", default=["pong"],
                    help="ROM names (snake_case, e.g. ms_pacman), or atari100k for the 26 Atari-100k games")
    ap.add_argument("--frames", type=int, default=3000, help="emulator frames per game (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="ALE random_seed and action seed (default %(default)s)")
    ap.add_argument("--out", type=Path, default=Path("."), help="output folder (default: current folder)")
    ap.add_argument("--check", nargs="+", type=Path, metavar="FILE",
                    help="replay these traces with the installed ale-py instead of recording")
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

    if args.frames <= 0:
        raise SystemExit("--frames must be positive")
    if args.seed < 0:
        raise SystemExit("--seed must be non-negative (ALE reads -1 as 'seed from the clock')")
    games = expand_games(args.game)
    for rom in games:
        rom_path(rom)  # fail early on an unknown name
    args.out.mkdir(parents=True, exist_ok=True)
    for rom in games:
        path = args.out / f"{rom}.jsonl"
        info = write_trace(path, record(rom, args.frames, args.seed))
        print(f"{path}: {args.frames} frames, {info['resets']} resets, "
              f"total reward {info['total_reward']}, {info['bytes'] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
