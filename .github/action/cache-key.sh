#!/usr/bin/env bash
# Prints `key=...` for the cache of the installed promptctl: the runner's system and a hash of
# the sources it is built from, so a new promptctl is built exactly when its sources change.
set -euo pipefail
cd "$(dirname "$0")/../.."
hash=$( (cat Cargo.toml Cargo.lock; find src -type f | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-20)
echo "key=promptctl-${RUNNER_OS:-$(uname -s)}-${hash}"
