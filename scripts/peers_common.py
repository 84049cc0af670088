"""Helpers shared by the peer benchmarks (``bench_env_peers.py``, ``bench_ppo_peers.py``).

What it holds:

* driver plumbing -- ``parse_peers`` (the ``--peers`` list, checked and put in
  canonical order), ``importable`` (does a peer's module import, tried in a
  subprocess), ``path_candidates`` / ``first_executable`` (finding the Myriad
  binary relative to the working folder or the repository root);
* worker-subprocess results -- ``print_result`` (a worker's one result line),
  ``last_json_line`` / ``parse_result`` (reading it, or a binary's last JSON
  line, back) and ``tail`` (the last lines of a failed run's output);
* machine description -- ``usable_cores``, ``cpu_model``, ``pkg_version``,
  ``machine_info`` (the dict written to the JSON output) and ``machine_lines``
  (its printed form).

The benchmarks are run as ``python3 scripts/<name>.py``, so this folder is on
``sys.path`` and they import this module by its bare name.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_peers(text: str, known: list[str]) -> list[str]:
    """The comma-separated peers in `text`, in the order of `known`; exits on an unknown one."""
    peers = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in peers if p not in known]
    if bad:
        raise SystemExit(f"unknown peer(s) {bad}; choose from {known}")
    return [p for p in known if p in peers]  # canonical column order


def importable(modules: str | list[str]) -> tuple[bool, str]:
    """Import `modules` in a subprocess (keeps the driver free of heavy imports)."""
    if isinstance(modules, str):
        modules = [modules]
    code = "; ".join(f"import {m}" for m in modules)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if p.returncode == 0:
        return True, ""
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    return False, lines[-1] if lines else f"exit {p.returncode}"


def path_candidates(path: str) -> list[Path]:
    """`path` itself if absolute, else `path` under the working folder, then under the repository root."""
    p = Path(path)
    return [p] if p.is_absolute() else [Path.cwd() / p, REPO_ROOT / p]


def first_executable(candidates: list[Path]) -> Path | None:
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def print_result(prefix: str, res: dict) -> None:
    """A worker's result: one `prefix` + JSON line, last on stdout."""
    sys.stdout.flush()
    print(prefix + json.dumps(res), flush=True)


def last_json_line(text: str, prefix: str = "") -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if prefix:
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
        elif line.startswith("{"):
            return json.loads(line)
    return None


def tail(text: str, n: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def parse_result(p: subprocess.CompletedProcess, prefix: str = "") -> tuple[dict | None, str | None]:
    """(the last JSON line of `p`'s stdout, None), or (None, why not) if it failed or has none."""
    try:
        res = last_json_line(p.stdout, prefix)
    except json.JSONDecodeError:
        res = None
    if p.returncode != 0 or res is None:
        return None, f"exit {p.returncode}: {tail(p.stderr or p.stdout)}"
    return res, None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pkg_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(packages: list[str], myriad_bin: Path | None) -> dict:
    """CPU, load, platform, the versions of `packages` (None if not installed) and the Myriad binary."""
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cores": usable_cores(),
        "loadavg_before": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: pkg_version(name) for name in packages},
        "myriad_binary": str(myriad_bin) if myriad_bin else None,
    }


def machine_lines(info: dict, bullet: str = "", no_load: str | None = None, list_missing: bool = False) -> list[str]:
    """`info` (from machine_info) as lines, each starting with `bullet`.

    Without a load average the load line reads `no_load`, or is left out if that is None;
    `list_missing` names the packages that are not installed.
    """
    out = [f"{bullet}CPU: {info['cpu_model']}, {info['logical_cpus']} logical CPUs ({info['usable_cores']} usable)"]
    if info.get("loadavg_before"):
        la = ", ".join(f"{x:.2f}" for x in info["loadavg_before"])
    else:
        la = no_load
    if la is not None:
        out.append(f"{bullet}load average before the run (1/5/15 min): {la}")
    out.append(f"{bullet}platform: {info['platform']}; Python {info['python']}")
    pk = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    missing = [k for k, v in info["packages"].items() if not v]
    out.append(f"{bullet}packages: {pk}" + (f" (not installed: {', '.join(missing)})" if list_missing and missing else ""))
    if info.get("myriad_binary"):
        version = f" ({info['myriad_version']})" if info.get("myriad_version") else ""
        out.append(f"{bullet}myriad: {info['myriad_binary']}{version}")
    return out
