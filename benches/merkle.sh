#!/usr/bin/env bash
# What the Merkle tree costs at scale, against the chain alone (see merkle.py).
# Usage: benches/merkle.sh [N]   (default 1000000 records)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 benches/merkle.py "${CARGO_TARGET_DIR:-target}/release/sluice" "$@"
