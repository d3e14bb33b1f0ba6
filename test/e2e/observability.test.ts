// Health and metrics through the real CLI: /healthz, /readyz and Prometheus /metrics,
// in one process and gathered from the workers in multi-core mode.
import { cliTestBed } from '../support/cliTestBed';
import { CLI_AUDIENCE, cliVerifierYaml } from '../support/cliVerifierYaml';
import { eventually } from '../support/eventually';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';

const bed = cliTestBed();

async function start(workers: number): Promise<{ verifier: string; observability: string }> {
  const yaml = cliVerifierYaml({ listen: '127.0.0.1:0', upstream: bed.upstreamUrl, workers }).replace('jwtproxy:\n', 'jwtproxy:\n  observability: {listen_addr: "127.0.0.1:0"}\n');
  const cli = bed.run(yaml);
  const verifier = await cli.boundAddress('verifier proxy started', workers);
  const observability = await cli.boundAddress('health and metrics listening');
  await eventually(async () => (await httpRequest(`${observability}/readyz`)).status === 200, 'ready');
  return { verifier, observability };
}

function counter(metrics: string, labels: string): number {
  const line = metrics.split('\n').find((text) => text.startsWith(`jwtproxy_verifier_requests_total{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

test.each([1, 2])('with %i worker(s): healthz, readyz and request counters by result, refusal code and reason code', async (workers) => {
  const { verifier, observability } = await start(workers);
  expect(await httpRequest(`${observability}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
  const audience = CLI_AUDIENCE.replace(/\/$/, '');
  const used = await mintToken({ audience });
  expect((await httpRequest(verifier, { headers: bearer(used) })).status).toBe(200);
  for (let i = 0; i < 3; i++) expect((await httpRequest(verifier, { headers: bearer(await mintToken({ audience })) })).status).toBe(200);
  expect((await httpRequest(verifier)).status).toBe(403);
  // Each copy on a connection of its own: with two workers, a replay refused wherever it lands.
  for (let i = 0; i < 2; i++) expect((await httpRequest(verifier, { headers: bearer(used) })).status).toBe(403);
  const metrics = await httpRequest(`${observability}/metrics`);
  expect(metrics.status).toBe(200);
  expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
  expect(counter(metrics.body, 'proxy="verifier_proxies[0]",result="forwarded",code="",reason=""')).toBe(4);
  expect(counter(metrics.body, 'proxy="verifier_proxies[0]",result="refused",code="missing_token",reason="missing"')).toBe(1);
  expect(counter(metrics.body, 'proxy="verifier_proxies[0]",result="refused",code="invalid_token",reason="replayed"')).toBe(2);
  expect(metrics.body).toContain('jwtproxy_request_duration_seconds_bucket');
  expect(metrics.body).toContain('jwtproxy_process_cpu_user_seconds_total');
});

test('other paths are 404 and tell what exists', async () => {
  const { observability } = await start(1);
  expect(await httpRequest(`${observability}/`)).toMatchObject({ status: 404, body: 'not found: use /healthz, /readyz or /metrics\n' });
});
