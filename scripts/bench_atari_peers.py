#!/usr/bin/env python3
"""Atari throughput with full preprocessing: Myriad vs. EnvPool and ale-py's vector env.

What it measures
----------------
Steady-state throughput of batched Atari environments (default
``ALE/Pong-v5``) stepped with uniformly random actions, for each "peer", in
ONE run on the SAME machine, with the SAME number of envs N (default: 8 and
64) and worker threads T (default: ``os.cpu_count()``), and the same
preprocessing everywhere:

    frame skip 4 with max-pooling of the last two frames, 84 x 84 grayscale
    (INTER_AREA resize), a stack of 4 frames, up to 30 no-ops on reset, no FIRE
    on reset, sticky actions with repeat_action_probability 0.25, no
    episodic life, no reward clipping, episodes truncated after 27000 agent
    steps (108000 frames), minimal action set.

Peers:

* ``envpool`` -- ``envpool.make("Pong-v5", env_type="gymnasium",
  num_envs=N, batch_size=N, num_threads=T, seed=SEED, frame_skip=4,
  noop_max=30, stack_num=4, img_height=84, img_width=84, gray_scale=True,
  use_inter_area_resize=True, episodic_life=False,
  zero_discount_on_life_loss=False, reward_clip=False,
  repeat_action_probability=0.25, use_fire_reset=False,
  full_action_space=False, max_episode_steps=27000)``, stepped synchronously
  with ``env.step(actions)``.
* ``ale-py`` -- ``ale_py.vector_env.AtariVectorEnv("pong", num_envs=N,
  batch_size=N, num_threads=T, frameskip=4, maxpool=True, noop_max=30,
  stack_num=4, img_height=84, img_width=84, grayscale=True,
  episodic_life=False, life_loss_info=False, reward_clipping=False,
  repeat_action_probability=0.25, use_fire_reset=False,
  full_action_space=False, max_num_frames_per_episode=108000)`` (that limit
  counts emulator frames: 27000 agent steps), reset with ``seed=SEED``,
  stepped with ``env.step(actions)``.
* ``myriad`` -- this project's binary (``--myriad PATH``, default
  ``target/release/myriad``) run as ``myriad bench env --env ALE/Pong-v5
  --num-envs N --threads T --seconds S --warmup-seconds W --json
  --env-config CONFIG``, where CONFIG is ``--myriad-env-config`` passed
  verbatim (default ``noop_max=30,fire_reset=False,frame_stack=4``; Myriad's
  own defaults supply the rest).  Its last stdout line is
  ``{"steps": <env steps>, "seconds": <float>, "steps_per_s": <float>}``.

For envpool and ale-py the actions are drawn for the whole batch every step
with ``numpy.random.Generator.integers`` (int32, uniform over the minimal
action set), inside the timed loop.

Method
------
Every (peer, env, N) cell runs in a fresh subprocess, one cell at a time.
A cell builds and resets its N envs (not timed), warms up for W seconds
(``--warmup-seconds``, default 2), then runs whole batch steps until S seconds
(``--seconds``, default 10) have passed.  Reported per cell:

* env-steps/s = agent steps of all envs / elapsed seconds;
* frames/s = env-steps/s x 4 (emulator frames, the frame skip);
* frames/s per thread = frames/s / T;
* for Myriad's peers, Myriad's env-steps/s divided by the peer's.

A peer whose module does not import is reported as missing; a cell that
fails (a crash, a timeout, a Myriad binary that does not know the env or a
flag) is reported as failed with the tail of its error output, and the run
goes on.  Output: a Markdown table, the machine (CPU, cores, load, versions)
and notes; ``--json FILE`` also writes the raw numbers.

The peers' episode starts differ in details that do not change throughput
much: ale-py draws 0..29 no-ops on reset, EnvPool 1..30.

These are single-run numbers: for stable figures run on an otherwise idle
machine (the load average before the run is printed to help judge that).

Example::

    python3 scripts/bench_atari_peers.py --num-envs 8 64 --threads 2 --seconds 10 \\
        --warmup-seconds 2 --json bench_atari_peers.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from peers_common import (
    first_executable,
    importable,
    machine_info as common_machine_info,
    machine_lines,
    parse_peers,
    parse_result,
    path_candidates,
    print_result,
    tail,
)

PEERS = ["envpool", "ale-py", "myriad"]
PEER_TITLES = {"envpool": "EnvPool", "ale-py": "ale-py AtariVectorEnv", "myriad": "Myriad"}
PEER_MODULES = {"envpool": ["envpool"], "ale-py": ["ale_py", "ale_py.vector_env"]}
DEFAULT_ENVS = ["ALE/Pong-v5"]
DEFAULT_MYRIAD_ENV_CONFIG = "noop_max=30,fire_reset=False,frame_stack=4"
RESULT_PREFIX = "BENCH_RESULT "

# The settings every peer runs with.
FRAME_SKIP = 4
NOOP_MAX = 30
STACK_NUM = 4
IMG_SIZE = 84
REPEAT_ACTION_PROBABILITY = 0.25
MAX_EPISODE_STEPS = 27_000  # agent steps = 108000 frames


def timed_loop(step, env_steps_per_call: int, warmup_s: float, seconds: float) -> dict:
    """Warm up for `warmup_s`, then call `step` until `seconds` have elapsed."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup_s:
        step()
    calls = 0
    t0 = time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    steps = calls * env_steps_per_call
    return {"steps": steps, "seconds": elapsed, "steps_per_s": steps / elapsed, "calls": calls}


