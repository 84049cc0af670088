#!/usr/bin/env python3
"""Side-by-side environment throughput benchmark: Myriad vs. peer libraries.

What it measures
----------------
Steady-state **environment steps per second** (env-steps/s = batch steps x N
/ wall-clock seconds) of classic-control environments (CartPole-v1,
Pendulum-v1, Acrobot-v1 by default) stepped as a batch of N environments
(default N = 4096) with **uniformly random actions**, for each of these
"peers", in ONE run on the SAME machine with the SAME N:

* ``gymnasium`` -- Gymnasium's numpy-vectorised envs,
  ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``
  where the env registers a vector entry point (CartPole-v1 has
  ``CartPoleVectorEnv``). Envs without one (Pendulum-v1 and Acrobot-v1 in
  gymnasium 1.4.0) fall back to ``vectorization_mode="sync"`` (a Python loop
  over N single envs); such cells are marked ``(sync)``. Actions: the vector
  env's ``action_space.sample()`` (numpy, whole batch, every step).
* ``gymnax`` -- gymnax on jax-CPU: one jitted function runs K batch steps
  (``--gymnax-scan-steps``, default 100) with ``jax.lax.scan`` over
  ``jax.vmap(env.step)``; random actions are drawn with ``jax.random`` inside
  the scan (vmapped ``action_space.sample``); gymnax's ``step`` auto-resets.
  Rewards/dones are accumulated and the last observation is returned so XLA
  cannot drop any of the work. The first call (compilation) is excluded;
  every timed call ends with ``block_until_ready``.
* ``envpool`` -- ``envpool.make(id, env_type="gymnasium", num_envs=N,
  batch_size=N, num_threads=<usable cores>)`` stepped synchronously
  (``env.step(actions)``) with numpy uniform random actions.
* ``myriad`` -- this project's binary (``--myriad PATH``, default
  ``target/release/myriad``) run as
  ``myriad bench env --env ID --num-envs N --backend cpu --seconds S
  --warmup-seconds W --json``; its last stdout line is
  ``{"steps": <int>, "seconds": <float>, "steps_per_s": <float>}``, where
  ``steps`` is taken to count env-steps (see ``--myriad-steps-unit``).

Method
------
Every (peer, env) cell runs in a fresh Python subprocess (so that one peer's
threads, imports or crash cannot disturb another), one cell at a time. Each
cell builds and resets its N envs (not timed), warms up for W seconds
(``--warmup-seconds``, default 1), then is timed for about S seconds
(``--seconds``, default 3): whole batch steps (or whole scan calls for gymnax)
are run until S has elapsed, and env-steps/s = env-steps done / elapsed time.
Action sampling is part of the timed loop for every peer. A peer whose
package is not importable (or whose binary is missing) is skipped with a note.

Output: a Markdown table (rows = envs, columns = peers + "Myriad / best
peer"), followed by the machine (CPU model, cores, load average, Python and
package versions) and notes. ``--json FILE`` also writes the raw numbers.

These are single-run numbers: for stable figures run on an otherwise idle
machine (the load average before the run is printed to help judge that).

Example::

    python scripts/bench_env_peers.py --num-envs 4096 --seconds 3 \\
        --warmup-seconds 1 --json bench_env_peers.json
"""

from __future__ import annotations

import argparse
import json
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
    usable_cores,
)

PEERS = ["gymnasium", "gymnax", "envpool", "myriad"]
PEER_TITLES = {
    "gymnasium": "Gymnasium (numpy vector)",
    "gymnax": "gymnax (jax-CPU)",
    "envpool": "EnvPool",
    "myriad": "Myriad",
}
DEFAULT_ENVS = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1"]
RESULT_PREFIX = "BENCH_RESULT "


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


# --------------------------------------------------------------------------
# Workers: each runs in its own subprocess and prints one RESULT_PREFIX line.
# --------------------------------------------------------------------------


