import { VoidNonceStore } from '../../src/nonce/VoidNonceStore';
import { createLogger } from '../../src/observability/logger';

describe('VoidNonceStore', () => {
  test('accepts every claim, replays included', async () => {
    const store = new VoidNonceStore(createLogger('fatal'));
    expect(await store.claim('a', Date.now() + 60_000)).toBe(true);
    expect(await store.claim('a', Date.now() + 60_000)).toBe(true);
  });

  test('warns at start that replay protection is off', async () => {
    const lines: { level: string; msg: string }[] = [];
    const store = new VoidNonceStore(createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) }));
    await store.start();
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/replay protection is off/) })]);
  });
});