def game_name(env_id: str) -> str:
    """ALE/MsPacman-v5 -> MsPacman."""
    name = env_id.split("/", 1)[-1]
    if not name.endswith("-v5"):
        raise SystemExit(f"{env_id}: expected an ALE/<Game>-v5 id")
    return name[: -len("-v5")]


# --------------------------------------------------------------------------
# Workers: each runs in its own subprocess and prints one RESULT_PREFIX line.
# --------------------------------------------------------------------------


def worker_envpool(env_id: str, n: int, threads: int, warmup_s: float, seconds: float, seed: int) -> dict:
    import numpy as np
    import envpool

    t = time.perf_counter()
    env = envpool.make(
        f"{game_name(env_id)}-v5",
        env_type="gymnasium",
        num_envs=n,
        batch_size=n,
        num_threads=threads,
        seed=seed,
        frame_skip=FRAME_SKIP,
        noop_max=NOOP_MAX,
        stack_num=STACK_NUM,
        img_height=IMG_SIZE,
        img_width=IMG_SIZE,
        gray_scale=True,
        use_inter_area_resize=True,
        episodic_life=False,
        zero_discount_on_life_loss=False,
        reward_clip=False,
        repeat_action_probability=REPEAT_ACTION_PROBABILITY,
        use_fire_reset=False,
        full_action_space=False,
        max_episode_steps=MAX_EPISODE_STEPS,
    )
    env.reset()
    setup_s = time.perf_counter() - t
    num_actions = int(env.action_space.n)
    rng = np.random.default_rng(seed)

    def step():
        env.step(rng.integers(0, num_actions, size=n, dtype=np.int32))

    res = timed_loop(step, n, warmup_s, seconds)
    env.close()
    res.update(setup_s=setup_s, num_actions=num_actions, obs_shape=list(env.observation_space.shape))
    return res


def worker_ale_py(env_id: str, n: int, threads: int, warmup_s: float, seconds: float, seed: int) -> dict:
    import numpy as np
    import ale_py
    from ale_py.vector_env import AtariVectorEnv

    name = game_name(env_id)
    roms = [r for r in ale_py.roms.get_all_rom_ids() if r.title().replace("_", "") == name]
    if not roms:
        raise SystemExit(f"ale-py has no ROM for {env_id}")
    t = time.perf_counter()
    env = AtariVectorEnv(
        roms[0],
        num_envs=n,
        batch_size=n,
        num_threads=threads,
        frameskip=FRAME_SKIP,
        maxpool=True,
        noop_max=NOOP_MAX,
        stack_num=STACK_NUM,
        img_height=IMG_SIZE,
        img_width=IMG_SIZE,
        grayscale=True,
        episodic_life=False,
        life_loss_info=False,
        reward_clipping=False,
        repeat_action_probability=REPEAT_ACTION_PROBABILITY,
        use_fire_reset=False,
        full_action_space=False,
        max_num_frames_per_episode=MAX_EPISODE_STEPS * FRAME_SKIP,
    )
    env.reset(seed=seed)
    setup_s = time.perf_counter() - t
    num_actions = int(env.single_action_space.n)
    rng = np.random.default_rng(seed)

    def step():
        env.step(rng.integers(0, num_actions, size=n, dtype=np.int32))

    res = timed_loop(step, n, warmup_s, seconds)
    env.close()
    res.update(setup_s=setup_s, num_actions=num_actions, obs_shape=list(env.single_observation_space.shape))
    return res


