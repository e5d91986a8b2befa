#!/bin/bash
# Fault injection (issue 9): builds the module with -DSOCKETIO_FAULTS=ON
# and ASan + UBSan (build-faults/), whose operator new fails on a
# countdown that t/faults.test.js arms at points spread over a client's
# whole way through the chat, and runs that test with the sanitizer
# runtimes preloaded into the stock nginx (as t/run-sanitized.sh does).
# It fails on a crash, a sanitizer report, a hang, or bystanders that
# stop chatting.
#
#   t/run-faults.sh              # SOCKETIO_FAULT_STEPS steps (default 150)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=$root/build-faults

echo "== building the module with fault injection, ASan and UBSan ($build)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSOCKETIO_FAULTS=ON \
      -DSOCKETIO_SANITIZE=ON -DSOCKETIO_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ngx_http_socketio_module >/dev/null

export SOCKETIO_SANITIZED=1
export SOCKETIO_FAULTS=1
export SOCKETIO_FAULT_STEPS=${SOCKETIO_FAULT_STEPS:-150}
export SOCKETIO_MODULE=$build/ngx_http_socketio_module.so

cd t
node --test faults.test.js
