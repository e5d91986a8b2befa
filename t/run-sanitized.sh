#!/bin/bash
# The whole t/ suite against the module built with AddressSanitizer and
# UndefinedBehaviorSanitizer (issue 6). Builds build-asan-module/ (cmake
# -DSOCKETIO_SANITIZE=ON: the module and the core it links are instrumented
# and link the shared libasan/libubsan), then runs every t/*.test.js with
#   SOCKETIO_SANITIZED=1 SOCKETIO_MODULE=build-asan-module/ngx_http_socketio_module.so
# so that t/lib/server.js starts the stock (uninstrumented) /usr/sbin/nginx
# with LD_PRELOAD=libasan.so:libubsan.so, ASAN_OPTIONS / UBSAN_OPTIONS
# (detect_leaks=0, abort_on_error=1, halt_on_error=1, log_path under each
# server's prefix) and fails a test when a sanitizer report file appears or
# the output or error.log mentions AddressSanitizer / "runtime error".
#
#   t/run-sanitized.sh                         # every file
#   t/run-sanitized.sh websocket.test.js ...   # some files (names in t/)
#
# Leaks are not checked here (nginx exits without freeing its pools); see
# t/run-valgrind.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=$root/build-asan-module

echo "== building the module with ASan + UBSan ($build)"
cmake -S . -B "$build" -DSOCKETIO_SANITIZE=ON -DSOCKETIO_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ngx_http_socketio_module >/dev/null
module=$build/ngx_http_socketio_module.so
if ! ldd "$module" | grep libasan >/dev/null; then
    echo "run-sanitized: $module does not link libasan" >&2
    exit 1
fi

export SOCKETIO_SANITIZED=1
export SOCKETIO_MODULE=$module

cd t
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
# The harness checks itself: the master maps the sanitizer runtimes and the
# instrumented module, and a report file makes stop() fail.
node --input-type=module -e '
import fs from "node:fs";
import { startServer } from "./lib/server.js";
const s = await startServer({});
const maps = fs.readFileSync(`/proc/${s.pid}/maps`, "utf8");
for (const want of ["libasan", "libubsan", process.env.SOCKETIO_MODULE]) {
  if (!maps.includes(want)) { await s.stop().catch(() => {}); throw new Error(`nginx does not map ${want}`); }
}
fs.writeFileSync(`${s.prefix}/sanitizer/asan.0`, "==0==ERROR: AddressSanitizer: self-check");
let caught = false;
try { await s.stop(); } catch { caught = true; }
if (!caught) throw new Error("a sanitizer report did not fail stop()");
fs.rmSync(s.prefix, { recursive: true, force: true });
console.log("harness self-check: nginx runs with libasan + libubsan and the instrumented module; reports fail a test");
'

if [ $# -gt 0 ]; then files=("$@"); else files=(*.test.js); fi
echo "== black-box tests (t/) against the sanitized module"
failed=()
for f in "${files[@]}"; do
    echo "-- $f"
    if ! node --test "$f"; then
        failed+=("$f")
    fi
done

# Any report left behind by a server whose test did not get to stop() it.
left=$(find tmp -path '*/sanitizer/*' -type f -newer "$marker" 2>/dev/null | grep -v '/asan\.0$' || true)
if [ -n "$left" ]; then
    echo "sanitizer reports:"
    for r in $left; do echo "--- $r"; head -c 20000 "$r"; done
    failed+=("(sanitizer reports)")
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED under ASan + UBSan: ${failed[*]}"
    exit 1
fi
echo "all tests passed under ASan + UBSan, no sanitizer report"
