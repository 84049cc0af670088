#!/usr/bin/env python3
"""Side-by-side DQN benchmark on CartPole-v1: Myriad vs. Stable-Baselines3.

What it measures
----------------
1. **Wall-clock to solve** (headline): for each peer and each seed
   (``--seeds``, default 3: seeds 0..N-1), DQN trains on CartPole-v1 until a
   greedy evaluation -- 32 episodes with deterministic (argmax) actions, run
   every 2,048 env steps -- has a mean return >= ``--target`` (475). A run
   that has not got there after ``--max-steps`` env steps (200,000) or
   ``--max-seconds`` is unsolved. The clock covers the whole process:

   * sb3: from the first line of this script in a fresh Python process (one
     per seed; ``time.time()`` is read before any other import, so importing
     torch and Stable-Baselines3 counts) to the end of the evaluation that
     reaches the target;
   * myriad: from spawning ``myriad train dqn`` to its exit (it exits as soon
     as an evaluation reaches the target, after writing its checkpoint).

2. **Gradient updates per second** at each of ``--batch-sizes`` (64 and 512),
   ``--update-runs`` measurements (default 1, median taken) per peer and size:

   * sb3: a fresh process fills the replay buffer with ``--fill`` (10,000)
     transitions of uniformly random actions, runs ``--warmup-updates``
     updates, then times ``model.train(gradient_steps=K, batch_size=B)`` with
     K = ``--updates`` (1,000);
   * myriad: ``myriad train dqn --env CartPole-v1
     --set training.train_batch_size=B
     --set training.num_steps_sampled_before_learning_starts=0
     --set training.training_intensity=I --set evaluation.evaluation_interval=0
     --set rl_module.fcnet_hiddens=[256] --set training.hiddens=[256] --set training.dueling=false
     --set training.double_q=false   (SB3's network and targets: the same work per update)
     --stop-timesteps 256*(1+R) --json --out <tmp>`` with 8 envs x 32 steps
     (256 env steps) an iteration and I = P*B/256, so each iteration runs
     P = ceil(K/R) updates (R = ``--update-iterations``, 4) and the updates
     dominate. Its progress.jsonl gives each iteration's
     ``learners/default_policy/num_gradient_updates`` and
     ``timers/learner_update``; updates/s = the updates over their seconds,
     summed over the iterations after the first (the warm-up). The rate over
     whole iterations (``timers/training_iteration``: also the 256 env steps
     and the one device-to-host read of the metrics) is recorded beside it.

Peers
-----
* ``sb3`` -- Stable-Baselines3 DQN (PyTorch on the CPU, ``--threads`` intra-op
  threads, default 1) with rl-baselines3-zoo's tuned CartPole-v1
  hyperparameters (``hyperparams/dqn.yml``): MlpPolicy with net_arch
  [256, 256], learning_rate 2.3e-3, batch_size 64, buffer_size 100,000,
  learning_starts 1,000, gamma 0.99, target_update_interval 10, train_freq
  256, gradient_steps 128, exploration_fraction 0.16 and
  exploration_final_eps 0.04 of the zoo's n_timesteps 5e4, one env. SB3 sizes
  the exploration schedule by ``learn``'s ``total_timesteps``; here that is
  ``--max-steps``, so the fraction is rescaled to keep the zoo's schedule (ε
  from 1 to 0.04 over the first 8,000 env steps). A callback evaluates on a
  separate ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``
  of 32 envs at the start of each rollout, i.e. after the gradient steps of
  the previous one (as Myriad evaluates after its updates), once every 2,048
  env steps, and stops training at the target.
* ``myriad`` -- this project's binary (``--myriad PATH``, default
  ``$CARGO_TARGET_DIR/release/myriad``, else ``target/release/myriad``) run as
  ``myriad train dqn --env CartPole-v1 --seed S --stop-reward TARGET
  --stop-timesteps MAX_STEPS --stop-seconds MAX_SECONDS --json --out <tmp>``
  in a scratch folder. Its tuned config (``tuned/cartpole-dqn.toml``: the
  zoo's settings, 8 envs x 32 steps an iteration, double Q) evaluates 32 greedy
  episodes every 8 iterations (2,048 env steps) and stops at a mean of 475;
  its last stdout line is ``{"solved", "env_steps", "wall_s",
  "episode_return_mean", "eval_return_mean"}``.

Every run is its own process, one at a time. A peer whose module or binary is
missing is skipped with the command that installs or builds it; without
stable_baselines3, Myriad runs alone.

Output: machine info, one line per run, then a Markdown table (medians;
ratios are SB3 / Myriad) and whether the issue's targets are met: Myriad's
median wall-clock to solve at most 1/10 of SB3's, and its updates/s at each
batch size at least 10x SB3's. ``--json FILE`` also writes every number as
one JSON object.

Example::

    python scripts/bench_dqn_peers.py --seeds 3 --json bench_dqn_peers.json
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # first, before the other imports: an sb3 worker's clock starts with its process

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
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

ENV_ID = "CartPole-v1"
PEERS = ["sb3", "myriad"]
PEER_TITLES = {
    "sb3": "Stable-Baselines3 DQN (torch-CPU)",
    "myriad": "Myriad DQN",
}
PEER_MODULES = {"sb3": ["stable_baselines3", "torch", "gymnasium"]}
INSTALL_HINTS = {
    "sb3": "pip install stable-baselines3",  # pulls torch and gymnasium from PyPI
    "myriad": "cargo build --release",
}
RESULT_PREFIX = "DQN_RESULT "
DEFAULT_MYRIAD_BIN = "target/release/myriad"
WORKER_SLACK_S = 300.0  # extra subprocess time for imports and start-up
TARGET_FACTOR = 10.0  # the targets: 10x faster to solve, 10x the updates/s

# Myriad's tuned CartPole config: 8 envs x 32 steps an iteration, evaluated every 8 iterations on 32 episodes.
MYRIAD_NUM_ENVS = 8
MYRIAD_FRAGMENT = 32
STEPS_PER_ITERATION = MYRIAD_NUM_ENVS * MYRIAD_FRAGMENT
EVAL_EVERY = 8 * STEPS_PER_ITERATION  # 2,048 env steps
EVAL_EPISODES = 32

# rl-baselines3-zoo, hyperparams/dqn.yml, CartPole-v1.
SB3_ZOO = {
    "n_timesteps": 5e4,
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "net_arch": [256, 256],
}


# --------------------------------------------------------------------------
# Stable-Baselines3 workers (each in its own process)
# --------------------------------------------------------------------------


def sb3_dqn(env, seed: int, total_timesteps: int, **overrides):
    """SB3 DQN with the zoo's CartPole-v1 settings, ε annealed over the zoo's first 8,000 env steps."""
    from stable_baselines3 import DQN

    z = SB3_ZOO
    kwargs = dict(
        learning_rate=z["learning_rate"],
        batch_size=z["batch_size"],
        buffer_size=z["buffer_size"],
        learning_starts=z["learning_starts"],
        gamma=z["gamma"],
        target_update_interval=z["target_update_interval"],
        train_freq=z["train_freq"],
        gradient_steps=z["gradient_steps"],
        # SB3 scales the fraction by learn()'s total_timesteps; keep the zoo's absolute schedule.
        exploration_fraction=z["exploration_fraction"] * z["n_timesteps"] / total_timesteps,
        exploration_final_eps=z["exploration_final_eps"],
        policy_kwargs=dict(net_arch=list(z["net_arch"])),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    kwargs.update(overrides)
    return DQN("MlpPolicy", env, **kwargs)


def worker_sb3_solve(seed: int, args) -> dict:
    import numpy as np
    import torch
    import gymnasium
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(args.threads)
    imports_s = time.time() - PROCESS_START

    eval_seed = [seed + 10_000]  # seeds the eval envs once; later resets continue their RNG

    def evaluate(model, eval_env) -> float:
        # Each env is scored by its first episode (at most 500 steps); later (auto-reset) episodes are masked.
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
        """Evaluates at the start of a rollout, after the previous rollout's gradient steps."""

        def __init__(self, eval_env):
            super().__init__()
            self.eval_env = eval_env
            self.next_eval = EVAL_EVERY
            self.eval_s = 0.0
            self.evals = 0
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
                self.next_eval += EVAL_EVERY
            t = time.perf_counter()
            self.last_eval = evaluate(self.model, self.eval_env)
            self.eval_s += time.perf_counter() - t
            self.evals += 1
            if self.last_eval >= args.target:
                self.solved_time = time.time()
                self.solved_at = self.num_timesteps
                self.stop = True
            elif time.time() - PROCESS_START >= args.max_seconds:
                self.timed_out = True
                self.stop = True

        def _on_step(self) -> bool:
            return not self.stop  # False ends learn() at the first step of the rollout

    env = make_vec_env(ENV_ID, n_envs=1, seed=seed)
    eval_env = gymnasium.make_vec(ENV_ID, num_envs=EVAL_EPISODES, vectorization_mode="vector_entry_point")
    model = sb3_dqn(env, seed, int(args.max_steps))
    cb = SolveCallback(eval_env)
    setup_s = time.time() - PROCESS_START - imports_s
    t = time.perf_counter()
    model.learn(total_timesteps=int(args.max_steps), callback=cb)
    cb.maybe_evaluate()  # the evaluation due after the last gradient steps, as Myriad's at its step cap
    learn_s = time.perf_counter() - t
    end = cb.solved_time if cb.solved_time is not None else time.time()
    ep_returns = [ep["r"] for ep in model.ep_info_buffer]
    return {
        "solved": cb.solved_at is not None,
        "env_steps": cb.solved_at if cb.solved_at is not None else int(model.num_timesteps),
        "wall_s": end - PROCESS_START,
        "imports_s": imports_s,
        "setup_s": setup_s,
        "learn_s": learn_s,
        "eval_s": cb.eval_s,
        "evals": cb.evals,
        "num_gradient_updates": int(model._n_updates),
        "eval_return_mean": cb.last_eval,
        "episode_return_mean": float(np.mean(ep_returns)) if ep_returns else None,
        "timed_out": cb.timed_out,
        "torch_threads": torch.get_num_threads(),
        "process_start": PROCESS_START,
    }


