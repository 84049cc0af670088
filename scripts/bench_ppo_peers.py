#!/usr/bin/env python3
"""Side-by-side PPO benchmark on CartPole-v1: Myriad vs. peer implementations.

What it measures
----------------
For each "peer" and each seed, PPO is trained on CartPole-v1 until (by
default) a **deterministic (greedy) evaluation** reaches the target mean
return (``--target``, default 475), and the run records:

* wall-clock seconds to solve (headline), split where the peer allows into
  setup, training (rollouts + updates), evaluation and JIT compile time;
* env steps consumed when the target was first reached;
* training throughput: env steps / training seconds (rollouts + updates,
  without evaluation, setup or compile time).

Peers
-----
* ``sb3`` -- Stable-Baselines3 PPO (PyTorch, CPU) with the tuned rl-zoo3
  hyperparameters for CartPole-v1 (``hyperparams/ppo.yml`` of
  rl-baselines3-zoo): 8 envs (DummyVecEnv), MlpPolicy (64-64 tanh),
  n_steps 32, batch_size 256, n_epochs 20, gamma 0.98, gae_lambda 0.8,
  ent_coef 0.0, learning_rate lin_1e-3, clip_range lin_0.2, over the zoo's
  budget of 1e5 env steps (``--sb3-timesteps``; the linear schedules decay to
  zero over this budget, as in the zoo). Torch runs with ``--threads``
  intra-op threads (default 1). A callback evaluates every ``--eval-every``
  env steps and stops training once the target is met.
* ``jax`` -- a PureJaxRL-style PPO written in JAX (flax + optax) on gymnax's
  CartPole-v1: actor and critic MLPs 64-64 tanh, 4 envs x 128 steps per
  update, 4 epochs x 4 minibatches, Adam lr 2.5e-4 annealed linearly over
  5e5 env steps (``--jax-timesteps``), gamma 0.99, GAE lambda 0.95, clip 0.2,
  entropy 0.01, value 0.5, grad-norm clip 0.5. PureJaxRL jits the whole
  training loop as one ``lax.scan``; here one jitted call runs a ``lax.scan``
  over the updates that fit in ``--eval-every`` env steps, and a jitted,
  vmapped greedy evaluation runs after each call. Compilation (ahead of time,
  timed separately) is part of the wall-clock to solve.
* ``myriad`` -- this project's binary, run as
  ``myriad train ppo --env CartPole-v1 --seed S --stop-reward TARGET
  --stop-seconds MAX --json`` in a scratch working folder (so its run folder
  is thrown away); its last stdout line is ``{"solved": bool,
  "env_steps": int, "wall_s": float, "episode_return_mean": float,
  "eval_return_mean": float or null}``. Its self-reported ``wall_s`` is the
  headline; the subprocess's own wall-clock is recorded too. Throughput is
  ``env_steps / wall_s``. Myriad uses its tuned CartPole config
  (``tuned/cartpole-ppo.toml``), which stops on the mean of 32 greedy
  evaluation episodes run every 2 iterations (4096 env steps); the defaults
  of ``--eval-every`` and ``--eval-episodes`` match that cadence.

Evaluation (sb3 and jax): ``--eval-episodes`` (default 32) episodes run in
parallel with greedy actions, each scored by the return of its first episode
(at most 500 steps); the run is solved when their mean is >= the target.
Evaluation time is included in the wall-clock to solve and reported
separately. Imports and interpreter start-up are not timed. Greedy CartPole
policies reach 500 long before the sampling policy does, so
``--solve-on train`` instead stops on the mean return of recent training
episodes (sb3: its last 100 episodes; jax: the episodes finished since the
previous evaluation), still evaluating at the same points. Myriad stops on
its own ``--stop-reward`` criterion either way.

Every Python run is a fresh subprocess (no shared threads, caches or JIT
state between runs); runs are executed one at a time. A run stops unsolved
at its timestep budget or after ``--max-seconds``. Peers whose modules or
binary are missing are skipped with the command that installs them.

Output: machine info, one line per run, then a Markdown summary table
(medians over solved runs; ratios are peer median / Myriad median).
``--json-out FILE`` also writes every number.

Example::

    python scripts/bench_ppo_peers.py --seeds 3 --peers sb3,jax,myriad \\
        --target 475 --max-seconds 600 --json-out bench_ppo_peers.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
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
)

ENV_ID = "CartPole-v1"
PEERS = ["sb3", "jax", "myriad"]
PEER_TITLES = {
    "sb3": "Stable-Baselines3 (torch-CPU)",
    "jax": "PureJaxRL-style (jax-CPU, gymnax)",
    "myriad": "Myriad",
}
PEER_MODULES = {
    "sb3": ["torch", "stable_baselines3", "gymnasium"],
    "jax": ["jax", "gymnax", "flax", "optax"],
}
INSTALL_HINTS = {
    "sb3": "pip install torch --index-url https://download.pytorch.org/whl/cpu && "
    "pip install stable-baselines3 gymnasium",
    "jax": "pip install jax gymnax flax optax",
    "myriad": "cargo build --release",
}
CRITERIA = {
    "eval": "greedy evaluation mean",
    "train": "mean return of recent training episodes",
}
RESULT_PREFIX = "PPO_RESULT "
DEFAULT_MYRIAD_BIN = "target/release/myriad"
WORKER_SLACK_S = 300.0  # extra subprocess time for imports and JIT compilation


# --------------------------------------------------------------------------
# Stable-Baselines3 worker
# --------------------------------------------------------------------------


def worker_sb3(seed: int, args) -> dict:
    import numpy as np
    import torch
    import gymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(args.threads)

    def linear(initial: float):
        # rl-zoo3's `lin_<x>`: scales with SB3's progress_remaining (1 -> 0).
        return lambda progress_remaining: progress_remaining * initial

    eval_seed = [seed + 10_000]  # seeds the eval envs once; later resets continue their RNG

    def evaluate(model, eval_env, episodes: int) -> float:
        obs, _ = eval_env.reset(seed=eval_seed.pop() if eval_seed else None)
        returns = np.zeros(episodes)
        alive = np.ones(episodes, dtype=bool)
        for _ in range(10_000):
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = eval_env.step(action)
            returns += reward * alive
            alive &= ~(terminated | truncated)
            if not alive.any():
                break
        return float(returns.mean())

    class SolveCallback(BaseCallback):
        def __init__(self, eval_env, t_start: float):
            super().__init__()
            self.eval_env = eval_env
            self.t_start = t_start
            self.next_eval = args.eval_every
            self.eval_s = 0.0
            self.evals = 0
            self.last_eval = None
            self.solved_at = None
            self.timed_out = False

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval += args.eval_every
            t = time.perf_counter()
            self.last_eval = evaluate(self.model, self.eval_env, args.eval_episodes)
            self.eval_s += time.perf_counter() - t
            self.evals += 1
            if args.solve_on == "train":
                returns = [ep["r"] for ep in self.model.ep_info_buffer]
                score = float(np.mean(returns)) if returns else None
            else:
                score = self.last_eval
            if score is not None and score >= args.target:
                self.solved_at = self.num_timesteps
                return False
            if time.perf_counter() - self.t_start >= args.max_seconds:
                self.timed_out = True
                return False
            return True

    t0 = time.perf_counter()
    env = make_vec_env(ENV_ID, n_envs=8, seed=seed)
    eval_env = gymnasium.make_vec(ENV_ID, num_envs=args.eval_episodes, vectorization_mode="vector_entry_point")
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    cb = SolveCallback(eval_env, t0)
    setup_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    model.learn(total_timesteps=int(args.sb3_timesteps), callback=cb)
    learn_s = time.perf_counter() - t1
    total_s = time.perf_counter() - t0
    ep_returns = [ep["r"] for ep in model.ep_info_buffer]
    train_s = learn_s - cb.eval_s
    steps = int(model.num_timesteps)
    return {
        "solved": cb.solved_at is not None,
        "env_steps": cb.solved_at if cb.solved_at is not None else steps,
        "wall_s": total_s,
        "setup_s": setup_s,
        "train_s": train_s,
        "eval_s": cb.eval_s,
        "evals": cb.evals,
        "steps_per_s": steps / train_s if train_s > 0 else None,
        "eval_return_mean": cb.last_eval,
        "episode_return_mean": float(np.mean(ep_returns)) if ep_returns else None,
        "timed_out": cb.timed_out,
        "torch_threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------
# PureJaxRL-style worker
# --------------------------------------------------------------------------

JAX_CONFIG = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
}


def worker_jax(seed: int, args) -> dict:
    from typing import NamedTuple

    import jax
    import jax.numpy as jnp
    import numpy as np
    import flax.linen as nn
    import gymnax
    import optax
    from flax.linen.initializers import constant, orthogonal
    from flax.training.train_state import TrainState

    cfg = dict(JAX_CONFIG)
    batch_size = cfg["NUM_ENVS"] * cfg["NUM_STEPS"]
    num_updates = int(args.jax_timesteps) // batch_size
    minibatch_size = batch_size // cfg["NUM_MINIBATCHES"]
    updates_per_call = max(1, math.ceil(args.eval_every / batch_size))

    class ActorCritic(nn.Module):
        action_dim: int

        @nn.compact
        def __call__(self, x):
            a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
            a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(a))
            logits = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0))(a)
            c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
            c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(c))
            value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(c)
            return logits, jnp.squeeze(value, axis=-1)

    class Transition(NamedTuple):
        done: jnp.ndarray
        action: jnp.ndarray
        value: jnp.ndarray
        reward: jnp.ndarray
        log_prob: jnp.ndarray
        obs: jnp.ndarray

    def log_prob_of(logits, action):
        return jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], axis=-1)[..., 0]

    def entropy_of(logits):
        logp = jax.nn.log_softmax(logits)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)

    t0 = time.perf_counter()
    env, env_params = gymnax.make(ENV_ID)
    network = ActorCritic(env.action_space(env_params).n)
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def linear_schedule(count):
        frac = 1.0 - (count // (cfg["NUM_MINIBATCHES"] * cfg["UPDATE_EPOCHS"])) / num_updates
        return cfg["LR"] * jnp.maximum(frac, 0.0)

    tx = optax.chain(
        optax.clip_by_global_norm(cfg["MAX_GRAD_NORM"]),
        optax.adam(learning_rate=linear_schedule, eps=1e-5),
    )

    def init(rng):
        # Returns runner_state: (train_state, env_state, obs, rng, (running return
        # per env, sum and count of the returns of episodes completed since the
        # last train_chunk call)).
        k_init, k_reset, k_run = jax.random.split(rng, 3)
        params = network.init(k_init, jnp.zeros(env.observation_space(env_params).shape))
        train_state = TrainState.create(apply_fn=network.apply, params=params, tx=tx)
        obs, env_state = v_reset(jax.random.split(k_reset, cfg["NUM_ENVS"]), env_params)
        episode_stats = (jnp.zeros(cfg["NUM_ENVS"]), jnp.float32(0.0), jnp.float32(0.0))
        return (train_state, env_state, obs, k_run, episode_stats)

    def update_step(runner_state, _):
        def env_step(runner_state, _):
            train_state, env_state, last_obs, rng, (ep_ret, done_sum, done_count) = runner_state
            rng, k_act, k_step = jax.random.split(rng, 3)
            logits, value = network.apply(train_state.params, last_obs)
            action = jax.random.categorical(k_act, logits)
            log_prob = log_prob_of(logits, action)
            obs, env_state, reward, terminated, truncated, _ = v_step(
                jax.random.split(k_step, cfg["NUM_ENVS"]), env_state, action, env_params
            )
            done = jnp.logical_or(terminated, truncated)
            transition = Transition(done, action, value, reward, log_prob, last_obs)
            ep_ret = ep_ret + reward
            stats = (ep_ret * (1 - done), done_sum + (ep_ret * done).sum(), done_count + done.sum())
            return (train_state, env_state, obs, rng, stats), transition

        runner_state, traj = jax.lax.scan(env_step, runner_state, None, cfg["NUM_STEPS"])
        train_state, env_state, last_obs, rng, stats = runner_state
        _, last_val = network.apply(train_state.params, last_obs)

        def gae_step(carry, t):
            gae, next_value = carry
            delta = t.reward + cfg["GAMMA"] * next_value * (1 - t.done) - t.value
            gae = delta + cfg["GAMMA"] * cfg["GAE_LAMBDA"] * (1 - t.done) * gae
            return (gae, t.value), gae

        _, advantages = jax.lax.scan(
            gae_step, (jnp.zeros_like(last_val), last_val), traj, reverse=True, unroll=16
        )
        targets = advantages + traj.value

        def update_epoch(update_state, _):
            def update_minibatch(train_state, batch):
                traj, gae, targets = batch

                def loss_fn(params):
                    logits, value = network.apply(params, traj.obs)
                    log_prob = log_prob_of(logits, traj.action)
                    value_clipped = traj.value + (value - traj.value).clip(-cfg["CLIP_EPS"], cfg["CLIP_EPS"])
                    value_loss = 0.5 * jnp.maximum(
                        jnp.square(value - targets), jnp.square(value_clipped - targets)
                    ).mean()
                    ratio = jnp.exp(log_prob - traj.log_prob)
                    norm_gae = (gae - gae.mean()) / (gae.std() + 1e-8)
                    actor_loss = -jnp.minimum(
                        ratio * norm_gae,
                        jnp.clip(ratio, 1.0 - cfg["CLIP_EPS"], 1.0 + cfg["CLIP_EPS"]) * norm_gae,
                    ).mean()
                    entropy = entropy_of(logits).mean()
                    return actor_loss + cfg["VF_COEF"] * value_loss - cfg["ENT_COEF"] * entropy

                grads = jax.grad(loss_fn)(train_state.params)
                return train_state.apply_gradients(grads=grads), None

            train_state, traj, advantages, targets, rng = update_state
            rng, k_perm = jax.random.split(rng)
            perm = jax.random.permutation(k_perm, batch_size)
            batch = jax.tree_util.tree_map(
                lambda x: x.reshape((batch_size,) + x.shape[2:]), (traj, advantages, targets)
            )
            minibatches = jax.tree_util.tree_map(
                lambda x: jnp.take(x, perm, axis=0).reshape(
                    (cfg["NUM_MINIBATCHES"], minibatch_size) + x.shape[1:]
                ),
                batch,
            )
            train_state, _ = jax.lax.scan(update_minibatch, train_state, minibatches)
            return (train_state, traj, advantages, targets, rng), None

        update_state = (train_state, traj, advantages, targets, rng)
        update_state, _ = jax.lax.scan(update_epoch, update_state, None, cfg["UPDATE_EPOCHS"])
        train_state, rng = update_state[0], update_state[-1]
        return (train_state, env_state, last_obs, rng, stats), None

    def train_chunk(runner_state):
        ep_ret = runner_state[-1][0]
        runner_state = runner_state[:-1] + ((ep_ret, jnp.float32(0.0), jnp.float32(0.0)),)
        runner_state, _ = jax.lax.scan(update_step, runner_state, None, updates_per_call)
        return runner_state

    n_eval = args.eval_episodes
    max_eval_steps = int(env_params.max_steps_in_episode)

    def evaluate(params, key):
        k_reset, k_steps = jax.random.split(key)
        obs, state = v_reset(jax.random.split(k_reset, n_eval), env_params)

        def body(carry, k):
            obs, state, returns, alive = carry
            logits, _ = network.apply(params, obs)
            action = jnp.argmax(logits, axis=-1)
            obs, state, reward, terminated, truncated, _ = v_step(
                jax.random.split(k, n_eval), state, action, env_params
            )
            returns = returns + reward * alive
            alive = alive * (1.0 - jnp.logical_or(terminated, truncated))
            return (obs, state, returns, alive), None

        carry = (obs, state, jnp.zeros(n_eval), jnp.ones(n_eval))
        (_, _, returns, _), _ = jax.lax.scan(body, carry, jax.random.split(k_steps, max_eval_steps))
        return returns.mean()

    key = jax.random.PRNGKey(seed)
    eval_key = jax.random.PRNGKey(seed + 10_000)
    setup_s = time.perf_counter() - t0

    t = time.perf_counter()
    state_shape = jax.eval_shape(init, key)
    init_fn = jax.jit(init).lower(key).compile()
    train_fn = jax.jit(train_chunk).lower(state_shape).compile()
    eval_fn = jax.jit(evaluate).lower(state_shape[0].params, eval_key).compile()
    compile_s = time.perf_counter() - t

    t = time.perf_counter()
    runner_state = jax.block_until_ready(init_fn(key))
    setup_s += time.perf_counter() - t

    train_s = eval_s = 0.0
    updates = evals = 0
    solved = timed_out = False
    last_eval = episode_return_mean = None
    while updates < num_updates:
        t = time.perf_counter()
        runner_state = train_fn(runner_state)
        jax.block_until_ready(runner_state)
        train_s += time.perf_counter() - t
        updates += updates_per_call
        _, done_sum, done_count = runner_state[-1]
        if float(done_count) > 0:
            episode_return_mean = float(done_sum) / float(done_count)

        t = time.perf_counter()
        eval_key, k = jax.random.split(eval_key)
        last_eval = float(eval_fn(runner_state[0].params, k))
        eval_s += time.perf_counter() - t
        evals += 1
        score = episode_return_mean if args.solve_on == "train" else last_eval
        if score is not None and score >= args.target:
            solved = True
            break
        if time.perf_counter() - t0 >= args.max_seconds:
            timed_out = True
            break
    total_s = time.perf_counter() - t0
    steps = updates * batch_size
    return {
        "solved": solved,
        "env_steps": steps,
        "wall_s": total_s,
        "setup_s": setup_s,
        "compile_s": compile_s,
        "train_s": train_s,
        "eval_s": eval_s,
        "evals": evals,
        "steps_per_s": steps / train_s if train_s > 0 else None,
        "eval_return_mean": last_eval,
        "episode_return_mean": episode_return_mean,
        "timed_out": timed_out,
        "updates_per_call": updates_per_call,
        "jax_backend": jax.default_backend(),
    }


def run_worker(args) -> None:
    peer, seed = args._worker[0], int(args._worker[1])
    if peer == "sb3":
        res = worker_sb3(seed, args)
    elif peer == "jax":
        res = worker_jax(seed, args)
    else:
        raise SystemExit(f"unknown worker peer {peer}")
    print_result(RESULT_PREFIX, res)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def run_python(peer: str, seed: int, args) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()),
        "--_worker", peer, str(seed),
        "--target", str(args.target),
        "--solve-on", args.solve_on,
        "--max-seconds", str(args.max_seconds),
        "--eval-every", str(args.eval_every),
        "--eval-episodes", str(args.eval_episodes),
        "--sb3-timesteps", str(args.sb3_timesteps),
        "--jax-timesteps", str(args.jax_timesteps),
        "--threads", str(args.threads),
    ]
    timeout = args.max_seconds + WORKER_SLACK_S
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    process_s = time.perf_counter() - t
    res, error = parse_result(p, RESULT_PREFIX)
    if error:
        return {"error": error}
    res["process_s"] = process_s
    return res


def run_myriad(seed: int, args, binary: Path) -> dict:
    cmd = [
        str(binary), "train", "ppo",
        "--env", ENV_ID,
        "--seed", str(seed),
        "--stop-reward", f"{args.target:g}",
        "--stop-seconds", f"{args.max_seconds:g}",
        "--json",
    ]
    timeout = args.max_seconds + 60.0
    t = time.perf_counter()
    # Run in a scratch folder: the run folder (logs, checkpoints) lands there and is removed after.
    with tempfile.TemporaryDirectory(prefix="myriad_ppo_") as scratch:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=scratch)
        except subprocess.TimeoutExpired:
            return {
                "solved": False, "timed_out": True, "env_steps": None, "wall_s": timeout,
                "process_s": time.perf_counter() - t, "steps_per_s": None, "command": cmd,
            }
    process_s = time.perf_counter() - t
    raw, error = parse_result(p)
    if error:
        return {"error": error, "command": cmd}
    try:
        res = {
            "solved": bool(raw["solved"]),
            "env_steps": int(raw["env_steps"]),
            "wall_s": float(raw["wall_s"]),
            "episode_return_mean": raw.get("episode_return_mean"),
            "eval_return_mean": raw.get("eval_return_mean"),
        }
    except (KeyError, TypeError, ValueError):
        return {"error": f"unexpected JSON line {raw!r}", "command": cmd}
    res["steps_per_s"] = res["env_steps"] / res["wall_s"] if res["wall_s"] > 0 else None
    res["process_s"] = process_s
    res["timed_out"] = not res["solved"] and res["wall_s"] >= args.max_seconds
    res["command"] = cmd
    return res


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


def machine_info(myriad_bin: Path | None) -> dict:
    names = ["numpy", "gymnasium", "torch", "stable-baselines3", "jax", "jaxlib", "gymnax", "flax", "optax"]
    return common_machine_info(names, myriad_bin)


def fmt(x, spec: str = ".1f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def run_line(peer: str, seed: int, r: dict) -> str:
    head = f"[{peer} seed {seed}]"
    if "error" in r:
        return f"{head} error: {r['error']}"
    status = "solved" if r["solved"] else ("timed out" if r.get("timed_out") else "NOT solved")
    split = [
        f"{label} {r[key]:.1f} s"
        for key, label in [("setup_s", "setup"), ("compile_s", "compile"), ("train_s", "train"),
                           ("eval_s", "eval"), ("process_s", "process")]
        if r.get(key) is not None and (key != "process_s" or peer == "myriad")
    ]
    line = f"{head} {status} at {fmt(r.get('env_steps'), ',d')} env steps in {r['wall_s']:.1f} s"
    if split:
        line += " (" + ", ".join(split) + ")"
    return (
        f"{line}, {fmt(r.get('steps_per_s'), ',.0f')} train steps/s, "
        f"eval return {fmt(r.get('eval_return_mean'))}, "
        f"train episode return {fmt(r.get('episode_return_mean'))}"
    )


def median_or_none(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    solved = [r for r in ok if r["solved"]]
    return {
        "runs": len(runs),
        "solved": len(solved),
        "median_wall_s": median_or_none([r["wall_s"] for r in solved]),
        "median_env_steps": median_or_none([r["env_steps"] for r in solved]),
        "median_steps_per_s": median_or_none([r.get("steps_per_s") for r in ok]),
        "median_compile_s": median_or_none([r.get("compile_s") for r in ok]),
    }


def ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "n/a"


def render_summary(summary: dict, peers: list[str], skipped: dict, args) -> str:
    out = [
        f"### PPO on {ENV_ID}: time to a {CRITERIA[args.solve_on]} >= {args.target:g} "
        f"(medians over solved runs, {args.seeds} seed(s))",
        "",
        "| peer | solved | wall-clock to solve (s) | env steps to solve | train steps/s "
        "| wall-clock vs Myriad | env steps vs Myriad |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    my = summary.get("myriad") or {}
    for p in peers:
        if p in skipped:
            out.append(f"| {PEER_TITLES[p]} | skipped | | | | | |")
            continue
        s = summary[p]
        wall = fmt(s["median_wall_s"])
        if s.get("median_compile_s") is not None:
            wall += f" (compile {s['median_compile_s']:.1f})"
        out.append(
            f"| {PEER_TITLES[p]} | {s['solved']}/{s['runs']} | {wall} "
            f"| {fmt(s['median_env_steps'], ',.0f')} | {fmt(s['median_steps_per_s'], ',.0f')} "
            f"| {ratio(s['median_wall_s'], my.get('median_wall_s'))} "
            f"| {ratio(s['median_env_steps'], my.get('median_env_steps'))} |"
        )
    out.append("")
    out.append(
        "train steps/s = env steps / (rollout + update seconds), i.e. without evaluation, setup "
        "and compile time; for Myriad, env_steps / its reported wall_s. "
        "Ratios are peer median / Myriad median (above 1 = Myriad needs less)."
    )
    return "\n".join(out)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=3, help="runs per peer, seeds 0..N-1 (default 3)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of: %(default)s")
    ap.add_argument("--target", type=float, default=475.0, help="greedy eval mean return that counts as solved")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="wall-clock cap per run (default 600)")
    ap.add_argument(
        "--myriad-bin",
        help=f"Myriad binary (default: $CARGO_TARGET_DIR/release/myriad if present, else {DEFAULT_MYRIAD_BIN})",
    )
    ap.add_argument("--json-out", metavar="FILE", help="also write all results to FILE")
    ap.add_argument("--eval-every", type=int, default=4096, help="env steps between evaluations (default 4096)")
    ap.add_argument("--eval-episodes", type=int, default=32, help="greedy episodes per evaluation (default 32)")
    ap.add_argument(
        "--solve-on", choices=list(CRITERIA), default="eval",
        help="stop on the greedy eval mean (default) or on the mean return of recent training episodes",
    )
    ap.add_argument("--sb3-timesteps", type=float, default=1e5, help="sb3 budget and schedule horizon (default 1e5)")
    ap.add_argument("--jax-timesteps", type=float, default=5e5, help="jax budget and lr-anneal horizon (default 5e5)")
    ap.add_argument(
        "--threads", type=int, default=1,
        help="torch intra-op threads for sb3 (default 1: for a 64-64 MLP on batches of 256, more threads "
        "only add synchronisation, and on a busy machine they slow training down by an order of magnitude)",
    )
    ap.add_argument("--_worker", nargs=2, metavar=("PEER", "SEED"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


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
            myriad_bin = resolve_myriad(args.myriad_bin)
            if myriad_bin is None:
                wanted = args.myriad_bin or DEFAULT_MYRIAD_BIN
                skipped[p] = f"binary `{wanted}` not found; build it with `{INSTALL_HINTS[p]}`"
        else:
            ok, why = importable(PEER_MODULES[p])
            if not ok:
                skipped[p] = f"{why}; install with `{INSTALL_HINTS[p]}`"

    info = machine_info(myriad_bin)
    for line in machine_lines(info, no_load="n/a"):
        print(line)
    for p, why in skipped.items():
        print(f"skipped {p}: {why}")
    print(flush=True)

    results: dict[str, list[dict]] = {p: [] for p in peers if p not in skipped}
    for p in results:
        for seed in range(args.seeds):
            r = run_myriad(seed, args, myriad_bin) if p == "myriad" else run_python(p, seed, args)
            r["seed"] = seed
            results[p].append(r)
            print(run_line(p, seed, r), flush=True)

    summary = {p: summarise(runs) for p, runs in results.items()}
    print()
    print(render_summary(summary, peers, skipped, args))

    if args.json_out:
        payload = {
            "env": ENV_ID,
            "settings": {
                k: getattr(args, k)
                for k in ["seeds", "target", "solve_on", "max_seconds", "eval_every", "eval_episodes",
                          "sb3_timesteps", "jax_timesteps", "threads"]
            },
            "machine": info,
            "skipped": skipped,
            "runs": results,
            "summary": summary,
        }
        Path(args.json_out).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
