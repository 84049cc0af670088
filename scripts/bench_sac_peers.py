#!/usr/bin/env python3
"""Side-by-side SAC benchmark on Pendulum-v1: Myriad vs. Stable-Baselines3.

What it measures
----------------
**Wall-clock to solve**: for each peer and each seed (``--seeds``, default 3:
seeds 0..N-1), SAC trains on Pendulum-v1 until a greedy evaluation -- 32
episodes with deterministic actions (the squashed mean), run every
``--eval-every`` env steps (1,024) -- has a mean return >= ``--target``
(-250). A run that has not got there after ``--max-steps`` env steps (40,000)
or ``--max-seconds`` is unsolved. The clock covers the whole process:

* sb3: from the first line of this script in a fresh Python process (one per
  seed; ``time.time()`` is read before any other import, so importing torch
  and Stable-Baselines3 counts) to the end of the evaluation that reaches the
  target;
* myriad: from spawning ``myriad train sac`` to its exit (it exits as soon as
  an evaluation reaches the target, after writing its checkpoint).

Each run reports whether it solved, its seconds, the env steps at the
evaluation that reached the target (else at its end) and its best evaluation.

Peers
-----
* ``sb3`` -- Stable-Baselines3 SAC (PyTorch on the CPU, ``--threads`` intra-op
  threads, default 1) with rl-baselines3-zoo's Pendulum-v1 hyperparameters
  (``hyperparams/sac.yml``: n_timesteps 20,000, MlpPolicy, learning_rate 1e-3)
  and SB3's SAC defaults for the rest: buffer_size 1e6, learning_starts 100,
  batch_size 256, tau 0.005, gamma 0.99, train_freq 1, gradient_steps 1,
  ent_coef "auto", net_arch [256, 256]; one env. (SAC has no schedule, so the
  zoo's n_timesteps changes nothing; ``learn`` runs to ``--max-steps``.) A
  callback evaluates on a separate vector env of 32 Pendulum-v1 envs
  (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` where
  Pendulum has one, else a SyncVectorEnv), playing each env's first episode
  to its end with ``model.predict(deterministic=True)``, at the start of a
  rollout (i.e. after the previous step's gradient update, as Myriad
  evaluates after its updates) once every ``--eval-every`` env steps, and
  stops training at the target.
* ``myriad`` -- this project's binary (``--myriad PATH``, default
  ``$CARGO_TARGET_DIR/release/myriad``, else ``target/release/myriad``, else
  ``~/.cache/myriad/target/release/myriad``) run as ``myriad train sac --env
  Pendulum-v1 --seed S --stop-reward TARGET --stop-timesteps MAX_STEPS
  --stop-seconds MAX_SECONDS --json --out <tmp>`` in a scratch folder, with
  no ``--config``: its tuned config (``tuned/pendulum-sac.toml``: 4 envs x 16
  steps an iteration, one update per env step on batches of 256, twin critics
  of [64, 64]) evaluates 32 greedy episodes every 16 iterations (1,024 env
  steps; another ``--eval-every``, a multiple of 64, is passed as
  ``--set evaluation.evaluation_interval=N/64``) and stops at a mean of -250
  or at 40,000 env steps. Whether and when an evaluation reached the target,
  the env steps then and the best evaluation are read from the run's
  progress.jsonl (``evaluation/env_runners/episode_return_mean`` beside
  ``num_env_steps_sampled_lifetime``); its last stdout line
  (``{"solved", "env_steps", "wall_s", ...}``) is cross-checked.

Every run is its own process, one at a time. A peer whose module or binary is
missing is skipped with the command that installs or builds it; without
stable_baselines3, Myriad runs alone.

Output: machine info, one line per run, then a Markdown table (medians over
solved seeds; the ratio is Myriad / SB3) and whether the target is met:
Myriad's median wall-clock to solve at most 1/10 of SB3's. ``--json FILE``
also writes every number as one JSON object.

Example::

    python scripts/bench_sac_peers.py --seeds 3 --json bench_sac_peers.json
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # first, before the other imports: an sb3 worker's clock starts with its process

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from peers_common import (  # noqa: E402
    first_executable,
    importable,
    machine_info as common_machine_info,
    machine_lines,
    parse_peers,
    parse_result,
    path_candidates,
    print_result,
)

ENV_ID = "Pendulum-v1"
PEERS = ["sb3", "myriad"]
PEER_TITLES = {
    "sb3": "Stable-Baselines3 SAC (torch-CPU)",
    "myriad": "Myriad SAC",
}
PEER_MODULES = {"sb3": ["stable_baselines3", "torch", "gymnasium"]}
INSTALL_HINTS = {
    "sb3": "pip install stable-baselines3",  # pulls torch and gymnasium from PyPI
    "myriad": "cargo build --release",
}
RESULT_PREFIX = "SAC_RESULT "
DEFAULT_MYRIAD_BIN = "target/release/myriad"
CACHE_MYRIAD_BIN = Path.home() / ".cache" / "myriad" / "target" / "release" / "myriad"  # scripts/test.sh's target
WORKER_SLACK_S = 300.0  # extra subprocess time for imports and start-up
TARGET_FACTOR = 10.0  # the issue's target: Myriad solves in at most 1/10 of SB3's time

# Myriad's tuned Pendulum config: 4 envs x 16 steps an iteration, evaluated every 16 iterations on 32 episodes.
STEPS_PER_ITERATION = 4 * 16
MYRIAD_EVAL_INTERVAL = 16  # iterations
EVAL_EPISODES = 32
EVAL_KEY = "evaluation/env_runners/episode_return_mean"

# rl-baselines3-zoo, hyperparams/sac.yml, Pendulum-v1; the rest are SB3 SAC's defaults, written out.
SB3_ZOO = {
    "n_timesteps": 20_000,
    "policy": "MlpPolicy",
    "learning_rate": 1e-3,
}
SB3_DEFAULTS = {
    "buffer_size": 1_000_000,
    "learning_starts": 100,
    "batch_size": 256,
    "tau": 0.005,
    "gamma": 0.99,
    "train_freq": 1,
    "gradient_steps": 1,
    "ent_coef": "auto",
    "net_arch": [256, 256],
}


# --------------------------------------------------------------------------
# Stable-Baselines3 worker (its own process)
# --------------------------------------------------------------------------


def make_eval_env(gymnasium):
    """32 Pendulum-v1 envs: the env's own vector implementation if it has one, else a SyncVectorEnv."""
    try:
        return gymnasium.make_vec(ENV_ID, num_envs=EVAL_EPISODES, vectorization_mode="vector_entry_point")
    except (gymnasium.error.Error, ValueError, TypeError, AttributeError):
        return gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make(ENV_ID)] * EVAL_EPISODES)


