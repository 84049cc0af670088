#!/usr/bin/env python3
"""Side-by-side PQN benchmark on CartPole-v1: Myriad vs. a PQN written in JAX on gymnax.

PQN is Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning": Q(lambda) on rollouts of many
parallel envs, epsilon-greedy, a LayerNorm after each hidden layer of the Q network, no replay buffer and no
target network.

What it measures
----------------
1. **Wall-clock to solve** (headline): for each peer and each seed
   (``--seeds``, default 3: seeds 0..N-1), PQN trains on CartPole-v1 until a
   greedy evaluation -- 32 episodes with argmax actions, each env scored by
   its first episode (at most 500 steps) -- has a mean return >= ``--target``
   (475). A run that has not got there after ``--max-steps`` env steps
   (1,000,000) or ``--max-seconds`` (600) is unsolved. The clock covers the
   whole process:

   * jax: from the first line of this script in a fresh Python process (one
     per seed; ``time.time()`` is read before any other import, so importing
     jax and the XLA compilation of the training and evaluation functions
     count) to the end of the evaluation that reaches the target. The
     training loop is jitted in chunks: one compiled call runs a
     ``jax.lax.scan`` over K iterations, K = round(``--chunk-steps`` /
     2,048) (default 20,000: K = 10, 20,480 env steps), and after each chunk
     a jitted greedy evaluation steps 32 vmapped gymnax envs for 500 steps.
     A run that reaches ``--max-steps`` stops after the chunk that gets there
     (up to a chunk past it; Myriad likewise stops after the iteration that
     gets there);
   * myriad: from spawning ``myriad train pqn`` to its exit (it exits as soon
     as an evaluation reaches the target, after writing its checkpoint). Its
     tuned config evaluates every 5 iterations (10,240 env steps).

2. **Training env steps per second** at ``--throughput-envs`` envs (4,096),
   ``--throughput-runs`` measurements (default 1, median taken) per peer,
   with 16 steps an iteration (train_batch_size = 16 x envs = 65,536) and
   minibatch = envs (4,096: 16 minibatches an epoch, as in the tuned config),
   4 epochs, no evaluation:

   * jax: a fresh process compiles one iteration (collect, lambda-returns,
     4 x 16 updates) as one jitted function, runs it once as a warm-up, then
     runs it ``--throughput-iterations`` (5) times, blocking on each result;
     rate = env steps / the summed seconds of those iterations;
   * myriad: ``myriad train pqn --env CartPole-v1
     --set env_runners.num_envs_per_env_runner=4096
     --set env_runners.rollout_fragment_length=16
     --set training.train_batch_size=65536 --set training.minibatch_size=4096
     --set evaluation.evaluation_interval=0 --stop-timesteps (1+I)*65536
     --stop-reward 1e9 --checkpoint-frequency 0 --json --out <tmp>``
     (I = ``--throughput-iterations``; the stop reward is never reached, so
     the run is exactly 1 + I iterations). Its progress.jsonl gives each
     iteration's ``num_env_steps_sampled_lifetime`` and
     ``timers/training_iteration`` (collection, lambda-returns, updates and
     the one device-to-host read of the metrics); rate = the env steps of the
     iterations after the first (the warm-up) over their summed
     ``timers/training_iteration``. ``timers/learner_update`` and
     ``timers/env_runner_sampling`` are recorded beside it.

Peers
-----
Both run the hyperparameters of Myriad's tuned config
(``tuned/cartpole-pqn.toml``): 32 envs x 64 steps an iteration (2,048 env
steps), Adam (eps 1e-5) at lr 1e-3, gamma 0.99, lambda 0.65, epsilon from 1 to
0.05 linearly over the first 50,000 env steps (the value at the iteration's
first env step is used for the whole iteration), 4 epochs of minibatches of
128 (16 an epoch), gradients clipped to a global norm of 10, a Q network of
two 128-wide ReLU layers each after a LayerNorm of its Dense output
(Dense -> LayerNorm -> ReLU), then a linear Q head; loss 0.5 x the mean
squared error of Q(s, a) against the lambda-return.

* ``jax`` -- a PQN written for this script in the style of the paper's
  reference code (purejaxql's ``pqn_gymnax.py``): gymnax's CartPole-v1
  vmapped, the flax MLP above, optax ``chain(clip_by_global_norm(10),
  adam(1e-3, eps=1e-5))``, the rollout a ``jax.lax.scan`` of epsilon-greedy
  steps storing max_a Q(s_t) of the collecting network, lambda-returns
  computed backwards by a reversed ``jax.lax.scan`` with max_a Q bootstraps,
  G_t = r_t + gamma x {0 if terminated; max_a Q(final obs) if truncated at
  500 steps; (1 - lambda) max_a Q(s_t+1) + lambda G_t+1 otherwise} (the same
  recursion as Myriad's ``returns/lambda.rs``; gymnax 1.x reports terminated
  and truncated apart and keeps the final observation), then num_epochs
  ``jax.lax.scan``s over shuffled minibatches. XLA runs on jax's default
  backend (the CPU with the PyPI ``jax`` wheel), which is recorded.
* ``myriad`` -- this project's binary (``--myriad PATH``, default
  ``$CARGO_TARGET_DIR/release/myriad``, else ``target/release/myriad``) run as
  ``myriad train pqn --env CartPole-v1 --seed S --stop-reward TARGET
  --stop-timesteps MAX_STEPS --stop-seconds MAX_SECONDS --json --out <tmp>``
  in a scratch folder (with no ``--config`` it uses the tuned config, which
  evaluates 32 greedy episodes every 5 iterations and stops at a mean of
  475); its last stdout line is ``{"solved", "env_steps", "wall_s",
  "episode_return_mean", "eval_return_mean"}``, and progress.jsonl says at
  which iteration an evaluation first reached the target.

Every run is its own process, one at a time. A peer whose modules or binary
are missing is skipped with the command that installs or builds it.

Output: machine info, one line per run, then a Markdown table (medians;
ratios are Myriad / JAX) and whether the targets are met: Myriad's median
wall-clock to solve at most 1/3 of JAX's, and its env steps/s at
``--throughput-envs`` envs at least 2x JAX's. ``--json FILE`` also writes
every number as one JSON object.

Example::

    /tmp/pqn-venv/bin/python scripts/bench_pqn_peers.py --seeds 3 --json bench_pqn_peers.json
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # first, before the other imports: a jax worker's clock starts with its process

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

ENV_ID = "CartPole-v1"
PEERS = ["jax", "myriad"]
PEER_TITLES = {
    "jax": "JAX PQN (purejaxql-style, gymnax)",
    "myriad": "Myriad PQN",
}
PEER_MODULES = {"jax": ["jax", "gymnax", "flax", "optax"]}
INSTALL_HINTS = {
    "jax": "pip install jax gymnax flax optax",
    "myriad": "cargo build --release",
}
RESULT_PREFIX = "PQN_RESULT "
DEFAULT_MYRIAD_BIN = "target/release/myriad"
WORKER_SLACK_S = 300.0  # extra subprocess time for imports and compilation
WALL_TARGET = 3.0  # Myriad's median wall-clock to solve at most 1/3 of JAX's
THROUGHPUT_TARGET = 2.0  # Myriad's env steps/s at least 2x JAX's

# Myriad's tuned CartPole PQN config (tuned/cartpole-pqn.toml); the JAX peer runs the same.
PQN = {
    "num_envs": 32,
    "rollout_fragment_length": 64,
    "train_batch_size": 2048,
    "minibatch_size": 128,
    "num_epochs": 4,
    "lr": 1e-3,
    "adam_eps": 1e-5,
    "gamma": 0.99,
    "lambda": 0.65,
    "epsilon_start": 1.0,
    "epsilon_end": 0.05,
    "epsilon_steps": 50_000,
    "grad_clip": 10.0,
    "hiddens": [128, 128],
    "layer_norm": True,
}
MYRIAD_EVAL_INTERVAL = 5  # iterations between the tuned config's evaluations
EVAL_EPISODES = 32
THROUGHPUT_FRAGMENT = 16  # env steps per env an iteration in the throughput measurement
THROUGHPUT_MINIBATCHES = 16  # minibatches an epoch there (minibatch = envs), as in the tuned config
NEVER_REACHED_REWARD = "1e9"  # Myriad's --stop-reward in the throughput runs


# --------------------------------------------------------------------------
# JAX PQN (each worker in its own process)
# --------------------------------------------------------------------------


def make_jax_pqn(num_envs: int, num_steps: int, minibatch_size: int):
    """PQN's pure functions for `num_envs` gymnax CartPoles x `num_steps` steps an iteration.

    Returns a namespace with `init(key) -> state`, `iteration(state) -> (state, metrics)`, `evaluate(params, key)
    -> mean return of EVAL_EPISODES greedy episodes`, and `batch` (env steps an iteration).
    """
    from types import SimpleNamespace
    from typing import NamedTuple

    import flax.linen as nn
    import gymnax
    import jax
    import jax.numpy as jnp
    import optax

    c = PQN
    batch = num_envs * num_steps
    if batch % minibatch_size:
        raise SystemExit(f"batch {batch} is not a multiple of the minibatch {minibatch_size}")
    num_minibatches = batch // minibatch_size
    env, env_params = gymnax.make(ENV_ID)
    num_actions = env.action_space(env_params).n
    obs_shape = env.observation_space(env_params).shape
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    class QNetwork(nn.Module):
        hiddens: tuple
        num_actions: int
        layer_norm: bool

        @nn.compact
        def __call__(self, x):
            for width in self.hiddens:
                x = nn.Dense(width)(x)
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
                x = nn.relu(x)
            return nn.Dense(self.num_actions)(x)

    network = QNetwork(tuple(c["hiddens"]), num_actions, c["layer_norm"])
    tx = optax.chain(optax.clip_by_global_norm(c["grad_clip"]), optax.adam(c["lr"], eps=c["adam_eps"]))

    class Transition(NamedTuple):
        obs: jnp.ndarray
        action: jnp.ndarray
        reward: jnp.ndarray
        terminated: jnp.ndarray
        truncated: jnp.ndarray
        final_obs: jnp.ndarray
        max_q: jnp.ndarray  # max_a Q(s_t, a) of the collecting network

    class State(NamedTuple):
        params: dict
        opt_state: tuple
        env_state: object
        obs: jnp.ndarray
        rng: jnp.ndarray
        env_steps: jnp.ndarray
        episode_return: jnp.ndarray  # running return of each env's current episode
        finished_sum: jnp.ndarray  # returns of the episodes finished since `finished_sum` was last zeroed
        finished_count: jnp.ndarray

    def epsilon_at(env_steps):
        frac = jnp.minimum(env_steps / c["epsilon_steps"], 1.0)
        return c["epsilon_start"] + frac * (c["epsilon_end"] - c["epsilon_start"])

    def init(key):
        k_net, k_reset, k_run = jax.random.split(key, 3)
        params = network.init(k_net, jnp.zeros(obs_shape))
        obs, env_state = v_reset(jax.random.split(k_reset, num_envs), env_params)
        return State(params, tx.init(params), env_state, obs, k_run, jnp.int32(0),
                     jnp.zeros(num_envs), jnp.float32(0.0), jnp.float32(0.0))

    def iteration(s: State):
        epsilon = epsilon_at(s.env_steps)

        # ---- 1. Collect: num_steps steps of num_envs envs, epsilon-greedy with the current network ----
        def env_step(carry, _):
            env_state, obs, rng, ep_ret, fin_sum, fin_count = carry
            rng, k_explore, k_random, k_step = jax.random.split(rng, 4)
            q = network.apply(s.params, obs)
            explore = jax.random.uniform(k_explore, (num_envs,)) < epsilon
            random_action = jax.random.randint(k_random, (num_envs,), 0, num_actions)
            action = jnp.where(explore, random_action, jnp.argmax(q, axis=-1))
            next_obs, env_state, reward, terminated, truncated, info = v_step(
                jax.random.split(k_step, num_envs), env_state, action, env_params
            )
            done = jnp.logical_or(terminated, truncated)
            ep_ret = ep_ret + reward
            fin_sum = fin_sum + jnp.sum(jnp.where(done, ep_ret, 0.0))
            fin_count = fin_count + jnp.sum(done)
            ep_ret = jnp.where(done, 0.0, ep_ret)
            tr = Transition(obs, action, reward, terminated, truncated, info["final_observation"], q.max(axis=-1))
            return (env_state, next_obs, rng, ep_ret, fin_sum, fin_count), tr

        carry = (s.env_state, s.obs, s.rng, s.episode_return, s.finished_sum, s.finished_count)
        carry, traj = jax.lax.scan(env_step, carry, None, num_steps)
        env_state, obs, rng, ep_ret, fin_sum, fin_count = carry

        # ---- 2. lambda-returns, backwards, from max_a Q of the collecting network ----
        def max_q(x):
            return network.apply(s.params, x).max(axis=-1)

        last_value = max_q(obs)
        final_value = max_q(traj.final_obs)  # [T, N]; used where truncated

        def return_step(nxt, t):
            next_return, next_value = nxt
            reward, terminated, truncated, final_v, value = t
            tail = jnp.where(
                terminated, 0.0,
                jnp.where(truncated, final_v, (1.0 - c["lambda"]) * next_value + c["lambda"] * next_return),
            )
            g = reward + c["gamma"] * tail
            return (g, value), g

        _, returns = jax.lax.scan(
            return_step, (last_value, last_value),
            (traj.reward, traj.terminated, traj.truncated, final_value, traj.max_q), reverse=True,
        )

        # ---- 3. Update: num_epochs passes of shuffled minibatches regressing Q(s, a) on G ----
        data = (traj.obs.reshape((batch,) + obs_shape), traj.action.reshape(batch), returns.reshape(batch))

        def loss_fn(params, mb):
            o, a, g = mb
            q = network.apply(params, o)
            q_taken = jnp.take_along_axis(q, a[:, None], axis=1)[:, 0]
            return 0.5 * jnp.mean(jnp.square(q_taken - g)), q_taken.mean()

        def minibatch_step(carry, mb):
            params, opt_state = carry
            (loss, qf), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, mb)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, qf)

        def epoch(carry, _):
            params, opt_state, rng = carry
            rng, k_perm = jax.random.split(rng)
            perm = jax.random.permutation(k_perm, batch)
            mbs = jax.tree.map(lambda x: x[perm].reshape((num_minibatches, minibatch_size) + x.shape[1:]), data)
            (params, opt_state), stats = jax.lax.scan(minibatch_step, (params, opt_state), mbs)
            return (params, opt_state, rng), stats

        (params, opt_state, rng), (losses, qfs) = jax.lax.scan(
            epoch, (s.params, s.opt_state, rng), None, c["num_epochs"]
        )
        new = State(params, opt_state, env_state, obs, rng, s.env_steps + batch, ep_ret, fin_sum, fin_count)
        metrics = {"loss": losses.mean(), "qf_mean": qfs.mean(), "lambda_return_mean": returns.mean(),
                   "epsilon": epsilon}
        return new, metrics

    max_eval_steps = int(env_params.max_steps_in_episode)

    def evaluate(params, key):
        k_reset, k_steps = jax.random.split(key)
        obs, env_state = v_reset(jax.random.split(k_reset, EVAL_EPISODES), env_params)

        def body(carry, k):
            obs, env_state, returns, alive = carry
            action = jnp.argmax(network.apply(params, obs), axis=-1)
            obs, env_state, reward, terminated, truncated, _ = v_step(
                jax.random.split(k, EVAL_EPISODES), env_state, action, env_params
            )
            returns = returns + reward * alive  # each env's first episode only
            alive = alive * (1.0 - jnp.logical_or(terminated, truncated))
            return (obs, env_state, returns, alive), None

        carry = (obs, env_state, jnp.zeros(EVAL_EPISODES), jnp.ones(EVAL_EPISODES))
        (_, _, returns, _), _ = jax.lax.scan(body, carry, jax.random.split(k_steps, max_eval_steps))
        return returns.mean()

    return SimpleNamespace(init=init, iteration=iteration, evaluate=evaluate, batch=batch,
                           num_minibatches=num_minibatches, State=State)


def jax_backend_info() -> dict:
    import jax

    return {"jax_backend": jax.default_backend(), "jax_devices": [str(d) for d in jax.devices()]}


def worker_jax_solve(seed: int, args) -> dict:
    import jax
    import jax.numpy as jnp

    imports_s = time.time() - PROCESS_START
    t = time.perf_counter()
    pqn = make_jax_pqn(PQN["num_envs"], PQN["rollout_fragment_length"], PQN["minibatch_size"])
    chunk_iterations = max(1, round(args.chunk_steps / pqn.batch))
    chunk_steps = chunk_iterations * pqn.batch

    def train_chunk(state):
        state = state._replace(finished_sum=jnp.float32(0.0), finished_count=jnp.float32(0.0))
        return jax.lax.scan(lambda s, _: pqn.iteration(s), state, None, chunk_iterations)

    key = jax.random.PRNGKey(seed)
    eval_key = jax.random.PRNGKey(seed + 10_000)
    setup_s = time.perf_counter() - t

    t = time.perf_counter()
    state_shape = jax.eval_shape(pqn.init, key)
    init_fn = jax.jit(pqn.init).lower(key).compile()
    chunk_fn = jax.jit(train_chunk).lower(state_shape).compile()
    eval_fn = jax.jit(pqn.evaluate).lower(state_shape.params, eval_key).compile()
    compile_s = time.perf_counter() - t

    t = time.perf_counter()
    state = jax.block_until_ready(init_fn(key))
    setup_s += time.perf_counter() - t

    train_s = eval_s = 0.0
    evals = 0
    solved = timed_out = False
    solved_time = None
    last_eval = episode_return_mean = None
    metrics = None
    env_steps = 0
    while env_steps < args.max_steps:
        t = time.perf_counter()
        state, metrics = chunk_fn(state)
        jax.block_until_ready(state)
        train_s += time.perf_counter() - t
        env_steps += chunk_steps
        if float(state.finished_count) > 0:
            episode_return_mean = float(state.finished_sum) / float(state.finished_count)

        t = time.perf_counter()
        eval_key, k = jax.random.split(eval_key)
        last_eval = float(eval_fn(state.params, k))  # float() waits for the result
        eval_s += time.perf_counter() - t
        evals += 1
        if last_eval >= args.target:
            solved = True
            solved_time = time.time()
            break
        if time.time() - PROCESS_START >= args.max_seconds:
            timed_out = True
            break
    end = solved_time if solved_time is not None else time.time()
    iterations = env_steps // pqn.batch
    return {
        "solved": solved,
        "env_steps": env_steps,
        "wall_s": end - PROCESS_START,
        "imports_s": imports_s,
        "setup_s": setup_s,
        "compile_s": compile_s,
        "train_s": train_s,
        "eval_s": eval_s,
        "evals": evals,
        "iterations": iterations,
        "chunk_iterations": chunk_iterations,
        "num_gradient_updates": iterations * PQN["num_epochs"] * pqn.num_minibatches,
        "train_steps_per_s": env_steps / train_s if train_s > 0 else None,
        "eval_return_mean": last_eval,
        "episode_return_mean": episode_return_mean,
        "final_loss": float(metrics["loss"][-1]) if metrics is not None else None,
        "final_epsilon": float(metrics["epsilon"][-1]) if metrics is not None else None,
        "timed_out": timed_out,
        "process_start": PROCESS_START,
        **jax_backend_info(),
    }


def worker_jax_throughput(num_envs: int, args) -> dict:
    import jax

    pqn = make_jax_pqn(num_envs, THROUGHPUT_FRAGMENT, num_envs * THROUGHPUT_FRAGMENT // THROUGHPUT_MINIBATCHES)
    key = jax.random.PRNGKey(0)
    t = time.perf_counter()
    state_shape = jax.eval_shape(pqn.init, key)
    init_fn = jax.jit(pqn.init).lower(key).compile()
    iteration_fn = jax.jit(pqn.iteration).lower(state_shape).compile()
    compile_s = time.perf_counter() - t
    state = jax.block_until_ready(init_fn(key))

    t = time.perf_counter()
    state, _ = iteration_fn(state)
    jax.block_until_ready(state)
    warmup_s = time.perf_counter() - t
    seconds = []
    for _ in range(args.throughput_iterations):
        t = time.perf_counter()
        state, metrics = iteration_fn(state)
        jax.block_until_ready((state, metrics))
        seconds.append(time.perf_counter() - t)
    steps = pqn.batch * args.throughput_iterations
    total = sum(seconds)
    return {
        "num_envs": num_envs,
        "train_batch_size": pqn.batch,
        "minibatch_size": pqn.batch // pqn.num_minibatches,
        "env_steps": steps,
        "seconds": total,
        "env_steps_per_s": steps / total,
        "iteration_s": seconds,
        "timed_iterations": len(seconds),
        "warmup_s": warmup_s,
        "compile_s": compile_s,
        "final_loss": float(metrics["loss"]),
        **jax_backend_info(),
    }


def run_worker(args) -> None:
    kind, value = args._worker[0], int(args._worker[1])
    if kind == "solve":
        res = worker_jax_solve(value, args)
    elif kind == "throughput":
        res = worker_jax_throughput(value, args)
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


def jax_cmd(kind: str, value: int, args) -> list[str]:
    return [
        sys.executable, str(Path(__file__).resolve()),
        "--_worker", kind, str(value),
        "--target", str(args.target),
        "--max-steps", str(args.max_steps),
        "--max-seconds", str(args.max_seconds),
        "--chunk-steps", str(args.chunk_steps),
        "--throughput-iterations", str(args.throughput_iterations),
    ]


def run_jax_solve(seed: int, args) -> dict:
    spawned = time.time()
    p, process_s, cpu_s = timed_run(jax_cmd("solve", seed, args), args.max_seconds + WORKER_SLACK_S)
    if p is None:
        return {"error": f"timed out after {process_s:.0f} s"}
    res, error = parse_result(p, RESULT_PREFIX)
    if error:
        return {"error": error}
    res["startup_s"] = res.pop("process_start") - spawned  # interpreter start-up, before the clock starts
    res["process_s"] = process_s
    res["cpu_s"] = cpu_s
    return res


def run_jax_throughput(num_envs: int, args) -> dict:
    p, process_s, cpu_s = timed_run(jax_cmd("throughput", num_envs, args), args.max_seconds + WORKER_SLACK_S)
    if p is None:
        return {"error": f"timed out after {process_s:.0f} s"}
    res, error = parse_result(p, RESULT_PREFIX)
    if error:
        return {"error": error}
    res["process_s"] = process_s
    res["cpu_s"] = cpu_s
    return res


def myriad_base(binary: Path, seed: int, out: Path, args) -> list[str]:
    cmd = [str(binary), "train", "pqn", "--env", ENV_ID, "--seed", str(seed)]
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


EVAL_KEY = "evaluation/env_runners/episode_return_mean"


def run_myriad_solve(seed: int, args, binary: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="myriad_pqn_") as scratch:
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
            evals = [ln for ln in lines if ln.get(EVAL_KEY) is not None]
            res["evals"] = len(evals)
            hit = next((ln for ln in evals if float(ln[EVAL_KEY]) >= args.target), None)
            res["solved_iteration"] = int(hit["training_iteration"]) if hit else None
            res["solved_env_steps"] = int(hit["num_env_steps_sampled_lifetime"]) if hit else None
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


def run_myriad_throughput(num_envs: int, args, binary: Path) -> dict:
    batch = num_envs * THROUGHPUT_FRAGMENT
    minibatch = batch // THROUGHPUT_MINIBATCHES
    with tempfile.TemporaryDirectory(prefix="myriad_pqn_throughput_") as scratch:
        out = Path(scratch) / "run"
        cmd = myriad_base(binary, 0, out, args) + [
            "--set", f"env_runners.num_envs_per_env_runner={num_envs}",
            "--set", f"env_runners.rollout_fragment_length={THROUGHPUT_FRAGMENT}",
            "--set", f"training.train_batch_size={batch}",
            "--set", f"training.minibatch_size={minibatch}",
            "--set", "evaluation.evaluation_interval=0",
            "--stop-timesteps", str(batch * (1 + args.throughput_iterations)),
            "--stop-reward", NEVER_REACHED_REWARD,  # the run lasts exactly 1 + I iterations
            "--checkpoint-frequency", "0",
        ]
        p, process_s, cpu_s = timed_run(cmd, args.max_seconds + 60.0, cwd=scratch)
        if p is None:
            return {"error": f"timed out after {process_s:.0f} s", "command": cmd}
        _, error = parse_result(p)
        if error:
            return {"error": error, "command": cmd}
        try:
            lines = read_progress(out / "progress.jsonl")
            if len(lines) < 2:
                return {"error": f"{len(lines)} iteration(s) in progress.jsonl; need a warm-up and more",
                        "command": cmd}
            timed = lines[1:]
            steps = int(lines[-1]["num_env_steps_sampled_lifetime"]) - int(lines[0]["num_env_steps_sampled_lifetime"])
            iteration_s = [float(field(ln, "timers", "training_iteration")) for ln in timed]
            update_s = sum(float(field(ln, "timers", "learner_update")) for ln in timed)
            sampling_s = sum(float(field(ln, "timers", "env_runner_sampling")) for ln in timed)
            warmup_s = float(field(lines[0], "timers", "training_iteration"))
        except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
            return {"error": f"reading progress.jsonl: {type(e).__name__}: {e}", "command": cmd}
    seconds = sum(iteration_s)
    if seconds <= 0:
        return {"error": "the timed iterations took no time", "command": cmd}
    return {
        "num_envs": num_envs,
        "train_batch_size": batch,
        "minibatch_size": minibatch,
        "env_steps": steps,
        "seconds": seconds,
        "env_steps_per_s": steps / seconds,
        "iteration_s": iteration_s,
        "timed_iterations": len(timed),
        "warmup_s": warmup_s,
        "learner_update_s": update_s,
        "env_runner_sampling_s": sampling_s,
        "process_s": process_s,
        "cpu_s": cpu_s,
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
        ("startup_s", "interpreter start"), ("imports_s", "imports"), ("compile_s", "compile"),
        ("setup_s", "setup"), ("train_s", "training"), ("eval_s", "eval"), ("learner_update_s", "updates"),
        ("reported_wall_s", "self-reported"), ("process_s", "spawn to exit"), ("cpu_s", "CPU"),
    ] if r.get(key) is not None]
    line = (
        f"{head} {status} at {fmt(r.get('env_steps'), ',d')} env steps in {r['wall_s']:.2f} s "
        f"({', '.join(parts)}), {fmt(r.get('num_gradient_updates'), ',d')} updates, {fmt(r.get('evals'), 'd')} evals, "
        f"eval return {fmt(r.get('eval_return_mean'))}, train episode return {fmt(r.get('episode_return_mean'))}"
    )
    if r.get("jax_backend"):
        line += f", jax backend {r['jax_backend']}"
    return line


def throughput_line(peer: str, r: dict, num_envs: int) -> str:
    head = f"[{peer} {num_envs} envs]"
    if "error" in r:
        return f"{head} error: {r['error']}"
    line = (f"{head} {r['env_steps']:,} env steps in {r['seconds']:.2f} s: {r['env_steps_per_s']:,.0f} env steps/s "
            f"({r['timed_iterations']} iteration(s) of {r['train_batch_size']:,} after a warm-up of {r['warmup_s']:.2f} s")
    if r.get("compile_s") is not None:
        line += f", compile {r['compile_s']:.1f} s"
    if r.get("learner_update_s") is not None:
        line += f"; updates {r['learner_update_s']:.2f} s, sampling {r['env_runner_sampling_s']:.2f} s"
    if r.get("jax_backend"):
        line += f"; jax backend {r['jax_backend']}"
    return line + ")"


def median_or_none(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict], rates: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    solved = [r for r in ok if r["solved"]]
    return {
        "runs": len(runs),
        "solved": len(solved),
        "median_wall_s": median_or_none([r["wall_s"] for r in solved]),
        "wall_s_per_seed": [r["wall_s"] if "error" not in r and r["solved"] else None for r in runs],
        "median_env_steps": median_or_none([r["env_steps"] for r in solved]),
        "env_steps_per_s": median_or_none([r.get("env_steps_per_s") for r in rates if "error" not in r]),
    }


def ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def targets(summary: dict, num_envs: int) -> list[dict]:
    """Myriad's median wall-clock to solve <= JAX's / 3; Myriad's env steps/s >= 2x JAX's."""
    jx, my = summary.get("jax") or {}, summary.get("myriad") or {}
    wall = ratio(my.get("median_wall_s"), jx.get("median_wall_s"))
    rate = ratio(my.get("env_steps_per_s"), jx.get("env_steps_per_s"))
    return [
        {
            "name": "wall-clock to solve",
            "want": f"Myriad's median <= 1/{WALL_TARGET:g} of JAX's",
            "myriad_over_jax": wall,
            "met": None if wall is None else wall <= 1.0 / WALL_TARGET,
        },
        {
            "name": f"training env steps/s at {num_envs:,} envs",
            "want": f"Myriad >= {THROUGHPUT_TARGET:g}x JAX",
            "myriad_over_jax": rate,
            "met": None if rate is None else rate >= THROUGHPUT_TARGET,
        },
    ]


def render_summary(summary: dict, peers: list[str], skipped: dict, goals: list[dict], args) -> str:
    n = args.throughput_envs
    out = [
        f"### PQN on {ENV_ID}: wall-clock to a greedy evaluation mean >= {args.target:g} "
        f"({EVAL_EPISODES} episodes), {args.seeds} seed(s); training env steps/s at {n:,} envs",
        "",
        "| peer | solved | wall-clock to solve, median (s) | per seed (s) | env steps to solve, median | "
        f"env steps/s @{n} envs |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for p in peers:
        if p in skipped:
            out.append(f"| {PEER_TITLES[p]} | skipped | | | | |")
            continue
        s = summary[p]
        seeds = ", ".join(fmt(w, ".2f", "unsolved") for w in s["wall_s_per_seed"])
        out.append(
            f"| {PEER_TITLES[p]} | {s['solved']}/{s['runs']} | {fmt(s['median_wall_s'], '.2f')} | {seeds} "
            f"| {fmt(s['median_env_steps'], ',.0f')} | {fmt(s['env_steps_per_s'], ',.0f')} |"
        )
    if "jax" in summary and "myriad" in summary:
        jx, my = summary["jax"], summary["myriad"]
        r = [ratio(my["median_wall_s"], jx["median_wall_s"]), ratio(my["median_env_steps"], jx["median_env_steps"]),
             ratio(my["env_steps_per_s"], jx["env_steps_per_s"])]
        cells = [fmt(x, ".2f", "n/a") + ("x" if x is not None else "") for x in r]
        out.append(f"| Myriad / JAX | | {cells[0]} | | {cells[1]} | {cells[2]} |")
    chunk_iterations = max(1, round(args.chunk_steps / PQN["train_batch_size"]))
    out += [
        "",
        "Wall-clock: JAX from the start of its Python process (imports and XLA compilation included) to the end of "
        "the evaluation that reaches the target, evaluating every "
        f"{chunk_iterations * PQN['train_batch_size']:,} env steps; Myriad from spawn to exit, evaluating every "
        f"{MYRIAD_EVAL_INTERVAL * PQN['train_batch_size']:,}. Medians over solved runs. env steps/s: "
        f"{args.throughput_iterations} iteration(s) of {n * THROUGHPUT_FRAGMENT:,} env steps after one warm-up "
        "iteration (JAX: the jitted iteration, blocking on each; Myriad: summed timers/training_iteration).",
        "",
        "Targets:",
    ]
    for t in goals:
        if t["met"] is None:
            verdict = "n/a (needs both peers)"
        else:
            verdict = f"Myriad/JAX {t['myriad_over_jax']:.2f}x: " + ("met" if t["met"] else "NOT met")
        out.append(f"- {t['name']} ({t['want']}): {verdict}")
    return "\n".join(out)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=3, help="solve runs per peer, seeds 0..N-1 (default 3)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of: %(default)s")
    ap.add_argument("--target", type=float, default=475.0, help="greedy eval mean return that counts as solved")
    ap.add_argument("--max-steps", type=int, default=1_000_000,
                    help="env steps after which a run is unsolved (default 1000000)")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="wall-clock cap per run (default 600)")
    ap.add_argument("--chunk-steps", type=int, default=20_000,
                    help="JAX: env steps per jitted training call, each followed by an evaluation; rounded to whole "
                         f"iterations of {PQN['train_batch_size']:,} (default 20000: 10 iterations)")
    ap.add_argument("--throughput-envs", type=int, default=4096,
                    help=f"envs of the env steps/s measurement, {THROUGHPUT_FRAGMENT} steps each an iteration "
                         "(default 4096)")
    ap.add_argument("--throughput-iterations", type=int, default=5,
                    help="timed iterations of the env steps/s measurement, after one warm-up iteration (default 5)")
    ap.add_argument("--throughput-runs", type=int, default=1,
                    help="env steps/s measurements per peer, median reported (default 1)")
    ap.add_argument(
        "--myriad", "--myriad-bin", dest="myriad",
        help=f"Myriad binary (default: $CARGO_TARGET_DIR/release/myriad if present, else {DEFAULT_MYRIAD_BIN})",
    )
    ap.add_argument("--myriad-backend", help="passed to myriad as --backend (default: its own default)")
    ap.add_argument("--json", "--json-out", dest="json", metavar="FILE", help="also write all results to FILE")
    ap.add_argument("--_worker", nargs=2, metavar=("KIND", "VALUE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for name in ["seeds", "max_steps", "chunk_steps", "throughput_iterations", "throughput_runs"]:
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.throughput_envs < 1:  # its batch (16 x envs) always splits into 16 minibatches of `envs`
        ap.error("--throughput-envs must be at least 1")
    if args.max_seconds <= 0:
        ap.error("--max-seconds must be positive")
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

    info = common_machine_info(["numpy", "jax", "jaxlib", "gymnax", "flax", "optax"], myriad_bin)
    if myriad_bin:
        info["myriad_version"] = myriad_version(myriad_bin)
    for line in machine_lines(info, no_load="n/a", list_missing=True):
        print(line)
    for p, why in skipped.items():
        print(f"skipped {p}: {why}")
    if "jax" in skipped and "myriad" not in skipped:
        print("running Myriad alone")
    elif "myriad" in skipped and "jax" not in skipped:
        print("running JAX alone")
    print(flush=True)

    active = [p for p in peers if p not in skipped]
    runs: dict[str, list[dict]] = {p: [] for p in active}
    for p in active:
        for seed in range(args.seeds):
            r = run_myriad_solve(seed, args, myriad_bin) if p == "myriad" else run_jax_solve(seed, args)
            r["seed"] = seed
            runs[p].append(r)
            print(solve_line(p, seed, r), flush=True)

    n = args.throughput_envs
    rates: dict[str, list[dict]] = {p: [] for p in active}
    for p in active:
        for _ in range(args.throughput_runs):
            r = run_myriad_throughput(n, args, myriad_bin) if p == "myriad" else run_jax_throughput(n, args)
            rates[p].append(r)
            print(throughput_line(p, r, n), flush=True)

    summary = {p: summarise(runs[p], rates[p]) for p in active}
    goals = targets(summary, n)
    print()
    print(render_summary(summary, peers, skipped, goals, args))

    if args.json:
        payload = {
            "env": ENV_ID,
            "settings": {
                **{k: getattr(args, k) for k in [
                    "seeds", "target", "max_steps", "max_seconds", "chunk_steps", "throughput_envs",
                    "throughput_iterations", "throughput_runs", "myriad_backend",
                ]},
                "jax_chunk_iterations": max(1, round(args.chunk_steps / PQN["train_batch_size"])),
                "myriad_eval_interval_iterations": MYRIAD_EVAL_INTERVAL,
                "eval_episodes": EVAL_EPISODES,
                "throughput_fragment": THROUGHPUT_FRAGMENT,
                "throughput_minibatches": THROUGHPUT_MINIBATCHES,
                "pqn": PQN,
            },
            "machine": info,
            "skipped": skipped,
            "runs": runs,
            "throughput": rates,
            "summary": summary,
            "targets": goals,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
