// Reference implementation of the test handlers, built on the npm packages
// socket.io / engine.io 4.8. The tests run against it with
// SOCKETIO_TARGET=reference to prove that they test real Socket.IO
// behaviour; the nginx module must behave the same way.
//
// Usage: node reference/server.js --port 3000 --path /socket.io/ --handler echo
//          [--ping-interval 300] [--ping-timeout 200] [--connect-timeout 1000]
//          [--max-payload 1000000] [--allow-origin '*'] [--transports polling,websocket]
//          [--recovery MS]  (connectionStateRecovery, maxDisconnectionDuration MS)
//
// Handlers:
//   echo         Socket.IO server. On connection to "/": emit "auth" with the
//                handshake auth payload; "message" -> emit "message-back" with
//                the same arguments; "message-with-ack" -> call the ack with the
//                same arguments. Namespace "/custom" accepts connections and
//                emits "auth" too. Other namespaces are refused.
//   engine_echo  Bare Engine.IO server sending every message back as is.

import http from 'node:http';
import { parseArgs } from 'node:util';
import { Server as SocketIOServer } from 'socket.io';
import { Server as EngineServer } from 'engine.io';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    path: { type: 'string', default: '/socket.io/' },
    handler: { type: 'string', default: 'echo' },
    'ping-interval': { type: 'string', default: '300' },
    'ping-timeout': { type: 'string', default: '200' },
    'connect-timeout': { type: 'string', default: '1000' },
    'max-payload': { type: 'string', default: '1000000' },
    'allow-origin': { type: 'string' },
    transports: { type: 'string', default: 'polling,websocket' },
    recovery: { type: 'string' },
  },
});

process.on('uncaughtException', (err) => {
  console.error('REFERENCE-SERVER-ERROR uncaught exception:', err);
  process.exit(1);
});

const common = {
  path: args.path,
  pingInterval: Number(args['ping-interval']),
  pingTimeout: Number(args['ping-timeout']),
  maxHttpBufferSize: Number(args['max-payload']),
  transports: args.transports.split(',').filter(Boolean),
};
if (args['allow-origin'] !== undefined) {
  common.cors = { origin: args['allow-origin'] };
}
if (args.recovery !== undefined) {
  common.connectionStateRecovery = { maxDisconnectionDuration: Number(args.recovery), skipMiddlewares: true };
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});

function setupEcho() {
  const io = new SocketIOServer(httpServer, {
    ...common,
    connectTimeout: Number(args['connect-timeout']),
    serveClient: false,
  });
  io.on('connection', (socket) => {
    socket.emit('auth', socket.handshake.auth);
    socket.on('message', (...msgArgs) => {
      socket.emit('message-back', ...msgArgs);
    });
    socket.on('message-with-ack', (...msgArgs) => {
      const ack = msgArgs.pop();
      if (typeof ack === 'function') ack(...msgArgs);
    });
  });
  io.of('/custom').on('connection', (socket) => {
    socket.emit('auth', socket.handshake.auth);
  });
}

function setupEngineEcho() {
  const eio = new EngineServer(common);
  eio.attach(httpServer, { path: args.path });
  eio.on('connection', (socket) => {
    socket.on('message', (data) => socket.send(data));
  });
}

switch (args.handler) {
  case 'echo':
    setupEcho();
    break;
  case 'engine_echo':
    setupEngineEcho();
    break;
  default:
    console.error(`REFERENCE-SERVER-ERROR unknown handler ${args.handler}`);
    process.exit(2);
}

for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT']) {
  process.on(sig, () => process.exit(0));
}

httpServer.listen(Number(args.port), args.host, () => {
  console.log(`listening on http://${args.host}:${httpServer.address().port}${args.path}`);
});
