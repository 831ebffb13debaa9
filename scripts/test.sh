#!/usr/bin/env bash
# Runs every test: installs the real peers first, then the whole workspace.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-peers.sh
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
