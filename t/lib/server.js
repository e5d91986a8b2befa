// Test harness: starts the server under test.
//
// SOCKETIO_TARGET=nginx (default): a real nginx (/usr/sbin/nginx or
//   $NGINX_BIN) with the Socket.IO module loaded, in a private prefix
//   directory under t/tmp/.
// SOCKETIO_TARGET=reference: t/reference/server.js, the same handlers written
//   with the npm socket.io / engine.io packages.
//
// Debug helpers:
//   SOCKETIO_NO_MODULE=1  nginx without load_module and socketio directives
//                         (checks that the generated config itself is sane)
//   SOCKETIO_KEEP_TMP=1   never delete the nginx prefix directories
//   SOCKETIO_LOG_LEVEL=debug  the error log's level (default info)
//   SOCKETIO_MODULE=/abs/path.so  module to load
//   SOCKETIO_SANITIZED=1  the module was built with ASan + UBSan
//                         (t/run-sanitized.sh): nginx (not instrumented) is
//                         run with the sanitizer runtimes in LD_PRELOAD and
//                         logs under <prefix>/sanitizer/; stop() fails when
//                         a report appears there or in the output/error.log

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const T_DIR = path.resolve(here, '..');
export const REPO_DIR = path.resolve(T_DIR, '..');

export const TARGET = process.env.SOCKETIO_TARGET || 'nginx';
export const isReference = TARGET === 'reference';

const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';
const DEFAULT_MODULE = path.join(REPO_DIR, 'build', 'ngx_http_socketio_module.so');

const DEFAULTS = {
  path: '/socket.io/',
  handler: 'echo',
  pingInterval: 300,
  pingTimeout: 200,
  connectTimeout: 1000,
  maxPayload: 1000000,
  allowOrigin: undefined,
  transports: ['polling', 'websocket'],
  workers: 1,
  extraLocationDirectives: '',
  extraServerConfig: '',
  extraHttpConfig: '', // nginx only: lines in the http block, before the server (e.g. log_format)
  reuseport: false, // nginx only: listen ... reuseport (the kernel spreads connections evenly over the workers)
  allowLog: [], // nginx only: regexps of error.log lines stop() accepts (e.g. [/exited on signal 9/])
  port: undefined, // fixed port (e.g. to restart a server on the same port)
  ssl: undefined, // {cert, key}: paths of a certificate and its key (nginx only): listen ... ssl
  http2: false, // nginx only: listen ... http2 (with ssl: HTTP/2 over TLS, ALPN h2)
  extraMainConfig: '', // nginx only: lines in the main context (e.g. worker_shutdown_timeout 2s;)
  workerConnections: 4096, // nginx only: events { worker_connections }
  workerRlimitNofile: undefined, // nginx only: worker_rlimit_nofile (main context)
  recovery: undefined, // ms: connection state recovery on, with this window (socketio_recovery, connectionStateRecovery)
};

export const SANITIZED = process.env.SOCKETIO_SANITIZED === '1';
// What a sanitizer report looks like in nginx's stderr or error.log.
const SANITIZER_PATTERNS = [/AddressSanitizer/, /LeakSanitizer/, /UndefinedBehaviorSanitizer/, /runtime error:/];

/**
 * The shared sanitizer runtimes the instrumented module needs: ASan must come
 * first in the process's library list, and /usr/sbin/nginx links neither.
 * $SOCKETIO_SANITIZER_PRELOAD overrides (a colon-separated list).
 */
