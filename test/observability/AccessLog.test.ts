// The access line is built by hand for speed: it must read exactly as the logger would have
// written the same fields itself (same stream, time, bindings, key order and escaping).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AccessLog, type AccessEntry } from '../../src/observability/AccessLog';
import { createLogger, type Logger } from '../../src/observability/logger';

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('info', { write: (line: string) => void lines.push(line) }).child({ worker: 2 }), lines };
}

/** Answers one request through `track`, once its response has closed on the server. */
async function answerOne(entry: AccessEntry, accessLog: AccessLog): Promise<void> {
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const server = http.createServer((_req, res) => {
    accessLog.track(res, entry, performance.now());
    res.once('close', () => setImmediate(closed));
    res.end('four');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await fetch(`http://127.0.0.1:${port}/`).then((res) => res.text());
  await done;
  server.closeAllConnections();
  server.close();
}

async function lineFor(entry: AccessEntry, accessLog: AccessLog, lines: string[]): Promise<string> {
  await answerOne(entry, accessLog);
  expect(lines).toHaveLength(1);
  return lines[0];
}

test.each<[string, AccessEntry, string]>([
  ['an accepted request', { method: 'GET', path: '/invoices', client: '10.0.0.7', claims: { iss: 'https://team.example', sub: 'ada' }, upstream: 'http://app:8080' }, 'sub'],
  ['a refusal, with characters that need escaping', { method: 'GET', path: '/a"b\\c\u0001é', client: '::1', reason: 'exp' }, 'sub'],
  ['a numeric identity claim', { method: 'POST', path: '/', client: 'unix', claims: { uid: 42 } }, 'uid'],
  ['an identity claim that is neither string nor number', { method: 'GET', path: '/', client: '127.0.0.1', claims: { sub: { nested: true } } }, 'sub'],
])('%s reads as the logger would have written it', async (_name, entry, identityClaim) => {
  const { logger, lines } = capture();
  const line = await lineFor(entry, new AccessLog(logger, 'verifier_proxies[0]', { enabled: true, identityClaim }), lines);
  const written = JSON.parse(line) as Record<string, unknown>;
  const identity = entry.claims?.[identityClaim];
  const { logger: reference, lines: referenceLines } = capture();
  reference.info(
    {
      proxy: 'verifier_proxies[0]',
      method: entry.method,
      path: entry.path,
      status: 200,
      reason: entry.reason,
      iss: entry.claims?.iss,
      [identityClaim]: typeof identity === 'string' || typeof identity === 'number' ? identity : undefined,
      client: entry.client,
      upstream: entry.upstream,
      durationMs: written.durationMs,
      bytes: written.bytes,
    },
    'access',
  );
  expect(line.endsWith('\n')).toBe(true);
  expect(line.replace(/"time":"[^"]*"/, '')).toBe(referenceLines[0].replace(/"time":"[^"]*"/, ''));
  expect(written.bytes).toBeGreaterThan(0);
});

test("a logger bound to the proxy's name already gives it once", async () => {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) }).child({ proxy: 'verifier_proxies[1]' });
  await answerOne({ method: 'GET', path: '/', client: '127.0.0.1' }, new AccessLog(logger, 'verifier_proxies[1]'));
  expect(lines[0].match(/"proxy":/g)).toHaveLength(1);
  expect(JSON.parse(lines[0])).toMatchObject({ proxy: 'verifier_proxies[1]', msg: 'access' });
});

test('nothing is written below info or when turned off', async () => {
  const lines: string[] = [];
  const quiet = createLogger('warn', { write: (line: string) => void lines.push(line) });
  const entry = { method: 'GET', path: '/', client: '127.0.0.1' };
  await answerOne(entry, new AccessLog(quiet, 'signer_proxy'));
  const { logger, lines: infoLines } = capture();
  await answerOne(entry, new AccessLog(logger, 'signer_proxy', { enabled: false, identityClaim: 'sub' }));
  expect([...lines, ...infoLines]).toEqual([]);
});
