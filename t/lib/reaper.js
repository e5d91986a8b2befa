// Child processes a test process started and must not leave behind: each is
// SIGKILLed when the test process exits, whether the test passed, failed or
// was interrupted (t/lib/redis.js's redis-servers, t/lib/cluster.js's
// reference chats). A test still stops them itself, gracefully; this is for
// when it cannot.

import fs from 'node:fs';

const live = new Set();
const dirs = new Set();

function reapAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.clear();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

process.on('exit', reapAll);
// A signal ends the process without 'exit' handlers: reap, then die of the
// same signal (this listener is gone by then, so the default applies).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    reapAll();
    process.kill(process.pid, sig);
  });
}

/**
 * Kills `child` at exit if it still runs. It no longer keeps the event loop
 * alive either: a forgotten child does not hang the test process, which
 * then exits and kills it.
 */
export function reapAtExit(child) {
  live.add(child);
  child.on('exit', () => live.delete(child));
  child.unref();
  child.stdout?.unref?.();
  child.stderr?.unref?.();
  return child;
}

/** Removes `dir` at exit (until forget(dir)). */
export function removeAtExit(dir) {
  dirs.add(dir);
  return dir;
}

export function forget(dir) {
  dirs.delete(dir);
}
