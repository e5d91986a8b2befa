// A private redis-server for the cluster tests (issue 10): Debian's
// /usr/bin/redis-server on a free loopback port, nothing persisted, in a
// directory of its own under t/tmp/, stopped by the harness at the end of a
// test and, whatever happens, when the test process exits.
//
//   const redis = await startRedis({ password, user: { name, password } });
//   redis.url                 redis://[user:pass@]127.0.0.1:PORT for node-redis
//   await redis.cli('INCR', 'k')      one command on a fresh connection: its reply
//   await redis.clientList()  CLIENT LIST as objects, this harness's own connection left out
//   await redis.stop()        SIGTERM (no save: nothing to save), waits for the exit
//   await redis.restart()     stop, then start again on the same port, empty
//
// Commands go through a small RESP client of its own (not node-redis, not
// redis-cli): the harness then depends on nothing the tests exercise, and a
// reply is a value (string, number, array, null) rather than redis-cli's
// formatting.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { reapAtExit, removeAtExit, forget } from './reaper.js';
import { T_DIR, freePort } from './server.js';

export const REDIS_BIN = process.env.REDIS_BIN || '/usr/bin/redis-server';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether redis-server is installed (conf/setup.sh installs it). */
export const haveRedis = () => fs.existsSync(REDIS_BIN);

// --- RESP ------------------------------------------------------------------

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Parses one RESP2 reply at `buf[pos]`: {value, pos} or null when it is not
 * all there yet. Errors are Error values (not thrown), bulk strings strings.
 */
function parse(buf, pos = 0) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, pos: next };
    case '-':
      return { value: new Error(line), pos: next };
    case ':':
      return { value: Number(line), pos: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, pos: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.toString('utf8', next, next + n), pos: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, pos: next };
      const items = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return null;
        items.push(r.value);
        p = r.pos;
      }
      return { value: items, pos: p };
    }
    default:
      throw new Error(`RESP: unexpected reply type ${JSON.stringify(type)}`);
  }
}

/**
 * Sends `commands` (arrays) on one fresh connection and resolves with their
 * replies, in order (Error values for error replies). Rejects when the
 * connection fails or the replies take over `timeout` ms.
 */
export function resp(port, commands, { timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const replies = [];
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`redis on port ${port}: no reply within ${timeout} ms`)), timeout);
    sock.on('connect', () => sock.write(Buffer.concat(commands.map(encode))));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      try {
        for (;;) {
          const r = parse(buf);
          if (!r) break;
          replies.push(r.value);
          buf = buf.subarray(r.pos);
          if (replies.length === commands.length) return finish(null, replies);
        }
      } catch (err) {
        finish(err);
      }
    });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`redis on port ${port} closed the connection after ${replies.length} replies`)));
  });
}

/** CLIENT LIST's text as [{id, addr, name, cmd, sub, psub, ...}] (numbers stay strings). */
export function parseClientList(text) {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const o = {};
      for (const field of line.split(' ')) {
        const i = field.indexOf('=');
        if (i > 0) o[field.slice(0, i)] = field.slice(i + 1);
      }
      return o;
    });
}

// --- the server ------------------------------------------------------------

let counter = 0;

/**
 * Starts a redis-server. Options: `password` (requirepass: the default user's
 * password), `user` ({name, password}: an ACL user with every right, for
 * AUTH user pass), `port` (default: a free one), `args` (more redis-server
 * arguments, e.g. ['--maxclients', '100']).
 */
