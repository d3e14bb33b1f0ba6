// The real jwtproxy command line with Redis nonce storage against a real redis-server:
// one replay view shared by separate processes, failing closed and recovering when Redis dies.
import { runCli, type RunningCli } from '../support/cli';
import { cliLogLines } from '../support/cliLogLines';
import { CLI_AUDIENCE, cliVerifierYaml } from '../support/cliVerifierYaml';
import { eventually } from '../support/eventually';
import { bearer, httpRequest, type Answer } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { RedisServer } from '../support/redisServer';
import { sendCopies } from '../support/sendCopies';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';

const JTI_REFUSAL = "jwtproxy: unable to verify request: Missing or invalid 'jti' claim";
const UNAVAILABLE = 'jwtproxy: unable to verify request: Nonce storage unavailable';

let redis: RedisServer;
let upstream: TestUpstream;
let upstreamUrl: string;
const running: RunningCli[] = [];
beforeEach(async () => {
  redis = await RedisServer.start();
  upstream = new TestUpstream();
  upstreamUrl = await upstream.listen();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((cli) => stopCli(cli)));
  await upstream.close();
  await redis.kill();
});

/** Starts one `jwtproxy` process (workers: 1) using the test's redis-server; returns it and its URL. */
async function startVerifierProcess(): Promise<[RunningCli, string]> {
  const nonceStorage = `{type: redis, options: {url: "${redis.url}", connect_timeout: 500ms, command_timeout: 500ms}}`;
  const cli = runCli(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: upstreamUrl, nonceStorage, workers: 1 }));
  running.push(cli);
  return [cli, await cli.boundAddress('verifier proxy started')];
}

const token = () => mintToken({ audience: CLI_AUDIENCE });

test('two jwtproxy processes sharing one Redis accept 64 concurrent copies of a token exactly once (5 tokens)', async () => {
  const [[, first], [, second]] = await Promise.all([startVerifierProcess(), startVerifierProcess()]);
  for (let round = 0; round < 5; round++) {
    const answers = await sendCopies([first, second], await token(), 64);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 403 && answer.body === JTI_REFUSAL)).toHaveLength(63);
  }
  expect(upstream.received).toHaveLength(5);
});

test('while Redis is down requests are refused with 503, and accepted again once it is back, without a restart', async () => {
  const [cli, url] = await startVerifierProcess();
  expect((await httpRequest(url, { headers: bearer(await token()) })).status).toBe(200);

  await redis.kill();
  await cli.waitFor('redis nonce store lost its connection');
  const waiting = await token();
  const refused = await httpRequest(url, { headers: bearer(waiting) });
  expect(refused).toMatchObject({ status: 503, body: UNAVAILABLE });

  await redis.start(); // same port
  // The refused token was not recorded anywhere: once Redis is back it is accepted.
  let last: Answer | undefined;
  await eventually(async () => (last = await httpRequest(url, { headers: bearer(waiting) })).status === 200, 'a request is accepted again', 5000, 100);
  expect(last).toMatchObject({ status: 200, body: 'ok' });
  const [reconnected] = await cli.logLines('redis nonce store reconnected: accepting tokens again');
  // The outage is logged when it begins and ends, with what it refused; each refused request only at debug.
  expect(reconnected.refusedTokens).toBeGreaterThanOrEqual(1);
  expect(cliLogLines(cli.output).filter((line) => line.msg === 'request refused')).toEqual([]);
  expect(cli.child.exitCode).toBeNull();
  expect((await httpRequest(url, { headers: bearer(waiting) })).body).toBe(JTI_REFUSAL);
});