function sanitizerPreload() {
  if (process.env.SOCKETIO_SANITIZER_PRELOAD) return process.env.SOCKETIO_SANITIZER_PRELOAD;
  const cc = process.env.CC || 'gcc';
  const lib = (name) => execFileSync(cc, [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
  return [lib('libasan.so'), lib('libubsan.so')].join(':');
}

/**
 * The environment of an nginx process (the master and any `nginx -s`) for a
 * server whose prefix is `prefix`. Leak detection is off: nginx exits
 * without freeing its cycle pools and the old cycles of a reload, so every
 * exit would report them; leaks are valgrind's job (t/run-valgrind.sh).
 * $SOCKETIO_ASAN_OPTIONS / $SOCKETIO_UBSAN_OPTIONS are appended.
 */
export function sanitizerEnv(prefix) {
  const dir = path.join(prefix, 'sanitizer');
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777); // workers may run as another user
  const extra = (v) => (process.env[v] ? `:${process.env[v]}` : '');
  return {
    ...process.env,
    LD_PRELOAD: [sanitizerPreload(), process.env.LD_PRELOAD].filter(Boolean).join(':'),
    ASAN_OPTIONS:
      `detect_leaks=0:abort_on_error=1:halt_on_error=1:disable_coredump=1:log_path=${dir}/asan` +
      extra('SOCKETIO_ASAN_OPTIONS'),
    UBSAN_OPTIONS:
      `print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=${dir}/ubsan` + extra('SOCKETIO_UBSAN_OPTIONS'),
  };
}

/** The sanitizer reports of a server: [{file, text}] of the files under <prefix>/sanitizer/. */
export function sanitizerReports(prefix) {
  const dir = path.join(prefix, 'sanitizer');
  let names = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.map((name) => {
    const file = path.join(dir, name);
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      /* vanished */
    }
    return { file, text };
  });
}

/**
 * A shell script that runs nginx with the sanitizer environment, so that
 * tests which run `server.nginxBin -s reload` themselves load the
 * instrumented module the same way.
 */