def worker_sb3_solve(seed: int, args) -> dict:
    import numpy as np
    import torch
    import gymnasium
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(args.threads)
    imports_s = time.time() - PROCESS_START

    eval_seed = [seed + 10_000]  # seeds the eval envs once; later resets continue their RNG

    def evaluate(model, eval_env) -> float:
        # Each env is scored by its first episode (200 steps); later (auto-reset) episodes are masked.
        obs, _ = eval_env.reset(seed=eval_seed.pop() if eval_seed else None)
        returns = np.zeros(EVAL_EPISODES)
        alive = np.ones(EVAL_EPISODES, dtype=bool)
        for _ in range(10_000):
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = eval_env.step(action)
            returns += reward * alive
            alive &= ~(terminated | truncated)
            if not alive.any():
                break
        return float(returns.mean())

    class SolveCallback(BaseCallback):
        """Evaluates at the start of a rollout, after the previous rollout's gradient step."""

        def __init__(self, eval_env):
            super().__init__()
            self.eval_env = eval_env
            self.next_eval = args.eval_every
            self.eval_s = 0.0
            self.evals = 0
            self.best_eval = None
            self.last_eval = None
            self.solved_at = None
            self.solved_time = None
            self.timed_out = False
            self.stop = False

        def _on_rollout_start(self) -> None:
            self.maybe_evaluate()

        def maybe_evaluate(self) -> None:
            if self.stop or self.num_timesteps < self.next_eval:
                return
            while self.next_eval <= self.num_timesteps:
                self.next_eval += args.eval_every
            t = time.perf_counter()
            self.last_eval = evaluate(self.model, self.eval_env)
            self.eval_s += time.perf_counter() - t
            self.evals += 1
            self.best_eval = self.last_eval if self.best_eval is None else max(self.best_eval, self.last_eval)
            if self.last_eval >= args.target:
                self.solved_time = time.time()
                self.solved_at = self.num_timesteps
                self.stop = True
            elif time.time() - PROCESS_START >= args.max_seconds:
                self.timed_out = True
                self.stop = True

        def _on_step(self) -> bool:
            return not self.stop  # False ends learn() at the first step of the rollout

    d = SB3_DEFAULTS
    env = make_vec_env(ENV_ID, n_envs=1, seed=seed)
    eval_env = make_eval_env(gymnasium)
    model = SAC(
        SB3_ZOO["policy"], env,
        learning_rate=SB3_ZOO["learning_rate"],
        buffer_size=d["buffer_size"],
        learning_starts=d["learning_starts"],
        batch_size=d["batch_size"],
        tau=d["tau"],
        gamma=d["gamma"],
        train_freq=d["train_freq"],
        gradient_steps=d["gradient_steps"],
        ent_coef=d["ent_coef"],
        policy_kwargs=dict(net_arch=list(d["net_arch"])),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    cb = SolveCallback(eval_env)
    setup_s = time.time() - PROCESS_START - imports_s
    t = time.perf_counter()
    model.learn(total_timesteps=int(args.max_steps), callback=cb)
    cb.maybe_evaluate()  # the evaluation due after the last gradient step, as Myriad's at its step cap
    learn_s = time.perf_counter() - t
    end = cb.solved_time if cb.solved_time is not None else time.time()
    return {
        "solved": cb.solved_at is not None,
        "env_steps": cb.solved_at if cb.solved_at is not None else int(model.num_timesteps),
        "wall_s": end - PROCESS_START,
        "imports_s": imports_s,
        "setup_s": setup_s,
        "learn_s": learn_s,
        "eval_s": cb.eval_s,
        "evals": cb.evals,
        "best_eval": cb.best_eval,
        "eval_return_mean": cb.last_eval,
        "num_gradient_updates": int(model._n_updates),
        "timed_out": cb.timed_out,
        "eval_env": type(eval_env).__name__,
        "torch_threads": torch.get_num_threads(),
        "process_start": PROCESS_START,
    }


# --------------------------------------------------------------------------
# Driver: subprocesses
# --------------------------------------------------------------------------


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_run(cmd: list[str], timeout: float, cwd: str | None = None):
    """(completed process or None on timeout, wall seconds from spawn to exit, CPU seconds it used)."""
    cpu = children_cpu_s()
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        p = None
    return p, time.perf_counter() - t, children_cpu_s() - cpu


def run_sb3_solve(seed: int, args) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()),
        "--_worker", str(seed),
        "--target", str(args.target),
        "--max-steps", str(args.max_steps),
        "--max-seconds", str(args.max_seconds),
        "--eval-every", str(args.eval_every),
        "--threads", str(args.threads),
    ]
    spawned = time.time()
    p, process_s, cpu_s = timed_run(cmd, args.max_seconds + WORKER_SLACK_S)
    if p is None:
        return {"error": f"timed out after {process_s:.0f} s"}
    res, error = parse_result(p, RESULT_PREFIX)
    if error:
        return {"error": error}
    res["startup_s"] = res.pop("process_start") - spawned  # interpreter start-up, before the clock starts
    res["process_s"] = process_s
    res["cpu_s"] = cpu_s
    return res


