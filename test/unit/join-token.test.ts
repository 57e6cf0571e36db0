import test from 'ava';
import { createHash } from 'node:crypto';
import { base36ToHex, parseJoinToken, redact, verifyRootCa } from '../../agent/ca/join-token.js';
import { JoinError } from '../../agent/errors.js';

/** The inverse of base36ToHex: how a manager writes the CA digest into a token. */
function hexToBase36(hex: string, width: number): string {
  return BigInt(`0x${hex}`).toString(36).padStart(width, '0');
}

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n';
const digestHex = createHash('sha256').update(PEM).digest('hex');
const token = `SWMTKN-1-${hexToBase36(digestHex, 50)}-${'a'.repeat(25)}`;

test('parses a token and pins the CA it was made for', (t) => {
  const tk = parseJoinToken(token);
  t.is(tk.version, '1');
  t.is(tk.rootDigestHex, digestHex);
  t.notThrows(() => verifyRootCa(tk, PEM));
  t.notThrows(() => verifyRootCa(tk, Buffer.from(PEM)));
});

test('base36 round trip keeps leading zeros', (t) => {
  const hex = `00${'f'.repeat(62)}`;
  t.is(base36ToHex(hexToBase36(hex, 50), 64), hex);
  t.is(hexToBase36('0'.repeat(64), 50), '0'.repeat(50));
});

test('a different CA is refused with both digests in the message', (t) => {
  const err = t.throws(() => verifyRootCa(parseJoinToken(token), `${PEM}x`), { instanceOf: JoinError });
  t.is(err?.code, 'E_CA_DIGEST_MISMATCH');
  t.true(err?.message.includes(digestHex));
});

test('malformed tokens are refused without echoing the secret', (t) => {
  for (const bad of ['', 'SWMTKN-1-abc', `SWMTKN-3-${'a'.repeat(50)}-${'a'.repeat(25)}`, `XXX-1-${'a'.repeat(50)}-${'a'.repeat(25)}`, `SWMTKN-1-${'A'.repeat(50)}-${'a'.repeat(25)}`, `SWMTKN-1-${'a'.repeat(50)}-${'a'.repeat(24)}`]) {
    const err = t.throws(() => parseJoinToken(bad), { instanceOf: JoinError }, bad);
    t.false(err?.message.includes('a'.repeat(25)) ?? true);
  }
  t.false(redact(token).includes('a'.repeat(25)));
});
