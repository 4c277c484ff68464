// `hashpub start` with TLS and public-key tokens, as a user runs it: the banner, and bad files named by flag.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { Agent, fetch } from 'undici';
import { makeCert } from '../fixtures/certificates.js';
import { cleanupProcesses, launch, tempDir, waitFor } from './cli-process.js';

after(cleanupProcesses);

describe('hashpub start with --tls-cert and --jwt-public-key', () => {
  test('serves HTTPS with an https:// banner; an RS256 token of the key is accepted, the banner says HS256 is off', async () => {
    const cert = makeCert();
    const cwd = tempDir();
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    writeFileSync(join(cwd, 'app.pem'), await exportSPKI(publicKey));
    const p = launch(['start', '--port', '0', '--data', ':memory:', '--log-level', 'warn', '--tls-cert', cert.certFile,
      '--tls-key', cert.keyFile, '--jwt-public-key', 'app.pem', '--api-key', 'k'], cwd);
    const agent = new Agent({ connect: { ca: cert.ca } });
    try {
      const [, url] = await waitFor(p, /ready at (https:\/\/\S+)/);
      await waitFor(p, /sign it in your app with the private key/);
      assert.match(p.stdout(), /JWT +verified with --jwt-public-key app\.pem/);
      assert.doesNotMatch(p.stdout(), /JWT secret/);
      const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1h').sign(privateKey);
      const res = await fetch(`${url}/v1/channels/x/messages`, {
        method: 'POST', dispatcher: agent, body: '{"data":1}',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
      assert.equal(res.status, 403, 'the token is valid (a client publish, refused only for lack of a publish right)');
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
    } finally {
      await agent.close();
      await p.kill('SIGTERM');
      cert.remove();
    }
  });

  test('a missing certificate or a key of another certificate: exit 2, naming the flag', async () => {
    const a = makeCert('a');
    const b = makeCert('b');
    try {
      for (const [args, re] of [
        [['--tls-cert', join(a.dir, 'none.crt'), '--tls-key', join(a.dir, 'none.key')], /bad value for --tls-cert: cannot read .*none\.crt: no such file/],
        [['--tls-cert', a.certFile, '--tls-key', b.keyFile], /bad value for --tls-key: .* is not the private key of the certificate/],
        [['--tls-cert', a.certFile], /--tls-key/],
      ] as const) {
        const p = launch(['start', '--port', '0', '--data', ':memory:', ...args], tempDir());
        const code = await p.exited;
        assert.equal(code, 2, p.stderr());
        assert.match(p.stderr(), re);
      }
    } finally {
      a.remove();
      b.remove();
    }
  });
});
