// A scripted client for the VIP checks, run inside a client namespace (nsenter --net=…). Reads
// one JSON command per stdin line and answers one JSON line each on stdout. Backends answer every
// line they receive with their own name, so each answer says who served the connection.
//   {"op":"tcp","host":H,"port":P,"n":N}   N fresh connections in turn → {"names":[…]} (errors as "!CODE")
//   {"op":"udp","host":H,"port":P,"n":N}   N fresh sockets, one datagram each → {"names":[…]}
//   {"op":"open","id":I,"host":H,"port":P} a kept connection → {"name":…}
//   {"op":"ping","id":I}                   one exchange on it → {"name":…} or {"error":…}
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';

const TIMEOUT_MS = 2_000;
const kept = new Map();

function lineFrom(sock) {
  return new Promise((resolve) => {
    let buf = '';
    const done = (v) => {
      clearTimeout(timer);
      sock.removeListener('data', onData);
      sock.removeListener('error', onErr);
      sock.removeListener('close', onClose);
      resolve(v);
    };
    const onData = (d) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) done(buf.slice(0, i));
    };
    const onErr = (e) => done(`!${e.code ?? e.message}`);
    const onClose = () => done('!CLOSED');
    const timer = setTimeout(() => done('!TIMEOUT'), TIMEOUT_MS);
    sock.on('data', onData);
    sock.on('error', onErr);
    sock.on('close', onClose);
  });
}

function connect(host, port) {
  const sock = net.connect({ host, port });
  sock.on('error', () => undefined);
  return sock;
}

async function exchange(sock) {
  const answer = lineFrom(sock);
  sock.write('hi\n', () => undefined);
  return answer;
}

async function tcpOnce(host, port) {
  const sock = connect(host, port);
  const name = await exchange(sock);
  sock.destroy();
  return name;
}

function udpOnce(host, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => finish('!TIMEOUT'), TIMEOUT_MS);
    const finish = (v) => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    s.on('message', (m) => finish(m.toString().trim()));
    s.on('error', (e) => finish(`!${e.code ?? e.message}`));
    s.send('hi\n', port, host);
  });
}

async function run(cmd) {
  switch (cmd.op) {
    case 'tcp':
    case 'udp': {
      const names = [];
      for (let i = 0; i < cmd.n; i++) names.push(cmd.op === 'tcp' ? await tcpOnce(cmd.host, cmd.port) : await udpOnce(cmd.host, cmd.port));
      return { names };
    }
    case 'open': {
      const sock = connect(cmd.host, cmd.port);
      kept.set(cmd.id, sock);
      return { name: await exchange(sock) };
    }
    case 'ping': {
      const sock = kept.get(cmd.id);
      if (!sock || sock.destroyed) return { error: 'not open' };
      const name = await exchange(sock);
      return name.startsWith('!') ? { error: name } : { name };
    }
    case 'close':
      kept.get(cmd.id)?.destroy();
      kept.delete(cmd.id);
      return {};
    default:
      return { error: `unknown op ${cmd.op}` };
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    out = await run(JSON.parse(line));
  } catch (err) {
    out = { error: String(err) };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
for (const s of kept.values()) s.destroy();
