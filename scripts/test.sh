#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the host and the plugin .so files
# (the loader tests load the real libraries), then runs the tests.
# Tests that need ../shared (models, datasets) skip with a message when it is absent, or fail
# when FACELAB_REQUIRE_SHARED=1 (CI sets it: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# One set of cargo flags everywhere, so features unify the same way and nothing rebuilds.
cargo build --release --workspace --all-targets
cargo test --release --workspace
