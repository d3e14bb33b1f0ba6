// The outbound HTTP client against real HTTP servers on loopback: its deadline, its streaming
// byte bound, its refusal of redirects, error text without credentials, and connection reuse.
import * as http from 'node:http';
import { OutboundHttpClient, type OutboundHttpClientOptions } from '../../src/http/OutboundHttpClient';
import { OutboundHttpError } from '../../src/http/OutboundHttpError';
import { closedPort } from '../support/closedPort';
import { closeServer, listenOnLoopback } from '../support/loopbackServer';

const BOUND = 4096;

let server: http.Server;
let base: string;
let handle: http.RequestListener;
let connections: number;
let requested: string[];

beforeEach(async () => {
  connections = 0;
  requested = [];
  handle = (_req, res) => void res.end('ok');
  server = http.createServer((req, res) => {
    requested.push(req.url!);
    handle(req, res);
  });
  server.on('connection', () => connections++);
  base = await listenOnLoopback(server);
});
afterEach(() => closeServer(server));

const clients: OutboundHttpClient[] = [];
afterEach(async () => {
  while (clients.length) await clients.pop()!.close();
});

function client(options: Partial<OutboundHttpClientOptions> = {}): OutboundHttpClient {
  const made = new OutboundHttpClient({ timeoutMs: 2000, maxBodyBytes: BOUND, ...options });
  clients.push(made);
  return made;
}

function openConnections(): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

async function failure(pending: Promise<unknown>): Promise<OutboundHttpError> {
  const error = await pending.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OutboundHttpError);
  return error as OutboundHttpError;
}

test('answers with the status, the headers and the whole body', async () => {
  handle = (req, res) => void res.writeHead(201, { 'cache-control': 'max-age=60' }).end(`${req.method} ${req.headers.accept}`);
  const answer = await client().request(new URL(`${base}/keys`), { method: 'PUT', headers: { accept: 'application/json' }, body: '{}' });
  expect(answer).toMatchObject({ status: 201, body: 'PUT application/json' });
  expect(answer.headers['cache-control']).toBe('max-age=60');
});

test('a body of exactly the bound is read whole, in UTF-8 even when a character straddles two chunks', async () => {
  const text = `${'a'.repeat(BOUND - 3)}€`;
  const bytes = Buffer.from(text);
  handle = (_req, res) => {
    res.write(bytes.subarray(0, BOUND - 1));
    setTimeout(() => res.end(bytes.subarray(BOUND - 1)), 20);
  };
  expect((await client().request(new URL(base))).body).toBe(text);
});

test("a user and password in the URL go as Basic credentials, unless the request brings its own Authorization, as Go's client sends them", async () => {
  handle = (req, res) => void res.end(req.headers.authorization ?? 'none');
  const withUser = new URL(base);
  withUser.username = 'jwt proxy';
  withUser.password = 'p@ss';
  expect((await client().request(withUser)).body).toBe(`Basic ${Buffer.from('jwt proxy:p@ss').toString('base64')}`);
  expect((await client().request(withUser, { headers: { Authorization: 'Bearer t' } })).body).toBe('Bearer t');
  expect((await client().request(new URL(base))).body).toBe('none');
  const stray = new URL(base);
  stray.username = 'a%zz';
  expect((await client().request(stray)).body).toBe(`Basic ${Buffer.from('a%zz:').toString('base64')}`);
});

describe('the byte bound', () => {
  test('a body sent slowly past the bound is cut off as soon as the bound is passed, long before the server is done', async () => {
    let finished = false;
    let cutOff = false;
    handle = (_req, res) => {
      // No Content-Length: only counting the bytes as they arrive can tell.
      let sent = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return void clearInterval(timer);
        res.write(Buffer.alloc(1024, 'x'));
        if (++sent < 100) return;
        clearInterval(timer);
        finished = true;
        res.end();
      }, 20);
      res.on('close', () => (cutOff = !finished));
    };
    const startedAt = Date.now();
    const error = await failure(client().request(new URL(`${base}/big`)));
    expect(error).toMatchObject({ code: 'ERR_OUTBOUND_TOO_LARGE', status: 200, reason: `answered more than ${BOUND} bytes` });
    expect(Date.now() - startedAt).toBeLessThan(1000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(finished).toBe(false);
    expect(cutOff).toBe(true);
  });

  test('a Content-Length past the bound is refused before any of the body is read', async () => {
    handle = (_req, res) => void res.writeHead(200, { 'content-length': String(BOUND + 1) }).flushHeaders();
    const error = await failure(client({ timeoutMs: 5000 }).request(new URL(base)));
    expect(error).toMatchObject({ code: 'ERR_OUTBOUND_TOO_LARGE', status: 200 });
  });

  test('applies to an answer of any status', async () => {
    handle = (_req, res) => void res.writeHead(500).end('e'.repeat(BOUND + 1));
    expect(await failure(client().request(new URL(base)))).toMatchObject({ code: 'ERR_OUTBOUND_TOO_LARGE', status: 500 });
  });
});

