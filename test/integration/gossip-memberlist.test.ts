// memberlist + NetworkDB for real, over loopback sockets: each member binds its own 127.0.0.x
// address and port (UDP and TCP), all with one keyring as a swarm's nodes would. Joins by
// push-pull, the overlay peer table over UDP gossip and TCP bulk sync, and the memberlist wire
// answers (ping/ack, refutation, dead/leave) checked with packets and streams built by hand.
// No root or network namespaces needed.
import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { crc32 } from 'node:zlib';
import type { Endpoint } from '../../netd/types.js';
import { GossipError, Keyring, MSG, Memberlist } from '../../netd/gossip/memberlist.js';
import { decodeMsgpack, encodeMsgpack, type MsgValue } from '../../netd/gossip/msgpack.js';
import { NetworkDb } from '../../netd/gossip/networkdb.js';
import { messagesIn } from '../fixtures/memberlist-wire.js';

const KEYS = [randomBytes(16), randomBytes(16), randomBytes(16)];
const NET = 'ovnet0000000000000000001';
const WAIT_MS = 5000;
/** 127.0.0.x addresses this file uses, one per member (a fresh one each time). */
let nextHost = 10 + randomInt(0, 100);

interface Node {
  name: string;
  ip: string;
  port: number;
  ml: Memberlist;
  db: NetworkDb;
  added: Endpoint[];
  removed: Endpoint[];
}

async function startMember(t: ExecutionContext, keys: Buffer[] = KEYS): Promise<Node> {
  const ip = `127.0.${Math.floor(nextHost / 250)}.${(nextHost % 250) + 2}`;
  nextHost++;
  const name = randomBytes(6).toString('hex');
  for (let attempt = 0; ; attempt++) {
    const port = randomInt(20000, 60000);
    const db = new NetworkDb(name);
    const ml = new Memberlist({ name, bindAddress: ip, advertiseAddress: ip, port, keyring: new Keyring(keys), delegate: db });
    db.attach(ml);
    try {
      await ml.start();
    } catch (err) {
      if (attempt < 10 && err instanceof GossipError && err.code === 'E_GOSSIP_IO') continue;
      throw err;
    }
    t.teardown(() => ml.close());
    const node: Node = { name, ip, port, ml, db, added: [], removed: [] };
    db.on('endpoint-added', (e) => node.added.push(e));
    db.on('endpoint-removed', (e) => node.removed.push(e));
    return node;
  }
}

