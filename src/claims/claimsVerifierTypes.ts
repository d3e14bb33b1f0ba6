// The registry of claims verifier types: for each `claims_verifiers[].type`, its options, how
// they are read and how it is built. The config parser and the factory both read it; a
// verifier's module (the Lua VM, the HTTP client) loads only when a config names it.
import { basename } from 'node:path';
import type { ConfigNode } from '../config/ConfigNode';
import { RESERVED_HEADERS } from '../config/reservedHeaders';
import { loggableUrl } from '../observability/loggableUrl';
import { CelExpression, DEFAULT_POLICY_TIMEOUT_MS } from '../policy/CelExpression';
import type { Clock } from '../util/clock';
import { ServiceGroup, type Service } from '../util/ServiceGroup';
import type { ClaimsVerifier } from './ClaimsVerifier';

export type ClaimsVerifierConfig =
  | { type: 'static'; claims: Record<string, unknown> }
  | { type: 'cel'; expression: CelExpression; message: string }
  | LuaClaimsVerifierConfig
  | HttpClaimsVerifierConfig;

export interface LuaClaimsVerifierConfig {
  type: 'lua';
  /** The Lua file, read at start and on SIGHUP. */
  script: string;
  functionName: string;
  timeoutMs: number;
  memoryLimitBytes: number;
  /** The refusal when the function returns false without a message. */
  message: string;
  /** The claims_verifiers entry's YAML path, for errors found when the script loads. */
  path: string;
}

/** External authorization: a decision asked of another service per request (or from the decision cache). */
export interface HttpClaimsVerifierConfig {
  type: 'http';
  url: URL;
  /** 'generic': `{claims, request, …}` → `{"allow": true}`; 'opa': the OPA data API, `{"input": …}` → `{"result": …}`. */
  dialect: 'generic' | 'opa';
  /** For the whole decision: waiting for a free connection, the request and the answer. */
  timeoutMs: number;
  maxConcurrency: number;
  /** Lower-case names of the client request headers sent along (and part of the cache key). */
  requestHeaders: string[];
  /** Lower-case names of the upstream headers a decision may set. */
  upstreamHeaders: string[];
  /** Absent: every request is asked about. Entries never outlive the token's exp. */
  cache?: { ttlMs: number; maxEntries: number };
  /** The refusal when a denying decision gives no message. */
  message: string;
  /** Sent as `Authorization: Bearer …` to the authorizer (OPA's --authentication=token), from `bearer_token` or `bearer_token_file`. */
  bearerToken?: string;
}

type ConfigOf<T extends ClaimsVerifierConfig['type']> = Extract<ClaimsVerifierConfig, { type: T }>;

export interface ClaimsVerifierDeps {
  clock: Clock;
}

interface ClaimsVerifierType<T extends ClaimsVerifierConfig['type']> {
  /** `node` is the claims_verifiers entry; its `options` are the type's own. */
  parse(node: ConfigNode): ConfigOf<T>;
  create(config: ConfigOf<T>, deps: ClaimsVerifierDeps): ClaimsVerifier;
}

const staticType: ClaimsVerifierType<'static'> = {
  parse: (node) => {
    const options = node.raw('options') ?? {};
    if (typeof options !== 'object' || Array.isArray(options)) node.fail('options', 'expected a mapping of claim names to required values');
    return { type: 'static', claims: options as Record<string, unknown> };
  },
  create: (config) => {
    const { StaticClaimsVerifier } = require('./StaticClaimsVerifier') as typeof import('./StaticClaimsVerifier');
    return new StaticClaimsVerifier(config.claims);
  },
};

const cel: ClaimsVerifierType<'cel'> = {
  parse: (node) => {
    const options = node.child('options');
    const source = options.requiredString('expression', 'a CEL expression that is true for requests to let through, e.g. "staff" in claims.groups');
    const timeoutMs = options.duration('timeout', DEFAULT_POLICY_TIMEOUT_MS, { positive: true });
    const expression = CelExpression.compile(source, options.at('expression'), timeoutMs);
    const message = options.string('message', `the rule ${source} does not hold`);
    options.done();
    return { type: 'cel', expression, message };
  },
  create: (config) => {
    const { CelClaimsVerifier } = require('./CelClaimsVerifier') as typeof import('./CelClaimsVerifier');
    return new CelClaimsVerifier(config.expression, config.message);
  },
};

