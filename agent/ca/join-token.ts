// Swarm join tokens: SWMTKN-<version>-<root CA digest, base36, 50 chars>-<secret, 25 chars>.
// The digest is the SHA-256 of the root CA certificate bundle (PEM bytes) as the manager
// hands it out; pinning it is what makes the insecure first fetch of the CA safe.
import { createHash } from 'node:crypto';
import { JoinError } from '../errors.js';

const TOKEN_PREFIX = 'SWMTKN';
const DIGEST_BASE36_LEN = 50;
const SECRET_LEN = 25;
const SUPPORTED_VERSIONS = new Set(['1', '2']); // 2 marks a FIPS cluster; same format

export interface JoinToken {
  readonly version: string;
  /** Hex SHA-256 of the root CA PEM bundle. */
  readonly rootDigestHex: string;
  readonly secret: string;
  readonly raw: string;
}

export function parseJoinToken(raw: string): JoinToken {
  const token = raw.trim();
  const parts = token.split('-');
  if (parts.length !== 4 || parts[0] !== TOKEN_PREFIX) {
    throw new JoinError('E_TOKEN_FORMAT', `join token is not of the form SWMTKN-1-<digest>-<secret> (got ${redact(token)}); copy it from \`docker swarm join-token -q worker\``);
  }
  const [, version, digest, secret] = parts as [string, string, string, string];
  if (!SUPPORTED_VERSIONS.has(version)) {
    throw new JoinError('E_TOKEN_VERSION', `join token version ${version} is not supported (expected 1 or 2)`);
  }
  if (digest.length !== DIGEST_BASE36_LEN || !/^[0-9a-z]+$/.test(digest)) {
    throw new JoinError('E_TOKEN_FORMAT', `join token's CA digest part must be ${DIGEST_BASE36_LEN} base-36 characters`);
  }
  if (secret.length !== SECRET_LEN || !/^[0-9a-z]+$/.test(secret)) {
    throw new JoinError('E_TOKEN_FORMAT', `join token's secret part must be ${SECRET_LEN} base-36 characters`);
  }
  return { version, rootDigestHex: base36ToHex(digest, 64), secret, raw: token };
}

export function base36ToHex(s: string, width: number): string {
  let n = 0n;
  for (const ch of s) n = n * 36n + BigInt(parseInt(ch, 36));
  const hex = n.toString(16);
  if (hex.length > width) throw new JoinError('E_TOKEN_FORMAT', 'join token digest is larger than a SHA-256');
  return hex.padStart(width, '0');
}

function rootCaDigestHex(pemBundle: Uint8Array | string): string {
  return createHash('sha256').update(pemBundle).digest('hex');
}

/** Throws E_CA_DIGEST_MISMATCH, naming both digests, when the fetched CA is not the pinned one. */
export function verifyRootCa(token: JoinToken, pemBundle: Uint8Array | string): void {
  const got = rootCaDigestHex(pemBundle);
  if (got !== token.rootDigestHex) {
    throw new JoinError(
      'E_CA_DIGEST_MISMATCH',
      `the manager's root CA does not match the join token: token pins sha256:${token.rootDigestHex}, manager sent sha256:${got}. ` +
        'Check that the token belongs to this cluster (a rotated CA needs a fresh token) and that nothing intercepts the connection.',
    );
  }
}

/** A token with its secret elided, safe for logs and error messages. */
export function redact(token: string): string {
  const parts = token.split('-');
  if (parts.length === 4) return `${parts[0]}-${parts[1]}-${parts[2]?.slice(0, 8)}…-<secret>`;
  return token.length > 12 ? `${token.slice(0, 12)}…` : '<token>';
}
