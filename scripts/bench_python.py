#!/usr/bin/env python3
"""Myriad from Python: vector-env throughput beside Gymnasium and EnvPool, the Python call's overhead per step,
and training on a Gymnasium env stepped from the learner beside Myriad's own env.

What it measures, in one run on one machine:

* ``vec`` -- env steps/s (batch steps x N / seconds) of CartPole-v1 with N envs (default 4,096) stepped from
  Python with uniformly random actions:
  ``myriad.make_vec("CartPole-v1", N)`` (the ``gymnasium.vector.VectorEnv``, infos and all), Gymnasium's NumPy
  ``CartPoleVectorEnv`` (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``) and EnvPool
  (``envpool.make("CartPole-v1", env_type="gymnasium", num_envs=N, batch_size=N, num_threads=<cores>)``).
  The actions are drawn before timing (a ring of 64 batches), so every peer is timed on stepping and its API.
* ``overhead`` -- the time of one ``step`` call of ``myriad.make_vec("CartPole-v1", 1)``: with one env the
  stepping itself is nanoseconds, so this is what the Python call costs (argument checks, arrays, infos).
* ``train`` -- env steps/s of ``myriad.train("ppo", env)`` iterations (PPO's CartPole defaults with 16 envs),
  for Myriad's ``CartPole-v1`` and for ``gymnasium:CartPole-v1`` (Gymnasium's CartPole, a ``SyncVectorEnv``
  stepped on the host from the learner).

Every cell runs in its own subprocess (imports and threads of one peer cannot disturb another): a warm-up of
``--warmup`` seconds, then steps for ``--seconds``. ``--json`` writes every number and the machine.

    python3 scripts/bench_python.py [--num-envs 4096] [--seconds 5] [--json out.json]

Needs the ``myriad`` package (``pip install ./python``), ``gymnasium``, and ``envpool`` for its column.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import peers_common as pc

PREFIX = "BENCH_PYTHON_RESULT "
PEERS = ["myriad", "gymnasium", "envpool"]


def timed(step, seconds: float, warmup: float) -> tuple[int, float]:
    """Calls ``step(k)`` for ``warmup`` seconds, then for ``seconds``; returns (calls, seconds) of the second part."""
    end, k = time.perf_counter() + warmup, 0
    while time.perf_counter() < end:
        step(k)
        k += 1
    start, calls = time.perf_counter(), 0
    end = start + seconds
    while True:
        for _ in range(16):
            step(k)
            k += 1
        calls += 16
        now = time.perf_counter()
        if now >= end:
            return calls, now - start


def worker_vec(peer: str, n: int, seconds: float, warmup: float) -> dict:
    import numpy as np

    actions = [np.random.default_rng(k).integers(0, 2, size=n) for k in range(64)]
    if peer == "myriad":
        import myriad

        envs = myriad.make_vec("CartPole-v1", n, seed=0)
        envs.reset(seed=0)
        step = lambda k: envs.step(actions[k % 64])  # noqa: E731
        version = myriad.__version__
    elif peer == "gymnasium":
        import gymnasium

        envs = gymnasium.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
        envs.reset(seed=0)
        step = lambda k: envs.step(actions[k % 64])  # noqa: E731
        version = gymnasium.__version__
    else:
        import envpool

        envs = envpool.make("CartPole-v1", env_type="gymnasium", num_envs=n, batch_size=n,
                            num_threads=pc.usable_cores(), seed=0)
        envs.reset()
        actions = [a.astype(np.int32) for a in actions]
        step = lambda k: envs.step(actions[k % 64])  # noqa: E731
        version = envpool.__version__
    calls, elapsed = timed(step, seconds, warmup)
    return {"peer": peer, "version": version, "num_envs": n, "batch_steps": calls, "seconds": elapsed,
            "steps_per_s": calls * n / elapsed, "us_per_call": elapsed / calls * 1e6}


def worker_train(env: str, seconds: float) -> dict:
    import myriad

    algo = myriad.train("ppo", env, **{"env_runners.num_envs_per_env_runner": 16, "training.train_batch_size": 2048,
                                        "training.num_epochs": 4, "training.minibatch_size": 512})
    algo.train()  # warm-up: the first iteration builds the learner's kernels
    start, steps0 = time.perf_counter(), algo.train()["num_env_steps_sampled_lifetime"]
    steps = steps0
    while time.perf_counter() - start < seconds:
        steps = algo.train()["num_env_steps_sampled_lifetime"]
    elapsed = time.perf_counter() - start
    return {"env": env, "env_steps": steps - steps0, "seconds": elapsed, "steps_per_s": (steps - steps0) / elapsed}


def run_cell(args: list[str], timeout: float) -> tuple[dict | None, str | None]:
    p = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout)
    return pc.parse_result(p, PREFIX)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-envs", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--skip-train", action="store_true", help="leave out the training cells")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.num_envs < 1 or not (0 < a.seconds <= 3600) or not (0 <= a.warmup <= 600):
        raise SystemExit("--num-envs must be ≥ 1, --seconds in (0, 3600] and --warmup in [0, 600]")
    if a.worker:
        kind, *rest = a.worker
        if kind == "vec":
            result = worker_vec(rest[0], int(rest[1]), a.seconds, a.warmup)
        else:
            result = worker_train(rest[0], a.seconds)
        pc.print_result(PREFIX, result)
        return

    peers = pc.parse_peers(a.peers, PEERS)
    info = pc.machine_info(["myriad", "gymnasium", "envpool", "numpy"], None)
    print("\n".join(pc.machine_lines(info)))
    timeout = 600 + 4 * (a.seconds + a.warmup)
    common = ["--seconds", str(a.seconds), "--warmup", str(a.warmup)]
    out = {"machine": info, "vec": {}, "overhead": None, "train": {}}
    print(f"\nCartPole-v1, {a.num_envs} envs, random actions, from Python:")
    for peer in peers:
        result, err = run_cell([*common, "--worker", "vec", peer, str(a.num_envs)], timeout)
        out["vec"][peer] = result or {"error": err}
        if result:
            print(f"  {peer:10s} {result['steps_per_s'] / 1e6:9.2f} M env steps/s  ({result['us_per_call']:.1f} µs a step)")
        else:
            print(f"  {peer:10s} failed: {err}")
    if "myriad" in peers:
        result, err = run_cell([*common, "--worker", "vec", "myriad", "1"], timeout)
        out["overhead"] = result or {"error": err}
        if result:
            print(f"\nPython call overhead: {result['us_per_call']:.2f} µs per step (myriad.make_vec with 1 env)")
        ours = out["vec"]["myriad"].get("steps_per_s")
        theirs = [r["steps_per_s"] for p, r in out["vec"].items() if p != "myriad" and "steps_per_s" in r]
        if ours and theirs:
            out["ratio_to_best_peer"] = ours / max(theirs)
            print(f"myriad / best peer: {out['ratio_to_best_peer']:.1f}x")
    if not a.skip_train:
        print("\nPPO training from Python (16 envs, batches of 2,048):")
        for env in ["CartPole-v1", "gymnasium:CartPole-v1"]:
            result, err = run_cell(["--seconds", str(a.seconds), "--worker", "train", env], timeout)
            out["train"][env] = result or {"error": err}
            if result:
                print(f"  {env:24s} {result['steps_per_s']:10.0f} env steps/s")
            else:
                print(f"  {env:24s} failed: {err}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