def worker_sb3_updates(batch_size: int, args) -> dict:
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(args.threads)
    env = make_vec_env(ENV_ID, n_envs=1, seed=0)
    # Before learning_starts SB3 acts uniformly at random and trains nothing; train_freq 1 stops at exactly `fill`.
    model = sb3_dqn(env, 0, args.fill, batch_size=batch_size, learning_starts=args.fill, train_freq=1)
    t = time.perf_counter()
    model.learn(total_timesteps=args.fill)
    fill_s = time.perf_counter() - t
    if model._n_updates != 0:
        raise SystemExit(f"filling the replay buffer ran {model._n_updates} updates")
    model.train(gradient_steps=args.warmup_updates, batch_size=batch_size)
    t = time.perf_counter()
    model.train(gradient_steps=args.updates, batch_size=batch_size)
    seconds = time.perf_counter() - t
    return {
        "batch_size": batch_size,
        "updates": args.updates,
        "seconds": seconds,
        "updates_per_s": args.updates / seconds,
        "warmup_updates": args.warmup_updates,
        "replay_size": int(model.replay_buffer.size()),
        "fill_s": fill_s,
        "torch_threads": torch.get_num_threads(),
    }


def run_worker(args) -> None:
    kind, value = args._worker[0], int(args._worker[1])
    if kind == "solve":
        res = worker_sb3_solve(value, args)
    elif kind == "updates":
        res = worker_sb3_updates(value, args)
    else:
        raise SystemExit(f"unknown worker {kind}")
    print_result(RESULT_PREFIX, res)


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


