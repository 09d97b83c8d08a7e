/**
 * PKCS#12 (.p12/.pfx) bundles: is a private key in it readable without a password? `openssl pkcs12 -export
 * -keypbe NONE` stores a plain keyBag; `-passout pass:` encrypts the key with the empty password (PBES2: PBKDF2 +
 * AES-CBC, OpenSSL 3's default), which grants nothing either. Only a minimal DER walk (RFC 7292, RFC 8018) with
 * bounds checks: the file is untrusted.
 */
import { nodeCrypto } from '../../lazy.js';

interface Tlv {
  tag: number;
  /** Content start and end offsets in the buffer. */
  start: number;
  end: number;
}

function tlv(b: Buffer, at: number, limit: number): Tlv | null {
  if (at + 2 > limit) return null;
  const tag = b[at]!;
  let len = b[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    p += n;
  }
  if (p + len > limit) return null;
  return { tag, start: p, end: p + len };
}

function children(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end && out.length < 4096; ) {
    const c = tlv(b, p, t.end);
    if (!c) return out;
    out.push(c);
    p = c.end;
  }
  return out;
}

const oid = (hex: string) => Buffer.from(hex, 'hex');
const OID_DATA = oid('2a864886f70d010701');
const OID_KEY_BAG = oid('2a864886f70d010c0a0101');
const OID_SHROUDED_KEY_BAG = oid('2a864886f70d010c0a0102');
const OID_PBES2 = oid('2a864886f70d01050d');
const OID_PBKDF2 = oid('2a864886f70d01050c');
const PRF: Record<string, string> = { '2a864886f70d0207': 'sha1', '2a864886f70d0209': 'sha256', '2a864886f70d020a': 'sha384', '2a864886f70d020b': 'sha512' };
const AES: Record<string, string> = { '608648016503040102': 'aes-128-cbc', '608648016503040116': 'aes-192-cbc', '60864801650304012a': 'aes-256-cbc' };

const isOid = (b: Buffer, t: Tlv | undefined, want: Buffer) => t?.tag === 0x06 && b.subarray(t.start, t.end).equals(want);

export interface Pkcs12Key {
  /** `plain` (a keyBag), `empty-password` (shrouded with ""), `encrypted` (a password we do not know). */
  protection: 'plain' | 'empty-password' | 'encrypted';
}

/** True when the bytes start like a PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data ... } }. */
export function looksLikePkcs12(b: Buffer): boolean {
  const pfx = tlv(b, 0, b.length);
  if (!pfx || pfx.tag !== 0x30) return false;
  const [version, authSafe] = children(b, pfx);
  if (!version || version.tag !== 0x02 || version.end - version.start !== 1 || b[version.start] !== 3 || authSafe?.tag !== 0x30) return false;
  return isOid(b, children(b, authSafe)[0], OID_DATA);
}

/** The content OCTET STRING of a pkcs7-data ContentInfo (null for encryptedData and other types). */
function dataContent(b: Buffer, ci: Tlv): Tlv | null {
  const [type, explicit] = children(b, ci);
  if (!isOid(b, type, OID_DATA) || explicit?.tag !== 0xa0) return null;
  const os = children(b, explicit)[0];
  return os?.tag === 0x04 ? os : null;
}

/** Whether the empty password decrypts a PBES2 EncryptedPrivateKeyInfo. */
function emptyPasswordOpens(b: Buffer, epki: Tlv): boolean {
  const [alg, data] = children(b, epki);
  if (!alg || data?.tag !== 0x04) return false;
  const [algOid, params] = children(b, alg);
  if (!isOid(b, algOid, OID_PBES2) || !params) return false;
  const [kdf, enc] = children(b, params);
  if (!kdf || !enc) return false;
  const [kdfOid, kdfParams] = children(b, kdf);
  if (!isOid(b, kdfOid, OID_PBKDF2) || !kdfParams) return false;
  const kp = children(b, kdfParams);
  const salt = kp[0];
  const iter = kp[1];
  if (salt?.tag !== 0x04 || iter?.tag !== 0x02 || iter.end - iter.start > 4) return false;
  let iterations = 0;
  for (let i = iter.start; i < iter.end; i++) iterations = iterations * 256 + b[i]!;
  // A cap on the work an untrusted file can ask for (OpenSSL writes 2048).
  if (iterations < 1 || iterations > 1_000_000) return false;
  const prfAlg = kp.find((c) => c.tag === 0x30);
  const prfOid = prfAlg ? children(b, prfAlg)[0] : undefined;
  const digest = prfOid ? PRF[b.subarray(prfOid.start, prfOid.end).toString('hex')] : 'sha1';
  const [encOid, iv] = children(b, enc);
  const cipher = encOid?.tag === 0x06 ? AES[b.subarray(encOid.start, encOid.end).toString('hex')] : undefined;
  if (!digest || !cipher || iv?.tag !== 0x04 || iv.end - iv.start !== 16) return false;
  const keyLen = cipher === 'aes-128-cbc' ? 16 : cipher === 'aes-192-cbc' ? 24 : 32;
  try {
    const key = nodeCrypto().pbkdf2Sync(Buffer.alloc(0), b.subarray(salt.start, salt.end), iterations, keyLen, digest);
    const d = nodeCrypto().createDecipheriv(cipher, key, b.subarray(iv.start, iv.end));
    const plain = Buffer.concat([d.update(b.subarray(data.start, data.end)), d.final()]);
    // A PrivateKeyInfo: SEQUENCE { INTEGER 0, ... }.
    return plain[0] === 0x30 && tlv(plain, 0, plain.length) !== null;
  } catch {
    return false;
  }
}

/** The private keys of a PFX whose safes are readable without a password (certificates-only bundles: none). */
export function pkcs12Keys(b: Buffer): Pkcs12Key[] {
  if (!looksLikePkcs12(b)) return [];
  const pfx = tlv(b, 0, b.length)!;
  const authSafe = children(b, pfx)[1]!;
  const os = dataContent(b, authSafe);
  if (!os) return [];
  const safes = tlv(b, os.start, os.end);
  if (!safes || safes.tag !== 0x30) return [];
  const out: Pkcs12Key[] = [];
  for (const ci of children(b, safes)) {
    // An encryptedData safe (certificates, usually) needs the password to even see its bags: left out.
    const content = dataContent(b, ci);
    if (!content) continue;
    const bags = tlv(b, content.start, content.end);
    if (!bags || bags.tag !== 0x30) continue;
    for (const bag of children(b, bags)) {
      const [bagId, value] = children(b, bag);
      const inner = value?.tag === 0xa0 ? children(b, value)[0] : undefined;
      if (isOid(b, bagId, OID_KEY_BAG)) out.push({ protection: 'plain' });
      else if (isOid(b, bagId, OID_SHROUDED_KEY_BAG) && inner) out.push({ protection: emptyPasswordOpens(b, inner) ? 'empty-password' : 'encrypted' });
    }
  }
  return out;
}