WORKERS = {"envpool": worker_envpool, "ale-py": worker_ale_py}


def run_worker(args) -> None:
    peer, env_id, n = args._worker
    res = WORKERS[peer](env_id, int(n), args.threads, args.warmup_seconds, args.seconds, args.seed)
    print_result(RESULT_PREFIX, res)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def cell_timeout(args) -> float:
    return args.cell_timeout + 2 * (args.seconds + args.warmup_seconds)


def run_python_cell(peer: str, env_id: str, n: int, args) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()),
        "--_worker", peer, env_id, str(n),
        "--threads", str(args.threads),
        "--seconds", str(args.seconds),
        "--warmup-seconds", str(args.warmup_seconds),
        "--seed", str(args.seed),
    ]
    timeout = cell_timeout(args)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    res, error = parse_result(p, RESULT_PREFIX)
    if error:
        return {"error": error, "stderr_tail": tail(p.stderr, 10)}
    return res


def run_myriad_cell(env_id: str, n: int, args, binary: Path) -> dict:
    cmd = [
        str(binary), "bench", "env",
        "--env", env_id,
        "--num-envs", str(n),
        "--threads", str(args.threads),
        "--seconds", str(args.seconds),
        "--warmup-seconds", str(args.warmup_seconds),
        "--json",
    ]
    if args.myriad_env_config:
        cmd += ["--env-config", args.myriad_env_config]
    timeout = cell_timeout(args)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "command": cmd}
    raw, error = parse_result(p)
    if error:
        return {"error": error, "stderr_tail": tail(p.stderr or p.stdout, 10), "command": cmd}
    try:
        steps = float(raw["steps"])
        secs = float(raw["seconds"])
    except (KeyError, TypeError, ValueError):
        return {"error": f"unexpected JSON line {raw!r}", "command": cmd}
    sps = steps / secs if secs > 0 else float(raw.get("steps_per_s", 0.0))
    return {"steps": steps, "seconds": secs, "steps_per_s": sps, "raw": raw, "command": cmd}


def add_rates(res: dict, threads: int) -> dict:
    if "steps_per_s" in res:
        res["frames_per_s"] = res["steps_per_s"] * FRAME_SKIP
        res["frames_per_s_per_thread"] = res["frames_per_s"] / threads
    return res


def machine_info(myriad_bin: Path | None) -> dict:
    info = common_machine_info(["numpy", "gymnasium", "ale-py", "envpool", "opencv-python-headless"], myriad_bin)
    if myriad_bin:
        try:
            p = subprocess.run([str(myriad_bin), "--version"], capture_output=True, text=True, timeout=30)
            if p.returncode == 0 and p.stdout.strip():
                info["myriad_version"] = p.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def status_text(r: dict | None) -> str | None:
    """'missing' / 'failed' for a cell without numbers, None for one with."""
    if r is None or "missing" in r:
        return "missing"
    if "error" in r:
        return "failed"
    return None


