#!/usr/bin/env bash
# Create (once) a Python venv for the OpenCV reference timings and install requirements.txt into it.
#
#   bash benches/python/setup_venv.sh          # -> last line of stdout: the venv's python
#   PY=$(bash benches/python/setup_venv.sh | tail -n1)
#
# Venv location: $FACELAB_PY_VENV, else ~/.cache/facelab/py-venv.
# Interpreter used to create it: $PYTHON, else python3.
# Idempotent: the venv is reused, and pip runs again only when requirements.txt changed
# (a sha256 stamp is kept inside the venv) or the venv is broken.
# Everything except the final path goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
venv="${FACELAB_PY_VENV:-$HOME/.cache/facelab/py-venv}"
base_py="${PYTHON:-python3}"
stamp="$venv/.facelab-requirements.sha256"

log() { echo "setup_venv: $*" >&2; }

command -v "$base_py" >/dev/null 2>&1 || { log "no '$base_py' on PATH (set PYTHON=...)"; exit 2; }

# A venv whose interpreter no longer runs (e.g. the base python was removed) is rebuilt.
if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if [ -f "$venv/pyvenv.cfg" ]; then
        log "venv at $venv is broken; recreating"
        rm -rf -- "$venv"
    else
        log "$venv exists but is not a venv; refusing to touch it (set FACELAB_PY_VENV)"
        exit 2
    fi
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating venv at $venv with $("$base_py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    mkdir -p "$(dirname "$venv")"
    if ! "$base_py" -m venv "$venv" >&2; then
        # Debian's own python3 needs the python3-venv package for this.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            log "venv creation failed; installing python3-venv"
            rm -rf -- "$venv"
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >&2
            "$base_py" -m venv "$venv" >&2
        else
            log "venv creation failed; install python3-venv (Debian) or set PYTHON to a python with venv"
            exit 2
        fi
    fi
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ] || ! "$venv/bin/python" -c 'import cv2, numpy' >/dev/null 2>&1; then
    log "installing $req"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
    "$venv/bin/python" -c 'import cv2, numpy; print("setup_venv: cv2", cv2.__version__, "numpy", numpy.__version__)' >&2
    echo "$want" > "$stamp"
else
    log "venv up to date"
fi

echo "$venv/bin/python"
