// Every shipped configuration (the reference and the examples) loads, and the example Lua rule decides.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createClaimsVerifier } from '../../src/claims/claimsVerifierTypes';
import { loadConfigFile } from '../../src/app/loadConfig';

const ROOT = path.resolve(__dirname, '../..');
const FILES = [
  'config.example.yaml',
  ...fs
    .readdirSync(path.join(ROOT, 'examples'))
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => `examples/${file}`),
];

test.each(FILES)('%s is a valid configuration', (file) => {
  expect(() => loadConfigFile(path.join(ROOT, file))).not.toThrow();
});

test('the Lua rule of examples/access-policy.yaml loads and decides as its comments say', async () => {
  const config = loadConfigFile(path.join(ROOT, 'examples/access-policy.yaml'));
  const [lua] = config.verifierProxies[0].verifier.claimsVerifiers;
  const verifier = createClaimsVerifier(lua.type === 'lua' ? { ...lua, script: path.join(ROOT, lua.script) } : lua, { clock: Date.now });
  await verifier.start!();
  const request = { method: 'GET', path: '/', host: 'app.example.com', headers: {} };
  const admin = { email: 'ada@example.com', custom: { 'http://schemas/groups': ['application_admin'] }, device_posture: { firewall: { success: true } } };
  try {
    expect(verifier.verify({ claims: admin, request })).toBeUndefined();
    expect(verifier.verify({ claims: { ...admin, email: 'ada@example.org' }, request })).toBe('example.com accounts only');
    expect(verifier.verify({ claims: { ...admin, device_posture: { firewall: { success: false } } }, request })).toBe('device posture check firewall failed');
    expect(verifier.verify({ claims: admin, request: { ...request, method: 'POST' } })).toBe('changes need a second factor');
    expect(verifier.verify({ claims: { ...admin, amr: ['pwd', 'mfa'] }, request: { ...request, method: 'POST' } })).toBeUndefined();
  } finally {
    await verifier.stop!();
  }
});
