// The chat pages (html/index.html + demo.js, html/chat.html + chat.js) in
// Debian's Chromium, driven by playwright-core, against nginx serving the
// pages, the socket.io-client library and the chat itself, as
// conf/nginx.conf does. Screenshots go to t/screenshots/ (git-ignored); their
// texts avoid emoji, which Debian's Chromium shows as boxes without an emoji font.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, isReference } from './lib/server.js';
import { sleep, http } from './lib/helpers.js';

const T_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(T_DIR, '..');
const HTML = path.join(REPO, 'html');
const CLIENT_DIST = path.join(T_DIR, 'node_modules', 'socket.io-client', 'dist');
const SHOTS = path.join(T_DIR, 'screenshots');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const WAIT_MS = 8000;
const skip = isReference
  ? 'the chat handler is nginx-only'
  : !fs.existsSync(CHROMIUM)
    ? `no Chromium at ${CHROMIUM}`
    : false;
const T = { timeout: 45000, skip };

const XSS_SCRIPT = '<script>window.__xss=1</script>';
const XSS_IMG = '<img src=x onerror="window.__xss=1">';

let browser;

before(async () => {
  if (skip) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
});

after(async () => {
  await browser?.close();
});

/** nginx serving html/ and the client library next to the chat, as conf/nginx.conf. */
function startSite(opts = {}) {
  const server = [
    `root ${HTML};`,
    // no mime.types include in the harness: the few types the pages need
    'types { text/html html; text/css css; application/javascript js; application/json map; }',
    `location ~ ^/socket\\.io/(socket\\.io(?:\\.min)?\\.js(?:\\.map)?)$ { alias ${CLIENT_DIST}/$1; }`,
    'location = / { index index.html; }',
    'location / { }',
  ].join('\n        ');
  return startServer({
    handler: 'chat',
    extraLocationDirectives: 'socketio_chat_relay tweet;',
    extraServerConfig: server,
    workers: 1,
    // real-life heartbeats: a busy renderer must not be cut off
    pingInterval: 10000,
    pingTimeout: 10000,
    ...opts,
  });
}

/**
 * Runs fn(site) with a server and a way to open pages in fresh browser
 * contexts; closes every context and stops the server afterwards, then
 * fails on any page error or dialog (alert() & co.) seen in any page.
 */
async function withSite(fn) {
  const server = await startSite();
  const contexts = [];
  const problems = [];
  const site = {
    server,
    async open(label, pagePath, contextOptions = {}) {
      const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, ...contextOptions });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      page.label = label;
      page.on('pageerror', (err) => problems.push(`${label}: page error: ${err.message}`));
      page.on('dialog', (d) => {
        problems.push(`${label}: dialog ${d.type()}: ${d.message()}`);
        d.dismiss().catch(() => {});
      });
      page.on('console', (m) => {
        // failed loads are checked below, by URL
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
          problems.push(`${label}: console error: ${m.text()}`);
        }
      });
      page.on('response', (r) => {
        // the browser asks for /favicon.ico by itself; the pages have none
        if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') {
          problems.push(`${label}: ${r.status()} for ${r.url()}`);
        }
      });
      page.on('requestfailed', (r) => {
        // requests cut short by closing a page are not the page's fault
        if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? '')) {
          problems.push(`${label}: request failed: ${r.url()} ${r.failure()?.errorText}`);
        }
      });
      const res = await page.goto(`${server.url}${pagePath}`);
      assert.equal(res.status(), 200, `${label}: GET ${pagePath}`);
      await page.waitForFunction(() => typeof socket !== 'undefined' && socket.connected, null, { timeout: WAIT_MS });
      return page;
    },
    problems,
  };
  try {
    await fn(site);
    assert.deepEqual(problems, [], 'no page errors, console errors or dialogs');
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    await server.stop();
  }
}

/** Polls fn() in the test until it returns something truthy; fails with describe(). */
async function until(fn, describe, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last.ok) return last.value;
    if (Date.now() > deadline) assert.fail(`timeout after ${timeout} ms: ${describe(last.value)}`);
    await sleep(50);
  }
}

