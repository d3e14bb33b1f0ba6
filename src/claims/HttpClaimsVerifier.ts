// External authorization: the request's facts are POSTed as JSON to an authorizer, which allows
// (possibly with headers for the upstream) or denies. Two dialects: generic (`{claims, request, …}`
// → 2xx `{"allow": true}`) and the OPA REST API (`{"input": …}` → `{"result": …}`). Fail closed:
// an authorizer that is down, slow, or answers anything but a decision gives a retryable 503.
// Decisions may be cached, keyed by everything they can depend on, never past the token's exp.
import { createHash } from 'node:crypto';
import { OutboundHttpClient } from '../http/OutboundHttpClient';
import { OutboundHttpError } from '../http/OutboundHttpError';
import { ExpiringLruCache } from '../keys/ExpiringLruCache';
import { loggableUrl } from '../observability/loggableUrl';
import type { Clock } from '../util/clock';
import { canonicalHeaderName } from '../util/headerName';
import { JwtproxyError } from '../util/JwtproxyError';
import { HeaderMappingError, headerValue } from './claimsToHeaders';
import { ClaimsVerifierUnavailableError, type ClaimsDecision, type ClaimsVerifier, type PolicyInput } from './ClaimsVerifier';
import { refusalMessage } from './refusalMessage';
import type { HttpClaimsVerifierConfig } from './claimsVerifierTypes';

/** A decision is a small JSON document; anything larger is not one. */
const MAX_DECISION_BYTES = 64 * 1024;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why an answer is not a decision: the authorizer is misbehaving, so the request gets a 503. */
class NotADecision extends JwtproxyError {
  readonly code = 'ERR_AUTHORIZER_ANSWER';
}

export class HttpClaimsVerifier implements ClaimsVerifier {
  readonly upstreamHeaders: readonly string[];
  private readonly allowedHeaders: ReadonlySet<string>;
  private http?: OutboundHttpClient;
  private readonly cache?: ExpiringLruCache<{ decision: ClaimsDecision }>;
  /** Single flight: identical requests in flight share one question (with the cache on). */
  private readonly pending = new Map<string, Promise<ClaimsDecision>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly requestHeaders: Record<string, string>;

  constructor(
    private readonly config: HttpClaimsVerifierConfig,
    private readonly clock: Clock,
  ) {
    this.upstreamHeaders = config.upstreamHeaders;
    this.allowedHeaders = new Set(config.upstreamHeaders);
    if (config.cache) this.cache = new ExpiringLruCache(config.cache.maxEntries);
    this.requestHeaders = { 'content-type': 'application/json', accept: 'application/json' };
    if (config.bearerToken) this.requestHeaders.authorization = `Bearer ${config.bearerToken}`;
  }

  async start(): Promise<void> {
    const { timeoutMs, maxConcurrency } = this.config;
    this.http = new OutboundHttpClient({ timeoutMs, maxBodyBytes: MAX_DECISION_BYTES, connections: maxConcurrency, keepAliveTimeoutMs: 30_000 });
  }

  /** SIGHUP: cached decisions are dropped, so a policy changed in the authorizer applies at once. */
  async reload(): Promise<void> {
    this.cache?.clear();
  }

  async stop(): Promise<void> {
    const { http } = this;
    this.http = undefined;
    this.cache?.clear();
    await http?.close();
  }

