// Every shipped configuration (the reference and the examples) loads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';

const ROOT = path.resolve(__dirname, '../..');
const FILES = ['config.example.yaml', ...fs.readdirSync(path.join(ROOT, 'examples')).filter((file) => file.endsWith('.yaml')).map((file) => `examples/${file}`)];

test.each(FILES)('%s is a valid configuration', (file) => {
  expect(() => loadConfigFile(path.join(ROOT, file))).not.toThrow();
});
