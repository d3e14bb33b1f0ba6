// The one router of cluster messages: each message reaches the handlers of its topic, with its sender.
import { Writable } from 'node:stream';
import { MessageRouter } from '../../src/cluster/MessageRouter';
import { createLogger } from '../../src/observability/logger';

function loggedLines(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger('info', destination) };
}

test('a message reaches the handlers of its topic only, with the peer it came from', () => {
  const router = new MessageRouter<string>(loggedLines().logger);
  const heard: string[] = [];
  router.on('reload', (_message, from) => heard.push(`reload from ${from}`));
  router.on('metrics-request', (message, from) => heard.push(`metrics ${message.id} from ${from}`));
  router.deliver({ jwtproxy: 'metrics-request', id: 7 }, 'worker 2');
  router.deliver({ jwtproxy: 'reload' }, 'worker 1');
  expect(heard).toEqual(['metrics 7 from worker 2', 'reload from worker 1']);
});

test('a handler that stopped hears nothing more; the others still do', () => {
  const router = new MessageRouter<void>(loggedLines().logger);
  const heard: string[] = [];
  const stop = router.on('stop', () => heard.push('first'));
  router.on('stop', () => heard.push('second'));
  stop();
  router.deliver({ jwtproxy: 'stop' }, undefined);
  expect(heard).toEqual(['second']);
});

test('untagged traffic on the channel is not ours: it passes by silently', () => {
  const { lines, logger } = loggedLines();
  const router = new MessageRouter<void>(logger);
  router.on('ready', () => {
    throw new Error('not for us');
  });
  router.deliver({ test: 'ready' }, undefined);
  router.deliver('ready', undefined);
  expect(lines).toEqual([]);
});

test('a malformed message of ours is logged and reaches no handler', () => {
  const { lines, logger } = loggedLines();
  const router = new MessageRouter<void>(logger);
  const heard: unknown[] = [];
  router.on('nonce-claim', (message) => heard.push(message));
  router.deliver({ jwtproxy: 'nonce-claim', store: 'verifier_proxies[0]', batch: 1, jtis: ['a', 'b'], expiresAtMs: [1] }, undefined);
  router.deliver({ jwtproxy: 'no-such-topic' }, undefined);
  expect(heard).toEqual([]);
  expect(lines.map((line) => line.msg)).toEqual(['ignored a malformed cluster message', 'ignored a malformed cluster message']);
});
