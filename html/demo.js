// The chat of seed 000 ("Node.js and Socket.IO"), without jQuery: Login
// sends `login`, Send sends `message`, both with an acknowledgement that
// is logged like every `message` the server sends. Text is shown as text,
// never parsed as HTML.

function log(msg) {
  const line = document.createElement('div');
  line.textContent = String(msg);
  document.getElementById('log').prepend(line);
}

const socket = io();

socket.on('message', log);

document.getElementById('login').addEventListener('click', () => {
  socket.emit('login', document.getElementById('name').value, log);
});

document.getElementById('send').addEventListener('click', () => {
  socket.emit('message', document.getElementById('message').value, log);
});
