#!/usr/bin/env bash
# Create (or bring up to date) the virtual environment yolokit is tested in.
#
#   tools/misc/setup_env.sh [VENV_DIR]      (default: .venv in the repo root)
#
# Idempotent: every step checks first and is skipped when already satisfied,
# so a re-run on a complete environment takes a few seconds. Needs only a
# Python 3.11 with venv, a C++ compiler and the package registries; no GPU.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3
STAMP="$VENV/.yolokit-env"
REQ="$ROOT/requirements"
step() { printf '\n[setup_env] %s\n' "$*"; }

# Pinned versions come from requirements/pinned.txt.
pin() { sed -n "s/^$1==\(.*\)$/\1/p" "$REQ/pinned.txt"; }
TORCH_V="$(pin torch)"; TV_V="$(pin torchvision)"; MMENGINE_V="$(pin mmengine)"
MMCV_V="$(pin mmcv)"; MMDET_V="$(pin mmdet)"

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment $VENV with $($PYTHON_BIN --version)"
  "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)

have() {  # have DIST VERSION -> installed at exactly that version?
  "$PY" - "$1" "$2" <<'PYEOF' 2>/dev/null
import sys
from importlib import metadata
try:
    sys.exit(0 if metadata.version(sys.argv[1]) == sys.argv[2] else 1)
except metadata.PackageNotFoundError:
    sys.exit(1)
PYEOF
}

if ! have torch "$TORCH_V" || ! have torchvision "$TV_V"; then
  step "installing torch $TORCH_V and torchvision $TV_V"
  "${PIP[@]}" "torch==$TORCH_V" "torchvision==$TV_V"
fi

step "build tools and mmengine"
"${PIP[@]}" -q -r "$REQ/build.txt" "mmengine==$MMENGINE_V" "torch==$TORCH_V"

if ! have mmcv "$MMCV_V" || ! "$PY" -c 'import mmcv.ops' >/dev/null 2>&1; then
  step "installing mmcv $MMCV_V with compiled ops (first build ~15-25 min on 2 cores; pip caches the wheel)"
  # mmcv's setup.py hard-codes -std=c++17; torch's headers need C++20.
  CC="$ROOT/tools/misc/cxx20_compiler.sh" CXX="$ROOT/tools/misc/cxx20_compiler.sh" \
  MAX_JOBS="${MAX_JOBS:-$(nproc)}" MMCV_WITH_OPS=1 \
    "${PIP[@]}" --no-build-isolation "mmcv==$MMCV_V" "torch==$TORCH_V"
fi

step "mmdet, runtime, albumentations and test requirements"
"${PIP[@]}" -q -c "$REQ/pinned.txt" "mmdet==$MMDET_V" \
  -r "$REQ/runtime.txt" -r "$REQ/albu.txt" -r "$REQ/tests.txt" \
  -r "$REQ/reference.txt"
if [ -s "$REQ/reference-nodeps.txt" ]; then
  "${PIP[@]}" -q --no-deps -r "$REQ/reference-nodeps.txt"
fi

step "mim CLI (openmim without opendatalab, whose pins would downgrade setuptools/requests)"
if ! have openmim 0.3.9; then
  "${PIP[@]}" -q --no-deps -r "$REQ/mim.txt" model-index
  "${PIP[@]}" -q -c "$REQ/pinned.txt" click colorama ordered-set markdown pandas rich tabulate requests
fi

step "yolokit (editable, develop mode)"
# Legacy develop mode (egg-link): the installed location is the source tree,
# which is where mmengine (`yolokit::` configs) and mim look for yolokit/.mim.
# A PEP 660 editable install would point them at site-packages instead.
"${PIP[@]}" -q --no-build-isolation --no-deps --no-use-pep517 -e "$ROOT"

# Reference model code used only by the parity tests (unpacked sdists, not
# installed). Optional: without it (e.g. offline) those tests skip.
fetch_reference_sdist() {  # fetch_reference_sdist NAME VERSION MARKER_FILE WHY
  local dest="$VENV/reference/$1-$2"
  [ -f "$dest/$3" ] && return 0
  step "reference $1 $2 source in $dest ($4)"
  local dl
  dl="$(mktemp -d)"
  if "$PY" -m pip download --disable-pip-version-check -q --no-deps \
       --no-binary :all: -d "$dl" "$1==$2" \
     && mkdir -p "$VENV/reference" \
     && tar -xzf "$dl/$1-$2.tar.gz" -C "$VENV/reference"; then
    :
  else
    echo "[setup_env] warning: could not fetch the $1 $2 sdist; the tests" \
         "that compare with it will skip" >&2
  fi
  rm -rf "$dl"
}
# Megvii's YOLOX model code: tests/tools/model_converters/test_yolox_to_yolokit.py
fetch_reference_sdist yolox 0.3.0 yolox/models/yolo_head.py \
  "official YOLOX, converter parity"
# MMYOLO 0.6.0, the compatibility target: the `mmyolo_reference` fixture of
# tests/conftest.py (YOLOv6, YOLOv7 and PP-YOLOE parity tests).
fetch_reference_sdist mmyolo 0.6.0 mmyolo/models/dense_heads/yolov6_head.py \
  "MMYOLO parity"

step "checking the stack"
"$PY" - <<'PYEOF'
import mmcv, mmdet, mmengine, numpy, torch
import mmcv.ops  # noqa: F401  (compiled ops must load)
import yolokit
print(f'torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__} (ops ok), mmdet {mmdet.__version__}, '
      f'numpy {numpy.__version__}, yolokit {yolokit.__version__}')
PYEOF
touch "$STAMP"
step "environment ready: $VENV"
