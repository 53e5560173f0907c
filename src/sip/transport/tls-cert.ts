import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, SipwardenError } from '../../errors.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Where it came from: operator files, a certificate created now, or one created at an earlier start. */
  origin: 'files' | 'generated' | 'reused';
}

/**
 * Loads the operator's `-t/-k` PEM files, or the data dir's `tls-cert.pem`/`tls-key.pem`, creating them once
 * (the capture rules: self-signed, ECDSA P-256, CN localhost, 10 years, key mode 0600). Throws SipwardenError
 * (TLS_CERT_FAILED) when files cannot be read or written; the caller decides whether TLS is then disabled.
 */
export async function loadOrCreateTlsMaterial(opts: {
  cert: string | null;
  key: string | null;
  dataDir: string;
}): Promise<TlsMaterial> {
  try {
    if (opts.cert && opts.key) {
      return { cert: readFileSync(opts.cert), key: readFileSync(opts.key), origin: 'files' };
    }
    const certPath = join(opts.dataDir, 'tls-cert.pem');
    const keyPath = join(opts.dataDir, 'tls-key.pem');
    if (existsSync(certPath) && existsSync(keyPath)) {
      return { cert: readFileSync(certPath), key: readFileSync(keyPath), origin: 'reused' };
    }
    // Loaded only when a certificate is made (once per data dir): the X.509 toolkit costs ~7 MB of RSS.
    const { generate } = await import('selfsigned');
    const now = new Date();
    const notAfter = new Date(now);
    notAfter.setUTCFullYear(now.getUTCFullYear() + 10);
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: now,
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
      ],
    });
    writeFileSync(keyPath, pems.private, { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    writeFileSync(certPath, pems.cert, { mode: 0o644 });
    return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private), origin: 'generated' };
  } catch (err) {
    throw new SipwardenError(
      ERROR_CODES.TLS_CERT_FAILED,
      `TLS certificate: ${err instanceof Error ? err.message : String(err)}`,
      1,
      { cause: err },
    );
  }
}
