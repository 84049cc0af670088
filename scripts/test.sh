#!/usr/bin/env bash
# Myriad's test suite, as CI runs it: every crate's tests on the CPU and on wgpu (Mesa's software Vulkan,
# lavapipe, where no GPU is present), the Atari envs and learner (feature `atari`: ALE built with cmake, ROMs
# installed from the ale-py wheel), then the `cuda` feature built and tested (on a GPU where one is present,
# required with MYRIAD_REQUIRE_CUDA=1; otherwise its no-driver path).
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep build artefacts outside the checkout so fresh clones reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/myriad/target}"

# A Vulkan driver for wgpu: install lavapipe if no Vulkan ICD is present.
if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Mesa's software Vulkan (mesa-vulkan-drivers) for the wgpu tests"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
    else
        echo "no Vulkan driver found; install mesa-vulkan-drivers (or a GPU driver) to run the wgpu tests" >&2
    fi
fi
# The Arcade Learning Environment is built from source with cmake.
if ! command -v cmake >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing cmake to build the Arcade Learning Environment"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >/dev/null
    else
        echo "cmake not found: install it to build the Atari envs (feature atari)" >&2
        exit 1
    fi
fi

# Atari ROMs from the ale-py wheel on PyPI, md5-checked (kept between runs; skipped when all are present).
export ALE_ROMS_DIR="${ALE_ROMS_DIR:-$HOME/.cache/myriad/roms}"
if ! (cd "$ALE_ROMS_DIR" 2>/dev/null && md5sum --quiet -c "$OLDPWD/envs/atari/roms.md5" >/dev/null 2>&1); then
    python3 scripts/install_roms.py --dest "$ALE_ROMS_DIR"
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
# Under CI a missing wgpu adapter fails the wgpu tests instead of skipping them.
if [ "${CI:-}" = true ]; then
    export MYRIAD_REQUIRE_WGPU="${MYRIAD_REQUIRE_WGPU:-1}"
fi

# One profile (release) for tests, benches and the binary: the learning tests need optimised code, and burn is
# compiled once for all of them.
cargo test --release --workspace --features myriad/atari --locked
cargo test --release --workspace --features myriad/atari --benches --no-run --locked
cargo test --release -p myriad-envs --features cuda --locked --lib
cargo test --release --features cuda --locked --test kernels

# The Python package (python/): built with maturin by `pip install` into a fresh virtual environment (the crate
# shares the target folder above, so the library is not compiled twice), then its tests with pytest.
PY_VENV="$(mktemp -d)/venv"
python3 -m venv "$PY_VENV"
MATURIN_PEP517_ARGS="--features atari --locked" "$PY_VENV/bin/pip" install -q --disable-pip-version-check "./python[test]"
# From the repository root, so that `import myriad` finds the installed package, not the sources in python/.
"$PY_VENV/bin/python" -m pytest -q python/tests
