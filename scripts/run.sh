#!/usr/bin/env bash
# The main job: installs what is missing, builds, then finds the faces in the sample photos
# of ../shared/datasets/samples and writes them drawn to out/detect/, and measures the
# detector on the labelled voc-groups photos.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --workspace
shared="${FACELAB_SHARED:-../shared}"
samples="$shared/datasets/samples"
if [ ! -d "$samples" ]; then
  echo "run: $samples not found; point FACELAB_SHARED at the shared folder" >&2
  exit 1
fi
./target/release/facelab plugins
./target/release/facelab models list
./target/release/facelab detect "$samples"/voc-groups/*.jpg "$samples"/sprint/*.jpg "$samples"/bbt/*.jpg --draw out/detect
./target/release/facelab eval-voc "$samples/voc-groups/testing.xml"
echo "drawn photos: out/detect/" >&2