def worker_gymnasium(env_id: str, n: int, warmup_s: float, seconds: float, seed: int) -> dict:
    import gymnasium

    spec = gymnasium.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    t = time.perf_counter()
    envs = gymnasium.make_vec(env_id, num_envs=n, vectorization_mode=mode)
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    setup_s = time.perf_counter() - t

    def step():
        envs.step(envs.action_space.sample())

    res = timed_loop(step, n, warmup_s, seconds)
    envs.close()
    res.update(mode=mode, setup_s=setup_s)
    if mode == "sync":
        res["note"] = "no vector entry point in this gymnasium version: sync mode (Python loop over N envs)"
    return res


def worker_gymnax(env_id: str, n: int, warmup_s: float, seconds: float, seed: int, scan_steps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import gymnax

    env, params = gymnax.make(env_id)
    action_space = env.action_space(params)
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_sample = jax.vmap(action_space.sample)

    def body(carry, _):
        key, state, _obs, rew_sum, done_count = carry
        key, k_act, k_step = jax.random.split(key, 3)
        actions = v_sample(jax.random.split(k_act, n))
        obs, state, reward, terminated, truncated, _info = v_step(
            jax.random.split(k_step, n), state, actions, params
        )
        done = jnp.logical_or(terminated, truncated)
        return (key, state, obs, rew_sum + reward.sum(), done_count + done.sum()), None

    @jax.jit
    def run(carry):
        carry, _ = jax.lax.scan(body, carry, None, length=scan_steps)
        return carry

    t = time.perf_counter()
    key = jax.random.PRNGKey(seed)
    key, k_reset = jax.random.split(key)
    obs, state = v_reset(jax.random.split(k_reset, n), params)
    carry = (key, state, obs, jnp.float32(0.0), jnp.int32(0))
    carry = jax.block_until_ready(run(carry))  # compile + first call, not timed
    compile_s = time.perf_counter() - t

    box = [carry]

    def step():
        box[0] = jax.block_until_ready(run(box[0]))

    res = timed_loop(step, scan_steps * n, warmup_s, seconds)
    res.update(
        scan_steps=scan_steps,
        compile_s=compile_s,
        jax_backend=jax.default_backend(),
        episodes_done=int(box[0][4]),
    )
    return res


def worker_envpool(env_id: str, n: int, warmup_s: float, seconds: float, seed: int, threads: int) -> dict:
    import numpy as np
    import envpool
    import gymnasium

    t = time.perf_counter()
    env = envpool.make(env_id, env_type="gymnasium", num_envs=n, batch_size=n, num_threads=threads, seed=seed)
    env.reset()
    setup_s = time.perf_counter() - t
    space = env.action_space
    rng = np.random.default_rng(seed)
    if isinstance(space, gymnasium.spaces.Discrete):
        lo, hi = int(space.start), int(space.start + space.n)

        def sample():
            return rng.integers(lo, hi, size=n, dtype=np.int32)

    elif isinstance(space, gymnasium.spaces.Box):
        low = np.broadcast_to(space.low, space.shape).astype(np.float32)
        high = np.broadcast_to(space.high, space.shape).astype(np.float32)
        shape = (n,) + tuple(space.shape)

        def sample():
            return rng.uniform(low, high, size=shape).astype(np.float32)

    else:
        raise RuntimeError(f"unsupported action space {space!r}")

    def step():
        env.step(sample())

    res = timed_loop(step, n, warmup_s, seconds)
    env.close()
    res.update(num_threads=threads, setup_s=setup_s)
    return res


def run_worker(args) -> None:
    peer, env_id = args._worker
    n, w, s = args.num_envs, args.warmup_seconds, args.seconds
    if peer == "gymnasium":
        res = worker_gymnasium(env_id, n, w, s, args.seed)
    elif peer == "gymnax":
        res = worker_gymnax(env_id, n, w, s, args.seed, args.gymnax_scan_steps)
    elif peer == "envpool":
        res = worker_envpool(env_id, n, w, s, args.seed, args.threads)
    else:
        raise SystemExit(f"unknown worker peer {peer}")
    print_result(RESULT_PREFIX, res)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

PEER_MODULES = {"gymnasium": "gymnasium", "gymnax": "gymnax", "envpool": "envpool"}


def run_python_cell(peer: str, env_id: str, args) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()),
        "--_worker", peer, env_id,
        "--num-envs", str(args.num_envs),
        "--seconds", str(args.seconds),
        "--warmup-seconds", str(args.warmup_seconds),
        "--seed", str(args.seed),
        "--threads", str(args.threads),
        "--gymnax-scan-steps", str(args.gymnax_scan_steps),
    ]
    timeout = args.cell_timeout + 2 * (args.seconds + args.warmup_seconds)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    res, error = parse_result(p, RESULT_PREFIX)
    if error:
        return {"error": error}
    return res


