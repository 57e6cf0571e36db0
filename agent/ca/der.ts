// The little DER (X.690) a worker needs: build a PKCS#10 request for an EC key, and take the
// raw issuer fields out of a certificate. Pure; node:crypto does the keys and signatures.
// (A general X.509 library costs ~170 ms of CPU to load at every start for these two jobs.)
import { JoinError } from '../errors.js';

const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OID = 0x06;
const TAG_UTF8_STRING = 0x0c;
const TAG_SEQUENCE = 0x30;
const TAG_SET = 0x31;
/** [0] constructed, context-specific: a certificate's version, a CSR's attributes. */
const TAG_CONTEXT_0 = 0xa0;

/** id-at-commonName (RFC 5280). */
const OID_COMMON_NAME = '2.5.4.3';
/** ecdsa-with-SHA256 (RFC 5758). */
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export function derTlv(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const lenBytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) lenBytes.unshift(v & 0xff);
    header = [tag, 0x80 | lenBytes.length, ...lenBytes];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

export function derOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const bytes: number[] = [a * 40 + b];
  for (const arc of rest) {
    const groups: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return derTlv(TAG_OID, Buffer.from(bytes));
}

const sequence = (...items: Uint8Array[]) => derTlv(TAG_SEQUENCE, Buffer.concat(items));

/** Name ::= SEQUENCE OF RDN with one CN attribute. */
export function derCommonName(cn: string): Buffer {
  return sequence(derTlv(TAG_SET, sequence(derOid(OID_COMMON_NAME), derTlv(TAG_UTF8_STRING, Buffer.from(cn, 'utf8')))));
}

/**
 * A PKCS#10 CertificationRequest (RFC 2986) signed with ECDSA-SHA256: subject CN=`cn`, the
 * given SubjectPublicKeyInfo (DER, as node:crypto exports it), no attributes. `sign` gets the
 * DER of the CertificationRequestInfo and returns a DER ECDSA signature.
 */
export function pkcs10Request(cn: string, spkiDer: Uint8Array, sign: (info: Buffer) => Uint8Array): Buffer {
  const info = sequence(derTlv(TAG_INTEGER, Buffer.from([0])), derCommonName(cn), spkiDer, derTlv(TAG_CONTEXT_0, Buffer.alloc(0)));
  const signature = sign(info);
  return sequence(info, sequence(derOid(OID_ECDSA_WITH_SHA256)), derTlv(TAG_BIT_STRING, Buffer.concat([Buffer.from([0]), signature])));
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

interface Tlv {
  tag: number;
  /** The whole element, header included. */
  start: number;
  contentStart: number;
  end: number;
}

function readTlv(buf: Uint8Array, at: number, limit: number): Tlv {
  const bad = (why: string) => new JoinError('E_CERT_PARSE', `the certificate is not valid DER: ${why} at byte ${at}`);
  if (at + 2 > limit) throw bad('truncated element');
  const tag = buf[at]!;
  const first = buf[at + 1]!;
  let len = first;
  let contentStart = at + 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4 || contentStart + n > limit) throw bad('unsupported length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[contentStart + i]!;
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) throw bad('element longer than its container');
  return { tag, start: at, contentStart, end };
}

/** The children of a constructed element. */
function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const c = readTlv(buf, at, parent.end);
    out.push(c);
    at = c.end;
  }
  return out;
}

/**
 * The raw DER of a certificate's subject Name and SubjectPublicKeyInfo, byte for byte as signed
 * (what Go's RawSubject and RawSubjectPublicKeyInfo hold, which the manager compares).
 */
export function certificateSubjectAndKey(certDer: Uint8Array): { subject: Buffer; spki: Buffer } {
  const cert = readTlv(certDer, 0, certDer.length);
  const [tbs] = children(certDer, cert);
  if (cert.tag !== TAG_SEQUENCE || tbs?.tag !== TAG_SEQUENCE) throw new JoinError('E_CERT_PARSE', 'the certificate is not valid DER: no TBSCertificate sequence');
  const fields = children(certDer, tbs);
  // version [0] is optional (v1 certificates have none); then serial, signature, issuer, validity, subject, spki.
  const rest = fields[0]?.tag === TAG_CONTEXT_0 ? fields.slice(1) : fields;
  const subject = rest[4];
  const spki = rest[5];
  if (subject?.tag !== TAG_SEQUENCE || spki?.tag !== TAG_SEQUENCE) throw new JoinError('E_CERT_PARSE', 'the certificate is not valid DER: no subject or public key');
  return { subject: Buffer.from(certDer.subarray(subject.start, subject.end)), spki: Buffer.from(certDer.subarray(spki.start, spki.end)) };
}