export async function startRedis({ password, user, port, args = [] } = {}) {
  if (!haveRedis()) throw new Error(`${REDIS_BIN} not found (conf/setup.sh installs Debian's redis-server)`);
  const tmpRoot = path.join(T_DIR, 'tmp');
  fs.mkdirSync(tmpRoot, { recursive: true });
  const dir = fs.mkdtempSync(path.join(tmpRoot, `redis-${process.pid}-${++counter}-`));
  removeAtExit(dir);

  const auth = user ? [user.name, user.password] : password ? [password] : null;
  const authed = (commands) => (auth ? [['AUTH', ...auth], ...commands] : commands);
  /** Replies of `commands` (AUTH's own left out). */
  const run = async (commands, opts) => {
    const replies = await resp(state.port, authed(commands), opts);
    return auth ? replies.slice(1) : replies;
  };

  const state = { port, child: null, output: '' };

  async function launch() {
    const argv = [
      '--port', String(state.port),
      '--bind', '127.0.0.1',
      '--protected-mode', 'no',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--daemonize', 'no',
      '--logfile', '', // stdout, kept for error messages
      '--loglevel', 'notice',
      ...(password ? ['--requirepass', password] : []),
      ...(user ? ['--user', user.name, 'on', `>${user.password}`, '~*', '&*', '+@all'] : []),
      ...args,
    ];
    const child = spawn(REDIS_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    state.child = child;
    state.output = '';
    child.stdout.on('data', (d) => (state.output += d));
    child.stderr.on('data', (d) => (state.output += d));
    child.on('error', (err) => (state.output += `spawn error: ${err.message}\n`));
    // killed at exit whatever happens; a forgotten one does not keep the
    // test process alive
    reapAtExit(child);

    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) return false;
      try {
        const [pong] = await run([['PING']], { timeout: 1000 });
        if (pong === 'PONG') return true;
      } catch {
        /* not listening yet */
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    await waitExit(child, 2000);
    throw new Error(`redis-server did not answer PING within 10 s on port ${state.port}:\n${state.output}`);
  }

  // A free port may be taken by somebody else before redis binds it: another
  // one then, a few times.
  for (let attempt = 0; ; attempt++) {
    if (port === undefined) state.port = await freePort();
    if (await launch()) break;
    const bindError = /Address already in use|bind/i.test(state.output);
    if (port !== undefined || !bindError || attempt >= 4) {
      throw new Error(`redis-server exited at start (port ${state.port}):\n${state.output}`);
    }
  }

  const enc = encodeURIComponent;
  const redis = {
    host: '127.0.0.1',
    get port() {
      return state.port;
    },
    dir,
    password: user ? user.password : password,
    username: user ? user.name : undefined,
    /** For node-redis createClient({url}). */
    get url() {
      const cred = user ? `${enc(user.name)}:${enc(user.password)}@` : password ? `:${enc(password)}@` : '';
      return `redis://${cred}127.0.0.1:${state.port}`;
    },
    /** The address as the module's `socketio_redis` directive and reference-chat.js's --redis take it. */
    get address() {
      return `127.0.0.1:${state.port}`;
    },
    running: () => state.child !== null && state.child.exitCode === null && state.child.signalCode === null,
    output: () => state.output,
    pid: () => state.child?.pid,

    /** Runs one command; resolves with its reply, rejects on an error reply. */
    async cli(...args) {
      const [reply] = await run([args]);
      if (reply instanceof Error) throw new Error(`redis ${args.join(' ')}: ${reply.message}`);
      return reply;
    },

    /** The clients connected, as CLIENT LIST has them, without the connection that asks. */
    async clientList() {
      const [id, text] = await run([['CLIENT', 'ID'], ['CLIENT', 'LIST']]);
      if (text instanceof Error) throw text;
      return parseClientList(text).filter((c) => c.id !== String(id));
    },

    /** Stops it (SIGTERM, or `signal`) and waits for the exit; SIGKILL after 5 s. */
    async stop({ signal = 'SIGTERM' } = {}) {
      const child = state.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
    },

    /** Stops it and starts it again on the same port: an empty Redis, as after a restart without persistence. */
    async restart(opts) {
      await redis.stop(opts);
      if (!(await launch())) throw new Error(`redis-server did not start again on port ${state.port}:\n${state.output}`);
    },

    /** Stops it for good and removes its directory. */
    async close() {
      await redis.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      forget(dir);
    },
  };
  return redis;
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}
