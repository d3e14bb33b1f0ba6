// `jwtproxy demo` through the real CLI: the printed curl commands work as printed.
import * as net from 'node:net';
import { runCli } from '../support/cli';
import { httpRequest } from '../support/httpRequest';
import { proxyRequest } from '../support/proxyRequest';
import { stopCli } from '../support/stopCli';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose six demo ports (N, N+70, N+80, N+81, N+82, N+90) are free. */
async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const free = await Promise.all([base, base + 70, base + 80, base + 81, base + 82, base + 90].map(portFree));
    if (free.every(Boolean)) return base;
  }
}

test('the demo signs, verifies and echoes the claims; without the signer it refuses', async () => {
  const base = await freeBasePort();
  const cli = runCli(undefined, ['demo', '-base-port', String(base)]);
  try {
    await cli.waitFor('Try it:');
    expect(cli.output).toContain(`curl --proxy http://127.0.0.1:${base + 80} http://127.0.0.1:${base + 81}/hello`);
    const signed = await proxyRequest(`http://127.0.0.1:${base + 80}`, `http://127.0.0.1:${base + 81}/hello`);
    expect(signed.status).toBe(200);
    const echoed = JSON.parse(signed.body) as { url: string; verifiedClaims: Record<string, unknown> };
    expect(echoed.url).toBe('/hello');
    expect(echoed.verifiedClaims).toMatchObject({ iss: 'demo', aud: `http://127.0.0.1:${base + 81}` });
    const unsigned = await httpRequest(`http://127.0.0.1:${base + 81}/hello`);
    expect(unsigned).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Could not parse JWT' });
    const keys = JSON.parse((await httpRequest(`http://127.0.0.1:${base + 90}/services/demo/keys`)).body) as { keys: unknown[] };
    expect(keys.keys).toHaveLength(1);

    // Behind Cloudflare Access: the printed tokens, as printed.
    const accessCurls = [...cli.output.matchAll(/curl -H 'Cf-Access-Jwt-Assertion: ([^']+)' (\S+)/g)];
    expect(accessCurls).toHaveLength(2);
    const [[, adminToken, url], [, staffToken]] = accessCurls;
    expect(url).toBe(`http://127.0.0.1:${base + 82}/hello`);
    const admin = await httpRequest(url, { headers: { 'cf-access-jwt-assertion': adminToken } });
    expect(admin.status).toBe(200);
    expect(JSON.parse(admin.body)).toMatchObject({ identityHeaders: { email: 'alice@example.com', groups: 'staff,application_admin' } });
    const again = await httpRequest(url, { headers: { 'cf-access-jwt-assertion': adminToken } });
    expect(again.status).toBe(200);
    const staff = await httpRequest(url, { headers: { 'cf-access-jwt-assertion': staffToken } });
    expect(staff).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Error verifying claims: only application_admin may use this application' });
  } finally {
    await stopCli(cli);
  }
  expect(await cli.exited).toBe(0);
});
