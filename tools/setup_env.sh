#!/usr/bin/env bash
# The one set-up path of rankdet: `make demo`, `make test` and .ci/run all call it.
#
# Two targets, one script:
#   cpu  the CPU environment (torch's CPU build, mmcv's CPU ops, spconv's CPU build);
#   gpu  the CUDA environment, from the package registries only: torch 2.13.0's CUDA build
#        (CUDA 13.0), NVIDIA's nvcc wheels as the compiler for mmcv's CUDA ops (no system
#        CUDA toolkit), spconv's CUDA build. Pins: requirements/constraints-gpu.txt.
# The target is gpu where `nvidia-smi -L` lists a GPU, cpu elsewhere; RANKDET_TARGET=cpu|gpu
# forces one (auto is the default). `bash tools/setup_env.sh --plan` prints the choice and
# changes nothing. Switching an existing .venv to the other target rebuilds it from scratch.
#
# Idempotent: a stamp in .venv records the target and a hash of every input of the set-up
# (this script, setup.py, requirements/*.txt); when both match and the Debian packages are
# present, the script does nothing and returns in about a second.
#
# Order matters (cpu measured on Python 3.11, 2 cores, no GPU):
#   1. torch 2.13.0 first: the CPU wheel lies on local disk; it asks for setuptools>=77.
#   2. then setuptools<70: mmcv 2.1.0's setup.py imports pkg_resources (pip warns about
#      torch's setuptools pin; the warning is harmless).
#   3. mmcv 2.1.0 from source with its CPU ops, --no-build-isolation so it builds against
#      the installed torch (12-25 minutes on 2 cores; pip caches the built wheel).
#   4. the pinned runtime requirements, mmdet3d 1.4.0 without its `open3d` requirement,
#      and rankdet itself in editable mode.
# gpu: the same order, with nvcc installed before mmcv is built with its CUDA ops (never
# from pip's wheel cache, which may hold the CPU build of the same version), and
# spconv-cu126 in place of spconv. Not yet run on a GPU machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VENV="${RANKDET_VENV:-$ROOT/.venv}"  # RANKDET_VENV: only to try the set-up elsewhere
STAMP="$VENV/.rankdet-setup"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
GPU_CONSTRAINTS="$ROOT/requirements/constraints-gpu.txt"
# The CPU builds pinned in constraints.txt that constraints-gpu.txt replaces, and the
# CUDA build of spconv that replaces runtime.txt's `spconv==` line.
GPU_REPLACES="torch spconv cumm"
SPCONV_GPU="spconv-cu126"
APT_PACKAGES="libusb-1.0-0 libvulkan1 mesa-vulkan-drivers libgl1 libegl1"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

usage() { echo "usage: bash tools/setup_env.sh [--plan]  (RANKDET_TARGET=auto|cpu|gpu)"; }

PLAN_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --plan) PLAN_ONLY=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

# Which environment to build: RANKDET_TARGET, else what nvidia-smi finds.
has_nvidia_gpu() {
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU [0-9]'
}
case "${RANKDET_TARGET:-auto}" in
    cpu|gpu) TARGET="$RANKDET_TARGET"; REASON="forced by RANKDET_TARGET=$RANKDET_TARGET" ;;
    auto)
        if has_nvidia_gpu; then TARGET=gpu; REASON="nvidia-smi lists an NVIDIA GPU"
        else TARGET=cpu; REASON="no NVIDIA GPU found (nvidia-smi absent or lists none)"; fi ;;
    *) echo "error: RANKDET_TARGET='$RANKDET_TARGET' is not a set-up target; expected" \
            "cpu, gpu or auto (the default: gpu where nvidia-smi lists a GPU)" >&2
       exit 2 ;;
esac

if [ "$PLAN_ONLY" = 1 ]; then
    echo "target: $TARGET ($REASON)"
    echo "venv: $VENV"
    if [ "$TARGET" = gpu ]; then
        echo "constraints: requirements/constraints.txt without $GPU_REPLACES," \
             "requirements/constraints-gpu.txt"
    else
        echo "constraints: requirements/constraints.txt"
    fi
    exit 0
fi

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

# The target of the torch installed in .venv: cpu for a local +cpu build, else gpu.
installed_target() {
    local info
    for info in "$VENV"/lib/python3*/site-packages/torch-*.dist-info; do
        [ -d "$info" ] || continue
        case "$info" in *+cpu.dist-info) echo cpu ;; *) echo gpu ;; esac
        return
    done
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

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$TARGET $(inputs_hash)" ]; then
    log "environment up to date ($VENV, $TARGET)"
    exit 0
fi

START=$(date +%s)
log "target: $TARGET ($REASON)"
command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON not found; rankdet needs Python 3.11" >&2; exit 1; }
INSTALLED="$(installed_target)"
if [ -n "$INSTALLED" ] && [ "$INSTALLED" != "$TARGET" ]; then
    if [ "${RANKDET_TARGET:-auto}" = auto ]; then
        # a GPU that vanished (driver not loaded) must not cost a whole environment
        echo "error: $VENV holds the $INSTALLED environment, but the target found now is" \
             "$TARGET ($REASON); RANKDET_TARGET=$TARGET rebuilds $VENV for it," \
             "RANKDET_TARGET=$INSTALLED keeps it" >&2
        exit 1
    fi
    # mmcv's ops and spconv are built for one target: mixing them is never right
    log "$VENV holds the $INSTALLED environment: removing it to build the $TARGET one"
    rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