async function waitFor(t: ExecutionContext, what: string, cond: () => boolean, ms = WAIT_MS): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) {
      t.fail(`timed out waiting for ${what}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  t.pass(what);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const aliveNames = (n: Node) => n.ml.alive().map((m) => m.name).sort();
const ipBytes = (ip: string) => Buffer.from(ip.split('.').map(Number));
const msg = (type: number, body: MsgValue) => Buffer.concat([Buffer.from([type]), encodeMsgpack(body)]);
const field = (v: MsgValue, k: string) => (v as Record<string, MsgValue>)[k];

const ackIn = (plain: Buffer) => messagesIn(plain).find((m) => m[0] === MSG.ack);

/** Sends one encrypted UDP packet to a member from a fresh socket; resolves with the decrypted replies seen within `ms`. */
/**
 * Sends one encrypted UDP message to a member and collects the replies: until `expectReplies`
 * came (at most WAIT_MS, as a loaded machine may be slow to answer), or for `ms` when
 * no reply is expected (an absence can only be waited for).
 */
async function udpExchange(
  to: Node,
  plain: Buffer,
  ms = 500,
  ring = new Keyring(KEYS),
  expectReplies?: number,
): Promise<Buffer[]> {
  const sock = dgram.createSocket('udp4');
  const replies: Buffer[] = [];
  let enough = (): void => {};
  const arrived = new Promise<void>((r) => (enough = r));
  sock.on('message', (m) => {
    replies.push(ring.decrypt(m));
    if (expectReplies !== undefined && replies.length >= expectReplies) enough();
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r, j) => sock.send(ring.encrypt(plain), to.port, to.ip, (err) => (err ? j(err) : r())));
  await (expectReplies === undefined ? sleep(ms) : Promise.race([arrived, sleep(WAIT_MS)]));
  await new Promise<void>((r) => sock.close(() => r()));
  return replies;
}

/** One encrypted TCP stream message built by hand ([10][u32 L] header as the AAD); resolves with the decrypted reply. */
async function streamExchange(to: Node, plain: Buffer, ring = new Keyring(KEYS)): Promise<Buffer> {
  const header = Buffer.alloc(5);
  header[0] = MSG.encrypt;
  header.writeUInt32BE(1 + 12 + plain.length + 16, 1);
  const frame = Buffer.concat([header, ring.encrypt(plain, header)]);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect({ host: to.ip, port: to.port }, () => sock.write(frame));
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => resolve());
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('stream timeout')));
  });
  const all = Buffer.concat(chunks);
  if (all.length === 0) return all;
  if (all[0] !== MSG.encrypt) throw new Error(`reply not encrypted: type ${all[0]}`);
  const len = all.readUInt32BE(1);
  return ring.decrypt(all.subarray(5, 5 + len), all.subarray(0, 5));
}

const peer = (ip: string, port: number) => ({ address: ip, port });

test('three members join by push-pull and see each other alive', async (t) => {
  const [a, b, c] = [await startMember(t), await startMember(t), await startMember(t)];
  t.is(await b.ml.join([peer(a.ip, a.port)]), 1);
  t.deepEqual(aliveNames(b), [a.name]);
  t.deepEqual(aliveNames(a), [b.name], 'the responder merged the joiner');
  t.is(await c.ml.join([peer(a.ip, a.port), peer(b.ip, b.port)]), 2);
  for (const [n, others] of [
    [a, [b, c]],
    [b, [a, c]],
    [c, [a, b]],
  ] as const) {
    t.deepEqual(aliveNames(n), others.map((o) => o.name).sort(), n.name);
  }
  const ma = c.ml.member(a.name)!;
  t.is(ma.address, a.ip);
  t.is(ma.port, a.port);
  t.is(ma.incarnation, 1);
  t.is(a.ml.stats().pushPulls, 2);
  t.is(c.ml.stats().pushPulls, 2);
  // A join where one address does not answer still succeeds with the others.
  const d = await startMember(t);
  const closed = await startMember(t);
  await closed.ml.close();
  t.is(await d.ml.join([peer(closed.ip, closed.port), peer(a.ip, a.port)]), 1);
});

test('a peer record published on a shared network reaches the other member by UDP table gossip, and its delete too', async (t) => {
  const [a, b, c] = [await startMember(t), await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  await c.ml.join([peer(a.ip, a.port), peer(b.ip, b.port)]);
  await a.db.joinNetwork(NET);
  await b.db.joinNetwork(NET);
  t.deepEqual(
    a.db.peersOn(NET).map((m) => m.name),
    [b.name],
  );
  t.deepEqual(
    b.db.peersOn(NET).map((m) => m.name),
    [a.name],
  );
  a.db.publishPeer(NET, 'ep-a-1', { ip: '10.0.1.5', prefixLength: 24, mac: '02:42:0a:00:01:05', vtep: a.ip });
  await waitFor(t, 'endpoint-added on b', () => b.added.length > 0);
  t.deepEqual(b.added[0], { network: NET, ip: '10.0.1.5', mac: '02:42:0a:00:01:05', vtep: a.ip, id: 'ep-a-1' });
  t.is(b.added.length, 1, 'retransmits are not new endpoints');
  t.deepEqual([...b.db.endpoints(NET)], [b.added[0]]);
  t.deepEqual(c.added, [], 'a member not on the network gets nothing');
  t.deepEqual(a.added, [], 'our own entry is not a remote endpoint');
  t.true(a.db.stats().tableEventsOut >= 1);

  a.db.deleteEntry(NET, 'overlay_peer_table', 'ep-a-1');
  await waitFor(t, 'endpoint-removed on b', () => b.removed.length > 0);
  t.is(b.removed[0]!.ip, '10.0.1.5');
  t.deepEqual([...b.db.endpoints(NET)], []);
});

test('an entry published before the other member joined the network arrives by bulk sync', async (t) => {
  const [a, b] = [await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  await a.db.joinNetwork(NET);
  a.db.publishPeer(NET, 'ep-early', { ip: '10.0.1.7', prefixLength: 24, mac: '02:42:0a:00:01:07', vtep: a.ip });
  t.deepEqual(b.added, []);
  await b.db.joinNetwork(NET);
  await waitFor(t, 'endpoint-added on b by bulk sync', () => b.added.length > 0);
  t.is(b.added[0]!.id, 'ep-early');
  t.is(b.added[0]!.vtep, a.ip);
  t.is(b.db.stats().bulkSyncsOut, 1, 'b sent its unsolicited bulk sync');
  t.is(a.db.stats().bulkSyncsIn, 1);
  await waitFor(t, 'a answered the bulk sync', () => b.db.stats().bulkSyncsIn === 1 && a.db.stats().bulkSyncsOut === 1);
});

test('a member with the wrong keys fails to join with E_GOSSIP_JOIN; one sharing a secondary key joins', async (t) => {
  const a = await startMember(t);
  const stranger = await startMember(t, [randomBytes(16)]);
  const err = await t.throwsAsync(stranger.ml.join([peer(a.ip, a.port)]));
  t.true(err instanceof GossipError);
  t.is((err as GossipError).code, 'E_GOSSIP_JOIN');
  t.deepEqual(aliveNames(a), []);
  t.deepEqual(aliveNames(stranger), []);
  t.true(a.ml.stats().dropped >= 1);
  // UDP from the stranger is dropped too.
  const before = a.ml.stats();
  await udpExchange(a, msg(MSG.ping, { Node: a.name, SeqNo: 1 }), 200, new Keyring([randomBytes(16)]));
  t.is(a.ml.stats().pingsAnswered, before.pingsAnswered);
  t.is(a.ml.stats().dropped, before.dropped + 1);

  // Mid-rotation: a node whose primary is one of a's secondary keys joins (each decrypts the
  // other with a non-primary key).
  const rotated = await startMember(t, [KEYS[1]!, KEYS[0]!, KEYS[2]!]);
  t.is(await rotated.ml.join([peer(a.ip, a.port)]), 1);
  t.deepEqual(aliveNames(rotated), [a.name]);
  // No join addresses: nothing to do, no error.
  t.is(await stranger.ml.join([]), 0);
});

test('a dead message about a node makes it not alive (and its endpoints go); a leaving member says so', async (t) => {
  const [a, b, c] = [await startMember(t), await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  await c.ml.join([peer(a.ip, a.port)]);
  await a.db.joinNetwork(NET);
  await b.db.joinNetwork(NET);
  b.db.publishPeer(NET, 'ep-b', { ip: '10.0.1.8', prefixLength: 24, mac: '02:42:0a:00:01:08', vtep: b.ip });
  await waitFor(t, 'a has b’s endpoint', () => a.added.length === 1);

  // Someone declares b dead (an older incarnation is ignored first). b is stopped first, without
  // a leave: alive, it would hear of its death by gossip and refute it within a gossip round.
  await b.ml.close({ leave: false });
  const incarnation = a.ml.member(b.name)!.incarnation;
  await udpExchange(a, msg(MSG.dead, { From: 'someone', Incarnation: incarnation - 1, Node: b.name }), 100);
  t.not(a.ml.member(b.name)!.state, 2, 'older incarnation ignored');
  await udpExchange(a, msg(MSG.dead, { From: 'someone', Incarnation: incarnation, Node: b.name }), 100);
  await waitFor(t, 'a holds b dead', () => a.ml.member(b.name)?.state === 2);
  t.false(aliveNames(a).includes(b.name));
  t.deepEqual(
    a.removed.map((e) => e.id),
    ['ep-b'],
  );
  t.deepEqual(a.db.peersOn(NET), []);

  // A member closing sends a leave (dead with From == Node) to those it knows.
  t.true(aliveNames(a).includes(c.name));
  await Promise.all([c.ml.close(), c.ml.close()]); // closing twice at once is one close
  await waitFor(t, 'a sees c leave', () => !aliveNames(a).includes(c.name));
  t.is(a.ml.member(c.name)?.state, 3, 'left, not dead');
});

test('a suspect message about ourselves makes us refute with a higher incarnation', async (t) => {
  const [a, b] = [await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  t.is(b.ml.member(a.name)!.incarnation, 1);
  await udpExchange(a, msg(MSG.suspect, { From: b.name, Incarnation: 1, Node: a.name }), 50);
  await waitFor(t, 'refutation counted', () => a.ml.stats().refutations === 1);
  await waitFor(t, 'b heard a alive with incarnation 2', () => b.ml.member(a.name)?.incarnation === 2);
  t.is(b.ml.member(a.name)!.state, 0);
  // A suspicion about an incarnation we already passed needs no refutation.
  await udpExchange(a, msg(MSG.suspect, { From: b.name, Incarnation: 1, Node: a.name }), 150);
  t.is(a.ml.stats().refutations, 1);
  // A suspect about another node is only suspicion: it stays alive.
  await udpExchange(a, msg(MSG.suspect, { From: 'x', Incarnation: 1, Node: b.name }), 100);
  t.deepEqual(aliveNames(a), [b.name]);
  // Dead about ourselves in a push-pull: refuted too.
  const reply = await streamExchange(
    a,
    Buffer.concat([
      msg(MSG.pushPull, { Join: false, Nodes: 1, UserStateLen: 0 }),
      encodeMsgpack({ Addr: ipBytes(a.ip), Incarnation: 5, Meta: Buffer.alloc(0), Name: a.name, Port: a.port, State: 2, Vsn: Buffer.from([1, 5, 2, 0, 0, 0]) }),
    ]),
  );
  t.is(reply[0], MSG.pushPull);
  t.is(a.ml.stats().refutations, 2);
  await waitFor(t, 'b heard incarnation 6', () => b.ml.member(a.name)?.incarnation === 6);
});

test('over a stream only ping, push-pull and user messages are taken: membership news and compounds there are dropped as malformed', async (t) => {
  // memberlist's handleConn takes ping, push-pull and user messages; alive, suspect and dead come
  // by UDP. b stops without a leave, so nothing refutes what is said of it.
  const [a, b] = [await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  await b.ml.close({ leave: false });
  const incarnation = a.ml.member(b.name)!.incarnation;
  const dead = msg(MSG.dead, { From: 'someone', Incarnation: incarnation, Node: b.name });
  const compound = Buffer.concat([Buffer.from([MSG.compound, 1]), Buffer.from([dead.length >> 8, dead.length & 0xff]), dead]);
  const stranger = msg(MSG.alive, { Addr: ipBytes('127.0.0.99'), Incarnation: 1, Meta: Buffer.alloc(0), Node: 'stranger', Port: 7946, Vsn: Buffer.from([1, 5, 2, 0, 0, 0]) });
  const malformed = () => a.ml.stats().drops.malformed;
  const before = malformed();
  for (const [what, plain] of [
    ['dead', dead],
    ['compound', compound],
    ['alive', stranger],
  ] as const) {
    t.is((await streamExchange(a, plain)).length, 0, `${what} over a stream: no answer`);
  }
  await waitFor(t, 'three malformed drops', () => malformed() === before + 3);
  t.not(a.ml.member(b.name)!.state, 2, 'b not dead by a stream');
  t.is(a.ml.member('stranger'), undefined, 'no member added by a stream');
  // The same dead message by UDP is taken: it was the channel, not the message.
  await udpExchange(a, dead, 100);
  await waitFor(t, 'a holds b dead', () => a.ml.member(b.name)?.state === 2);
  // A ping over a stream is still answered.
  const ack = await streamExchange(a, msg(MSG.ping, { Node: a.name, SeqNo: 7 }));
  t.is(ack[0], MSG.ack);
});

test('a push-pull listing a node as suspect keeps it a member; dead and left take it away', async (t) => {
  const [a, b] = [await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  await a.db.joinNetwork(NET);
  await b.db.joinNetwork(NET);
  b.db.publishPeer(NET, 'ep-b', { ip: '10.0.1.9', prefixLength: 24, mac: '02:42:0a:00:01:09', vtep: b.ip });
  await waitFor(t, 'a has b’s endpoint', () => a.added.length === 1);
  const state = (name: string, ip: string, port: number, incarnation: number, s: number) => encodeMsgpack({ Addr: ipBytes(ip), Incarnation: incarnation, Meta: Buffer.alloc(0), Name: name, Port: port, State: s, Vsn: Buffer.from([1, 5, 2, 0, 0, 0]) });
  const fakePeer = 'feedfacecafe';
  const pp = (s: number, inc: number) => Buffer.concat([msg(MSG.pushPull, { Join: false, Nodes: 2, UserStateLen: 0 }), state(fakePeer, '127.0.0.1', 1, 1, 0), state(b.name, b.ip, b.port, inc, s)]);

  await streamExchange(a, pp(1, 1));
  t.true(aliveNames(a).includes(b.name), 'suspect is still a member');
  t.true(aliveNames(a).includes(fakePeer));
  t.deepEqual(a.removed, [], 'no endpoint dropped for a suspicion');
  t.deepEqual(
    a.db.peersOn(NET).map((m) => m.name),
    [b.name],
  );

  // The suspicion makes b refute (a higher incarnation) as soon as a's gossip reaches it: the
  // leave names an incarnation above the one a holds now, or it could arrive as stale news.
  await streamExchange(a, pp(3, a.ml.member(b.name)!.incarnation + 1));
  t.false(aliveNames(a).includes(b.name), 'left');
  t.deepEqual(
    a.removed.map((e) => e.id),
    ['ep-b'],
  );
});

test('UDP pings get an ack (to the sender, or to SourceAddr/SourcePort); TCP pings too; others’ pings are not answered', async (t) => {
  const a = await startMember(t);
  const replies = await udpExchange(a, msg(MSG.ping, { Node: a.name, SeqNo: 4242 }), 300, undefined, 1);
  t.is(replies.length, 1);
  const ack = decodeMsgpack(ackIn(replies[0]!)!, 1).value;
  t.is(field(ack, 'SeqNo'), 4242);
  t.is(field(ack, 'Payload'), null);
  t.is(a.ml.stats().pingsAnswered, 1);
  // Not joined yet, it has only its own alive queued, and that rides along (as memberlist's).
  const along = messagesIn(replies[0]!).filter((m) => m[0] !== MSG.ack);
  t.deepEqual(
    along.map((m) => [m[0], Buffer.from(field(decodeMsgpack(m, 1).value, 'Node') as Uint8Array).toString()]),
    [[MSG.alive, a.name]],
  );

  // An empty Node is answered as well (memberlist's old pings).
  t.is((await udpExchange(a, msg(MSG.ping, { Node: '', SeqNo: 1 }), 200, undefined, 1)).length, 1);
  // A ping meant for another node is not.
  t.is((await udpExchange(a, msg(MSG.ping, { Node: 'someoneelse', SeqNo: 2 }), 200)).length, 0);

  // CRC-wrapped (memberlist adds it for peers with protocol ≥ 5) inside a compound.
  const ping = msg(MSG.ping, { Node: a.name, SeqNo: 7 });
  const compound = Buffer.concat([Buffer.from([MSG.compound, 1]), Buffer.from([ping.length >> 8, ping.length & 0xff]), ping]);
  const crc = Buffer.alloc(5);
  crc[0] = MSG.hasCrc;
  crc.writeUInt32BE(crc32(compound), 1);
  const crcReplies = await udpExchange(a, Buffer.concat([crc, compound]), 200, undefined, 1);
  t.is(crcReplies.length, 1);
  t.is(field(decodeMsgpack(ackIn(crcReplies[0]!)!, 1).value, 'SeqNo'), 7);
  // A bad CRC is dropped.
  crc.writeUInt32BE((crc32(compound) + 1) >>> 0, 1);
  t.is((await udpExchange(a, Buffer.concat([crc, compound]), 200)).length, 0);

  // The ack goes to SourceAddr:SourcePort when given (an indirect path).
  const listener = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  listener.on('message', (m) => got.push(new Keyring(KEYS).decrypt(m)));
  await new Promise<void>((r) => listener.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => listener.close());
  const lport = listener.address().port;
  await udpExchange(a, msg(MSG.ping, { Node: a.name, SeqNo: 9, SourceAddr: ipBytes('127.0.0.1'), SourceNode: 'x', SourcePort: lport }), 100);
  await waitFor(t, 'ack at SourcePort', () => got.length === 1);
  t.is(field(decodeMsgpack(ackIn(got[0]!)!, 1).value, 'SeqNo'), 9);

  // TCP ping: the ack comes back on the stream.
  const tcpAck = await streamExchange(a, msg(MSG.ping, { Node: a.name, SeqNo: 11 }));
  t.is(tcpAck[0], MSG.ack);
  t.is(field(decodeMsgpack(tcpAck, 1).value, 'SeqNo'), 11);
});

test('user messages reach NetworkDB over UDP and TCP', async (t) => {
  const [a, b] = [await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  const seen: Buffer[] = [];
  const orig = a.db.notifyMsg.bind(a.db);
  a.db.notifyMsg = (m: Buffer) => {
    seen.push(Buffer.from(m));
    orig(m);
  };
  const member = b.ml.member(a.name)!;
  b.ml.sendBestEffort(member, Buffer.from('over udp'));
  await b.ml.sendReliable(member, Buffer.from('over tcp'));
  await waitFor(t, 'both user messages', () => seen.length === 2);
  t.deepEqual(seen.map((s) => s.toString()).sort(), ['over tcp', 'over udp']);
});

test('large TCP user messages, several at once each way, arrive whole', async (t) => {
  // Stream frames' buffers are pooled (netd/gossip/stream.ts FramePool): one given back while
  // its socket still wrote it, or lent to two frames at once, would garble these. A message is
  // valid only during notifyMsg (its buffer may go back to the pool): kept as a copy.
  const [a, b] = [await startMember(t), await startMember(t)];
  await b.ml.join([peer(a.ip, a.port)]);
  const seen = new Map<Node, Buffer[]>([
    [a, []],
    [b, []],
  ]);
  for (const n of [a, b]) n.db.notifyMsg = (m: Buffer) => void seen.get(n)!.push(Buffer.from(m));
  // Megabytes each: more than a loopback socket takes at once, so writes are still pending when
  // the next frame is made.
  const sizes = [6_000_000, 4_000_000, 7_000_000, 5_000_000, 200_000];
  const sent = new Map<Node, Buffer[]>([
    [a, sizes.map((n) => randomBytes(n))],
    [b, sizes.map((n) => randomBytes(n + 1))],
  ]);
  for (let round = 0; round < 2; round++) {
    for (const n of [a, b]) seen.get(n)!.length = 0;
    await Promise.all([
      ...sent.get(b)!.map((m) => b.ml.sendReliable(b.ml.member(a.name)!, m)),
      ...sent.get(a)!.map((m) => a.ml.sendReliable(a.ml.member(b.name)!, m)),
    ]);
    await waitFor(t, `round ${round}: every message`, () => seen.get(a)!.length === sizes.length && seen.get(b)!.length === sizes.length, 20_000);
    const digest = (bufs: Buffer[]) => bufs.map((x) => x.toString('base64')).sort();
    t.deepEqual(digest(seen.get(a)!), digest(sent.get(b)!), `round ${round}: a got b's messages byte for byte`);
    t.deepEqual(digest(seen.get(b)!), digest(sent.get(a)!), `round ${round}: b got a's messages byte for byte`);
  }
});
