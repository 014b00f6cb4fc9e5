#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer: scripts/fuzz.sh TARGET [RUNS] [extra libFuzzer flags…]
# Builds berth-fuzz with -sanitize=fuzzer (into .build-fuzz) and runs TARGET (tar, archive, time,
# http, json, config, websocket, dns, netaddr) for RUNS inputs (default 1,000,000) over a copy of Tests/FuzzCorpus/TARGET.
# New inputs worth keeping land in .build-fuzz/corpus/TARGET; a crash leaves crash-* in the
# current directory and a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
target=${1:?usage: scripts/fuzz.sh TARGET [RUNS] [libFuzzer flags...]}
runs=${2:-1000000}
shift $(( $# >= 2 ? 2 : 1 ))
swift build -c release --product berth-fuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -DBERTH_LIBFUZZER >&2
mkdir -p ".build-fuzz/corpus/$target"
BERTH_FUZZ_TARGET=$target exec .build-fuzz/release/berth-fuzz -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  "$@" ".build-fuzz/corpus/$target" "Tests/FuzzCorpus/$target"
