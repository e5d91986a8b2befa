#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# N seconds (default 20; CI runs them that long, longer runs find more):
#
#     tests/fuzz/run.sh 600          # ten minutes a target
#     FUZZ_TARGETS="records chat" tests/fuzz/run.sh 60   # only these
#
# Each target starts from its seed corpus in tests/fuzz/corpus/<target>
# (examples from the specs) and keeps what it learns in build-fuzz/corpus.
# A crash leaves its input in build-fuzz/artifacts and fails the run: turn
# it into a unit test in tests/unit/ before fixing it.
set -euo pipefail

seconds=${1:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSOCKETIO_BUILD_MODULE=OFF -DSOCKETIO_BUILD_TESTS=OFF \
    -DSOCKETIO_BUILD_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

mkdir -p "$build/artifacts"
status=0
for target in ${FUZZ_TARGETS:-ws_parser eio_payload sio_packet query chat records resp msgpack redis_member}; do
    corpus=$build/corpus/$target
    mkdir -p "$corpus"
    echo "== fuzz_$target for ${seconds}s"
    if ! "$build/tests/fuzz/fuzz_$target" "$corpus" "$root/tests/fuzz/corpus/$target" \
            -max_total_time="$seconds" -max_len=65536 -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$build/artifacts/$target-" 2>"$build/$target.log"; then
        tail -40 "$build/$target.log"
        status=1
    else
        grep -E "^stat::number_of_executed_units|^stat::new_units_added" \
            "$build/$target.log" | tr '\n' ' '
        echo
    fi
done
exit $status
