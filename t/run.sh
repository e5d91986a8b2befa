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

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all tests passed"
