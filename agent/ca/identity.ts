// The node's identity on disk (stateDir/certificates): root CA bundle, node certificate and
// key (0600). Join once with a token; afterwards the saved identity is reused, so a restart
// keeps the node id without re-joining.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fs-atomic.js';
import { JoinError } from '../errors.js';
import { X509Certificate } from 'node:crypto';
import { describeCertificate, generateKeyAndCsr, splitPemBundle, type CertificateInfo } from './certificates.js';
import { fetchRootCa, requestNodeCertificate } from './ca-client.js';
import { parseJoinToken } from './join-token.js';
import { certificateSubjectAndKey } from './der.js';

const CERT_DIR = 'certificates';
const ROOT_CA_FILE = 'swarm-root-ca.crt';
const NODE_CERT_FILE = 'swarm-node.crt';
const NODE_KEY_FILE = 'swarm-node.key';

export interface NodeIdentity {
  rootCaPem: string;
  certPem: string;
  keyPem: string;
  info: CertificateInfo;
}

function certPaths(stateDir: string) {
  const dir = join(stateDir, CERT_DIR);
  return { dir, rootCa: join(dir, ROOT_CA_FILE), cert: join(dir, NODE_CERT_FILE), key: join(dir, NODE_KEY_FILE) };
}

export function loadIdentity(stateDir: string): NodeIdentity | undefined {
  const p = certPaths(stateDir);
  if (!existsSync(p.cert) || !existsSync(p.key) || !existsSync(p.rootCa)) return undefined;
  const certPem = readFileSync(p.cert, 'utf8');
  return { rootCaPem: readFileSync(p.rootCa, 'utf8'), certPem, keyPem: readFileSync(p.key, 'utf8'), info: describeCertificate(certPem) };
}

/** Writes key before cert: a crash in between leaves no cert without its key. */
function saveIdentity(stateDir: string, id: Omit<NodeIdentity, 'info'>): NodeIdentity {
  const p = certPaths(stateDir);
  writeFileAtomicSync(p.rootCa, id.rootCaPem, 0o644);
  writeFileAtomicSync(p.key, id.keyPem, 0o600);
  writeFileAtomicSync(p.cert, id.certPem, 0o644);
  return { ...id, info: describeCertificate(id.certPem) };
}

export function saveRootCa(stateDir: string, rootCaPem: string): void {
  writeFileAtomicSync(certPaths(stateDir).rootCa, rootCaPem, 0o644);
}

/** First join: pin the CA by the token, request a certificate with the token, save it. */
export type JoinStep = 'rootCaFetched' | 'csrMade' | 'certificateIssued';

export async function joinWithToken(stateDir: string, manager: string, rawToken: string, signal?: AbortSignal, onStep: (step: JoinStep) => void = () => undefined): Promise<NodeIdentity> {
  const token = parseJoinToken(rawToken);
  // The key is made while the root CA is fetched: it does not depend on it.
  const keyAndCsr = generateKeyAndCsr();
  keyAndCsr.catch(() => undefined);
  const rootCaPem = await fetchRootCa(manager, token, signal);
  onStep('rootCaFetched');
  const { keyPem, csrPem } = await keyAndCsr;
  onStep('csrMade');
  const issued = await requestNodeCertificate({ manager, rootCaPem, csrPem, token: token.raw }, signal);
  const identity = saveIdentity(stateDir, { rootCaPem, certPem: issued.certPem, keyPem });
  onStep('certificateIssued');
  if (identity.info.nodeId !== issued.nodeId) {
    throw new JoinError('E_CERT_SUBJECT', `the issued certificate names node ${identity.info.nodeId}, the manager said ${issued.nodeId}`);
  }
  return identity;
}

/** Renewal over mTLS with the current identity and a fresh key; keeps the node id. */
export async function renewCertificate(stateDir: string, manager: string, current: NodeIdentity, rootCaPem = current.rootCaPem, signal?: AbortSignal): Promise<NodeIdentity> {
  const { keyPem, csrPem } = await generateKeyAndCsr();
  // During a root rotation the manager may still present a certificate from the old root.
  const trust = [...new Set([...splitPemBundle(rootCaPem), ...splitPemBundle(current.rootCaPem)])].join('\n');
  const issued = await requestNodeCertificate({ manager, rootCaPem: trust, csrPem, identity: { keyPem: current.keyPem, certPem: current.certPem } }, signal);
  if (issued.nodeId !== current.info.nodeId) {
    throw new JoinError('E_RENEW_NODE_ID', `renewal returned node id ${issued.nodeId}, expected ${current.info.nodeId}`);
  }
  return saveIdentity(stateDir, { rootCaPem, certPem: issued.certPem, keyPem });
}

/** NodeTLSInfo for the node description: the trusted roots and the issuer of our cert. The
 *  manager compares the issuer with its current CA to tell when a root rotation reached us. */
export function tlsInfo(identity: NodeIdentity): { trust_root: Buffer; cert_issuer_subject: Buffer; cert_issuer_public_key: Buffer } {
  const [leafPem, ...chain] = splitPemBundle(identity.certPem);
  const candidates = [...chain, ...splitPemBundle(identity.rootCaPem)];
  const empty = { trust_root: Buffer.from(identity.rootCaPem), cert_issuer_subject: Buffer.alloc(0), cert_issuer_public_key: Buffer.alloc(0) };
  if (!leafPem) return empty;
  const leaf = new X509Certificate(leafPem);
  const issuerPem = candidates.find((c) => {
    try {
      const candidate = new X509Certificate(c);
      return leaf.checkIssued(candidate) && leaf.verify(candidate.publicKey);
    } catch {
      return false;
    }
  });
  if (!issuerPem) return empty;
  const issuer = certificateSubjectAndKey(new X509Certificate(issuerPem).raw);
  return { trust_root: Buffer.from(identity.rootCaPem), cert_issuer_subject: issuer.subject, cert_issuer_public_key: issuer.spki };
}
