#!/bin/bash
# The README's second command: every test. The unit tests of the core
# (GoogleTest, through CTest), then the black-box tests of t/, each of which
# starts its own nginx with the built module on free loopback ports.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cmake --build build -j"$(nproc)" >/dev/null

echo "== unit tests (tests/)"
ctest --test-dir build --output-on-failure -j"$(nproc)"

echo "== black-box tests (t/)"
failed=()
for f in t/*.test.js; do
    echo "-- $f"
    if ! (cd t && node --test "$(basename "$f")"); then
        failed+=("$f")
    fi
done

# The same protocol cases against the reference Node.js server (npm
# socket.io 4.8, t/reference/server.js): what they expect of the module is
# what the reference does, so they are checked against it on every run.
echo "== the reference as the oracle (SOCKETIO_TARGET=reference)"
for f in engineio-protocol.test.js socketio-protocol.test.js client.test.js recovery.test.js; do
    echo "-- t/$f (reference)"
    if ! (cd t && SOCKETIO_TARGET=reference node --test "$f"); then
        failed+=("t/$f (reference)")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all tests passed"