describe('the deadline', () => {
  test('a server that never answers: ERR_OUTBOUND_TIMEOUT once the timeout has passed', async () => {
    handle = () => undefined;
    const startedAt = Date.now();
    const error = await failure(client({ timeoutMs: 200 }).request(new URL(base)));
    expect(error).toMatchObject({ code: 'ERR_OUTBOUND_TIMEOUT', reason: 'no answer within 200 ms', status: undefined });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
    expect(Date.now() - startedAt).toBeLessThan(1500);
  });

  test('covers the body: a head at once and a body that stalls is a timeout too', async () => {
    handle = (_req, res) => void res.writeHead(200).write('{"keys": [');
    const error = await failure(client({ timeoutMs: 200 }).request(new URL(base)));
    expect(error).toMatchObject({ code: 'ERR_OUTBOUND_TIMEOUT', status: 200 });
  });

  test('a deadline the caller started earlier is the one that counts', async () => {
    handle = () => undefined;
    const deadline = AbortSignal.timeout(100);
    const startedAt = Date.now();
    const error = await failure(client({ timeoutMs: 5000 }).request(new URL(base), { deadline }));
    expect(error.code).toBe('ERR_OUTBOUND_TIMEOUT');
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });

  test("the caller's signal cancels: ERR_OUTBOUND_ABORTED", async () => {
    handle = () => undefined;
    const abort = new AbortController();
    const pending = client().request(new URL(base), { signal: abort.signal });
    setTimeout(() => abort.abort(), 20);
    expect(await failure(pending)).toMatchObject({ code: 'ERR_OUTBOUND_ABORTED', reason: 'cancelled' });
  });
});

test('nothing listening: ERR_OUTBOUND_CONNECTION, naming why', async () => {
  const error = await failure(client().request(new URL(`http://127.0.0.1:${await closedPort()}/`)));
  expect(error.code).toBe('ERR_OUTBOUND_CONNECTION');
  expect(error.reason).toMatch(/ECONNREFUSED/);
});

describe('redirects', () => {
  test('are refused, not followed, and the error says so', async () => {
    handle = (req, res) => void (req.url === '/moved' ? res.writeHead(302, { location: '/elsewhere' }).end() : res.end('followed'));
    const error = await failure(client().request(new URL(`${base}/moved`)));
    expect(error).toMatchObject({ code: 'ERR_OUTBOUND_REDIRECT', status: 302, reason: `answered 302, a redirect to ${base}/elsewhere, which is not followed` });
    expect(requested).toEqual(['/moved']);
  });

  test('a redirect without a Location is refused all the same', async () => {
    handle = (_req, res) => void res.writeHead(308).end();
    expect(await failure(client().request(new URL(base)))).toMatchObject({ code: 'ERR_OUTBOUND_REDIRECT', reason: 'answered 308, a redirect without a usable Location, which is not followed' });
  });

  test('304 is an answer, not a redirect', async () => {
    handle = (_req, res) => void res.writeHead(304).end();
    expect((await client().request(new URL(base))).status).toBe(304);
  });
});

describe('credentials never appear in error text', () => {
  test('neither the user information nor the query of the URL', async () => {
    handle = () => undefined;
    const url = new URL(`${base}/v1/data/authz?token=query-secret`);
    url.username = 'operator';
    url.password = 'userinfo-secret';
    const error = await failure(client({ timeoutMs: 100 }).request(url, { method: 'POST', body: '{}' }));
    expect(error.message).toBe(`POST http://…@${new URL(base).host}/v1/data/authz?…: no answer within 100 ms`);
    expect(`${error.message} ${error.reason} ${error.request}`).not.toMatch(/secret|operator/);
  });

  test('nor those of the place a redirect points to', async () => {
    handle = (_req, res) => void res.writeHead(301, { location: 'https://admin:hunter2@login.example/sso?session=s3cr3t' }).end();
    const error = await failure(client().request(new URL(`${base}/?api_key=k3y`)));
    expect(error.message).toBe(`GET ${base}/?…: answered 301, a redirect to https://…@login.example/sso?…, which is not followed`);
  });
});

describe('connections', () => {
  test('one connection serves request after request', async () => {
    const http = client({ keepAliveTimeoutMs: 10_000 });
    for (let i = 0; i < 5; i++) {
      expect((await http.request(new URL(`${base}/${i}`))).body).toBe('ok');
      // A moment between requests, as between key fetches: the connection is idle again when the next starts.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(requested).toHaveLength(5);
    expect(connections).toBe(1);
  });

  test('at most `connections` at once per origin: further requests wait for one', async () => {
    const held: http.ServerResponse[] = [];
    handle = (_req, res) => void held.push(res);
    const http = client({ connections: 2 });
    const pending = [1, 2, 3].map((i) => http.request(new URL(`${base}/${i}`)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(requested).toHaveLength(2);
    held.splice(0).forEach((res) => res.end('ok'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    held.splice(0).forEach((res) => res.end('ok'));
    expect((await Promise.all(pending)).map((answer) => answer.body)).toEqual(['ok', 'ok', 'ok']);
    expect(connections).toBe(2);
  });

  test('close() ends the kept-alive connections', async () => {
    const http = new OutboundHttpClient({ timeoutMs: 2000, maxBodyBytes: BOUND, keepAliveTimeoutMs: 10_000 });
    await http.request(new URL(base));
    expect(await openConnections()).toBe(1);
    await http.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await openConnections()).toBe(0);
  });
});
