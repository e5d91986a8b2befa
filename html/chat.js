// A fuller chat in the spirit of seed 003: join with a name (the `join`
// event, answered with this user's key), the people online and their
// count, messages with their sender, join and leave notices, and private
// messages by clicking someone. Everything users type is shown with
// textContent: names and messages are data, never markup.

const socket = io();

const $ = (id) => document.getElementById(id);
const messages = $('messages');
const users = new Map();          // key -> name
let me = null;                    // { key, name }
let privateTo = null;             // key

function add(kind, who, text) {
  const li = document.createElement('li');
  li.className = kind;
  if (who !== null) {
    const name = document.createElement('span');
    name.className = 'who';
    name.textContent = who;
    li.append(name);
  }
  li.append(document.createTextNode(text));
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  messages.append(li);
  if (atBottom || kind === 'mine') {
    messages.scrollTop = messages.scrollHeight;
  }
}

function renderUsers() {
  const list = $('users');
  list.replaceChildren();
  const sorted = [...users].sort((a, b) => a[1].localeCompare(b[1]));
  for (const [key, name] of sorted) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = key === me?.key ? `${name} (you)` : name;
    if (key === me?.key) {
      li.className = 'me';
      button.disabled = true;
    } else {
      button.addEventListener('click', () => choosePrivate(key));
    }
    li.append(button);
    list.append(li);
  }
  $('count').textContent = String(users.size);
}

function choosePrivate(key) {
  privateTo = key;
  $('private-name').textContent = users.get(key) ?? key;
  $('private-to').hidden = false;
  $('people').classList.remove('open');
  $('text').focus();
}

function clearPrivate() {
  privateTo = null;
  $('private-to').hidden = true;
}

$('private-cancel').addEventListener('click', clearPrivate);

$('people-toggle').addEventListener('click', () => {
  const open = $('people').classList.toggle('open');
  $('people-toggle').setAttribute('aria-expanded', String(open));
});

function refreshUsers() {
  socket.emit('users', (list) => {
    users.clear();
    for (const u of list) users.set(u.key, u.name);
    renderUsers();
  });
}

function join(name) {
  socket.emit('join', { name }, (key) => {
    if (key === 'invalid name') {
      $('join-error').textContent = 'Names are 1 to 64 characters, with no control characters.';
      return;
    }
    me = { key, name: name.trim() };
    $('join').hidden = true;
    $('composer').hidden = false;
    $('text').focus();
    add('notice', null, `You joined as ${me.name}.`);
    refreshUsers();
  });
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  join($('name').value);
});

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  $('text').value = '';
  if (privateTo) {
    const to = privateTo;
    socket.emit('private message', { to, message: text }, (answer) => {
      if (answer === 'sent') {
        add('mine private', `to ${users.get(to) ?? to}`, text);
      } else {
        add('notice', null, `Not sent: ${answer}.`);
      }
    });
  } else {
    socket.emit('message', text, (answer) => {
      if (answer.startsWith('received')) add('mine', me.name, text);
      else add('notice', null, `Not sent: ${answer}.`);
    });
  }
});

socket.on('new chat msg', (m) => add('', m.sender, m.message));

socket.on('private message', (m) => add('private', `${m.from.name} (private)`, m.message));

socket.on('user connected', (u) => {
  const known = users.has(u.key);
  users.set(u.key, u.name);
  renderUsers();
  if (!known) add('notice', null, `${u.name} joined.`);
});

socket.on('user disconnected', (key) => {
  const name = users.get(key);
  users.delete(key);
  renderUsers();
  if (privateTo === key) clearPrivate();
  if (name !== undefined) add('notice', null, `${name} left.`);
});

// after a reconnection the server sees a new socket, unless it gave the
// old one back (connection state recovery): then we are still in
socket.on('connect', () => {
  if (me && socket.recovered) add('notice', null, 'Reconnected.');
  else if (me) join(me.name);
});
socket.on('disconnect', () => {
  if (me) add('notice', null, 'Connection lost, reconnecting…');
});

$('name').focus();
