// Configuration checks at `nginx -t` (issue 9): locations on one socketio
// zone are one server and must agree on their socketio settings, the
// relayed chat events (socketio_chat_relay) included; with a zone each,
// they may differ.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_DIR, SANITIZED, T_DIR, isReference, nginxConfig, sanitizerEnv } from './lib/server.js';

const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';
const MODULE = process.env.SOCKETIO_MODULE || path.join(REPO_DIR, 'build', 'ngx_http_socketio_module.so');

const BASE = {
  path: '/socket.io/',
  handler: 'chat',
  pingInterval: 25000,
  pingTimeout: 20000,
  connectTimeout: 45000,
  maxPayload: 1000000,
  transports: ['polling', 'websocket'],
  workers: 1,
  workerConnections: 64,
};

/** `nginx -t` of the test server's config with `extra` in its server block. */
function configTest(locationDirectives, extra) {
  const tmp = path.join(T_DIR, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const prefix = fs.mkdtempSync(path.join(tmp, `conf-${process.pid}-`));
  try {
    const conf = nginxConfig(
      { ...BASE, extraLocationDirectives: locationDirectives, extraServerConfig: extra },
      { prefix, port: 1, modulePath: MODULE, withModule: true },
    );
    fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
    // a sanitized module loads only with the sanitizer runtimes preloaded
    const r = spawnSync(NGINX_BIN, ['-t', '-p', prefix, '-e', path.join(prefix, 'error.log'), '-c', 'nginx.conf'], {
      encoding: 'utf8',
      env: SANITIZED ? sanitizerEnv(prefix) : process.env,
    });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(prefix, { recursive: true, force: true });
  }
}

const second = (directives) => `location /other/ { socketio; socketio_handler chat; socketio_ping_interval 25s; socketio_ping_timeout 20s; socketio_connect_timeout 45s; socketio_max_payload 1000000; socketio_transports polling websocket; ${directives} }`;

describe('locations on one zone agree (nginx -t)', { skip: isReference && 'nginx only' }, () => {
  it('two locations with the same settings on one zone: accepted', () => {
    const r = configTest('socketio_chat_relay tweet;', second('socketio_chat_relay tweet;'));
    assert.ok(r.ok, r.output);
  });

  it('socketio_chat_relay differing on one zone: refused, naming the zone', () => {
    const r = configTest('socketio_chat_relay tweet;', second('socketio_chat_relay tweet retweet;'));
    assert.ok(!r.ok, r.output);
    assert.match(r.output, /locations on the socketio zone "socketio" differ in their socketio settings/);
  });

  it('socketio_chat_relay set in one location only: refused', () => {
    const r = configTest('socketio_chat_relay tweet;', second(''));
    assert.ok(!r.ok, r.output);
    assert.match(r.output, /differ in their socketio settings/);
  });

  it('another setting differing on one zone: refused', () => {
    const r = configTest('', second('socketio_output_limit 8m;'));
    assert.ok(!r.ok, r.output);
    assert.match(r.output, /differ in their socketio settings/);
  });

  it('socketio_recovery differing on one zone: refused', () => {
    const r = configTest('socketio_recovery on;', second(''));
    assert.ok(!r.ok, r.output);
    assert.match(r.output, /differ in their socketio settings/);
  });

  it('socketio_recovery_window differing on one zone: refused', () => {
    const r = configTest('socketio_recovery on;', second('socketio_recovery on; socketio_recovery_window 5m;'));
    assert.ok(!r.ok, r.output);
    assert.match(r.output, /differ in their socketio settings/);
  });

  it('socketio_recovery_window under a second: refused', () => {
    const r = configTest('socketio_recovery on; socketio_recovery_window 500ms;', '');
    assert.ok(!r.ok, r.output);
    assert.match(r.output, /"socketio_recovery_window" must be at least 1s/);
  });

  it('socketio_recovery set alike on two locations of one zone: accepted', () => {
    const r = configTest('socketio_recovery on; socketio_recovery_window 30s;', second('socketio_recovery on; socketio_recovery_window 30s;'));
    assert.ok(r.ok, r.output);
  });

  it('differing locations on zones of their own: accepted', () => {
    const r = configTest(
      'socketio_chat_relay tweet;',
      second('socketio_chat_relay retweet; socketio_zone other 4m;'),
    );
    assert.ok(r.ok, r.output);
  });
});
