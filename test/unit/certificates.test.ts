import test from 'ava';
import { generateKeyAndCsr, renewalDelayMs, splitPemBundle, describeCertificate } from '../../agent/ca/certificates.js';
import { JoinError } from '../../agent/errors.js';
import { createPublicKey } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { tlsInfo } from '../../agent/ca/identity.js';
import { certificateSubjectAndKey, derOid, derTlv } from '../../agent/ca/der.js';
import { TestPki } from '../fixtures/test-pki.js';

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

test('the CSR verifies with its own key, for a P-256 key, under an X.509 library and under openssl', async (t) => {
  const { keyPem, csrPem } = await generateKeyAndCsr();
  const x509 = await import('@peculiar/x509');
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  t.true(await csr.verify(), 'signature checks out');
  t.is(csr.subject, 'CN=berth-node');
  t.deepEqual(csr.signatureAlgorithm as unknown, { name: 'ECDSA', hash: { name: 'SHA-256' } });
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  t.deepEqual(Buffer.from(csr.publicKey.rawData), spki, 'the request carries the key agentd keeps');
  const out = spawnSync('openssl', ['req', '-noout', '-verify', '-subject'], { input: csrPem, encoding: 'utf8' });
  t.is(out.status, 0, out.stderr);
  t.regex(out.stdout + out.stderr, /verify OK/i);
});

test('a test CA signs the CSR and the node certificate names what it was issued', async (t) => {
  const pki = await TestPki.create();
  const { csrPem } = await generateKeyAndCsr();
  const signed = await pki.signNodeCsr(csrPem);
  const info = describeCertificate(signed.certPem);
  t.is(info.nodeId, signed.nodeId);
  t.is(info.clusterId, pki.clusterId);
});

test("tlsInfo carries the issuer's subject and public key exactly as in the issuer's certificate", async (t) => {
  const pki = await TestPki.create();
  const { keyPem, csrPem } = await generateKeyAndCsr();
  const signed = await pki.signNodeCsr(csrPem);
  const identity = { rootCaPem: pki.rootCaPem, certPem: signed.certPem, keyPem, info: describeCertificate(signed.certPem) };
  const info = tlsInfo(identity);
  const x509 = await import('@peculiar/x509');
  const root = new x509.X509Certificate(pki.rootCaPem);
  t.deepEqual(info.cert_issuer_subject, Buffer.from(root.subjectName.toArrayBuffer()));
  t.deepEqual(info.cert_issuer_public_key, Buffer.from(root.publicKey.rawData));
  t.deepEqual(info.trust_root, Buffer.from(pki.rootCaPem));
});

test('tlsInfo leaves the issuer empty when no trusted root signed the certificate', async (t) => {
  const pki = await TestPki.create();
  const other = await TestPki.create();
  const { keyPem, csrPem } = await generateKeyAndCsr();
  const signed = await other.signNodeCsr(csrPem);
  const info = tlsInfo({ rootCaPem: pki.rootCaPem, certPem: signed.certPem, keyPem, info: describeCertificate(signed.certPem) });
  t.is(info.cert_issuer_subject.length, 0);
  t.is(info.cert_issuer_public_key.length, 0);
});

test('DER: long lengths, multi-byte OID arcs, and truncated certificates are refused with E_CERT_PARSE', (t) => {
  t.deepEqual(derTlv(0x04, Buffer.alloc(300)).subarray(0, 4), Buffer.from([0x04, 0x82, 0x01, 0x2c]));
  t.deepEqual(derOid('1.2.840.10045.4.3.2'), Buffer.from('06082a8648ce3d040302', 'hex'));
  const err = t.throws(() => certificateSubjectAndKey(Buffer.from([0x30, 0x82, 0x10, 0x00, 0x30])), { instanceOf: JoinError });
  t.is(err?.code, 'E_CERT_PARSE');
});
