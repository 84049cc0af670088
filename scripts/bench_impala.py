#!/usr/bin/env python3
"""Training throughput of IMPALA and APPO beside PPO, in one run of this script.

Each setting runs ``myriad train ALGO`` for a fixed wall-clock time (``--seconds``) and reads its
``progress.jsonl``: env steps per second over the run (sampled steps / the iterations' own time, evaluation
off), the learner's share of the time (``learner_busy_fraction``, IMPALA and APPO) and the mean policy lag of
the trained samples (learner version − behaviour version).

Settings:

* CartPole-v1 at 4,096 envs: PPO (lockstep), IMPALA and APPO in lockstep (envs on the learner's device), and
  IMPALA and APPO with runner threads (``--runners`` threads of 4,096 / runners envs each);
* ALE/Pong-v5 with 2 runner threads (the tuned Pong configs; needs ``--features atari`` and the ROM), beside
  PPO's tuned Pong config; skipped with ``--no-atari``.

Run: ``python3 scripts/bench_impala.py [--seconds 20] [--runners 2 4] [--backend cpu] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from peers_common import first_executable, machine_info, machine_lines, path_candidates

CARTPOLE_ENVS = 4096


def resolve_myriad(path: str | None) -> Path | None:
    if path is not None:
        c = first_executable(path_candidates(path))
    else:
        target = os.environ.get("CARGO_TARGET_DIR")
        candidates = [Path(target) / "release" / "myriad"] if target else []
        c = first_executable(candidates + path_candidates("target/release/myriad"))
    return c.resolve() if c else None


def settings(runners: list[int], atari: bool) -> list[tuple[str, str, str, list[str]]]:
    """(label, algo, env, --set overrides) for every setting."""
    n = CARTPOLE_ENVS
    no_stop = ["--stop-reward", "1e9"]
    ppo = [f"env_runners.num_envs_per_env_runner={n}", "env_runners.rollout_fragment_length=16",
           "training.minibatch_size=16384", "training.num_epochs=2", "evaluation.evaluation_interval=0"]
    out = [("PPO, lockstep", "ppo", "CartPole-v1", ppo)]
    for algo in ["impala", "appo"]:
        common = ["env_runners.rollout_fragment_length=16", f"training.train_batch_size={16 * n}",
                  "training.minibatch_size=16384", "training.num_epochs=1", "evaluation.evaluation_interval=0"]
        out.append((f"{algo.upper()}, lockstep", algo, "CartPole-v1",
                    common + ["env_runners.num_env_runners=0", f"env_runners.num_envs_per_env_runner={n}"]))
        for k in runners:
            out.append((f"{algo.upper()}, {k} runner threads", algo, "CartPole-v1",
                        common + [f"env_runners.num_env_runners={k}", f"env_runners.num_envs_per_env_runner={n // k}",
                                  f"training.learner_queue_size={2 * k}"]))
    if atari:
        out.append(("PPO, lockstep (8 envs)", "ppo", "ALE/Pong-v5", []))
        out.append(("IMPALA, 2 runner threads", "impala", "ALE/Pong-v5", []))
        out.append(("APPO, 2 runner threads", "appo", "ALE/Pong-v5", []))
    return [(label, algo, env, [x for o in overrides for x in ("--set", o)] + no_stop)
            for label, algo, env, overrides in out]


def run(binary: Path, algo: str, env: str, extra: list[str], seconds: float, backend: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [str(binary), "train", algo, "--env", env, "--backend", backend, "--stop-seconds", str(seconds),
               "--checkpoint-frequency", "0", "--out", str(out), *extra]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 600)
        if p.returncode != 0:
            return {"error": " | ".join(p.stderr.strip().splitlines()[-2:])}
        rows = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines() if line.strip()]
    # The first iteration (warm-up, thread start) is left out of the rates.
    body = rows[1:] or rows
    steps = body[-1]["num_env_steps_sampled_lifetime"] - (rows[0]["num_env_steps_sampled_lifetime"] if len(rows) > 1 else 0)
    wall = sum(r["timers"]["training_iteration"] for r in body)
    learner = [r["learners/default_policy"] for r in body]
    busy = [s["learner_busy_fraction"] for s in learner if "learner_busy_fraction" in s]
    lag = [s["mean_policy_lag"] for s in learner if "mean_policy_lag" in s]
    update = sum(r["timers"]["learner_update"] for r in body)
    return {
        "iterations": len(rows),
        "env_steps": rows[-1]["num_env_steps_sampled_lifetime"],
        "steps_per_s": steps / wall if wall > 0 else None,
        # PPO: its update's share of the iteration (collection is the rest).
        "learner_share": (sum(busy) / len(busy)) if busy else (update / wall if wall > 0 else None),
        "mean_policy_lag": (sum(lag) / len(lag)) if lag else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="wall-clock seconds per setting")
    ap.add_argument("--runners", type=int, nargs="+", default=[2], help="runner-thread counts to sweep")
    ap.add_argument("--backend", default="cpu", help="cpu, wgpu or cuda")
    ap.add_argument("--no-atari", action="store_true", help="skip the Pong settings")
    ap.add_argument("--myriad", help="the myriad binary [default: $CARGO_TARGET_DIR/release/myriad]")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    binary = resolve_myriad(args.myriad)
    if binary is None:
        sys.exit("no myriad binary: build it with `cargo build --release --features atari`")
    info = machine_info([], binary)
    print("\n".join(machine_lines(info)))
    print(f"{args.seconds:.0f} s per setting, backend {args.backend}\n")
    print(f"| env | setting | env steps/s | learner's share | mean policy lag |")
    print(f"|---|---|---:|---:|---:|")
    results = []
    for label, algo, env, extra in settings(args.runners, not args.no_atari):
        r = run(binary, algo, env, extra, args.seconds, args.backend)
        results.append({"env": env, "setting": label, **r})
        if "error" in r:
            print(f"| {env} | {label} | failed: {r['error']} | | |", flush=True)
            continue
        lag = "-" if r["mean_policy_lag"] is None else f"{r['mean_policy_lag']:.2f}"
        share = "-" if r["learner_share"] is None else f"{100 * r['learner_share']:.0f} %"
        print(f"| {env} | {label} | {r['steps_per_s']:,.0f} | {share} | {lag} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "seconds": args.seconds, "results": results}, indent=2))


if __name__ == "__main__":
    main()
