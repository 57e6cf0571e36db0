// Node identity material: an ECDSA P-256 key, a PEM CSR, and what the issued certificate
// says about us (CN = node id, OU = role, O = cluster id, validity).
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { JoinError } from '../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
// The manager ignores the CSR subject and sets its own; any well-formed name will do.
const CSR_SUBJECT = 'CN=berth-node';

export interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

export async function generateKeyAndCsr(): Promise<KeyAndCsr> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: CSR_SUBJECT,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const b64 = Buffer.from(pkcs8).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return { keyPem: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`, csrPem: csr.toString('pem') };
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
