// Claims verifiers at work in a verifier behind a local Cloudflare Access stand-in: the team's
// certs document, an upstream application, Access tokens with the claims a test gives, Lua
// scripts written to a temporary folder, and the verifier's log lines when a test wants them.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createLogger, type Logger } from '../../src/observability/logger';
import type { Clock } from '../../src/util/clock';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { tempDir } from './cli';
import { accessClaims, accessKey, accessToken, audTag, CERTS_PATH, certsDocument, TEAM_DOMAIN } from './cloudflareAccess';
import { httpRequest, type Answer } from './httpRequest';
import { dedent, startVerifierFromYaml } from './providerVerifier';
import { StandInServer } from './standInServer';
import { TestUpstream } from './testUpstream';

export const REFUSED_BY_CLAIMS = 'jwtproxy: unable to verify request: Error verifying claims: ';

export interface PolicyRequest {
  claims?: Record<string, unknown>;
  headers?: Record<string, string>;
  path?: string;
  method?: string;
  /** When the token is issued (default: now). */
  nowMs?: number;
}

export class PolicyTestBed {
  readonly access = new StandInServer();
  readonly app = new TestUpstream();
  readonly audience = audTag();
  private readonly key = accessKey();
  private appUrl = '';
  private directory = '';
  private scripts = 0;

  async open(): Promise<void> {
    await this.access.listen();
    this.access.serve(CERTS_PATH, { body: certsDocument([this.key]) });
    this.appUrl = await this.app.listen();
    this.directory = tempDir();
  }

  async close(): Promise<void> {
    await this.access.close();
    await this.app.close();
    await fs.rm(this.directory, { recursive: true, force: true });
  }

  /** Writes a Lua script (dedented) to a new file and returns its path. */
  async script(source: string, name = `rule-${++this.scripts}.lua`): Promise<string> {
    const file = path.join(this.directory, name);
    await fs.writeFile(file, dedent(source));
    return file;
  }

  /** A verifier behind Access; `claimsVerifiers` is the YAML of its claims_verifiers list items, `extra` more verifier YAML. */
  verifier(claimsVerifiers: string[], options: { clock?: Clock; logger?: Logger; extra?: string; forwardAuth?: boolean } = {}): Promise<VerifierProxy> {
    const yaml = dedent(`
      ${options.forwardAuth ? 'forward_auth: true' : `upstream: ${this.appUrl}`}
      provider:
        type: cloudflare_access
        options:
          team_domain: ${TEAM_DOMAIN}
          audience_tag: ${this.audience}
          certs_url: ${this.access.url}${CERTS_PATH}
      claims_verifiers:
${claimsVerifiers.map((item) => `      - ${item}`).join('\n')}`);
    return startVerifierFromYaml(`${yaml}\n${dedent(options.extra ?? '')}`, options.clock ?? Date.now, options.logger);
  }

  token(claims: Record<string, unknown> = {}, nowMs = Date.now()): string {
    return accessToken(this.key, accessClaims(nowMs, this.audience, claims));
  }

  request(proxy: VerifierProxy, request: PolicyRequest = {}): Promise<Answer> {
    const token = this.token(request.claims, request.nowMs);
    return httpRequest(`${proxy.url}${request.path ?? '/app'}`, { method: request.method, headers: { 'cf-access-jwt-assertion': token, ...request.headers } });
  }
}

/** A logger whose JSON lines land in `lines`. */
export function capturingLogger(lines: Record<string, unknown>[]): Logger {
  return createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
}