// ------------------------------------------------------------ index.html

const logOf = (page) => page.$$eval('#log > div', (ds) => ds.map((d) => d.textContent));

/** Waits until the #log div reads exactly `lines` (the newest first). */
async function expectLog(page, lines) {
  try {
    await page.waitForFunction(
      (exp) => JSON.stringify([...document.querySelectorAll('#log > div')].map((d) => d.textContent)) === exp,
      JSON.stringify(lines),
      { timeout: WAIT_MS },
    );
  } catch {
    assert.deepEqual(await logOf(page), lines, `${page.label}'s log`);
  }
}

// ------------------------------------------------------------ chat.html

/** The message list: [{cls, who, text}]. */
const messagesOf = (page) =>
  page.$$eval('#messages > li', (lis) =>
    lis.map((li) => ({
      cls: li.className,
      who: li.querySelector('.who')?.textContent ?? null,
      text: li.lastChild?.nodeType === Node.TEXT_NODE ? li.lastChild.textContent : `<${li.lastChild?.nodeName}>`,
    })),
  );

const peopleOf = (page) => page.$$eval('#users button', (bs) => bs.map((b) => b.textContent));

/** Waits for a message {cls, who, text} in the page's list; returns the list. */
function expectMessage(page, message) {
  return until(
    async () => {
      const list = await messagesOf(page);
      return { ok: list.some((m) => m.cls === message.cls && m.who === message.who && m.text === message.text), value: list };
    },
    (list) => `${page.label}: no message ${JSON.stringify(message)} in ${JSON.stringify(list)}`,
  );
}

/**
 * Waits until the people list reads `names` (in this order, or in any
 * order with anyOrder) and the count says names.length.
 */
function expectPeople(page, names, { anyOrder = false } = {}) {
  const norm = (list) => JSON.stringify(anyOrder ? [...list].sort() : list);
  return until(
    async () => {
      const people = await peopleOf(page);
      const count = await page.textContent('#count');
      return { ok: norm(people) === norm(names) && count === String(names.length), value: { people, count } };
    },
    (v) => `${page.label}: people ${JSON.stringify(v)}, expected ${JSON.stringify(names)}`,
  );
}

async function join(page, name) {
  await page.fill('#name', name);
  await page.click('#join-form button[type=submit]');
  await page.waitForSelector('#join', { state: 'hidden' });
  await page.waitForSelector('#composer', { state: 'visible' });
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.click('#send');
}

// ---------------------------------------------------------------------------

describe('browser: the seed 000 page (index.html)', () => {
  it('serves the pages and the client library', T, async () => {
    await withSite(async ({ server }) => {
      for (const [p, type] of [
        ['/', 'text/html'],
        ['/index.html', 'text/html'],
        ['/chat.html', 'text/html'],
        ['/demo.js', 'application/javascript'],
        ['/chat.css', 'text/css'],
        ['/socket.io/socket.io.js', 'application/javascript'],
        ['/socket.io/socket.io.min.js', 'application/javascript'],
      ]) {
        const res = await http(`${server.url}${p}`);
        await res.arrayBuffer();
        assert.equal(res.status, 200, p);
        assert.equal(res.headers.get('content-type'), type, p);
      }
    });
  });

  it('the walk-through: Mark and Tami in two windows', T, async () => {
    await withSite(async (site) => {
      const mark = await site.open('Mark', '/');
      const tami = await site.open('Tami', '/');

      // 1-2. Mark enters his name and the message "Hello", clicks Send
      await mark.fill('#name', 'Mark');
      await mark.fill('#message', 'Hello');
      await mark.click('#send');
      await expectLog(mark, ['must login first']);
      // 3. Login
      await mark.click('#login');
      await expectLog(mark, ['Welcome Mark!', 'must login first']);
      // 4. Send
      await mark.click('#send');
      await expectLog(mark, ['received "Hello"', 'Welcome Mark!', 'must login first']);
      // 5. Tami sees "Mark: Hello"
      await expectLog(tami, ['Mark: Hello']);
      // 6-7. Tami enters her name, clicks Login
      await tami.fill('#name', 'Tami');
      await tami.click('#login');
      await expectLog(tami, ['Welcome Tami!', 'Mark: Hello']);
      // 8-9. Tami enters "Where are you?", clicks Send
      await tami.fill('#message', 'Where are you?');
      await tami.click('#send');
      await expectLog(tami, ['received "Where are you?"', 'Welcome Tami!', 'Mark: Hello']);
      // 10. Mark sees it
      await expectLog(mark, ['Tami: Where are you?', 'received "Hello"', 'Welcome Mark!', 'must login first']);

      // nothing else shows up
      await sleep(300);
      assert.deepEqual(await logOf(mark), ['Tami: Where are you?', 'received "Hello"', 'Welcome Mark!', 'must login first']);
      assert.deepEqual(await logOf(tami), ['received "Where are you?"', 'Welcome Tami!', 'Mark: Hello']);

      await mark.screenshot({ path: path.join(SHOTS, 'seed000-mark.png') });
      await tami.screenshot({ path: path.join(SHOTS, 'seed000-tami.png') });
    });
  });
});

