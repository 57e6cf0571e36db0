import test from 'ava';
import { generateKeyAndCsr, renewalDelayMs, splitPemBundle, describeCertificate } from '../../agent/ca/certificates.js';
import { JoinError } from '../../agent/errors.js';

const DAY = 86_400_000;

test('renewal lands between 50% and 80% of the lifetime', (t) => {
  const notBefore = new Date(0);
  const notAfter = new Date(90 * DAY);
  t.is(renewalDelayMs({ notBefore, notAfter }, 0, 0), 45 * DAY);
  t.is(renewalDelayMs({ notBefore, notAfter }, 0, 1), 72 * DAY);
  t.is(renewalDelayMs({ notBefore, notAfter }, 10 * DAY, 0), 35 * DAY);
  t.is(renewalDelayMs({ notBefore, notAfter }, 80 * DAY, 0.5), 0, 'overdue renews now');
});

test('the key is a P-256 PKCS#8 PEM and the CSR is PEM', async (t) => {
  const { keyPem, csrPem } = await generateKeyAndCsr();
  t.regex(keyPem, /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/);
  t.regex(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----/);
  const { createPrivateKey } = await import('node:crypto');
  const k = createPrivateKey(keyPem);
  t.is(k.asymmetricKeyType, 'ec');
  t.is(k.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('bundles split into certificates; garbage is a clear error', (t) => {
  t.deepEqual(splitPemBundle('junk'), []);
  const err = t.throws(() => describeCertificate('not a cert'), { instanceOf: JoinError });
  t.is(err?.code, 'E_CERT_PARSE');
});
