// Node identity material: an ECDSA P-256 key, a PEM CSR, and what the issued certificate
// says about us (CN = node id, OU = role, O = cluster id, validity).
import { X509Certificate, generateKeyPair, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { JoinError } from '../errors.js';
import { pkcs10Request, toPem } from './der.js';

const generateKeyPairAsync = promisify(generateKeyPair);
// The manager ignores the CSR subject and sets its own; any well-formed name will do.
const CSR_COMMON_NAME = 'berth-node';

export interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

/** An ECDSA P-256 key (PKCS#8 PEM) and a PKCS#10 request for it, signed with it. */
export async function generateKeyAndCsr(): Promise<KeyAndCsr> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const csr = pkcs10Request(CSR_COMMON_NAME, spki, (info) => sign('sha256', info, { key: privateKey, dsaEncoding: 'der' }));
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csrPem: toPem('CERTIFICATE REQUEST', csr) };
}

export interface CertificateInfo {
  nodeId: string;
  role: string;
  clusterId: string;
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
}

/** Reads the first (leaf) certificate of a PEM chain. */
export function describeCertificate(pem: string): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new JoinError('E_CERT_PARSE', `the node certificate is not valid PEM/X.509: ${(err as Error).message}`, { cause: err });
  }
  const fields = new Map<string, string>();
  for (const line of cert.subject.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  const nodeId = fields.get('CN');
  if (!nodeId) throw new JoinError('E_CERT_SUBJECT', `the node certificate has no CN (subject: ${cert.subject.replace(/\n/g, ', ')})`);
  return {
    nodeId,
    role: fields.get('OU') ?? '',
    clusterId: fields.get('O') ?? '',
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}

/** SwarmKit renews at a random point in the second half of the lifetime; we pick 50–80%. */
const RENEW_AT_MIN_FRACTION = 0.5;
const RENEW_AT_MAX_FRACTION = 0.8;

export function renewalDelayMs(info: Pick<CertificateInfo, 'notBefore' | 'notAfter'>, now: number, random = Math.random()): number {
  const start = info.notBefore.getTime();
  const lifetime = info.notAfter.getTime() - start;
  const at = start + lifetime * (RENEW_AT_MIN_FRACTION + (RENEW_AT_MAX_FRACTION - RENEW_AT_MIN_FRACTION) * random);
  return Math.max(0, at - now);
}

export function splitPemBundle(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