describe('browser: the fuller chat (chat.html)', () => {
  it('join, people and count, messages, a private message, join and leave notices', T, async () => {
    await withSite(async (site) => {
      const ana = await site.open('Ana', '/chat.html');
      const ben = await site.open('Ben (phone)', '/chat.html', {
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      });
      const cleo = await site.open('Cleo', '/chat.html');

      // a name the server refuses keeps the dialog open, with a reason
      await cleo.fill('#name', '   ');
      await cleo.click('#join-form button[type=submit]');
      await cleo.waitForFunction(() => document.getElementById('join-error').textContent !== '');
      assert.equal(await cleo.isVisible('#join'), true);

      await join(ana, 'Ana');
      await expectMessage(ana, { cls: 'notice', who: null, text: 'You joined as Ana.' });
      await expectPeople(ana, ['Ana (you)']);

      await join(ben, 'Ben');
      await expectMessage(ben, { cls: 'notice', who: null, text: 'You joined as Ben.' });
      await expectPeople(ben, ['Ana', 'Ben (you)']);
      await expectMessage(ana, { cls: 'notice', who: null, text: 'Ben joined.' });
      await expectPeople(ana, ['Ana (you)', 'Ben']);

      await say(ana, 'Hi Ben! Welcome to the chat ☺');
      await expectMessage(ana, { cls: 'mine', who: 'Ana', text: 'Hi Ben! Welcome to the chat ☺' });
      await expectMessage(ben, { cls: '', who: 'Ana', text: 'Hi Ben! Welcome to the chat ☺' });

      await say(ben, 'Hey Ana, nice to see you here.');
      await expectMessage(ben, { cls: 'mine', who: 'Ben', text: 'Hey Ana, nice to see you here.' });
      await expectMessage(ana, { cls: '', who: 'Ben', text: 'Hey Ana, nice to see you here.' });

      await join(cleo, 'Cleo');
      await expectPeople(cleo, ['Ana', 'Ben', 'Cleo (you)']);
      for (const p of [ana, ben]) await expectMessage(p, { cls: 'notice', who: null, text: 'Cleo joined.' });
      await expectPeople(ana, ['Ana (you)', 'Ben', 'Cleo']);
      await expectPeople(ben, ['Ana', 'Ben (you)', 'Cleo']);

      await say(cleo, 'Hello both! What are we talking about?');
      for (const p of [ana, ben]) await expectMessage(p, { cls: '', who: 'Cleo', text: 'Hello both! What are we talking about?' });
      await say(ana, 'Socket.IO served by nginx itself — no Node.js behind it.');
      for (const p of [ben, cleo]) {
        await expectMessage(p, { cls: '', who: 'Ana', text: 'Socket.IO served by nginx itself — no Node.js behind it.' });
      }

      // Ben, on his phone, opens the people list and picks Ana
      assert.equal(await ben.isVisible('#people'), false, 'the people list is folded away on a phone');
      await ben.click('#people-toggle');
      await ben.waitForSelector('#people', { state: 'visible' });
      await ben.click('#users button:text-is("Ana")');
      await ben.waitForSelector('#private-to', { state: 'visible' });
      assert.equal(await ben.textContent('#private-name'), 'Ana');
      assert.equal(await ben.isVisible('#people'), false, 'the list folds away again');
      await say(ben, 'psst — lunch at noon?');
      await expectMessage(ben, { cls: 'mine private', who: 'to Ana', text: 'psst — lunch at noon?' });
      await expectMessage(ana, { cls: 'private', who: 'Ben (private)', text: 'psst — lunch at noon?' });

      // Ana answers privately too, from the list on her desktop
      await ana.click('#users button:text-is("Ben")');
      await ana.waitForSelector('#private-to', { state: 'visible' });
      await say(ana, 'Noon works ✔');
      await expectMessage(ana, { cls: 'mine private', who: 'to Ben', text: 'Noon works ✔' });
      await expectMessage(ben, { cls: 'private', who: 'Ana (private)', text: 'Noon works ✔' });
      // back to everyone
      await ana.click('#private-cancel');
      await ana.waitForSelector('#private-to', { state: 'hidden' });
      await say(ana, 'Cleo: the demo runs with one command, conf/setup.sh.');
      for (const p of [ben, cleo]) {
        await expectMessage(p, { cls: '', who: 'Ana', text: 'Cleo: the demo runs with one command, conf/setup.sh.' });
      }

      // Dave drops by and closes his window
      const dave = await site.open('Dave', '/chat.html');
      await join(dave, 'Dave');
      for (const p of [ana, ben, cleo]) await expectMessage(p, { cls: 'notice', who: null, text: 'Dave joined.' });
      await say(dave, 'Just passing by, bye!');
      for (const p of [ana, ben, cleo]) await expectMessage(p, { cls: '', who: 'Dave', text: 'Just passing by, bye!' });
      await dave.context().close();
      for (const p of [ana, ben, cleo]) await expectMessage(p, { cls: 'notice', who: null, text: 'Dave left.' });
      await expectPeople(ana, ['Ana (you)', 'Ben', 'Cleo']);
      await expectPeople(ben, ['Ana', 'Ben (you)', 'Cleo']);
      await expectPeople(cleo, ['Ana', 'Ben', 'Cleo (you)']);

      // the private messages stayed private; every message arrived once
      const cleoSaw = await messagesOf(cleo);
      assert.ok(!cleoSaw.some((m) => m.cls.includes('private') || /lunch|Noon/.test(m.text)), JSON.stringify(cleoSaw));
      for (const p of [ana, ben, cleo]) {
        const list = await messagesOf(p);
        const texts = list.filter((m) => m.cls !== 'notice').map((m) => `${m.who}|${m.text}`);
        assert.equal(new Set(texts).size, texts.length, `${p.label}: no duplicates in ${JSON.stringify(list)}`);
      }
      assert.deepEqual(await messagesOf(ana), [
        { cls: 'notice', who: null, text: 'You joined as Ana.' },
        { cls: 'notice', who: null, text: 'Ben joined.' },
        { cls: 'mine', who: 'Ana', text: 'Hi Ben! Welcome to the chat ☺' },
        { cls: '', who: 'Ben', text: 'Hey Ana, nice to see you here.' },
        { cls: 'notice', who: null, text: 'Cleo joined.' },
        { cls: '', who: 'Cleo', text: 'Hello both! What are we talking about?' },
        { cls: 'mine', who: 'Ana', text: 'Socket.IO served by nginx itself — no Node.js behind it.' },
        { cls: 'private', who: 'Ben (private)', text: 'psst — lunch at noon?' },
        { cls: 'mine private', who: 'to Ben', text: 'Noon works ✔' },
        { cls: 'mine', who: 'Ana', text: 'Cleo: the demo runs with one command, conf/setup.sh.' },
        { cls: 'notice', who: null, text: 'Dave joined.' },
        { cls: '', who: 'Dave', text: 'Just passing by, bye!' },
        { cls: 'notice', who: null, text: 'Dave left.' },
      ]);

      await ana.screenshot({ path: path.join(SHOTS, 'chat.png') });
      await ben.screenshot({ path: path.join(SHOTS, 'chat-phone.png') });
    });
  });

  it('before joining, only the name dialog can be used (the composer is hidden)', T, async () => {
    await withSite(async (site) => {
      const page = await site.open('Zed', '/chat.html');
      assert.equal(await page.isVisible('#join'), true, 'the name dialog is shown');
      assert.equal(await page.isVisible('#composer'), false,
        '#composer has the hidden attribute until the user joined, so it must not be displayed');
    });
  });
});