def sb3_cmd(kind: str, value: int, args) -> list[str]:
    return [
        sys.executable, str(Path(__file__).resolve()),
        "--_worker", kind, str(value),
        "--target", str(args.target),
        "--max-steps", str(args.max_steps),
        "--max-seconds", str(args.max_seconds),
        "--threads", str(args.threads),
        "--fill", str(args.fill),
        "--updates", str(args.updates),
        "--warmup-updates", str(args.warmup_updates),
    ]


def run_sb3_solve(seed: int, args) -> dict:
    spawned = time.time()
    p, process_s, cpu_s = timed_run(sb3_cmd("solve", seed, args), args.max_seconds + WORKER_SLACK_S)
    if p is None:
        return {"error": f"timed out after {process_s:.0f} s"}
    res, error = parse_result(p, RESULT_PREFIX)
    if error:
        return {"error": error}
    res["startup_s"] = res.pop("process_start") - spawned  # interpreter start-up, before the clock starts
    res["process_s"] = process_s
    res["cpu_s"] = cpu_s
    return res


def run_sb3_updates(batch_size: int, args) -> dict:
    p, process_s, _ = timed_run(sb3_cmd("updates", batch_size, args), args.max_seconds + WORKER_SLACK_S)
    if p is None:
        return {"error": f"timed out after {process_s:.0f} s"}
    res, error = parse_result(p, RESULT_PREFIX)
    return {"error": error} if error else res


