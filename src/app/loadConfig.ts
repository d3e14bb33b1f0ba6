// Reads the jwtproxy YAML into a validated Config; every error names its YAML path.
import * as fs from 'node:fs';
import YAML from 'yaml';
import type { ClaimsVerifierConfig } from '../claims/claimsVerifierTypes';
import { ConfigError } from '../config/ConfigError';
import { ConfigNode } from '../config/ConfigNode';
import { expandHomePaths } from '../config/expandHomePaths';
import { interpolateEnvironment } from '../config/interpolateEnvironment';
import type { Prerequisite } from '../config/Prerequisite';
import { yamlSource } from '../config/yamlSource';
import { type ExternalEvaluationConfig, parseExternalEvaluation } from '../evaluation/externalEvaluationConfig';
import { type ListenerConfig, parseListenAddr } from '../proxy/listenerConfig';
import { type KeyRegistryConfig, parseKeyRegistry } from '../registry/registryConfig';
import { parseSignerProxy, type SignerProxyConfig } from '../signer/signerConfig';
import { parseVerifierProxy, type VerifierProxyConfig } from '../verifier/verifierConfig';

/** Every claims verifier an enabled part runs: each verifier's, and External Evaluation's policy. */
export function claimsVerifiersOf(config: Config): ClaimsVerifierConfig[] {
  const verifiers = config.verifierProxies.flatMap((proxy) => (proxy.enabled ? proxy.verifier.claimsVerifiers : []));
  return config.externalEvaluation?.enabled ? [...verifiers, ...config.externalEvaluation.policy] : verifiers;
}

export interface Config {
  /**
   * Processes serving the proxies; 1 runs everything in this process. `auto` (the default) is
   * one per core the process may use, resolved when the proxies start (see availableCores).
   */
  workers: number | 'auto';
  /**
   * After SIGTERM/SIGINT: how long /readyz answers 503 while every proxy still serves, so that load
   * balancers stop sending requests before the listeners close. 0: close at once.
   */
  drainPeriodMs: number;
  /** Where /healthz, /readyz and /metrics are served; off when absent. */
  observability?: Pick<ListenerConfig, 'listenAddr' | 'socketPermission'>;
  signerProxy: SignerProxyConfig;
  verifierProxies: VerifierProxyConfig[];
  keyRegistry?: KeyRegistryConfig;
  externalEvaluation?: ExternalEvaluationConfig;
  /** What the enabled parts need from the machine. */
  prerequisites: readonly Prerequisite[];
}

const TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp';

export interface ParseOptions {
  /**
   * The file the text comes from: a file must have a `jwtproxy:` section (an empty file or a
   * misspelt top-level key is a mistake, not a request for the defaults).
   */
  file?: string;
  /** Where `${VAR}` references are looked up. */
  env?: NodeJS.ProcessEnv;
}

/** Refuses a file without its jwtproxy section, saying what the file holds instead. */
function requireSection(value: unknown, file: string): void {
  const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
  if (keys.includes('jwtproxy')) return;
  const hint = 'everything jwtproxy reads goes under a top-level jwtproxy: key (see config.example.yaml)';
  if (value === undefined || value === null) throw new ConfigError('', `${file} is empty: ${hint}`);
  if (keys.length === 0) throw new ConfigError('', `${file} holds ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}, not a jwtproxy: section: ${hint}`);
  throw new ConfigError('', `${file} has no jwtproxy: section (its top-level keys: ${keys.join(', ')}): ${hint}`);
}

/** Parses YAML text. YAML 1.1, as the Go program's yaml.v2 reads it (0755 is octal). */
export function parseConfig(text: string, options: ParseOptions = {}): Config {
  let document: YAML.Document;
  let value: unknown;
  try {
    // Timestamps stay strings, as yaml.v2 leaves them when decoding into interface{}.
    document = YAML.parseDocument(text, { version: '1.1', uniqueKeys: true, customTags: (tags) => tags.filter((tag) => typeof tag === 'string' || tag.tag !== TIMESTAMP_TAG) });
    if (document.errors.length > 0) throw document.errors[0];
    document.warnings.forEach((warning) => process.emitWarning(warning));
    value = document.toJS();
  } catch (error) {
    throw new ConfigError('', `the file is not valid YAML: ${(error as Error).message}`);
  }
  if (options.file !== undefined) requireSection(value, options.file);
  // ${VAR} and ~ in our section only: the rest of the file belongs to other programs.
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'jwtproxy' in value) {
    const section = expandHomePaths(interpolateEnvironment((value as Record<string, unknown>).jwtproxy, 'jwtproxy', options.env), 'jwtproxy');
    value = { ...value, jwtproxy: section };
  }
  // The document goes along: some getters need a value's text, not only what YAML read (file modes).
  const root = ConfigNode.of(value, '', yamlSource(document));
  // The file may hold other programs' settings: only the jwtproxy key is ours.
  root.keys().forEach((key) => root.raw(key));
  const top = root.child('jwtproxy');
  const config: Config = {
    workers: parseWorkers(top),
    drainPeriodMs: top.duration('drain_period', 0, { nonNegative: true, timer: true }),
    signerProxy: parseSignerProxy(top.child('signer_proxy')),
    verifierProxies: top.children('verifier_proxies').map(parseVerifierProxy),
    keyRegistry: top.has('key_registry') ? parseKeyRegistry(top.child('key_registry')) : (top.raw('key_registry'), undefined),
    externalEvaluation: top.has('external_evaluation') ? parseExternalEvaluation(top.child('external_evaluation')) : (top.raw('external_evaluation'), undefined),
    observability: parseObservability(top),
    prerequisites: root.prerequisites(),
  };
  top.done();
  return config;
}

function parseObservability(top: ConfigNode): Config['observability'] {
  if (!top.has('observability')) return void top.raw('observability');
  const node = top.child('observability');
  const observability = { listenAddr: parseListenAddr(node, 'listen_addr', '127.0.0.1:9090'), socketPermission: node.fileMode('socket_permission', 0o755) };
  node.done();
  return observability;
}

/** Absent means `auto`: like the Go program, use every core the process may use. */
function parseWorkers(top: ConfigNode): Config['workers'] {
  const value = top.raw('workers');
  if (value === undefined || value === null || value === 'auto') return 'auto';
  if (typeof value === 'string') top.fail('workers', `${JSON.stringify(value)} is neither a number of processes nor auto`);
  return top.integer('workers', 1, 1, 256);
}

/** Expands $VAR and ${VAR} in a path, as Go's os.ExpandEnv does. */
export function expandEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([^}]*)\}|\$([A-Za-z0-9_]+)/g, (_, braced, bare) => env[braced ?? bare] ?? '');
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('', `cannot read the config file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseConfig(text, { file, env });
}
