// native/'s sendUnixDatagram, the transport of agentd's sd_notify: datagrams reach a real unix
// datagram socket (a path, and the abstract namespace systemd also uses), and a socket nobody
// binds gives a coded error, not a crash.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NativeError, sendUnixDatagram } from '../../native/index.js';
import { bindNotifySocket } from '../harness/notify-socket.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-notify-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

for (const kind of ['path', 'abstract'] as const) {
  test(`datagrams arrive whole and in order (${kind} socket)`, async (t) => {
    const path = kind === 'path' ? join(dir, `n-${randomBytes(3).toString('hex')}.sock`) : `@berth-test-${randomBytes(6).toString('hex')}`;
    const sock = await bindNotifySocket(path);
    t.teardown(() => sock.close());
    sendUnixDatagram(path, Buffer.from('READY=1\nSTATUS=connected to 10.0.0.1:2377'));
    sendUnixDatagram(path, Buffer.from('WATCHDOG=1'));
    await sock.waitFor('both datagrams', () => sock.messages.length >= 2, 10_000);
    t.deepEqual(sock.messages[0]!.fields, { READY: '1', STATUS: 'connected to 10.0.0.1:2377' });
    t.deepEqual(sock.messages[1]!.fields, { WATCHDOG: '1' });
  });
}

test('nobody bound at the path: a coded error naming the socket', (t) => {
  const path = join(dir, 'nobody.sock');
  const err = t.throws(() => sendUnixDatagram(path, Buffer.from('READY=1')), { instanceOf: NativeError });
  t.is(err?.code, 'E_SEND');
  t.regex(err?.message ?? '', /nobody\.sock.*sendto failed.*ENOENT/);
});

test('a path longer than a unix socket address: refused before any syscall', (t) => {
  const err = t.throws(() => sendUnixDatagram(`/${'x'.repeat(120)}`, Buffer.from('READY=1')), { instanceOf: NativeError });
  t.is(err?.code, 'E_INVALID_ARGUMENT');
});
