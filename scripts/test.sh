#!/usr/bin/env bash
# Runs the whole test suite: unit tests and integration tests against a real berthd
# (runc, conmon, overlayfs, SQLite, the docker CLI). Needs root, like berthd itself.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build --build-tests
swift test --skip-build "$@"