describe('browser: names and texts are text, never markup', () => {
  it('script and img payloads show literally on both pages and never run', T, async () => {
    await withSite(async (site) => {
      // both pages in one room: the classic page sees the events page's posts too
      const mark = await site.open('index Mark', '/');
      const tami = await site.open('index Tami', '/');
      const ana = await site.open('chat Ana', '/chat.html');
      const ben = await site.open('chat Ben', '/chat.html');
      const pages = [mark, tami, ana, ben];

      // index.html: a script name, an img text
      await mark.fill('#name', XSS_SCRIPT);
      await mark.click('#login');
      await expectLog(mark, [`Welcome ${XSS_SCRIPT}!`]);
      await mark.fill('#message', XSS_IMG);
      await mark.click('#send');
      await expectLog(mark, [`received "${XSS_IMG}"`, `Welcome ${XSS_SCRIPT}!`]);
      await expectLog(tami, [`${XSS_SCRIPT}: ${XSS_IMG}`]);

      // chat.html: an img name, a script text
      await join(ana, XSS_IMG);
      await join(ben, XSS_SCRIPT);
      // everybody named is listed: Mark (index.html) too
      await expectPeople(ben, [`${XSS_SCRIPT} (you)`, XSS_IMG, XSS_SCRIPT], { anyOrder: true });
      await expectPeople(ana, [XSS_SCRIPT, `${XSS_IMG} (you)`, XSS_SCRIPT], { anyOrder: true });
      await expectMessage(ana, { cls: 'notice', who: null, text: `${XSS_SCRIPT} joined.` });
      await say(ana, XSS_SCRIPT);
      await expectMessage(ben, { cls: '', who: XSS_IMG, text: XSS_SCRIPT });
      await expectMessage(ana, { cls: 'mine', who: XSS_IMG, text: XSS_SCRIPT });
      await say(ben, XSS_IMG);
      await expectMessage(ana, { cls: '', who: XSS_SCRIPT, text: XSS_IMG });
      // the classic pages get the chat.html posts as "NAME: TEXT"
      await expectLog(tami, [`${XSS_SCRIPT}: ${XSS_IMG}`, `${XSS_IMG}: ${XSS_SCRIPT}`, `${XSS_SCRIPT}: ${XSS_IMG}`]);
      // and chat.html gets the index.html post (sent before Ana joined: not shown) ... a new one is
      await mark.fill('#message', `${XSS_IMG} again`);
      await mark.click('#send');
      for (const p of [ana, ben]) await expectMessage(p, { cls: '', who: XSS_SCRIPT, text: `${XSS_IMG} again` });

      // a private message with markup in it
      await ben.click(`#users button:text-is(${JSON.stringify(XSS_IMG)})`);
      await say(ben, `${XSS_SCRIPT}${XSS_IMG}`);
      await expectMessage(ana, { cls: 'private', who: `${XSS_SCRIPT} (private)`, text: `${XSS_SCRIPT}${XSS_IMG}` });

      // no element was made from any of it, and nothing ran
      for (const p of pages) {
        const injected = await p.$$eval('#log img, #log script, #messages img, #messages script, #users img, #users script',
          (els) => els.length);
        assert.equal(injected, 0, `${p.label}: no img or script element in the chat`);
      }
      await sleep(300); // an injected <img src=x> would have failed to load by now
      for (const p of pages) {
        assert.equal(await p.evaluate(() => typeof window.__xss), 'undefined', `${p.label}: window.__xss`);
      }
    });
  });
});