def render_markdown(results: dict, peers: list[str], envs: list[str], info: dict, notes: list[str], args) -> str:
    out = [
        f"### Atari throughput, full preprocessing, {args.threads} threads, random actions, "
        f"{args.seconds:g} s timed after {args.warmup_seconds:g} s warm-up",
        "",
        "| env | N | peer | env-steps/s | frames/s | frames/s per thread | Myriad / peer |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for env_id in envs:
        for n in args.num_envs:
            cell = results[env_id][str(n)]
            my = cell.get("myriad", {})
            for p in peers:
                r = cell.get(p)
                status = status_text(r)
                row = [env_id, str(n), PEER_TITLES[p]]
                if status:
                    row += [status, "", "", ""]
                else:
                    row += [fmt_rate(r["steps_per_s"]), fmt_rate(r["frames_per_s"]),
                            fmt_rate(r["frames_per_s_per_thread"])]
                    if p == "myriad":
                        row.append("")
                    elif "steps_per_s" in my:
                        row.append(f"{my['steps_per_s'] / r['steps_per_s']:.2f}x")
                    else:
                        row.append("n/a")
                out.append("| " + " | ".join(row) + " |")
    out += ["", "Machine:"]
    out += machine_lines(info, bullet="- ", list_missing=True)
    out.append(
        f"- settings: frame skip {FRAME_SKIP} + max-pool, {IMG_SIZE}x{IMG_SIZE} gray, stack {STACK_NUM}, "
        f"noop_max {NOOP_MAX}, no fire reset, repeat_action_probability {REPEAT_ACTION_PROBABILITY}, "
        f"no episodic life, no reward clipping, {MAX_EPISODE_STEPS} steps per episode at most; "
        f"Myriad --env-config \"{args.myriad_env_config}\""
    )
    if notes:
        out += ["", "Notes:"]
        out += [f"- {note}" for note in notes]
    return "\n".join(out)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--envs", default=",".join(DEFAULT_ENVS),
                    help="comma-separated ALE/<Game>-v5 ids (default: %(default)s)")
    ap.add_argument("--num-envs", type=int, nargs="+", default=[8, 64], help="batch sizes N (default: 8 64)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="worker threads T for every peer (default: os.cpu_count())")
    ap.add_argument("--seconds", type=float, default=10.0, help="timed duration per cell (default 10)")
    ap.add_argument("--warmup-seconds", type=float, default=2.0, help="warm-up per cell (default 2)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of: %(default)s")
    ap.add_argument("--myriad", default="target/release/myriad", help="Myriad binary (default: %(default)s)")
    ap.add_argument("--myriad-env-config", default=DEFAULT_MYRIAD_ENV_CONFIG,
                    help="passed to Myriad as --env-config (default: %(default)s)")
    ap.add_argument("--json", metavar="FILE", help="also write raw results to FILE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cell-timeout", type=float, default=300.0,
                    help="extra seconds allowed per cell for setup (default 300)")
    ap.add_argument("--_worker", nargs=3, metavar=("PEER", "ENV", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads < 1 or any(n < 1 for n in args.num_envs):
        ap.error("--threads and --num-envs must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker:
        run_worker(args)
        return 0

    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    for env_id in envs:
        game_name(env_id)
    peers = parse_peers(args.peers, PEERS)
    notes: list[str] = []
    missing: dict[str, str] = {}
    myriad_bin = None
    for p in peers:
        if p == "myriad":
            myriad_bin = first_executable(path_candidates(args.myriad))
            if not myriad_bin:
                missing[p] = f"binary `{args.myriad}` not found (build with `cargo build --release`)"
        else:
            ok, why = importable(PEER_MODULES[p])
            if not ok:
                missing[p] = f"`import {', '.join(PEER_MODULES[p])}` failed ({why})"
    for p, why in missing.items():
        notes.append(f"{PEER_TITLES[p]} missing: {why}.")

    info = machine_info(myriad_bin)
    results: dict[str, dict[str, dict[str, dict]]] = {e: {str(n): {} for n in args.num_envs} for e in envs}
    for env_id in envs:
        for n in args.num_envs:
            for p in peers:
                if p in missing:
                    results[env_id][str(n)][p] = {"missing": missing[p]}
                    continue
                print(f"[bench] {p:8s} {env_id} N={n} T={args.threads} ...", file=sys.stderr, flush=True)
                if p == "myriad":
                    r = run_myriad_cell(env_id, n, args, myriad_bin)
                else:
                    r = run_python_cell(p, env_id, n, args)
                results[env_id][str(n)][p] = add_rates(r, args.threads)
                if "error" in r:
                    notes.append(f"{PEER_TITLES[p]} failed on {env_id}, N={n}: {r['error']}")
                    print(f"[bench]   failed: {r['error']}", file=sys.stderr, flush=True)
                else:
                    print(f"[bench]   {fmt_rate(r['steps_per_s'])} env-steps/s, "
                          f"{fmt_rate(r['frames_per_s'])} frames/s", file=sys.stderr, flush=True)

    print(render_markdown(results, peers, envs, info, notes, args))
    if args.json:
        payload = {
            "settings": {
                "envs": envs,
                "num_envs": args.num_envs,
                "threads": args.threads,
                "seconds": args.seconds,
                "warmup_seconds": args.warmup_seconds,
                "peers": peers,
                "seed": args.seed,
                "frame_skip": FRAME_SKIP,
                "noop_max": NOOP_MAX,
                "stack_num": STACK_NUM,
                "img_size": IMG_SIZE,
                "repeat_action_probability": REPEAT_ACTION_PROBABILITY,
                "max_episode_steps": MAX_EPISODE_STEPS,
                "myriad_env_config": args.myriad_env_config,
            },
            "machine": info,
            "results": results,
            "notes": notes,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