def run_myriad_cell(env_id: str, args, binary: Path) -> dict:
    cmd = [
        str(binary), "bench", "env",
        "--env", env_id,
        "--num-envs", str(args.num_envs),
        "--backend", "cpu",
        "--seconds", str(args.seconds),
        "--warmup-seconds", str(args.warmup_seconds),
        "--json",
    ]
    timeout = args.cell_timeout + 2 * (args.seconds + args.warmup_seconds)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "command": cmd}
    raw, error = parse_result(p)
    if error:
        return {"error": error, "command": cmd}
    try:
        steps = float(raw["steps"])
        secs = float(raw["seconds"])
    except (KeyError, TypeError, ValueError):
        return {"error": f"unexpected JSON line {raw!r}", "command": cmd}
    if args.myriad_steps_unit == "batch":
        env_steps = steps * args.num_envs
    else:
        env_steps = steps
    sps = env_steps / secs if secs > 0 else float(raw.get("steps_per_s", 0.0))
    return {"steps": env_steps, "seconds": secs, "steps_per_s": sps, "raw": raw, "command": cmd}


def resolve_myriad(path: str) -> Path | None:
    return first_executable(path_candidates(path))


def machine_info(args, myriad_bin: Path | None) -> dict:
    info = common_machine_info(["numpy", "gymnasium", "jax", "jaxlib", "gymnax", "envpool"], myriad_bin)
    if myriad_bin:
        try:
            p = subprocess.run([str(myriad_bin), "--version"], capture_output=True, text=True, timeout=30)
            if p.returncode == 0 and p.stdout.strip():
                info["myriad_version"] = p.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def fmt_rate(x: float) -> str:
    if x >= 1e9:
        return f"{x / 1e9:.2f} G"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def render_markdown(results: dict, peers: list[str], envs: list[str], info: dict, notes: list[str], args) -> str:
    out = []
    out.append(
        f"### Env-steps/s, uniformly random actions, N = {args.num_envs} envs, "
        f"{args.seconds:g} s timed after {args.warmup_seconds:g} s warm-up (CPU)"
    )
    out.append("")
    header = ["env"] + [PEER_TITLES[p] for p in peers] + ["Myriad / best peer"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for env_id in envs:
        row = [env_id]
        for p in peers:
            r = results.get(env_id, {}).get(p)
            if r is None or "skipped" in r:
                row.append("skipped")
            elif "error" in r:
                row.append("error")
            else:
                cell = fmt_rate(r["steps_per_s"])
                if r.get("mode") == "sync":
                    cell += " (sync)"
                row.append(cell)
        my = results.get(env_id, {}).get("myriad")
        others = [
            r["steps_per_s"]
            for p, r in results.get(env_id, {}).items()
            if p != "myriad" and r and "steps_per_s" in r
        ]
        if my and "steps_per_s" in my and others:
            row.append(f"{my['steps_per_s'] / max(others):.2f}x")
        else:
            row.append("n/a")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Machine:")
    out.extend(machine_lines(info, bullet="- ", list_missing=True))
    out.append(
        f"- settings: envpool num_threads={args.threads}; gymnax {args.gymnax_scan_steps} steps per jitted "
        f"lax.scan call, compile time excluded; Myriad `steps` read as {args.myriad_steps_unit}-steps"
    )
    if notes:
        out.append("")
        out.append("Notes:")
        for n in notes:
            out.append(f"- {n}")
    return "\n".join(out)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-envs", type=int, default=4096, help="batch size N (default 4096)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed duration per cell (default 3)")
    ap.add_argument("--warmup-seconds", type=float, default=1.0, help="warm-up per cell (default 1)")
    ap.add_argument("--envs", default=",".join(DEFAULT_ENVS), help="comma-separated env ids (default: %(default)s)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of: %(default)s")
    ap.add_argument("--myriad", default="target/release/myriad", help="Myriad binary (default: %(default)s)")
    ap.add_argument(
        "--myriad-steps-unit", choices=["env", "batch"], default="env",
        help="whether Myriad's JSON 'steps' counts env-steps (default) or batch steps",
    )
    ap.add_argument("--json", metavar="FILE", help="also write raw results to FILE")
    ap.add_argument("--threads", type=int, default=usable_cores(), help="envpool num_threads (default: usable cores)")
    ap.add_argument("--gymnax-scan-steps", type=int, default=100, help="batch steps per jitted gymnax call (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cell-timeout", type=float, default=600.0, help="extra seconds allowed per cell for setup/compile")
    ap.add_argument("--_worker", nargs=2, metavar=("PEER", "ENV"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker:
        run_worker(args)
        return 0

    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    peers = parse_peers(args.peers, PEERS)

    notes: list[str] = []
    available: dict[str, bool] = {}
    myriad_bin = None
    for p in peers:
        if p == "myriad":
            myriad_bin = resolve_myriad(args.myriad)
            available[p] = myriad_bin is not None
            if not myriad_bin:
                notes.append(f"Myriad skipped: binary `{args.myriad}` not found (build with `cargo build --release`).")
        else:
            ok, why = importable(PEER_MODULES[p])
            available[p] = ok
            if not ok:
                notes.append(f"{PEER_TITLES[p]} skipped: `import {PEER_MODULES[p]}` failed ({why}).")

    info = machine_info(args, myriad_bin)
    results: dict[str, dict[str, dict]] = {e: {} for e in envs}
    for env_id in envs:
        for p in peers:
            if not available[p]:
                results[env_id][p] = {"skipped": "not available"}
                continue
            print(f"[bench] {p:9s} {env_id:12s} ...", file=sys.stderr, flush=True)
            if p == "myriad":
                r = run_myriad_cell(env_id, args, myriad_bin)
            else:
                r = run_python_cell(p, env_id, args)
            results[env_id][p] = r
            if "error" in r:
                notes.append(f"{PEER_TITLES[p]} on {env_id}: {r['error']}")
                print(f"[bench]   error: {r['error']}", file=sys.stderr, flush=True)
            else:
                print(f"[bench]   {fmt_rate(r['steps_per_s'])} env-steps/s", file=sys.stderr, flush=True)

    gym_sync = [e for e in envs if results[e].get("gymnasium", {}).get("mode") == "sync"]
    if gym_sync:
        notes.append(
            "(sync) = Gymnasium has no vector entry point for "
            + ", ".join(gym_sync)
            + ", so it ran with vectorization_mode=\"sync\" (a Python loop over N single envs)."
        )

    md = render_markdown(results, peers, envs, info, notes, args)
    print(md)
    if args.json:
        payload = {
            "settings": {
                "num_envs": args.num_envs,
                "seconds": args.seconds,
                "warmup_seconds": args.warmup_seconds,
                "envs": envs,
                "peers": peers,
                "envpool_threads": args.threads,
                "gymnax_scan_steps": args.gymnax_scan_steps,
                "myriad_steps_unit": args.myriad_steps_unit,
                "seed": args.seed,
            },
            "machine": info,
            "results": results,
            "notes": notes,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