def read_evaluations(path: Path) -> tuple[int, int | None, list[tuple[int, float]]]:
    """(iterations logged, env steps at the last, [(env steps, evaluation mean)] of those that evaluated)."""
    iterations, steps, evals = 0, None, []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a killed run may leave one partial last line
                break
            iterations += 1
            steps = int(row["num_env_steps_sampled_lifetime"])
            value = row.get(EVAL_KEY)
            if value is None:  # or nested, group by group
                value = row
                for part in EVAL_KEY.split("/"):
                    value = value.get(part) if isinstance(value, dict) else None
            if value is not None:
                evals.append((steps, float(value)))
    return iterations, steps, evals


def run_myriad_solve(seed: int, args, binary: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="myriad_sac_") as scratch:
        out = Path(scratch) / "run"
        cmd = [str(binary), "train", "sac", "--env", ENV_ID, "--seed", str(seed)]
        if args.myriad_backend:
            cmd += ["--backend", args.myriad_backend]
        if args.eval_every != STEPS_PER_ITERATION * MYRIAD_EVAL_INTERVAL:
            cmd += ["--set", f"evaluation.evaluation_interval={args.eval_every // STEPS_PER_ITERATION}"]
        cmd += [
            "--stop-reward", f"{args.target:g}",
            "--stop-timesteps", str(args.max_steps),
            "--stop-seconds", f"{args.max_seconds:g}",
            "--json", "--out", str(out),
        ]
        p, process_s, cpu_s = timed_run(cmd, args.max_seconds + 60.0, cwd=scratch)
        raw = None
        if p is not None:
            raw, error = parse_result(p)
            if error:
                return {"error": error, "command": cmd}
        try:
            iterations, last_steps, evals = read_evaluations(out / "progress.jsonl")
        except (OSError, KeyError, TypeError, ValueError) as e:
            return {"error": f"reading progress.jsonl: {type(e).__name__}: {e}", "command": cmd}
    reached = [steps for steps, mean in evals if mean >= args.target]
    res = {
        "solved": bool(reached),
        "env_steps": reached[0] if reached else last_steps,
        "wall_s": process_s,  # spawn to exit
        "best_eval": max(m for _, m in evals) if evals else None,
        "eval_return_mean": evals[-1][1] if evals else None,
        "evals": len(evals),
        "iterations": iterations,
        "process_s": process_s,
        "cpu_s": cpu_s,
        "timed_out": p is None,
        "command": cmd,
    }
    if raw is not None:
        res["reported_wall_s"] = raw.get("wall_s")
        res["reported_solved"] = raw.get("solved")
        if bool(raw.get("solved")) != res["solved"]:
            res["warning"] = f"myriad's JSON line says solved={raw.get('solved')}, progress.jsonl the opposite"
    if not res["solved"] and (last_steps or 0) < args.max_steps:
        res["timed_out"] = True  # stopped by --stop-seconds
    return res


