// The errors' base class: every error is named after its class and keeps its stable code.
import { KeyServerError, KeyServerUnavailableError } from '../../src/keys/KeyServer';
import { JwsError } from '../../src/jwt/JwsError';
import { JwtproxyError } from '../../src/util/JwtproxyError';

test('an error is named after its own class, subclasses included', () => {
  expect(new JwsError('ERR_JWS_ALG', 'the header has no alg').name).toBe('JwsError');
  expect(new KeyServerUnavailableError('down').name).toBe('KeyServerUnavailableError');
});

test("instanceof holds along the chain, and the code is the class's own", () => {
  const error = new KeyServerUnavailableError('down', { cause: new Error('ECONNREFUSED') });
  expect(error).toBeInstanceOf(KeyServerUnavailableError);
  expect(error).toBeInstanceOf(KeyServerError);
  expect(error).toBeInstanceOf(JwtproxyError);
  expect(error).toBeInstanceOf(Error);
  expect(error).toMatchObject({ code: 'ERR_KEY_SERVER_UNAVAILABLE', message: 'down', cause: { message: 'ECONNREFUSED' } });
  expect(new KeyServerError('bad').code).toBe('ERR_KEY_SERVER');
});
