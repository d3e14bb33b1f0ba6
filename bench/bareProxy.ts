// The bench's floor: the barest Node reverse proxy — a node:http server relaying each request
// through undici `Pool.stream`, in `workers` processes, with no checks and none of jwtproxy's code.
// What a verifier does beyond this costs it throughput; what this costs is Node's own HTTP stack.
import cluster from 'node:cluster';
import * as http from 'node:http';
import { Pool } from 'undici';

const [port, upstreamUrl, workers] = process.argv.slice(2);
// Exit normally on SIGTERM, so that `node --cpu-prof` writes its profile (bench/profile.ts).
process.once('SIGTERM', () => process.exit(0));

/** Hop-by-hop headers undici refuses or a proxy must not forward. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

if (cluster.isPrimary && Number(workers) > 1) {
  for (let i = 0; i < Number(workers); i++) cluster.fork();
} else {
  const upstream = new URL(upstreamUrl);
  const pool = new Pool(upstream.origin, { keepAliveTimeout: 30_000, pipelining: 1 });
  http
    .createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      const headers = req.headers;
      for (const name of HOP_BY_HOP) delete headers[name];
      const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
      pool
        .stream({ path: req.url!, method: req.method as 'GET', headers, body }, ({ statusCode, headers: answer }) => {
          for (const name of HOP_BY_HOP) delete answer[name];
          res.writeHead(statusCode, answer as http.OutgoingHttpHeaders);
          return res;
        })
        .catch(() => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    })
    .listen(Number(port), '127.0.0.1');
}