def resolve_myriad(path: str | None) -> Path | None:
    """`path` if given, else $CARGO_TARGET_DIR/release/myriad, target/release/myriad, ~/.cache/myriad/target/..."""
    if path is None:
        target_dir = os.environ.get("CARGO_TARGET_DIR")
        candidates = [Path(target_dir) / "release" / "myriad"] if target_dir else []
        candidates += path_candidates(DEFAULT_MYRIAD_BIN) + [CACHE_MYRIAD_BIN]
    else:
        candidates = path_candidates(path)
    c = first_executable(candidates)
    return c.resolve() if c else None


def myriad_version(binary: Path) -> str | None:
    try:
        p = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (p.stdout.strip() or None) if p.returncode == 0 else None


# --------------------------------------------------------------------------
# Driver: report
# --------------------------------------------------------------------------


def fmt(x, spec: str = ".1f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def solve_line(peer: str, seed: int, r: dict) -> str:
    head = f"[{peer} seed {seed}]"
    if "error" in r:
        return f"{head} error: {r['error']}"
    status = "solved" if r["solved"] else ("timed out" if r.get("timed_out") else "NOT solved")
    parts = [f"{label} {r[key]:.1f} s" for key, label in [
        ("startup_s", "interpreter start"), ("imports_s", "imports"), ("setup_s", "setup"), ("eval_s", "eval"),
        ("reported_wall_s", "self-reported"), ("process_s", "spawn to exit"), ("cpu_s", "CPU"),
    ] if r.get(key) is not None]
    line = (
        f"{head} {status} at {fmt(r.get('env_steps'), ',d')} env steps in {r['wall_s']:.2f} s "
        f"({', '.join(parts)}), {r.get('evals', 0)} evaluations, best {fmt(r.get('best_eval'))}, "
        f"last {fmt(r.get('eval_return_mean'))}"
    )
    return line + (f"; WARNING: {r['warning']}" if r.get("warning") else "")


def median_or_none(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict]) -> dict:
    solved = [r for r in runs if "error" not in r and r["solved"]]
    return {
        "runs": len(runs),
        "solved": len(solved),
        "median_wall_s": median_or_none([r["wall_s"] for r in solved]),
        "wall_s_per_seed": [r["wall_s"] if "error" not in r and r["solved"] else None for r in runs],
        "median_env_steps": median_or_none([r["env_steps"] for r in solved]),
        "best_eval_per_seed": [r.get("best_eval") for r in runs],
    }