function sanitizedNginxWrapper(prefix, env) {
  const q = (v) => `'${String(v).replace(/'/g, `'\\''`)}'`;
  const file = path.join(prefix, 'nginx-sanitized.sh');
  const text =
    '#!/bin/sh\n' +
    `export LD_PRELOAD=${q(env.LD_PRELOAD)}\n` +
    `export ASAN_OPTIONS=${q(env.ASAN_OPTIONS)}\n` +
    `export UBSAN_OPTIONS=${q(env.UBSAN_OPTIONS)}\n` +
    `exec ${q(NGINX_BIN)} "$@"\n`;
  fs.writeFileSync(file, text, { mode: 0o755 });
  return file;
}

const BAD_LOG_PATTERNS = [/\[alert\]/, /\[crit\]/, /\[emerg\]/, /exited on signal/];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Finds a free TCP port on 127.0.0.1 by binding port 0 and closing it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.removeAllListeners();
      sock.on('error', () => {});
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Polls until 127.0.0.1:port accepts connections, the child exits, or timeout. */
async function waitForPort(port, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return 'exited';
    if (await canConnect(port)) return 'ok';
    await sleep(50);
  }
  return 'timeout';
}

function waitForExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

function msDirective(value) {
  return `${Math.round(value)}ms`;
}

/** Builds the nginx.conf text for the given options (exported for debugging). */
export function nginxConfig(o, { prefix, port, modulePath, withModule }) {
  const p = (name) => path.join(prefix, name);
  const lines = [];
  const directives = [];
  if (withModule) {
    directives.push('socketio;');
    directives.push(`socketio_handler ${o.handler};`);
    directives.push(`socketio_ping_interval ${msDirective(o.pingInterval)};`);
    directives.push(`socketio_ping_timeout ${msDirective(o.pingTimeout)};`);
    directives.push(`socketio_connect_timeout ${msDirective(o.connectTimeout)};`);
    directives.push(`socketio_max_payload ${o.maxPayload};`);
    if (o.allowOrigin !== undefined && o.allowOrigin !== null) {
      directives.push(`socketio_allow_origin ${o.allowOrigin};`);
    }
    directives.push(`socketio_transports ${o.transports.join(' ')};`);
    if (o.recovery !== undefined) {
      directives.push('socketio_recovery on;', `socketio_recovery_window ${msDirective(o.recovery)};`);
    }
  } else {
    // Stock nginx: answer something recognisable so the harness can be checked.
    directives.push('return 200 "no module\\n";');
  }
  if (o.extraLocationDirectives) directives.push(o.extraLocationDirectives);

  if (withModule) lines.push(`load_module ${modulePath};`);
  lines.push(
    'daemon off;',
    'master_process on;',
    // as root, workers would run as "nobody", who may not read a checkout
    // under /root: the test servers only listen on loopback
    ...(process.getuid && process.getuid() === 0 ? ['user root;'] : []),
    `worker_processes ${o.workers};`,
    ...(o.workerRlimitNofile ? [`worker_rlimit_nofile ${o.workerRlimitNofile};`] : []),
    ...(o.extraMainConfig ? [o.extraMainConfig] : []),
    `error_log ${p('error.log')} ${process.env.SOCKETIO_LOG_LEVEL || 'info'};`,
    `pid ${p('nginx.pid')};`,
    '',
    'events {',
    `    worker_connections ${o.workerConnections};`,
    '}',
    '',
    'http {',
    `    access_log ${p('access.log')};`,
    `    client_body_temp_path ${p('client_body_temp')};`,
    `    proxy_temp_path ${p('proxy_temp')};`,
    `    fastcgi_temp_path ${p('fastcgi_temp')};`,
    `    uwsgi_temp_path ${p('uwsgi_temp')};`,
    `    scgi_temp_path ${p('scgi_temp')};`,
  );
  if (o.extraHttpConfig) lines.push(`    ${o.extraHttpConfig}`);
  lines.push(
    '',
    '    server {',
    `        listen 127.0.0.1:${port}${o.ssl ? ' ssl' : ''}${o.http2 ? ' http2' : ''}${o.reuseport ? ' reuseport' : ''};`,
    '        server_name localhost;',
  );
  if (o.ssl) {
    lines.push(`        ssl_certificate ${o.ssl.cert};`, `        ssl_certificate_key ${o.ssl.key};`);
  }
  if (o.extraServerConfig) lines.push(`        ${o.extraServerConfig}`);
  lines.push(`        location ${o.path} {`);
  for (const d of directives) lines.push(`            ${d}`);
  lines.push('        }', '    }', '}', '');
  return lines.join('\n');
}

function badLogLines(log, allow = []) {
  return log
    .split('\n')
    .filter((line) => BAD_LOG_PATTERNS.some((re) => re.test(line)) && !allow.some((re) => re.test(line)));
}

let counter = 0;

async function startNginx(o) {
  const withModule = process.env.SOCKETIO_NO_MODULE !== '1';
  const modulePath = path.resolve(process.env.SOCKETIO_MODULE || DEFAULT_MODULE);
  if (withModule && !fs.existsSync(modulePath)) {
    throw new Error(`nginx module not found at ${modulePath} (build it, or set SOCKETIO_MODULE)`);
  }
  const tmpRoot = path.join(T_DIR, 'tmp');
  fs.mkdirSync(tmpRoot, { recursive: true });
  const prefix = fs.mkdtempSync(path.join(tmpRoot, `${process.pid}-${++counter}-`));
  // nginx workers drop privileges (to "nobody") when started as root: they
  // must be able to reach the temp directories inside the prefix.
  fs.chmodSync(prefix, 0o755);

  const port = o.port ?? (await freePort());
  const conf = nginxConfig(o, { prefix, port, modulePath, withModule });
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const errorLogPath = path.join(prefix, 'error.log');
  const readLog = () => {
    try {
      return fs.readFileSync(errorLogPath, 'utf8');
    } catch {
      return '';
    }
  };

  const env = SANITIZED ? sanitizerEnv(prefix) : process.env;
  const nginxBin = SANITIZED ? sanitizedNginxWrapper(prefix, env) : NGINX_BIN;
  const child = spawn(NGINX_BIN, ['-p', prefix, '-e', errorLogPath, '-c', 'nginx.conf'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  child.on('error', (err) => (output += `spawn error: ${err.message}\n`));

  const state = await waitForPort(port, child, 10000);
  if (state !== 'ok') {
    if (state === 'timeout') {
      child.kill('SIGKILL');
      await waitForExit(child, 2000);
    }
    throw new Error(
      `nginx did not start (${state}) in ${prefix}\n--- nginx output ---\n${output}` +
        `--- error.log ---\n${readLog()}--- nginx.conf ---\n${conf}` +
        (SANITIZED ? sanitizerReports(prefix).map((r) => `--- ${r.file} ---\n${r.text}`).join('') : ''),
    );
  }

  let stopped = false;
  return {
    url: `${o.ssl ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    prefix,
    target: 'nginx',
    pid: child.pid, // the master process (signals: HUP reload, QUIT graceful stop)
    nginxBin, // with SOCKETIO_SANITIZED=1, a wrapper that sets the sanitizer environment
    exited: () => child.exitCode !== null || child.signalCode !== null,
    errorLog: readLog,
    async stop() {
      if (stopped) return;
      stopped = true;
      let killed = false;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT');
        if (!(await waitForExit(child, 5000))) {
          killed = true;
          child.kill('SIGKILL');
          await waitForExit(child, 5000);
        }
      }
      const log = readLog();
      const problems = badLogLines(log, o.allowLog);
      if (killed) problems.unshift('nginx did not exit within 5 s after SIGQUIT (killed)');
      if (SANITIZED) {
        for (const { file, text } of sanitizerReports(prefix)) {
          problems.push(`sanitizer report ${file}:\n${text.slice(0, 20000)}`);
        }
        for (const line of `${log}\n${output}`.split('\n')) {
          if (SANITIZER_PATTERNS.some((re) => re.test(line))) problems.push(`sanitizer: ${line}`);
        }
      }
      if (problems.length > 0) {
        throw new Error(
          `nginx reported problems (logs kept in ${prefix}):\n${problems.join('\n')}\n--- output ---\n${output}`,
        );
      }
      if (process.env.SOCKETIO_KEEP_TMP !== '1') {
        fs.rmSync(prefix, { recursive: true, force: true });
      }
    },
  };
}

