// Members of a Socket.IO cluster over one Redis (issue 10), for
// t/cluster.test.js:
//
// - startReferenceChat(): tests/bench/reference-chat.js --redis, the chat of
//   the contract on npm socket.io with @socket.io/redis-adapter: what the
//   cluster is made of today, and the Node.js member of a mixed one;
// - startNginxChat(): nginx with the module, `socketio_redis` in the
//   location, N workers (each worker is one member of the cluster);
// - startNodeApp(): a plain socket.io Server with the adapter and no chat,
//   the "few dozen lines" app of the contract (fetchSockets, socketsJoin,
//   serverSideEmit, acks);
// - redisClient(): a connected node-redis client (for the emitter);
// - moduleRedisSupport(): whether the module under test knows
//   `socketio_redis` (nginx -t), and why not.
//
// Every member is {label, kind, url, port, adapters (how many adapter
// members it counts for: 1, or its workers), redisConnections (what it should
// hold at most: a pub and a sub per adapter member), stop(), output()}.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { reapAtExit } from './reaper.js';
import { REPO_DIR, T_DIR, TARGET, nginxConfig, startServer } from './server.js';

export const REFERENCE_CHAT = path.join(REPO_DIR, 'tests', 'bench', 'reference-chat.js');
const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';
const MODULE = path.resolve(process.env.SOCKETIO_MODULE || path.join(REPO_DIR, 'build', 'ngx_http_socketio_module.so'));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Names the test's own Redis connections carry (CLIENT LIST tells them from the members'). */
export const TEST_CLIENT_PREFIX = 'cluster-test';
export const REFERENCE_CLIENT_PREFIX = 'reference-chat';

/**
 * Whether nginx with the module accepts `socketio_redis`: null when it
 * does, else the reason (for a test's skip). Runs `nginx -t` on the test
 * server's own configuration with the directive, as t/config.test.js does.
 */