cpu_setup() {
    log "1/4 torch"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" torch==2.13.0

    log "2/4 build tools (setuptools<70 for mmcv's pkg_resources)"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" 'setuptools<70' wheel ninja 'numpy<2'

    if "$VENV/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
        log "3/4 mmcv 2.1.0 with ops already installed"
    else
        log "3/4 building mmcv 2.1.0 with CPU ops from source (12-25 minutes on 2 cores)"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
            "${PIP[@]}" install -q --no-build-isolation -c "$CONSTRAINTS" mmcv==2.1.0
    fi

    log "4/4 runtime and test requirements, mmdet3d (no deps), rankdet (editable)"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
    "${PIP[@]}" install -q --no-deps -c "$CONSTRAINTS" mmdet3d==1.4.0
    "${PIP[@]}" install -q --no-deps --no-build-isolation -e .

    "$VENV/bin/python" -c 'import mmcv.ops, mmdet, mmdet3d, spconv.pytorch, open3d, numba, pycocotools' \
        || { echo "error: the installed stack does not import; see the messages above" >&2; exit 1; }
}

gpu_setup() {
    local cuda_home cudart
    tmp="$(mktemp -d)"  # global: the EXIT trap reads it after this function returns
    trap 'rm -rf "$tmp"' EXIT
    # constraints.txt stays the one list of shared pins: only its CPU builds are left out
    grep -v -i -E "^($(echo $GPU_REPLACES | tr ' ' '|'))==" "$CONSTRAINTS" > "$tmp/constraints-shared.txt"
    sed -E "s/^spconv==.*/$SPCONV_GPU/" requirements/runtime.txt > "$tmp/runtime-gpu.txt"
    grep -qx "$SPCONV_GPU" "$tmp/runtime-gpu.txt" \
        || { echo "error: requirements/runtime.txt has no 'spconv==' line to replace by $SPCONV_GPU" >&2; exit 1; }
    local C=(-c "$tmp/constraints-shared.txt" -c "$GPU_CONSTRAINTS")

    log "1/5 torch (CUDA build)"
    "${PIP[@]}" install -q "${C[@]}" 'torch===2.13.0'

    log "2/5 build tools (setuptools<70 for mmcv's pkg_resources)"
    "${PIP[@]}" install -q "${C[@]}" 'setuptools<70' wheel ninja 'numpy<2'

    log "3/5 CUDA compiler: nvcc, nvvm and the CUDA headers from the registry"
    "${PIP[@]}" install -q "${C[@]}" nvidia-cuda-nvcc nvidia-cuda-crt nvidia-nvvm nvidia-cuda-cccl \
        nvidia-cuda-runtime
    # NVIDIA's CUDA 13 wheels share one prefix, site-packages/nvidia/cu13: bin/nvcc,
    # nvvm/, include/, lib/ (which torch's extension builder takes when lib64 is absent)
    cuda_home="$("$VENV/bin/python" -c 'import os, sysconfig, torch
print(os.path.join(sysconfig.get_paths()["purelib"], "nvidia",
                   "cu" + torch.version.cuda.split(".")[0]))')"
    [ -x "$cuda_home/bin/nvcc" ] \
        || { echo "error: no nvcc at $cuda_home/bin/nvcc after step 3" >&2; exit 1; }
    # the wheel ships only libcudart.so.<major>; the linker's -lcudart wants libcudart.so
    cudart="$(cd "$cuda_home/lib" && ls libcudart.so.* | head -n1)"
    ln -sfn "$cudart" "$cuda_home/lib/libcudart.so"

    if "$VENV/bin/python" -c 'import torch, mmcv, mmcv.ops
from mmcv.ops import get_compiling_cuda_version
assert mmcv.__version__ == "2.1.0" and get_compiling_cuda_version() == torch.version.cuda' 2>/dev/null; then
        log "4/5 mmcv 2.1.0 with CUDA ops already installed"
    else
        "$VENV/bin/python" -c 'import mmcv' 2>/dev/null \
            && "${PIP[@]}" uninstall -q -y mmcv  # an mmcv without CUDA ops: build anew
        log "4/5 building mmcv 2.1.0 with CUDA ops (nvcc $cuda_home/bin/nvcc; arch" \
            "${TORCH_CUDA_ARCH_LIST:-of the GPUs torch sees}); long: every op is compiled"
        CUDA_HOME="$cuda_home" PATH="$cuda_home/bin:$PATH" \
            MMCV_WITH_OPS=1 FORCE_CUDA=1 MAX_JOBS="$(nproc)" \
            "${PIP[@]}" install -q --no-build-isolation --no-cache-dir "${C[@]}" mmcv==2.1.0
    fi

    log "5/5 runtime and test requirements ($SPCONV_GPU), mmdet3d (no deps), rankdet (editable)"
    "${PIP[@]}" install -q "${C[@]}" -r "$tmp/runtime-gpu.txt" -r requirements/tests.txt
    "${PIP[@]}" install -q --no-deps "${C[@]}" mmdet3d==1.4.0
    "${PIP[@]}" install -q --no-deps --no-build-isolation -e .

    # CUDA compiled in (a device is not needed here: `make gpu-check` runs on one)
    "$VENV/bin/python" -c 'import torch, mmcv.ops, mmdet, mmdet3d, spconv.pytorch, open3d, numba, pycocotools
from cumm import tensorview as tv
from mmcv.ops import get_compiling_cuda_version
assert torch.version.cuda, "torch is not a CUDA build"
assert get_compiling_cuda_version() == torch.version.cuda, "mmcv ops without CUDA " + torch.version.cuda
assert not tv.is_cpu_only(), "spconv/cumm is a CPU build"' \
        || { echo "error: the installed CUDA stack does not import; see the messages above" >&2; exit 1; }
}

if [ "$TARGET" = gpu ]; then gpu_setup; else cpu_setup; fi
echo "$TARGET $(inputs_hash)" > "$STAMP"
log "done in $(( $(date +%s) - START )) s"
