// Differential test against REAL nginx (auth_request in front of a forward-auth verifier): for
// generated request targets — escapes of every byte in either case, encoded and literal dot
// segments, repeated and encoded slashes and backslashes, ";" parameters, %00, invalid escapes
// and UTF-8 — the path jwtproxy judged is the path nginx routes ($uri) and the path the
// application is sent, by proxy_pass without a URI part (the raw target) and with one (nginx's
// re-encoded $uri), or the request is refused. Seeded and reproducible: DIFFERENTIAL_SEED and
// DIFFERENTIAL_CASES (a few hundred here; `npm run test:differential` runs thousands).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { normalizePath } from '../../src/proxy/normalizePath';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { tempDir } from '../support/cli';
import { accessClaims, accessKey, accessToken, audTag, CERTS_PATH, certsDocument, TEAM_DOMAIN } from '../support/cloudflareAccess';
import { nginxBinary, startNginx, type RunningNginx } from '../support/nginx';
import { dedent, startVerifierFromYaml } from '../support/providerVerifier';
import { StandInServer } from '../support/standInServer';
import { TestUpstream } from '../support/testUpstream';

const SEED = Number(process.env.DIFFERENTIAL_SEED ?? 20261207);
const CASES = Number(process.env.DIFFERENTIAL_CASES ?? 300);
const AUD_TAG = audTag();
const key = accessKey();

/** mulberry32: a small seeded generator, so that a failing case can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['a', 'admin', 'public', 'x.y', 'v1', 'caf%C3%A9', 'a+b', 'x-y_z~'];
const PIECES = [
  'a',
  'admin',
  'public',
  'x.y',
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '.%2e',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  '',
  '%00',
  '%zz',
  '%',
  '%c0%ae',
  '%C3%A9',
  '%e9',
  '%41',
  '%7e',
  '~',
  ';x',
  '..;',
  '%3b',
  '+',
  '%20',
  '%25',
  '%252f',
  '%3F',
  '%23',
  '#',
  '%ff',
  '%E2%82%AC',
];

function generatedTarget(random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const segments: string[] = [];
  const count = 1 + Math.floor(random() * 5);
  for (let i = 0; i < count; i++) {
    let segment = '';
    for (let parts = 1 + Math.floor(random() * 2); parts > 0; parts--) {
      if (random() < 0.4) segment += pick(WORDS);
      else if (random() < 0.2) {
        const hex = Math.floor(random() * 256)
          .toString(16)
          .padStart(2, '0');
        segment += `%${random() < 0.5 ? hex : hex.toUpperCase()}`;
      } else segment += pick(PIECES);
    }
    segments.push(segment);
  }
  const target = `/${segments.join(random() < 0.15 ? '//' : '/')}`;
  return random() < 0.2 ? `${target}?q=${pick(PIECES)}` : target;
}

/** The bytes a percent-encoded path stands for, as a latin1 string (how Node shows header bytes). */
function decodedBytes(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

interface Outcome {
  status: number;
  body: string;
}

/** One raw request on a new connection (TCP port or unix socket), read to the end. */
function exchange(where: { port: number } | { path: string }, target: string, token: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(where as net.NetConnectOpts);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const answer = Buffer.concat(chunks);
      const head = answer.indexOf('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer.toString('latin1'))?.[1] ?? 0), body: head === -1 ? '' : answer.subarray(head + 4).toString('utf8') });
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: app.example\r\ncf-access-jwt-assertion: ${token}\r\nConnection: close\r\n\r\n`);
  });
}

const access = new StandInServer();
// The application: what it was sent, and what nginx and jwtproxy said about it.
const app = new TestUpstream((req, res) => {
  const body = JSON.stringify({ url: req.url, judged: req.headers['x-judged'], uri: req.headers['x-nginx-uri'] });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
});
let verifier: VerifierProxy;
let nginx: RunningNginx;
let withUriSocket = '';

beforeAll(async () => {
  nginxBinary();
  await access.listen();
  access.serve(CERTS_PATH, { body: certsDocument([key]) });
  const appUrl = await app.listen();
  verifier = await startVerifierFromYaml(
    dedent(`
      forward_auth: {gateway: nginx}
      provider:
        type: cloudflare_access
        options: {team_domain: ${TEAM_DOMAIN}, audience_tag: ${AUD_TAG}, certs_url: ${access.url}${CERTS_PATH}}
      claims_to_headers:
        X-Judged-Path: request.path`),
    Date.now,
  );
  const dir = tempDir();
  withUriSocket = path.join(dir, 'with-uri.sock');
  const server = (listen: string, proxyPass: string) => `
    server {
        listen ${listen};
        location = /_auth {
            internal;
            proxy_pass ${verifier.url}/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-Host $host;
        }
        location / {
            auth_request /_auth;
            auth_request_set $judged $upstream_http_x_judged_path;
            proxy_set_header X-Judged $judged;
            # In brackets: a header value's leading and trailing spaces would be trimmed.
            proxy_set_header X-Nginx-Uri "[$uri]";
            proxy_pass ${proxyPass};
        }
    }`;
  nginx = await startNginx(dir, (port) => server(`127.0.0.1:${port}`, appUrl) + server(`unix:${withUriSocket}`, `${appUrl}/`));
  fs.chmodSync(withUriSocket, 0o666);
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  await verifier?.stop();
  await app.close();
  await access.close();
});

test(`${CASES} generated targets (seed ${SEED}): what jwtproxy judged is what nginx routes and proxies, or the request is refused`, async () => {
  const random = seeded(SEED);
  const token = accessToken(key, accessClaims(Date.now(), AUD_TAG));
  const mismatches: string[] = [];
  let allowed = 0;
  for (let i = 0; i < CASES; i++) {
    const target = generatedTarget(random);
    for (const [variant, where] of [
      ['proxy_pass without URI', { port: nginx.port }],
      ['proxy_pass with URI', { path: withUriSocket }],
    ] as const) {
      const outcome = await exchange(where, target, token);
      if (outcome.status !== 200) continue; // refused, by nginx or by jwtproxy: never reached the application
      allowed++;
      const seen = JSON.parse(outcome.body) as { url: string; judged: string; uri: string };
      const routed = seen.uri.slice(1, -1);
      const received = seen.url.split('?')[0];
      // The same bytes once decoded: nginx re-encodes $uri its own way ($ for %24, ; for %3B).
      const problems = [
        decodedBytes(seen.judged) !== routed && `judged ${seen.judged} but nginx routed $uri ${JSON.stringify(routed)}`,
        decodedBytes(normalizePath(received)) !== decodedBytes(seen.judged) && `judged ${seen.judged} but the application was sent ${received}`,
      ].filter(Boolean);
      if (problems.length) mismatches.push(`${variant} ${JSON.stringify(target)}: ${problems.join('; ')}`);
    }
  }
  expect(mismatches).toEqual([]);
  // Honest targets are many among the generated ones: the comparison is not vacuous.
  expect(allowed).toBeGreaterThan(CASES / 4);
}, 600_000);