async function startReference(o) {
  const port = o.port ?? (await freePort());
  const args = [
    path.join(T_DIR, 'reference', 'server.js'),
    '--port', String(port),
    '--path', o.path,
    '--handler', o.handler,
    '--ping-interval', String(o.pingInterval),
    '--ping-timeout', String(o.pingTimeout),
    '--connect-timeout', String(o.connectTimeout),
    '--max-payload', String(o.maxPayload),
    '--transports', o.transports.join(','),
  ];
  if (o.allowOrigin !== undefined && o.allowOrigin !== null) {
    args.push('--allow-origin', String(o.allowOrigin));
  }
  if (o.recovery !== undefined) args.push('--recovery', String(o.recovery));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));

  const state = await waitForPort(port, child, 10000);
  if (state !== 'ok') {
    child.kill('SIGKILL');
    await waitForExit(child, 2000);
    throw new Error(`reference server did not start (${state}):\n${output}`);
  }
  let stopped = false;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    target: 'reference',
    errorLog: () => '',
    output: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 5000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5000);
        }
      }
      if (output.includes('REFERENCE-SERVER-ERROR')) {
        throw new Error(`reference server printed errors:\n${output}`);
      }
    },
  };
}

/**
 * Starts a server for the current target.
 * @returns {Promise<{url: string, port: number, stop: () => Promise<void>, errorLog: () => string}>}
 */
export async function startServer(opts = {}) {
  const o = { ...DEFAULTS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) o[k] = v;
  if ('allowOrigin' in opts) o.allowOrigin = opts.allowOrigin;
  if (TARGET === 'reference') return startReference(o);
  if (TARGET === 'nginx') return startNginx(o);
  throw new Error(`unknown SOCKETIO_TARGET ${TARGET} (nginx or reference)`);
}

/** Runs `nginx -s SIGNAL` against a started server's prefix and configuration. */
export function nginxSignal(server, signal) {
  const res = spawnSync(
    server.nginxBin,
    ['-p', server.prefix, '-e', path.join(server.prefix, 'error.log'), '-c', 'nginx.conf', '-s', signal],
    { encoding: 'utf8', timeout: 10000 },
  );
  assert.equal(res.status, 0, `nginx -s ${signal}: ${res.stderr}${res.stdout}`);
}

/** The master's children: [{pid, title}] ("nginx: worker process[ is shutting down]"). */
export function children(server) {
  let out = '';
  try {
    out = execFileSync('ps', ['--ppid', String(server.pid), '-o', 'pid=,args='], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there is none
  }
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\d+)\s+(.*)$/.exec(l);
      return { pid: Number(m[1]), title: m[2] };
    });
}

/** The pids of the master's worker processes (shutting down or not). */
export const workerPids = (server) =>
  children(server)
    .filter((c) => /worker process/.test(c.title))
    .map((c) => c.pid);

/** Waits until none of `pids` is a child of the master any more; resolves with the time it took. */
export async function waitGone(server, pids, timeout) {
  const t0 = Date.now();
  for (;;) {
    const alive = workerPids(server).filter((p) => pids.includes(p));
    if (alive.length === 0) return Date.now() - t0;
    if (Date.now() - t0 > timeout) {
      const left = children(server).filter((c) => pids.includes(c.pid));
      throw new Error(`old workers still running ${timeout} ms after the signal: ${JSON.stringify(left)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
