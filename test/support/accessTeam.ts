// A local stand-in for a Cloudflare Access team on one loopback origin (port 0): its certs
// document at /cdn-cgi/access/certs and its get-identity endpoint, which answers the
// identity of the token in the CF_Authorization cookie as Cloudflare does. The test chooses
// what get-identity does — answer, fail with a status, answer garbage, hang, or be down —
// can hold its answers (to see concurrent requests share one fetch), and reads every
// get-identity request it received.
import type { IncomingHttpHeaders } from 'node:http';
import * as http from 'node:http';
import { cookieValue } from '../../src/verifier/tokenSources';
import { accessIdentity, CERTS_PATH, GET_IDENTITY_PATH } from './cloudflareAccess';
import { closeServer, listenOnLoopback, loopbackUrl } from './loopbackServer';

export type IdentityBehaviour = { answer: 'identity' } | { answer: 'status'; status: number } | { answer: 'not json' } | { answer: 'hang' } | { answer: 'down' };

export class AccessTeamStandIn {
  /** The headers of every get-identity request, in order. */
  readonly identityRequests: IncomingHttpHeaders[] = [];
  certs: unknown = { keys: [] };
  behaviour: IdentityBehaviour = { answer: 'identity' };
  /** The identity answered for a token (the cookie's, else the bearer token); accessIdentity() by default. */
  identityOf: (token: string) => Record<string, unknown> = () => accessIdentity();
  private held?: { released: Promise<void>; release: () => void };
  private readonly server: http.Server;

  constructor() {
    this.server = http.createServer((req, res) => {
      const path = req.url!.split('?')[0];
      if (path === CERTS_PATH) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.certs));
      if (path !== GET_IDENTITY_PATH) return void res.writeHead(404).end();
      this.identityRequests.push(req.headers);
      void (this.held?.released ?? Promise.resolve()).then(() => this.answerIdentity(req, res));
    });
  }

  /** get-identity answers nothing until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.held = { released, release };
    return () => {
      this.held = undefined;
      release();
    };
  }

  private answerIdentity(req: http.IncomingMessage, res: http.ServerResponse): void {
    const token = cookieValue(req.headers.cookie, 'CF_Authorization') ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    switch (this.behaviour.answer) {
      case 'down':
        return void req.socket.destroy();
      case 'hang':
        return;
      case 'status':
        return void res.writeHead(this.behaviour.status, { 'content-type': 'application/json' }).end(JSON.stringify({ err: 'identity unavailable' }));
      case 'not json':
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Sign in</html>');
      case 'identity':
        if (!token) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ err: 'no token' }));
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.identityOf(token)));
    }
  }

  listen(): Promise<string> {
    return listenOnLoopback(this.server);
  }

  /** The team's origin, http://127.0.0.1:<port>: its team domain and the tokens' iss. */
  get url(): string {
    return loopbackUrl(this.server);
  }

  close(): Promise<void> {
    this.held?.release();
    return closeServer(this.server);
  }
}
