// CORS (socketio_allow_origin) on the polling transport, plus the Origin
// check of a configured single origin.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, isReference } from './lib/server.js';
import { WsClient, eioUrl, http, pollingHandshake, readError } from './lib/helpers.js';

const PATH = '/socket.io/';
const T = { timeout: 10000 };
// The reference server (the npm "cors" middleware) never refuses an origin:
// it only sets the headers. Refusing foreign origins is nginx-only.
const nginxOnly = { ...T, skip: isReference ? 'the reference server does not refuse origins' : false };

const pollUrl = (srv, query = {}) => eioUrl(srv.url, PATH, { transport: 'polling', ...query });

function preflight(srv, origin, query = {}) {
  return http(pollUrl(srv, query), {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type',
    },
  });
}

function assertAllowsMethods(res) {
  const methods = (res.headers.get('access-control-allow-methods') ?? '')
    .split(',')
    .map((m) => m.trim().toUpperCase());
  assert.ok(methods.includes('GET'), `Access-Control-Allow-Methods: ${methods}`);
  assert.ok(methods.includes('POST'), `Access-Control-Allow-Methods: ${methods}`);
}

function assertAllowsHeader(res, header) {
  const allowed = (res.headers.get('access-control-allow-headers') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  assert.ok(allowed.includes(header) || allowed.includes('*'), `Access-Control-Allow-Headers: ${allowed}`);
}

describe('allowOrigin "*"', () => {
  let srv;
  before(async () => {
    srv = await startServer({ path: PATH, handler: 'echo', allowOrigin: '*' });
  });
  after(async () => {
    await srv?.stop();
  });

  it('sets Access-Control-Allow-Origin on a polling handshake', T, async () => {
    const res = await http(pollUrl(srv), { headers: { Origin: 'http://example.test' } });
    assert.equal(res.status, 200);
    assert.ok(['*', 'http://example.test'].includes(res.headers.get('access-control-allow-origin')));
    assert.equal((await res.text())[0], '0');
  });

  it('sets Access-Control-Allow-Origin on POST and GET of a session', T, async () => {
    const s = await pollingHandshake(srv.url, PATH);
    const post = await http(s.url(), {
      method: 'POST',
      body: '40',
      headers: { Origin: 'http://example.test', 'Content-Type': 'text/plain;charset=UTF-8' },
    });
    assert.equal(post.status, 200);
    assert.equal(await post.text(), 'ok');
    assert.ok(['*', 'http://example.test'].includes(post.headers.get('access-control-allow-origin')));
    const get = await http(s.url(), { headers: { Origin: 'http://example.test' } });
    assert.equal(get.status, 200);
    assert.ok(['*', 'http://example.test'].includes(get.headers.get('access-control-allow-origin')));
    assert.ok((await get.text()).startsWith('40{'));
  });

  it('sets Access-Control-Allow-Origin on error answers', T, async () => {
    const res = await http(pollUrl(srv, { sid: 'AAAAAAAAAAAAAAAAAAAA' }), { headers: { Origin: 'http://example.test' } });
    const err = await readError(res);
    assert.equal(err.status, 400);
    assert.deepEqual(err.body, { code: 1, message: 'Session ID unknown' });
    assert.ok(['*', 'http://example.test'].includes(res.headers.get('access-control-allow-origin')));
  });

  it('answers an OPTIONS preflight', T, async () => {
    const res = await preflight(srv, 'http://example.test');
    assert.ok([200, 204].includes(res.status), `status ${res.status}`);
    await res.text();
    assert.ok(['*', 'http://example.test'].includes(res.headers.get('access-control-allow-origin')));
    assertAllowsMethods(res);
    assertAllowsHeader(res, 'content-type');
  });

  it('answers an OPTIONS preflight for an existing session', T, async () => {
    const s = await pollingHandshake(srv.url, PATH);
    const res = await preflight(srv, 'http://example.test', { sid: s.sid });
    assert.ok([200, 204].includes(res.status), `status ${res.status}`);
    await res.text();
    assertAllowsMethods(res);
  });

  it('accepts a WebSocket from any origin', T, async () => {
    const ws = new WsClient(eioUrl(srv.url, PATH, { transport: 'websocket' }, { ws: true }), {
      origin: 'http://example.test',
    });
    try {
      const open = await ws.next({ pings: true });
      assert.equal(open[0], '0');
    } finally {
      ws.close();
    }
  });
});

describe('no allowOrigin', () => {
  let srv;
  before(async () => {
    srv = await startServer({ path: PATH, handler: 'echo' });
  });
  after(async () => {
    await srv?.stop();
  });

  it('sends no Access-Control-Allow-Origin', T, async () => {
    const res = await http(pollUrl(srv), { headers: { Origin: 'http://example.test' } });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  it('treats an OPTIONS handshake as a bad handshake method', T, async () => {
    const res = await preflight(srv, 'http://example.test');
    const err = await readError(res);
    assert.equal(err.status, 400);
    assert.deepEqual(err.body, { code: 2, message: 'Bad handshake method' });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });
});

describe('allowOrigin "http://good.test"', () => {
  let srv;
  before(async () => {
    srv = await startServer({ path: PATH, handler: 'echo', allowOrigin: 'http://good.test' });
  });
  after(async () => {
    await srv?.stop();
  });

  it('allows the configured origin', T, async () => {
    const res = await http(pollUrl(srv), { headers: { Origin: 'http://good.test' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://good.test');
    assert.equal((await res.text())[0], '0');
  });

  it('answers a preflight from the configured origin', T, async () => {
    const res = await preflight(srv, 'http://good.test');
    assert.ok([200, 204].includes(res.status), `status ${res.status}`);
    await res.text();
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://good.test');
    assertAllowsMethods(res);
  });

  it('accepts a WebSocket from the configured origin', T, async () => {
    const ws = new WsClient(eioUrl(srv.url, PATH, { transport: 'websocket' }, { ws: true }), {
      origin: 'http://good.test',
    });
    try {
      assert.equal((await ws.next({ pings: true }))[0], '0');
    } finally {
      ws.close();
    }
  });

  it('allows requests without an Origin header (non-browser clients)', T, async () => {
    const res = await http(pollUrl(srv));
    assert.equal(res.status, 200);
    assert.equal((await res.text())[0], '0');
  });

  it('refuses a polling handshake from another origin with 403', nginxOnly, async () => {
    const res = await http(pollUrl(srv), { headers: { Origin: 'http://evil.test' } });
    const err = await readError(res);
    assert.equal(err.status, 403);
    assert.match(err.contentType ?? '', /^application\/json/);
    assert.deepEqual(err.body, { code: 4, message: 'Forbidden' });
    assert.notEqual(res.headers.get('access-control-allow-origin'), 'http://evil.test');
  });

  it('refuses a WebSocket handshake from another origin with 403', nginxOnly, async () => {
    const ws = new WsClient(eioUrl(srv.url, PATH, { transport: 'websocket' }, { ws: true }), {
      origin: 'http://evil.test',
    });
    const refused = await ws.waitRefused(5000);
    ws.terminate();
    assert.ok(refused, 'the handshake was refused');
    assert.equal(refused.status, 403);
  });
});
