// A local stand-in for a Cloudflare Access team, for the demo: its certs document at
// /cdn-cgi/access/certs (Cloudflare's shape: `keys`, `public_cert`, `public_certs`) and
// tokens in Access's shape — RS256, aud the application's AUD tag, 24 h, no jti.
import { generateKeyPair, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import { promisify } from 'node:util';
import { signToken } from '../jwt/token';
import { keyThumbprint } from '../keys/keyThumbprint';

const SESSION_SECONDS = 24 * 3600;

export interface AccessStandIn {
  /** The team domain's origin, the tokens' iss. */
  teamDomain: string;
  certsUrl: string;
  /** The application's AUD tag: 64 hex characters. */
  audienceTag: string;
  /** A user's token, as Access puts it in Cf-Access-Jwt-Assertion. */
  mintUserToken(email: string, groups: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startAccessStandIn(port: number): Promise<AccessStandIn> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const kid = keyThumbprint(publicKey as KeyObject);
  const certs = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }], public_certs: [] });
  const server = http.createServer((req, res) => {
    if (req.url !== '/cdn-cgi/access/certs') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' }).end(certs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const teamDomain = `http://127.0.0.1:${port}`;
  const audienceTag = randomBytes(32).toString('hex');
  return {
    teamDomain,
    certsUrl: `${teamDomain}/cdn-cgi/access/certs`,
    audienceTag,
    mintUserToken(email, groups) {
      const iat = Math.floor(Date.now() / 1000);
      return signToken('RS256', privateKey as KeyObject, kid, {
        aud: [audienceTag],
        email,
        exp: iat + SESSION_SECONDS,
        iat,
        nbf: iat,
        iss: teamDomain,
        type: 'app',
        identity_nonce: randomBytes(12).toString('base64url'),
        sub: randomUUID(),
        country: 'CH',
        custom: { 'http://schemas/groups': groups },
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
