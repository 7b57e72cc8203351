#!/usr/bin/env bash
# Benchmark `sluice generate` against `kubectl kustomize` on generated apps (see generate.py).
# Usage: benches/generate.sh [N...]   (default 2000 20000 objects)
# SLUICE_BASELINE=/path/to/sluice adds alternating runs against another build (see generate.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 benches/generate.py "${CARGO_TARGET_DIR:-target}/release/sluice" "$@"