def myriad_base(binary: Path, seed: int, out: Path, args) -> list[str]:
    cmd = [str(binary), "train", "dqn", "--env", ENV_ID, "--seed", str(seed)]
    if args.myriad_backend:
        cmd += ["--backend", args.myriad_backend]
    return cmd + ["--json", "--out", str(out)]


def read_progress(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def field(line: dict, group: str, key: str):
    """`line[group][key]` (progress.jsonl nests a group's keys), or the flat `group/key`."""
    inner = line.get(group)
    if isinstance(inner, dict) and key in inner:
        return inner[key]
    return line[f"{group}/{key}"]


def run_myriad_solve(seed: int, args, binary: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="myriad_dqn_") as scratch:
        out = Path(scratch) / "run"
        cmd = myriad_base(binary, seed, out, args) + [
            "--stop-reward", f"{args.target:g}",
            "--stop-timesteps", str(args.max_steps),
            "--stop-seconds", f"{args.max_seconds:g}",
        ]
        p, process_s, cpu_s = timed_run(cmd, args.max_seconds + 60.0, cwd=scratch)
        if p is None:
            return {"solved": False, "timed_out": True, "env_steps": None, "wall_s": process_s,
                    "process_s": process_s, "cpu_s": cpu_s, "command": cmd}
        raw, error = parse_result(p)
        if error:
            return {"error": error, "command": cmd}
        try:
            res = {
                "solved": bool(raw["solved"]),
                "env_steps": int(raw["env_steps"]),
                "wall_s": process_s,  # spawn to exit
                "reported_wall_s": float(raw["wall_s"]),
                "episode_return_mean": raw.get("episode_return_mean"),
                "eval_return_mean": raw.get("eval_return_mean"),
            }
        except (KeyError, TypeError, ValueError):
            return {"error": f"unexpected JSON line {raw!r}", "command": cmd}
        try:
            lines = read_progress(out / "progress.jsonl")
            res["iterations"] = len(lines)
            res["num_gradient_updates"] = sum(int(field(ln, "learners/default_policy", "num_gradient_updates"))
                                              for ln in lines)
            res["learner_update_s"] = sum(float(field(ln, "timers", "learner_update")) for ln in lines)
            res["eval_s"] = sum(float(field(ln, "timers", "evaluation")) for ln in lines)
        except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
            res["progress_error"] = f"{type(e).__name__}: {e}"
    res["process_s"] = process_s
    res["cpu_s"] = cpu_s
    res["timed_out"] = not res["solved"] and res["env_steps"] < args.max_steps
    res["command"] = cmd
    return res


def run_myriad_updates(batch_size: int, args, binary: Path) -> dict:
    per_iteration = math.ceil(args.updates / args.update_iterations)
    intensity = per_iteration * batch_size / STEPS_PER_ITERATION
    with tempfile.TemporaryDirectory(prefix="myriad_dqn_updates_") as scratch:
        out = Path(scratch) / "run"
        cmd = myriad_base(binary, 0, out, args) + [
            "--set", f"env_runners.num_envs_per_env_runner={MYRIAD_NUM_ENVS}",
            "--set", f"env_runners.rollout_fragment_length={MYRIAD_FRAGMENT}",
            "--set", f"training.train_batch_size={batch_size}",
            "--set", "training.num_steps_sampled_before_learning_starts=0",
            "--set", f"training.training_intensity={float(intensity)!r}",
            "--set", "evaluation.evaluation_interval=0",
            # The same network and targets as SB3's DQN (two 256-wide ReLU layers, plain Q head, no double Q), so
            # updates/s compares the same work.
            "--set", "rl_module.fcnet_hiddens=[256]",
            "--set", "training.hiddens=[256]",
            "--set", "training.dueling=false",
            "--set", "training.double_q=false",
            "--stop-timesteps", str(STEPS_PER_ITERATION * (1 + args.update_iterations)),
            "--checkpoint-frequency", "0",
        ]
        p, process_s, _ = timed_run(cmd, args.max_seconds + 60.0, cwd=scratch)
        if p is None:
            return {"error": f"timed out after {process_s:.0f} s", "command": cmd}
        _, error = parse_result(p)
        if error:
            return {"error": error, "command": cmd}
        try:
            lines = read_progress(out / "progress.jsonl")
            timed = [ln for ln in lines[1:] if field(ln, "learners/default_policy", "num_gradient_updates") > 0]
            updates = sum(int(field(ln, "learners/default_policy", "num_gradient_updates")) for ln in timed)
            seconds = sum(float(field(ln, "timers", "learner_update")) for ln in timed)
            iteration_s = sum(float(field(ln, "timers", "training_iteration")) for ln in timed)
        except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
            return {"error": f"reading progress.jsonl: {type(e).__name__}: {e}", "command": cmd}
    if not timed or seconds <= 0:
        return {"error": f"no timed iterations with updates among {len(lines)}", "command": cmd}
    return {
        "batch_size": batch_size,
        "updates": updates,
        "seconds": seconds,
        "updates_per_s": updates / seconds,
        "iteration_s": iteration_s,
        "updates_per_s_whole_iterations": updates / iteration_s if iteration_s > 0 else None,
        "timed_iterations": len(timed),
        "warmup_updates": int(field(lines[0], "learners/default_policy", "num_gradient_updates")),
        "training_intensity": intensity,
        "process_s": process_s,
        "command": cmd,
    }


def resolve_myriad(path: str | None) -> Path | None:
    """The Myriad binary: `path` if given, else $CARGO_TARGET_DIR/release/myriad, else target/release/myriad."""
    if path is None:
        target_dir = os.environ.get("CARGO_TARGET_DIR")
        candidates = [Path(target_dir) / "release" / "myriad"] if target_dir else []
        candidates += path_candidates(DEFAULT_MYRIAD_BIN)
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
        ("startup_s", "interpreter start"), ("imports_s", "imports"), ("setup_s", "setup"),
        ("eval_s", "eval"), ("learner_update_s", "updates"), ("reported_wall_s", "self-reported"),
        ("process_s", "spawn to exit"), ("cpu_s", "CPU"),
    ] if r.get(key) is not None]
    return (
        f"{head} {status} at {fmt(r.get('env_steps'), ',d')} env steps in {r['wall_s']:.2f} s "
        f"({', '.join(parts)}), {fmt(r.get('num_gradient_updates'), ',d')} updates, "
        f"eval return {fmt(r.get('eval_return_mean'))}, train episode return {fmt(r.get('episode_return_mean'))}"
    )


