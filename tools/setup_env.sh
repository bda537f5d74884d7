#!/usr/bin/env bash
# The one set-up path of rankdet: `make demo`, `make test` and .ci/run all call it.
#
# Idempotent: a stamp in .venv records a hash of every input of the set-up (this script,
# setup.py, requirements/*.txt); when it matches and the Debian packages are present,
# the script does nothing and returns in about a second.
#
# Order matters (measured on Python 3.11, 2 cores, no GPU):
#   1. torch 2.13.0 first: the CPU wheel lies on local disk; it asks for setuptools>=77.
#   2. then setuptools<70: mmcv 2.1.0's setup.py imports pkg_resources (pip warns about
#      torch's setuptools pin; the warning is harmless).
#   3. mmcv 2.1.0 from source with its CPU ops, --no-build-isolation so it builds against
#      the installed torch (about 12 minutes on 2 cores; pip caches the built wheel).
#   4. the pinned runtime requirements, mmdet3d 1.4.0 without its `open3d` requirement,
#      and rankdet itself in editable mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VENV="$ROOT/.venv"
STAMP="$VENV/.rankdet-setup"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
APT_PACKAGES="libusb-1.0-0 libvulkan1 mesa-vulkan-drivers libgl1 libegl1"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

inputs_hash() {
    cat tools/setup_env.sh setup.py requirements/*.txt | sha256sum | cut -d' ' -f1
}

missing_apt() {
    local missing=""
    for p in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing="$missing $p"
    done
    echo "$missing"
}

# 0. Debian packages that open3d's offscreen renderer needs.
MISSING="$(missing_apt)"
if [ -n "$MISSING" ]; then
    log "installing Debian packages:$MISSING"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root or sudo to install:$MISSING" >&2; exit 1; }
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $MISSING
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(inputs_hash)" ]; then
    log "environment up to date ($VENV)"
    exit 0
fi

START=$(date +%s)
command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON not found; rankdet needs Python 3.11" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

log "1/4 torch"
"${PIP[@]}" install -q -c "$CONSTRAINTS" torch==2.13.0

log "2/4 build tools (setuptools<70 for mmcv's pkg_resources)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" 'setuptools<70' wheel ninja 'numpy<2'

if "$VENV/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
    log "3/4 mmcv 2.1.0 with ops already installed"
else
    log "3/4 building mmcv 2.1.0 with CPU ops from source (about 12 minutes on 2 cores)"
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
        "${PIP[@]}" install -q --no-build-isolation -c "$CONSTRAINTS" mmcv==2.1.0
fi

log "4/4 runtime and test requirements, mmdet3d (no deps), rankdet (editable)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
"${PIP[@]}" install -q --no-deps -c "$CONSTRAINTS" mmdet3d==1.4.0
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .

"$VENV/bin/python" -c 'import mmcv.ops, mmdet, mmdet3d, spconv.pytorch, open3d, numba, pycocotools' \
    || { echo "error: the installed stack does not import; see the messages above" >&2; exit 1; }
inputs_hash > "$STAMP"
log "done in $(( $(date +%s) - START )) s"
