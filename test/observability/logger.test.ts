// Lines written by hand to the logger's file descriptor are gathered per event-loop turn: whole
// lines, never more than a pipe takes in one atomic write, none lost or reordered.
import { batchedLines } from '../../src/observability/logger';

test('lines for a file descriptor are written together by the end of the turn, whole, at most 4096 bytes a write', async () => {
  const writes: string[] = [];
  const write = batchedLines({ fd: 1, write: (text: string) => void writes.push(text) });
  const line = `${JSON.stringify({ msg: 'access', path: '/é'.repeat(60) })}\n`;
  const perWrite = Math.floor(4096 / Buffer.byteLength(line));
  for (let i = 0; i < 100; i++) write(line);
  expect(writes.length).toBe(Math.floor(100 / perWrite));
  await new Promise((resolve) => setImmediate(resolve));
  expect(writes.join('')).toBe(line.repeat(100));
  expect(writes).toHaveLength(Math.ceil(100 / perWrite));
  for (const text of writes) {
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    expect(text.endsWith('\n')).toBe(true);
  }
});

test('a quiet turn writes nothing; the next line is written in its own turn', async () => {
  const writes: string[] = [];
  const write = batchedLines({ fd: 1, write: (text: string) => void writes.push(text) });
  await new Promise((resolve) => setImmediate(resolve));
  expect(writes).toEqual([]);
  write('{"msg":"access"}\n');
  await new Promise((resolve) => setImmediate(resolve));
  expect(writes).toEqual(['{"msg":"access"}\n']);
});