def updates_line(peer: str, r: dict, batch_size: int) -> str:
    head = f"[{peer} batch {batch_size}]"
    if "error" in r:
        return f"{head} error: {r['error']}"
    line = f"{head} {r['updates']:,} updates in {r['seconds']:.2f} s: {r['updates_per_s']:,.0f} updates/s"
    if r.get("updates_per_s_whole_iterations") is not None:
        line += (f" ({r['updates_per_s_whole_iterations']:,.0f}/s over whole iterations, "
                 f"{r['timed_iterations']} after a warm-up iteration of {r['warmup_updates']:,})")
    else:
        line += f" (after {r['warmup_updates']:,} warm-up updates, replay of {r['replay_size']:,})"
    return line


def median_or_none(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict], rates: dict[int, list[dict]]) -> dict:
    ok = [r for r in runs if "error" not in r]
    solved = [r for r in ok if r["solved"]]
    return {
        "runs": len(runs),
        "solved": len(solved),
        "median_wall_s": median_or_none([r["wall_s"] for r in solved]),
        "wall_s_per_seed": [r["wall_s"] if "error" not in r and r["solved"] else None for r in runs],
        "median_env_steps": median_or_none([r["env_steps"] for r in solved]),
        "updates_per_s": {
            b: median_or_none([r.get("updates_per_s") for r in rs if "error" not in r]) for b, rs in rates.items()
        },
    }


def ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def targets(summary: dict, batch_sizes: list[int]) -> list[dict]:
    """The issue's targets: Myriad's median wall-clock <= SB3's / 10; Myriad's updates/s >= 10x SB3's."""
    sb3, my = summary.get("sb3") or {}, summary.get("myriad") or {}
    out = [{
        "name": "wall-clock to solve",
        "want": f"Myriad's median <= 1/{TARGET_FACTOR:g} of SB3's",
        "myriad_speedup": ratio(sb3.get("median_wall_s"), my.get("median_wall_s")),
    }]
    for b in batch_sizes:
        out.append({
            "name": f"updates/s at batch {b}",
            "want": f"Myriad >= {TARGET_FACTOR:g}x SB3",
            "myriad_speedup": ratio((my.get("updates_per_s") or {}).get(b), (sb3.get("updates_per_s") or {}).get(b)),
        })
    for t in out:
        t["met"] = None if t["myriad_speedup"] is None else t["myriad_speedup"] >= TARGET_FACTOR
    return out


def render_summary(summary: dict, peers: list[str], skipped: dict, goals: list[dict], args) -> str:
    bs = args.batch_sizes
    out = [
        f"### DQN on {ENV_ID}: wall-clock to a greedy evaluation mean >= {args.target:g} "
        f"({EVAL_EPISODES} episodes every {EVAL_EVERY:,} env steps), {args.seeds} seed(s); "
        f"gradient updates/s at batch {', '.join(map(str, bs))}",
        "",
        "| peer | solved | wall-clock to solve, median (s) | per seed (s) | env steps to solve, median | "
        + " | ".join(f"updates/s @{b}" for b in bs) + " |",
        "|---|---:|---:|---|---:|" + "---:|" * len(bs),
    ]
    for p in peers:
        if p in skipped:
            out.append(f"| {PEER_TITLES[p]} | skipped | | | |" + " |" * len(bs))
            continue
        s = summary[p]
        seeds = ", ".join(fmt(w, ".2f", "unsolved") for w in s["wall_s_per_seed"])
        out.append(
            f"| {PEER_TITLES[p]} | {s['solved']}/{s['runs']} | {fmt(s['median_wall_s'], '.2f')} | {seeds} "
            f"| {fmt(s['median_env_steps'], ',.0f')} | "
            + " | ".join(fmt(s["updates_per_s"].get(b), ",.0f") for b in bs) + " |"
        )
    if "sb3" in summary and "myriad" in summary:
        sb3, my = summary["sb3"], summary["myriad"]
        r = [ratio(sb3["median_wall_s"], my["median_wall_s"]), ratio(sb3["median_env_steps"], my["median_env_steps"])]
        r += [ratio(sb3["updates_per_s"].get(b), my["updates_per_s"].get(b)) for b in bs]
        cells = [fmt(x, ".2f", "n/a") + ("x" if x is not None else "") for x in r]
        out.append(f"| SB3 / Myriad | | {cells[0]} | | {cells[1]} | " + " | ".join(cells[2:]) + " |")
    out += [
        "",
        "Wall-clock: sb3 from the start of its Python process (imports included) to the end of the evaluation "
        "that reaches the target; Myriad from spawn to exit. Medians over solved runs. updates/s: "
        f"sb3 times model.train() on a replay of {args.fill:,} random transitions; Myriad sums "
        "timers/learner_update over the iterations after the first.",
        "",
        f"Targets (issue), torch with {args.threads} thread(s):",
    ]
    for t in goals:
        if t["met"] is None:
            verdict = "n/a (needs both peers)"
        else:
            verdict = f"Myriad/SB3 speed-up {t['myriad_speedup']:.2f}x: " + ("met" if t["met"] else "NOT met")
        out.append(f"- {t['name']} ({t['want']}): {verdict}")
    return "\n".join(out)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be at least 1")
    return sizes


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=3, help="runs per peer, seeds 0..N-1 (default 3)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of: %(default)s")
    ap.add_argument("--target", type=float, default=475.0, help="greedy eval mean return that counts as solved")
    ap.add_argument("--max-steps", type=int, default=200_000,
                    help="env steps after which a run is unsolved (default 200000)")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="wall-clock cap per run (default 600)")
    ap.add_argument(
        "--myriad", "--myriad-bin", dest="myriad",
        help=f"Myriad binary (default: $CARGO_TARGET_DIR/release/myriad if present, else {DEFAULT_MYRIAD_BIN})",
    )
    ap.add_argument("--myriad-backend", help="passed to myriad as --backend (default: its own default)")
    ap.add_argument("--json", "--json-out", dest="json", metavar="FILE", help="also write all results to FILE")
    ap.add_argument("--batch-sizes", type=batch_sizes, default=[64, 512],
                    help="minibatch sizes of the updates/s measurement (default 64,512)")
    ap.add_argument("--updates", type=int, default=1000, help="timed gradient updates per measurement (default 1000)")
    ap.add_argument("--warmup-updates", type=int, default=100, help="sb3 updates before the clock starts (default 100)")
    ap.add_argument("--update-iterations", type=int, default=4,
                    help="Myriad iterations the timed updates are spread over, after one warm-up iteration (default 4)")
    ap.add_argument("--update-runs", type=int, default=1,
                    help="updates/s measurements per peer and batch size, median reported (default 1)")
    ap.add_argument("--fill", type=int, default=10_000,
                    help="random transitions in sb3's replay buffer before timing updates (default 10000)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for sb3 (default 1)")
    ap.add_argument("--_worker", nargs=2, metavar=("KIND", "VALUE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for name in ["seeds", "max_steps", "updates", "update_iterations", "update_runs", "fill", "threads"]:
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup_updates < 0:
        ap.error("--warmup-updates must be at least 0")
    if args.fill < max(args.batch_sizes):
        ap.error("--fill must be at least the largest batch size")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker:
        run_worker(args)
        return 0

    peers = parse_peers(args.peers, PEERS)
    skipped: dict[str, str] = {}
    myriad_bin = None
    for p in peers:
        if p == "myriad":
            myriad_bin = resolve_myriad(args.myriad)
            if myriad_bin is None:
                wanted = args.myriad or DEFAULT_MYRIAD_BIN
                skipped[p] = f"binary `{wanted}` not found; build it with `{INSTALL_HINTS[p]}`"
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
    if "sb3" in skipped and "myriad" not in skipped:
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

    rates: dict[str, dict[int, list[dict]]] = {p: {b: [] for b in args.batch_sizes} for p in active}
    for b in args.batch_sizes:
        for p in active:
            for _ in range(args.update_runs):
                r = run_myriad_updates(b, args, myriad_bin) if p == "myriad" else run_sb3_updates(b, args)
                rates[p][b].append(r)
                print(updates_line(p, r, b), flush=True)

    summary = {p: summarise(runs[p], rates[p]) for p in active}
    goals = targets(summary, args.batch_sizes)
    print()
    print(render_summary(summary, peers, skipped, goals, args))

    if args.json:
        payload = {
            "env": ENV_ID,
            "settings": {
                **{k: getattr(args, k) for k in [
                    "seeds", "target", "max_steps", "max_seconds", "batch_sizes", "updates", "warmup_updates",
                    "update_iterations", "update_runs", "fill", "threads", "myriad_backend",
                ]},
                "eval_every": EVAL_EVERY,
                "eval_episodes": EVAL_EPISODES,
                "sb3_zoo": SB3_ZOO,
            },
            "machine": info,
            "skipped": skipped,
            "runs": runs,
            "updates": {p: {str(b): rs for b, rs in by_b.items()} for p, by_b in rates.items()},
            "summary": {p: {**s, "updates_per_s": {str(b): v for b, v in s["updates_per_s"].items()}}
                        for p, s in summary.items()},
            "targets": goals,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
