// Small raw-protocol clients used by the protocol tests: a WebSocket wrapper
// with a message queue and HTTP long-polling helpers built on global fetch.

import WebSocket from 'ws';

export const SEP = '\x1e';
export const SID_RE = /^[A-Za-z0-9_-]{20}$/;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds an Engine.IO URL: eioUrl(server.url, '/engine.io/', {transport: 'polling'}). */
export function eioUrl(base, path, query = {}, { ws = false } = {}) {
  const q = { EIO: '4', ...query };
  const qs = Object.entries(q)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  const url = `${base}${path}${qs ? `?${qs}` : ''}`;
  return ws ? url.replace(/^http/, 'ws') : url;
}

/** Races a promise against a timer; rejects with `what` on timeout. */
export function withTimeout(promise, ms, what = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A WebSocket client keeping every frame in a queue.
 * Frames are strings (text) or Buffers (binary).
 * With autoPong, every Engine.IO ping ("2") is answered with "3" on receipt;
 * next() skips pings unless asked for them.
 */
export class WsClient {
  constructor(url, { autoPong = false, headers, origin } = {}) {
    this.url = url;
    this.autoPong = autoPong;
    this.queue = [];
    this.waiters = [];
    this.closed = null; // {code, reason}
    this.error = null;
    this.unexpected = null; // {status, headers, body} when the handshake was refused
    this.ws = new WebSocket(url, { headers, origin, handshakeTimeout: 5000 });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', (err) => reject(err));
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {});
    this.closedPromise = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
        this._wake();
      });
    });
    this.ws.on('error', (err) => {
      this.error = err;
      this._wake();
    });
    this.ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        this.unexpected = { status: res.statusCode, headers: res.headers, body };
        // aborts the handshake: ws then emits 'error' and 'close' (1006)
        this.ws.terminate();
        this._wake();
      };
      res.on('end', finish);
      res.on('error', finish);
      res.on('aborted', finish);
    });
    this.ws.on('message', (data, isBinary) => {
      const msg = isBinary ? Buffer.from(data) : data.toString();
      if (this.autoPong && msg === '2' && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send('3');
      }
      this.queue.push(msg);
      this._wake();
    });
  }

  _wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(data) {
    this.ws.send(data);
  }

  /** Resolves with the next frame (skipping "2" pings unless pings: true). */
  async next({ timeout = 3000, pings = false } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      while (this.queue.length > 0) {
        const msg = this.queue.shift();
        if (!pings && msg === '2') continue;
        return msg;
      }
      if (this.closed) {
        throw new Error(`connection closed (code ${this.closed.code}) while waiting for a message`);
      }
      if (this.error && this.ws.readyState !== WebSocket.OPEN && this.ws.readyState !== WebSocket.CONNECTING) {
        throw this.error;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${timeout} ms waiting for a message`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Collects n frames (skipping pings). */
  async nextN(n, opts) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await this.next(opts));
    return out;
  }

  /** Resolves with {code, reason} once the connection is closed. */
  waitClose(timeout = 3000) {
    return withTimeout(this.closedPromise, timeout, 'the WebSocket to close');
  }

  /** Expects the connection to close without further non-ping frames. */
  async expectClose(timeout = 3000) {
    const result = await this.waitClose(timeout);
    const rest = this.queue.filter((m) => m !== '2');
    return { ...result, rest };
  }

  /** Resolves once the handshake was refused or the socket closed; returns the refusal. */
  async waitRefused(timeout = 3000) {
    await withTimeout(
      new Promise((resolve) => {
        const check = () => {
          if (this.unexpected || this.closed) resolve();
          else this.waiters.push(check);
        };
        check();
      }),
      timeout,
      'the WebSocket handshake to be refused',
    );
    return this.unexpected;
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      try {
        this.ws.close();
      } catch {
        /* ignore */
      }
    }
  }

  terminate() {
    try {
      this.ws.terminate();
    } catch {
      /* ignore */
    }
  }
}

/** Opens a WebSocket Engine.IO session and returns {ws, open} (open = parsed handshake). */
export async function wsHandshake(base, path, { autoPong = false, query = {} } = {}) {
  const ws = new WsClient(eioUrl(base, path, { transport: 'websocket', ...query }, { ws: true }), {
    autoPong,
  });
  const first = await ws.next({ pings: true });
  if (typeof first !== 'string' || first[0] !== '0') {
    ws.terminate();
    throw new Error(`expected an open packet, got ${JSON.stringify(first)}`);
  }
  return { ws, open: JSON.parse(first.slice(1)) };
}

/** fetch with a timeout (default 5 s) so that no test can hang on a request. */
export function http(url, { timeout = 5000, ...init } = {}) {
  return fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(timeout) });
}

/** A polling session: GET/POST helpers bound to a sid. */
export class PollingSession {
  constructor(base, path, sid, open) {
    this.base = base;
    this.path = path;
    this.sid = sid;
    this.open = open;
  }

  url(extra = {}) {
    return eioUrl(this.base, this.path, { transport: 'polling', sid: this.sid, ...extra });
  }

  /** GET; resolves with the Response. */
  get(opts = {}) {
    return http(this.url(), { timeout: 5000, ...opts });
  }

  /** GET; resolves with the body text, asserting status 200. */
  async getText(opts = {}) {
    const res = await this.get(opts);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`poll GET returned ${res.status}: ${text}`);
    return text;
  }

  /** POST a payload (string or array of packets joined with \x1e). */
  post(payload, opts = {}) {
    const body = Array.isArray(payload) ? payload.join(SEP) : payload;
    return http(this.url(), {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      ...opts,
    });
  }

  async postOk(payload) {
    const res = await this.post(payload);
    const text = await res.text();
    if (res.status !== 200 || text !== 'ok') {
      throw new Error(`POST returned ${res.status}: ${text}`);
    }
    return res;
  }

  /**
   * GETs until `count` packets other than pings have arrived; answers pings
   * with a pong. Returns the packets.
   */
  async collect(count, { timeout = 5000 } = {}) {
    const deadline = Date.now() + timeout;
    const out = [];
    while (out.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout collecting ${count} packets, got ${JSON.stringify(out)}`);
      const text = await this.getText({ timeout: left });
      for (const packet of text.split(SEP)) {
        if (packet === '2') {
          await this.postOk('3');
        } else {
          out.push(packet);
        }
      }
    }
    return out;
  }
}

/** Opens a polling session; resolves with a PollingSession (session.open = handshake data). */
export async function pollingHandshake(base, path, query = {}) {
  const res = await http(eioUrl(base, path, { transport: 'polling', ...query }));
  const text = await res.text();
  if (res.status !== 200 || text[0] !== '0') {
    throw new Error(`polling handshake failed: ${res.status} ${text}`);
  }
  const open = JSON.parse(text.slice(1));
  const session = new PollingSession(base, path, open.sid, open);
  session.handshakeResponse = res;
  session.handshakeText = text;
  return session;
}

/** Reads an error response: {status, contentType, body (parsed JSON or text)}. */
export async function readError(res) {
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body, text };
}

/**
 * One HTTP request on a fresh TCP connection (no keep-alive), so that
 * successive requests of a session may land on different nginx workers.
 * Resolves with {status, headers, body}.
 */
export async function freshRequest(url, { method = 'GET', body, headers = {}, timeout = 5000 } = {}) {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { Connection: 'close', ...headers }, timeout }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeout} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