def target(summary: dict) -> dict:
    """The issue's target: Myriad's median wall-clock to solve <= SB3's / 10."""
    sb3, my = (summary.get("sb3") or {}).get("median_wall_s"), (summary.get("myriad") or {}).get("median_wall_s")
    r = my / sb3 if my is not None and sb3 else None
    return {
        "name": "wall-clock to solve",
        "want": f"Myriad's median <= 1/{TARGET_FACTOR:g} of SB3's",
        "myriad_over_sb3": r,
        "met": None if r is None else r <= 1.0 / TARGET_FACTOR,
    }


def render_summary(summary: dict, peers: list[str], skipped: dict, goal: dict, args) -> str:
    out = [
        f"### SAC on {ENV_ID}: wall-clock to a greedy evaluation mean >= {args.target:g} "
        f"({EVAL_EPISODES} episodes every {args.eval_every:,} env steps), {args.seeds} seed(s)",
        "",
        "| peer | solved | wall-clock to solve, median (s) | per seed (s) | env steps to solve, median "
        "| best evaluation per seed |",
        "|---|---:|---:|---|---:|---|",
    ]
    for p in peers:
        if p in skipped:
            out.append(f"| {PEER_TITLES[p]} | skipped | | | | |")
            continue
        s = summary[p]
        seeds = ", ".join(fmt(w, ".2f", "unsolved") for w in s["wall_s_per_seed"])
        best = ", ".join(fmt(b) for b in s["best_eval_per_seed"])
        out.append(f"| {PEER_TITLES[p]} | {s['solved']}/{s['runs']} | {fmt(s['median_wall_s'], '.2f')} | {seeds} "
                   f"| {fmt(s['median_env_steps'], ',.0f')} | {best} |")
    if "sb3" in summary and "myriad" in summary:
        cell = fmt(goal["myriad_over_sb3"], ".3f", "n/a")
        out.append(f"| Myriad / SB3 | | {cell} | | | |")
    if goal["met"] is None:
        verdict = "n/a (needs both peers with a solved seed)"
    else:
        r = goal["myriad_over_sb3"]
        verdict = f"Myriad/SB3 = {r:.3f} ({1 / r:.1f}x faster): " + ("met" if goal["met"] else "NOT met")
    out += [
        "",
        "Wall-clock: sb3 from the start of its Python process (imports included) to the end of the evaluation "
        "that reaches the target; Myriad from spawn to exit. Medians over solved seeds.",
        "",
        f"Target (issue), torch with {args.threads} thread(s):",
        f"- {goal['name']} ({goal['want']}): {verdict}",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=3, help="runs per peer, seeds 0..N-1 (default 3)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of: %(default)s")
    ap.add_argument("--target", type=float, default=-250.0,
                    help="greedy eval mean return that counts as solved (default -250)")
    ap.add_argument("--max-steps", type=int, default=40_000,
                    help="env steps after which a run is unsolved (default 40000)")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="wall-clock cap per run (default 600)")
    ap.add_argument("--eval-every", type=int, default=STEPS_PER_ITERATION * MYRIAD_EVAL_INTERVAL,
                    help="env steps between evaluations, a multiple of Myriad's 64-step iteration (default 1024)")
    ap.add_argument(
        "--myriad", "--myriad-bin", dest="myriad",
        help=f"Myriad binary (default: $CARGO_TARGET_DIR/release/myriad if present, else {DEFAULT_MYRIAD_BIN}, "
             "else ~/.cache/myriad/target/release/myriad)",
    )
    ap.add_argument("--myriad-backend", help="passed to myriad as --backend (default: its own default)")
    ap.add_argument("--json", "--json-out", dest="json", metavar="FILE", help="also write all results to FILE")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for sb3 (default 1)")
    ap.add_argument("--_worker", type=int, metavar="SEED", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for name in ["seeds", "max_steps", "eval_every", "threads"]:
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.eval_every % STEPS_PER_ITERATION:
        ap.error(f"--eval-every must be a multiple of {STEPS_PER_ITERATION} (Myriad's 4 envs x 16 steps an iteration)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker is not None:
        print_result(RESULT_PREFIX, worker_sb3_solve(args._worker, args))
        return 0

    peers = parse_peers(args.peers, PEERS)
    skipped: dict[str, str] = {}
    myriad_bin = None
    for p in peers:
        if p == "myriad":
            myriad_bin = resolve_myriad(args.myriad)
            if myriad_bin is None:
                wanted = f"`{args.myriad}`" if args.myriad else (
                    f"`{DEFAULT_MYRIAD_BIN}` (nor `$CARGO_TARGET_DIR/release/myriad`, "
                    "`~/.cache/myriad/target/release/myriad`)")
                skipped[p] = f"binary {wanted} not found; build it with `{INSTALL_HINTS[p]}`"
        else:
            ok, why = importable(PEER_MODULES[p])
            if not ok:
                skipped[p] = (f"{why}; install it with `{INSTALL_HINTS[p]}` "
                              f"(into the Python running this script, {sys.executable})")

    info = common_machine_info(["numpy", "gymnasium", "torch", "stable-baselines3"], myriad_bin)
    if myriad_bin:
        info["myriad_version"] = myriad_version(myriad_bin)
    for line in machine_lines(info, no_load="n/a", list_missing=True):
        print(line)
    for p, why in skipped.items():
        print(f"skipped {p}: {why}")
    if "sb3" in skipped and "myriad" in peers and "myriad" not in skipped:
        print("running Myriad alone")
    print(flush=True)

    active = [p for p in peers if p not in skipped]
    runs: dict[str, list[dict]] = {p: [] for p in active}
    for p in active:
        for seed in range(args.seeds):
            r = run_myriad_solve(seed, args, myriad_bin) if p == "myriad" else run_sb3_solve(seed, args)
            r["seed"] = seed
            runs[p].append(r)
            print(solve_line(p, seed, r), flush=True)

    summary = {p: summarise(runs[p]) for p in active}
    goal = target(summary)
    print()
    print(render_summary(summary, peers, skipped, goal, args))

    if args.json:
        payload = {
            "env": ENV_ID,
            "settings": {
                **{k: getattr(args, k) for k in [
                    "seeds", "target", "max_steps", "max_seconds", "eval_every", "threads", "myriad_backend",
                ]},
                "eval_episodes": EVAL_EPISODES,
                "sb3_zoo": SB3_ZOO,
                "sb3_defaults": SB3_DEFAULTS,
            },
            "machine": info,
            "skipped": skipped,
            "runs": runs,
            "summary": summary,
            "target": goal,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
