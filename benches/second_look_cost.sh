#!/usr/bin/env bash
# What the second look ([detection] verify) costs a whole scan: `facelab scan` of WIDER mini
# into an empty library with config/examples/yunet-mobilefacenet.toml, with it and without it,
# alternated RUNS times; prints wall and CPU (user) seconds per run. Quote medians.
#   bash benches/second_look_cost.sh [RUNS]     (from the repository root, after a release build)
set -euo pipefail
runs="${1:-3}"
shared="${FACELAB_SHARED:-../shared}"
[ -x /usr/bin/time ] || { echo "second_look_cost.sh: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
base=config/examples/yunet-mobilefacenet.toml
cp "$base" "$tmp/on.toml"
{ cat "$base"; printf '\n[detection]\nverify = false\n'; } > "$tmp/off.toml"
# The examples' relative paths (none today) would resolve against $tmp; plugins are found
# beside the binary.
for i in $(seq "$runs"); do
  for v in on off; do
    rm -f "$tmp/$v.sqlite"*
    /usr/bin/time -f "$v run $i: %e s wall, %U s user" target/release/facelab --config "$tmp/$v.toml" \
      --library "$tmp/$v.sqlite" scan "$shared/datasets/wider-face-val-mini/images" > /dev/null 2> "$tmp/err"
    tail -n1 "$tmp/err"
  done
done
