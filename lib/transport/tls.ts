// TLS of the client port (`--tls-cert`, `--tls-key`): the files are read and checked at startup, so a missing,
// unreadable or mismatched pair fails with a message naming the flag instead of a handshake error later.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OptionsError } from '../errors.js';

/** A checked certificate (chain) and its private key, PEM, as node:https takes them. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** The leaf certificate's notAfter, for the startup log. */
  validTo: string;
}

async function read(field: 'tlsCert' | 'tlsKey', path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new OptionsError(field, `cannot read ${path}: ${why}`);
  }
}

/**
 * Reads and checks the PEM certificate and key: both parse, and the key is the certificate's.
 * Throws OptionsError naming tlsCert or tlsKey.
 */
export async function loadTls(certPath: string, keyPath: string): Promise<TlsFiles> {
  const cert = await read('tlsCert', certPath);
  const key = await read('tlsKey', keyPath);
  let x509: X509Certificate;
  try {
    if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "BEGIN CERTIFICATE" block');
    x509 = new X509Certificate(cert); // the first (leaf) certificate of a chain
  } catch (err) {
    throw new OptionsError('tlsCert', `${certPath} is not a PEM certificate: ${(err as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new OptionsError('tlsKey', `${keyPath} is not a PEM private key (an encrypted key is not supported): ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new OptionsError('tlsKey', `${keyPath} is not the private key of the certificate in ${certPath}`);
  }
  return { cert, key, validTo: x509.validTo };
}
