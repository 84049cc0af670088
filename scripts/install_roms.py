#!/usr/bin/env python3
"""Install the Atari 2600 ROMs that Myriad's Atari environments load.

The ROMs are taken from the ``ale-py`` wheel published on PyPI (the wheel
ships them under ``ale_py/roms/*.bin``) and checked against the list
committed in this repository, ``envs/atari/roms.md5``.

Steps:

1. Unless ``--wheel PATH`` names a wheel already on disk, download one:
   ``python -m pip download ale-py==VERSION --no-deps --only-binary=:all:``
   into a temporary folder (the wheel for the current platform).  If that
   fails, retry for ``--platform manylinux_2_17_x86_64 --python-version 3.11``
   (the ROM files are the same in every wheel of a release).
2. Open the wheel as a zip file and read every ``ale_py/roms/*.bin``.
3. Check each ROM against ``envs/atari/roms.md5`` (``md5sum`` format:
   ``<md5>  <name>.bin``, one per line).  A ROM whose md5 differs, or a ROM
   listed there but absent from the wheel, is an error: the script exits with
   a non-zero status before writing anything.  ROMs in the wheel that the list
   does not name are skipped, with a note.
4. Write each ROM into DEST (temporary file + rename, so an interrupted run
   never leaves a truncated ROM behind).  A file already in DEST with the
   right md5 is kept as it is, so running the script again is harmless.

DEST is ``--dest``, else ``$ALE_ROMS_DIR`` if set, else
``~/.cache/myriad/roms``.  The script ends by printing how many ROMs are
installed and the line to export so that Myriad (and ale-py) find them::

    export ALE_ROMS_DIR=<DEST>

Usage:
    python3 scripts/install_roms.py [--dest DIR] [--ale-py-version 0.11.2] [--wheel PATH]

Needs only the Python standard library and pip (for the download).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MD5_LIST = REPO_ROOT / "envs" / "atari" / "roms.md5"
DEFAULT_ALE_PY_VERSION = "0.11.2"
FALLBACK_PLATFORM = ["--platform", "manylinux_2_17_x86_64", "--python-version", "3.11"]
ROM_MEMBER = re.compile(r"^ale_py/roms/([^/]+\.bin)$")
MD5_LINE = re.compile(r"^([0-9a-f]{32}) [ *](\S+\.bin)$")


def default_dest() -> Path:
    env = os.environ.get("ALE_ROMS_DIR")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "myriad" / "roms"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def read_md5_list(path: Path) -> dict[str, str]:
    """{"pong.bin": "<md5>", ...} from an md5sum-format file."""
    expected: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = MD5_LINE.match(line)
        if not m:
            raise SystemExit(f"{path}:{lineno}: not an md5sum line: {line!r}")
        expected[m.group(2)] = m.group(1)
    if not expected:
        raise SystemExit(f"{path}: no ROMs listed")
    return expected


def pip_download(version: str, dest: Path, extra: list[str]) -> tuple[Path | None, str]:
    """Download the ale-py wheel into `dest`; (its path, "") or (None, pip's error output)."""
    cmd = [
        sys.executable, "-m", "pip", "download", f"ale-py=={version}",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        "-d", str(dest), *extra,
    ]
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("ale_py-*.whl"))
    if p.returncode == 0 and wheels:
        return wheels[0], ""
    return None, (p.stderr or p.stdout).strip()


def download_wheel(version: str, tmp: Path) -> Path:
    wheel, err = pip_download(version, tmp / "native", [])
    if wheel is None:
        print(f"note: download for this platform failed ({last_line(err)}); "
              f"retrying for {' '.join(FALLBACK_PLATFORM)}", flush=True)
        wheel, err = pip_download(version, tmp / "fallback", FALLBACK_PLATFORM)
    if wheel is None:
        raise SystemExit(f"error: could not download ale-py=={version}:\n{err}")
    return wheel


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "no output"


def read_wheel_roms(wheel: Path) -> dict[str, bytes]:
    """{"pong.bin": <bytes>, ...} for every ale_py/roms/*.bin in the wheel."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            roms = {}
            for member in zf.namelist():
                m = ROM_MEMBER.match(member)
                if m:
                    roms[m.group(1)] = zf.read(member)
            return roms
    except (OSError, zipfile.BadZipFile) as e:
        raise SystemExit(f"error: cannot read wheel {wheel}: {e}")


def check_roms(roms: dict[str, bytes], expected: dict[str, str], wheel: Path) -> list[str]:
    """Names to install; exits on a missing ROM or a wrong md5, notes the unlisted ones."""
    problems = []
    for name, want in sorted(expected.items()):
        if name not in roms:
            problems.append(f"{name}: listed in {MD5_LIST.name} but not in the wheel")
            continue
        got = md5_hex(roms[name])
        if got != want:
            problems.append(f"{name}: md5 {got}, expected {want}")
    if problems:
        msg = "\n".join(f"  {p}" for p in problems)
        raise SystemExit(f"error: the ROMs in {wheel.name} do not match {MD5_LIST}:\n{msg}\nnothing was installed")
    for name in sorted(set(roms) - set(expected)):
        print(f"note: skipping {name} (not listed in {MD5_LIST.name})")
    return sorted(expected)


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def install(roms: dict[str, bytes], names: list[str], expected: dict[str, str], dest: Path) -> tuple[int, int]:
    """Write the ROMs into `dest`; (newly written, already present)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = kept = 0
    for name in names:
        target = dest / name
        if target.is_file() and md5_hex(target.read_bytes()) == expected[name]:
            kept += 1
            continue
        write_atomic(target, roms[name])
        written += 1
    return written, kept


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=None,
                    help="install folder (default: $ALE_ROMS_DIR, else ~/.cache/myriad/roms)")
    ap.add_argument("--ale-py-version", default=DEFAULT_ALE_PY_VERSION,
                    help="ale-py release whose wheel is downloaded (default: %(default)s)")
    ap.add_argument("--wheel", type=Path, default=None,
                    help="use this ale-py wheel instead of downloading one")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    dest = (args.dest or default_dest()).expanduser().resolve()
    expected = read_md5_list(MD5_LIST)

    with tempfile.TemporaryDirectory(prefix="myriad-roms-") as tmp:
        if args.wheel is not None:
            wheel = args.wheel
            if not wheel.is_file():
                raise SystemExit(f"error: wheel {wheel} not found")
        else:
            wheel = download_wheel(args.ale_py_version, Path(tmp))
        print(f"reading ROMs from {wheel.name}", flush=True)
        roms = read_wheel_roms(wheel)
        if not roms:
            raise SystemExit(f"error: {wheel} holds no ale_py/roms/*.bin files")
        names = check_roms(roms, expected, wheel)

    written, kept = install(roms, names, expected, dest)
    print(f"installed {len(names)} ROMs into {dest} ({written} written, {kept} already present)")
    print(f"export ALE_ROMS_DIR={shlex.quote(str(dest))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