const lua: ClaimsVerifierType<'lua'> = {
  parse: (node) => {
    const options = node.child('options');
    const script = options.requiredString('script', 'the Lua 5.4 file defining the rule, e.g. /etc/jwtproxy/policy.lua');
    const functionName = options.string('function', 'verify');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(functionName)) options.fail('function', `${JSON.stringify(functionName)} is not a Lua name`);
    const timeoutMs = options.duration('timeout', DEFAULT_POLICY_TIMEOUT_MS, { positive: true });
    const memoryLimitBytes = options.byteSize('memory_limit', 16 * 2 ** 20, 2 ** 20);
    const message = options.string('message', `refused by ${functionName} in ${basename(script)}`);
    options.done();
    return { type: 'lua', script, functionName, timeoutMs, memoryLimitBytes, message, path: node.path };
  },
  create: (config) => {
    const { LuaClaimsVerifier } = require('./LuaClaimsVerifier') as typeof import('./LuaClaimsVerifier');
    return new LuaClaimsVerifier(config);
  },
};

const http: ClaimsVerifierType<'http'> = {
  parse: (node) => {
    const options = node.child('options');
    const dialect = options.choice('dialect', ['generic', 'opa'] as const, 'generic');
    const url = options.httpUrl(
      'url',
      dialect === 'opa'
        ? "the OPA data API URL of the policy's decision, e.g. http://127.0.0.1:8181/v1/data/httpapi/authz"
        : 'the authorizer to POST each request to, e.g. http://127.0.0.1:9000/authorize',
    );
    if (dialect === 'opa' && !/^\/v1\/data\/[^/]/.test(url.pathname)) {
      options.fail('url', `${JSON.stringify(loggableUrl(url))} is not an OPA data API URL: write http://host:8181/v1/data/<package path>, e.g. /v1/data/httpapi/authz`);
    }
    const timeoutMs = options.duration('timeout', 1000, { positive: true });
    const maxConcurrency = options.integer('max_concurrency', 64, 1, 10_000);
    const requestHeaders = options.stringList('request_headers').map((name, index) => options.checkHeaderName(`request_headers[${index}]`, name));
    const upstreamHeaders = options.stringList('upstream_headers').map((name, index) => options.checkHeaderName(`upstream_headers[${index}]`, name, RESERVED_HEADERS));
    let cache: { ttlMs: number; maxEntries: number } | undefined;
    if (options.has('cache')) {
      const cacheNode = options.child('cache');
      if (!cacheNode.has('ttl')) cacheNode.fail('ttl', "is required: how long a decision is reused, e.g. 30s (never past the token's exp)");
      cache = { ttlMs: cacheNode.duration('ttl', 0, { positive: true }), maxEntries: cacheNode.integer('max_entries', 10_000, 1, 10_000_000) };
      cacheNode.done();
    } else {
      options.raw('cache');
    }
    const message = options.string('message', 'the authorizer denied the request');
    const bearerToken = options.secret('bearer_token') || undefined;
    options.done();
    return { type: 'http', url, dialect, timeoutMs, maxConcurrency, requestHeaders, upstreamHeaders, cache, message, bearerToken };
  },
  create: (config, deps) => {
    const { HttpClaimsVerifier } = require('./HttpClaimsVerifier') as typeof import('./HttpClaimsVerifier');
    return new HttpClaimsVerifier(config, deps.clock);
  },
};

export const CLAIMS_VERIFIER_TYPES: { [T in ClaimsVerifierConfig['type']]: ClaimsVerifierType<T> } = { static: staticType, cel, lua, http };
export const CLAIMS_VERIFIER_NAMES = Object.keys(CLAIMS_VERIFIER_TYPES) as ClaimsVerifierConfig['type'][];

export function createClaimsVerifier(config: ClaimsVerifierConfig, deps: ClaimsVerifierDeps): ClaimsVerifier {
  return (CLAIMS_VERIFIER_TYPES[config.type] as ClaimsVerifierType<typeof config.type>).create(config as never, deps);
}

/** The verifiers that load, reload or release something, as services to start before the listener and stop after it. */
export function claimsVerifierServices(verifiers: readonly ClaimsVerifier[]): Service[] {
  return verifiers
    .filter((verifier) => verifier.start || verifier.stop || verifier.reload)
    .map((verifier) => ({
      start: async () => verifier.start?.(),
      stop: async () => verifier.stop?.(),
      reload: verifier.reload && (() => verifier.reload!()),
    }));
}

/** Loads each verifier once and releases it: what start refuses (a Lua script that does not load), the config check refuses. */
export async function checkClaimsVerifiers(configs: readonly ClaimsVerifierConfig[]): Promise<void> {
  const group = new ServiceGroup(claimsVerifierServices(configs.map((config) => createClaimsVerifier(config, { clock: Date.now }))));
  await group.start();
  await group.stop();
}
