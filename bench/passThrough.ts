// The bench's baseline: a reverse proxy with no checks at all, on the same forwarding
// code and the same number of worker processes as the verifier.
import cluster from 'node:cluster';
import * as http from 'node:http';
import { forwardRequest } from '../src/proxy/forwardRequest';
import { forwardableRequestHeaders } from '../src/proxy/headers';
import { UpstreamSet, upstreamTarget } from '../src/proxy/UpstreamSet';

const [port, upstreamUrl, workers] = process.argv.slice(2);
// Exit normally on SIGTERM, so that `node --cpu-prof` writes its profile (bench/profile.ts).
process.once('SIGTERM', () => process.exit(0));

if (cluster.isPrimary && Number(workers) > 1) {
  for (let i = 0; i < Number(workers); i++) cluster.fork();
} else {
  const upstreams = new UpstreamSet([upstreamUrl], {
    failureTimeoutMs: 1000,
    clock: Date.now,
    insecureSkipVerify: false,
    trustedCertificates: [],
    timeouts: { connectMs: 5_000, responseMs: 60_000, bodyMs: 300_000 },
  });
  http
    .createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      const upstream = upstreams.pick();
      const headers = forwardableRequestHeaders(req.rawHeaders, req.headers.connection);
      forwardRequest(upstream.pool, { origin: upstream.origin, path: upstreamTarget(upstream, req.url!), headers }, req, res).catch(() => res.writeHead(502).end());
    })
    .listen(Number(port), '127.0.0.1');
}