export function moduleRedisSupport() {
  if (TARGET !== 'nginx') return `SOCKETIO_TARGET=${TARGET}: the module's nodes need nginx`;
  if (process.env.SOCKETIO_NO_MODULE === '1') return 'SOCKETIO_NO_MODULE=1';
  if (!fs.existsSync(MODULE)) return `no module at ${MODULE} (build it)`;
  const tmp = path.join(T_DIR, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const prefix = fs.mkdtempSync(path.join(tmp, `redis-conf-${process.pid}-`));
  try {
    const conf = nginxConfig(
      {
        path: '/socket.io/',
        handler: 'chat',
        pingInterval: 25000,
        pingTimeout: 20000,
        connectTimeout: 45000,
        maxPayload: 1000000,
        transports: ['polling', 'websocket'],
        workers: 1,
        workerConnections: 64,
        extraLocationDirectives: 'socketio_redis 127.0.0.1:1;',
      },
      { prefix, port: 1, modulePath: MODULE, withModule: true },
    );
    fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
    const r = spawnSync(NGINX_BIN, ['-t', '-p', prefix, '-e', path.join(prefix, 'error.log'), '-c', 'nginx.conf'], {
      encoding: 'utf8',
      timeout: 10000,
    });
    if (r.status === 0) return null;
    const why = `${r.stdout}${r.stderr}`.split('\n').find((l) => /emerg|error/.test(l)) ?? `exit ${r.status}`;
    // (the line without its temporary file's path)
    return `the module under test does not support socketio_redis yet (nginx -t: ${why.replace(/ in \/\S+$/, '').trim()})`;
  } finally {
    fs.rmSync(prefix, { recursive: true, force: true });
  }
}

/**
 * tests/bench/reference-chat.js --redis on a port of its own choosing (it
 * prints it: no race for a free port). `args`: more arguments.
 */
export async function startReferenceChat({ redis, label, prefix, relay = ['tweet'], args = [] }) {
  const argv = [
    REFERENCE_CHAT,
    '--port', '0',
    // production heartbeats: a loaded machine must not time sessions out
    '--ping-interval', '25000',
    '--ping-timeout', '20000',
    '--redis', redis.address,
    ...(relay.length ? ['--relay', relay.join(',')] : []),
    ...(redis.username ? ['--redis-user', redis.username] : []),
    ...(redis.password ? ['--redis-password', redis.password] : []),
    ...(prefix ? ['--redis-prefix', prefix] : []),
    ...args,
  ];
  const child = reapAtExit(spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = () => child.exitCode !== null || child.signalCode !== null;

  const deadline = Date.now() + 15000;
  let port;
  while (!(port = Number(/listening (\d+)/.exec(output)?.[1]))) {
    if (exited() || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${label}: reference-chat.js did not start:\n${output}`);
    }
    await sleep(20);
  }

  let stopped = false;
  return {
    label,
    kind: 'node',
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    adapters: 1,
    redisConnections: 2,
    output: () => output,
    alive: () => !exited(),
    /** Problems it printed: errors its handlers caught, a crash. */
    problems() {
      const lines = output.split('\n').filter((l) => /Error:|REFERENCE-SERVER-ERROR|Uncaught|unhandled/i.test(l));
      if (exited() && !stopped) lines.unshift(`exited by itself (code ${child.exitCode}, signal ${child.signalCode})`);
      return lines;
    },
    async stop() {
      if (stopped) return;
      const problems = this.problems();
      stopped = true;
      if (!exited()) {
        child.kill('SIGTERM');
        const t0 = Date.now();
        while (!exited() && Date.now() - t0 < 5000) await sleep(20);
        if (!exited()) child.kill('SIGKILL');
      }
      if (problems.length) throw new Error(`${label} (reference chat) reported problems:\n${problems.join('\n')}\n--- output ---\n${output}`);
    },
  };
}

/**
 * nginx with the module's chat as one node of the cluster: `workers`
 * workers (each one a member), `reuseport` so that the kernel spreads the
 * clients over them, the relay of `tweet` as the reference chat has it.
 */
export async function startNginxChat({ redis, label, prefix, workers = 2, extra = '', ...opts }) {
  const auth = [
    redis.password ? ` password=${redis.password}` : '',
    redis.username ? ` user=${redis.username}` : '',
    prefix ? ` prefix=${prefix}` : '',
  ].join('');
  const server = await startServer({
    path: '/socket.io/',
    handler: 'chat',
    workers,
    reuseport: true,
    pingInterval: 25000,
    pingTimeout: 20000,
    connectTimeout: 45000,
    extraLocationDirectives: `socketio_chat_relay tweet; socketio_redis ${redis.address}${auth}; ${extra}`,
    ...opts,
  });
  return {
    label,
    kind: 'nginx',
    url: server.url,
    port: server.port,
    server,
    adapters: workers,
    redisConnections: 2 * workers,
    output: () => server.errorLog(),
    alive: () => !server.exited(),
    problems: () => (server.exited() ? ['nginx exited'] : []),
    stop: () => server.stop(),
  };
}

/** A connected node-redis v4 client on `redis`, named for CLIENT LIST; errors are kept, not thrown. */
export async function redisClient(redis, name, extra = {}) {
  const client = createClient({ url: redis.url, name: `${TEST_CLIENT_PREFIX}-${name}`, ...extra });
  client.errors = [];
  client.on('error', (err) => client.errors.push(err.message));
  await client.connect();
  return client;
}

/**
 * A Node.js app of its own on the cluster: a socket.io Server with the
 * Redis adapter on an http server on a free port, no chat, no clients
 * needed. `io` is the Server; stop() closes it and its Redis clients.
 */
export async function startNodeApp({ redis, label = 'node app', prefix, requestsTimeout = 5000 } = {}) {
  const pub = await redisClient(redis, 'app-pub');
  const sub = await redisClient(redis, 'app-sub');
  const httpServer = http.createServer();
  const io = new Server(httpServer, { serveClient: false });
  io.adapter(createAdapter(pub, sub, { requestsTimeout, ...(prefix ? { key: prefix } : {}) }));
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const serverSide = []; // what other servers sent with serverSideEmit
  io.on('hello', (...args) => serverSide.push(['hello', ...args]));
  let stopped = false;
  return {
    label,
    kind: 'app',
    io,
    adapters: 1,
    redisConnections: 2,
    serverSide,
    errors: () => [...pub.errors, ...sub.errors],
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise((resolve) => io.close(() => resolve()));
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}

/** PUBSUB NUMSUB of the adapter's request channel: how many adapter members are subscribed. */
export async function adapterMembers(redis, prefix = 'socket.io') {
  const [, n] = await redis.cli('PUBSUB', 'NUMSUB', `${prefix}-request#/#`);
  return Number(n);
}

/** Waits (bounded) until exactly `n` adapter members are subscribed. */
export async function waitAdapterMembers(redis, n, { timeout = 15000, prefix } = {}) {
  const t0 = Date.now();
  let got;
  while ((got = await adapterMembers(redis, prefix)) !== n) {
    if (Date.now() - t0 > timeout) {
      throw new Error(`${got} adapter members subscribed to Redis after ${timeout} ms, expected ${n}`);
    }
    await sleep(50);
  }
  return Date.now() - t0;
}