  async verify(input: PolicyInput): Promise<ClaimsDecision> {
    const body = this.document(input);
    const { cache } = this;
    if (!cache) return this.ask(body);
    const key = createHash('sha256').update(body).digest('base64');
    const cached = cache.get(key, this.clock());
    if (cached) return cached.decision;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.ask(body)
        .then((decision) => {
          const now = this.clock();
          const exp = input.claims.exp;
          const until = Math.min(now + this.config.cache!.ttlMs, typeof exp === 'number' ? exp * 1000 : Infinity);
          if (until > now) cache.set(key, { decision }, until);
          return decision;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /** The JSON sent: claims, the request's method, path, host and listed headers, and any further input. */
  private document(input: PolicyInput): string {
    const { claims, request: facts, ...further } = input;
    const headers: Record<string, string | string[]> = {};
    for (const name of this.config.requestHeaders) {
      const value = facts.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    const document = { claims, request: { method: facts.method, path: facts.path, host: facts.host, headers }, ...further };
    return JSON.stringify(this.config.dialect === 'opa' ? { input: document } : document);
  }

  private async ask(body: string): Promise<ClaimsDecision> {
    const { url, timeoutMs } = this.config;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await this.acquire(signal);
    } catch {
      throw new ClaimsVerifierUnavailableError(`authorizer ${loggableUrl(url)}: no decision within ${timeoutMs}ms, waiting for a free connection (max_concurrency: ${this.config.maxConcurrency})`);
    }
    try {
      if (!this.http) throw new Error('the verifier is not started');
      const response = await this.http.request(url, { method: 'POST', headers: this.requestHeaders, body, deadline: signal });
      return this.decision(response.status, response.body);
    } catch (error) {
      const authorizer = `authorizer ${loggableUrl(url)}`;
      if (error instanceof NotADecision) throw new ClaimsVerifierUnavailableError(`${authorizer} answered no decision: ${error.message}`);
      if (!(error instanceof OutboundHttpError)) throw new ClaimsVerifierUnavailableError(`${authorizer}: ${(error as Error).message}`);
      if (error.code === 'ERR_OUTBOUND_TOO_LARGE') throw new ClaimsVerifierUnavailableError(`${authorizer} answered no decision: the answer is longer than ${MAX_DECISION_BYTES} bytes`);
      throw new ClaimsVerifierUnavailableError(`${authorizer}: ${error.code === 'ERR_OUTBOUND_TIMEOUT' ? `no decision within ${timeoutMs}ms` : error.reason}`);
    } finally {
      this.release();
    }
  }

  /** A slot among max_concurrency; waits (within the timeout) while all are taken. */
  private acquire(signal: AbortSignal): Promise<void> {
    if (this.active < this.config.maxConcurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const take = () => {
        signal.removeEventListener('abort', giveUp);
        this.active++;
        resolve();
      };
      const giveUp = () => {
        const index = this.waiting.indexOf(take);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(signal.reason as Error);
      };
      this.waiting.push(take);
      signal.addEventListener('abort', giveUp, { once: true });
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  private decision(status: number, text: string): ClaimsDecision {
    const denied = status === 401 || status === 403;
    if (this.config.dialect === 'generic') {
      if (denied) return this.deny(parseObject(text, false)?.message);
      if (status < 200 || status > 299) throw new NotADecision(`status ${status}`);
      const answer = parseObject(text, true)!;
      if (typeof answer.allow !== 'boolean') throw new NotADecision('"allow" is not true or false');
      return answer.allow ? this.allow(answer.headers) : this.deny(answer.message);
    }
    if (status !== 200) throw new NotADecision(`status ${status}`);
    const answer = parseObject(text, true)!;
    // OPA answers {} when the policy has no value for this input: nothing allows the request.
    if (!('result' in answer)) return this.deny(undefined);
    const { result } = answer;
    if (typeof result === 'boolean') return result ? this.allow(undefined) : this.deny(undefined);
    if (!isObject(result)) throw new NotADecision('"result" is neither a boolean nor an object');
    if (result.allow !== undefined && typeof result.allow !== 'boolean') throw new NotADecision('"result.allow" is not true or false');
    return result.allow === true ? this.allow(result.headers) : this.deny(result.message);
  }

  private deny(message: unknown): string {
    return refusalMessage(message) ?? this.config.message;
  }

  /** Headers only among upstream_headers, with the values claims_to_headers accepts. */
  private allow(headers: unknown): ClaimsDecision {
    if (headers === undefined || headers === null) return undefined;
    if (!isObject(headers)) throw new NotADecision('"headers" is not an object');
    const set: [string, string][] = [];
    for (const [name, value] of Object.entries(headers)) {
      const header = canonicalHeaderName(name);
      if (!this.allowedHeaders.has(header)) throw new NotADecision(`it sets the header ${JSON.stringify(name)}, which is not in upstream_headers`);
      if (set.some(([taken]) => taken === header)) throw new NotADecision(`it sets the header ${JSON.stringify(name)} twice (in two spellings)`);
      try {
        const wire = headerValue(header, value);
        if (wire !== undefined) set.push([header, wire]);
      } catch (error) {
        if (error instanceof HeaderMappingError) throw new NotADecision(error.message);
        throw error;
      }
    }
    return set.length ? { headers: set } : undefined;
  }
}

/** The answer as a JSON object; when `required`, anything else is not a decision. */
function parseObject(text: string, required: boolean): JsonObject | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    if (required) throw new NotADecision('the answer is not JSON');
    return undefined;
  }
  if (isObject(value)) return value;
  if (required) throw new NotADecision('the answer is not a JSON object');
  return undefined;
}
