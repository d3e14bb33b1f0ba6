import { formatByteSize, parseByteSize } from '../../src/config/byteSize';

describe('sizes in bytes', () => {
  test.each([
    ['16MiB', 16 * 2 ** 20],
    ['512KiB', 512 * 1024],
    ['1GiB', 2 ** 30],
    ['64MB', 64e6],
    ['1000kB', 1e6],
    ['1.5MiB', 1.5 * 2 ** 20],
    ['2048', 2048],
    ['100 b', 100],
    [4096, 4096],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  test.each(['lots', '16 MiBs', '-1MiB', '1e3', '', 1.5, -1, true])('%p is not a size', (value) => {
    expect(parseByteSize(value)).toBeUndefined();
  });

  test.each([
    [16 * 2 ** 20, '16MiB'],
    [2 ** 30, '1GiB'],
    [512 * 1024, '512KiB'],
    [1000, '1000 bytes'],
  ])('%d bytes are written %s', (bytes, text) => {
    expect(formatByteSize(bytes)).toBe(text);
  });
});
