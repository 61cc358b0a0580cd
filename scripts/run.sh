#!/usr/bin/env bash
# The main job: installs what is missing, builds, fetches the models, draws the faces found in
# the sample photos (out/detect/), makes the clustering task's robustness variants, then runs
# the default benchmark suite (config/bench.toml: detector -> recognizer pipelines on ORL,
# LFW, WIDER FACE mini, voc-groups, LFW clustering with its robustness variants, naming
# through the library, speed, and the whole scan side by side with the OpenCV-Python script)
# and writes out/bench/report.{md,html,json} and results.md, and the published figures,
# docs/results.md (generated: never edit it by hand). How long it takes: see README. The
# Python venv (the variants, the scan task's script) is set up on first use. Extra arguments
# go to `facelab bench` (for example --resume, --task lfw; a part of the suite rewrites
# docs/results.md with that part).
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
facelab=./target/release/facelab
$facelab plugins
$facelab models list
$facelab detect "$samples"/voc-groups/*.jpg "$samples"/sprint/*.jpg "$samples"/bbt/*.jpg --draw out/detect >/dev/null
echo "run: sample photos with their faces drawn: out/detect/" >&2
# The clustering task's robustness variants (changed copies of the shared LFW people and bbt
# crops, in ~/.cache/facelab/datasets/robustness), made once in the scripts' venv.
py="$(bash benches/python/setup_venv.sh | tail -n1)"
"$py" benches/python/make_robustness_sets.py --src "$shared/datasets" >/dev/null
$facelab bench --suite config/bench.toml --datasets "$shared/datasets" --out out/bench --results docs/results.md "$@"
