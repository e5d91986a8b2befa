// Helper of t/run-package.sh (not a test file):
//
//   node lib/package-chat.mjs URL
//
// The seed 000 walk-through (../shared/chat-contract.md) with two
// socket.io-client clients against the chat at URL, as a user of the
// installed package would first try it: Mark over polling upgraded to
// WebSocket, Tami over WebSocket only, so that with the system nginx's
// several workers the two may well sit on different ones. Exits 1, saying
// which step, when any answer is not the contract's.

import { io } from 'socket.io-client';
import { withTimeout } from './helpers.js';

const url = process.argv[2];
if (!url) {
  console.error('usage: node lib/package-chat.mjs URL');
  process.exit(2);
}

function client(transports) {
  return io(url, {
    path: '/socket.io/',
    forceNew: true,
    reconnection: false,
    timeout: 10000,
    ...(transports ? { transports } : {}),
  });
}

function connected(socket, who) {
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }),
    10000,
    `${who} connecting`,
  );
}

const ack = (socket, ...args) => withTimeout(socket.timeout(10000).emitWithAck(...args), 12000, `the ack of ${args[0]}`);

function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  console.log(`package-chat: ${what}: ${JSON.stringify(got)}`);
}

/** The next `message` event the socket gets. */
const nextMessage = (socket, who) =>
  withTimeout(new Promise((resolve) => socket.once('message', resolve)), 10000, `${who} receiving a message`);

const mark = client(); // polling, then the upgrade
const tami = client(['websocket']);
try {
  await Promise.all([connected(mark, 'Mark'), connected(tami, 'Tami')]);
  expect('Mark, not logged in, sends "Hello"', await ack(mark, 'message', 'Hello'), 'must login first');
  expect('Mark logs in', await ack(mark, 'login', 'Mark'), 'Welcome Mark!');
  const toTami = nextMessage(tami, 'Tami');
  expect('Mark sends "Hello"', await ack(mark, 'message', 'Hello'), 'received "Hello"');
  expect('Tami, not logged in, sees', await toTami, 'Mark: Hello');
  expect('Tami logs in', await ack(tami, 'login', 'Tami'), 'Welcome Tami!');
  const toMark = nextMessage(mark, 'Mark');
  expect('Tami sends "Where are you?"', await ack(tami, 'message', 'Where are you?'), 'received "Where are you?"');
  expect('Mark sees', await toMark, 'Tami: Where are you?');
  console.log(`package-chat: Mark's transport: ${mark.io.engine.transport.name}, Tami's: ${tami.io.engine.transport.name}`);
} catch (err) {
  console.error(`package-chat: FAILED: ${err.message}`);
  process.exitCode = 1;
} finally {
  mark.disconnect();
  tami.disconnect();
}
