// SIGHUP re-reads the configuration file and replaces each verifier's policy (claims verifiers:
// CEL, Lua, authorizers; claims_to_headers; excludes; audiences and the other token rules),
// validated first: a file that does not load, or a script that does not compile, changes nothing
// and is reported in one line. What only a restart can change (listeners, upstreams, key servers,
// nonce stores, the signer, the registry) is named in a warning and stays as it was.
import { checkClaimsVerifiers } from '../claims/claimsVerifierTypes';
import { loadConfigFile, type Config } from './loadConfig';
import type { Logger } from '../observability/logger';
import type { PreparedPolicy, VerifierProxy } from '../verifier/VerifierProxy';
import type { VerifierProxyConfig } from '../verifier/verifierConfig';

/** Values compared as JSON: sets and maps as lists, functions left out. */
function comparable(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item instanceof Set) return [...item];
    if (item instanceof Map) return [...item.entries()];
    if (item instanceof RegExp) return item.source;
    return typeof item === 'function' ? undefined : item;
  });
}

/** The settings of a verifier proxy that its policy does not hold. */
function fixedParts(proxy: VerifierProxyConfig): Record<string, unknown> {
  const { verifier, ...listener } = proxy;
  return {
    listener,
    'verifier.upstream': verifier.upstreams,
    'verifier.forward_auth': [verifier.forwardAuth, verifier.forwardAuthOptions],
    'verifier.upstream options': [verifier.upstreamFailureTimeoutMs, verifier.upstreamTimeouts, verifier.upstreamInsecureSkipVerify, verifier.upstreamTrustedCertificates],
    'verifier.key_server': verifier.keyServer,
    'verifier.nonce_storage': verifier.nonceStorage,
    'verifier.identity': verifier.identity,
    'verifier.client_certificates': verifier.clientCertificates,
  };
}

/** YAML paths whose change only a restart applies. */
function settingsNeedingRestart(current: Config, next: Config): string[] {
  const changed: string[] = [];
  const compare = (at: string, before: unknown, after: unknown) => comparable(before) !== comparable(after) && changed.push(at);
  compare('jwtproxy.workers', current.workers, next.workers);
  compare('jwtproxy.signer_proxy', current.signerProxy, next.signerProxy);
  compare('jwtproxy.key_registry', current.keyRegistry, next.keyRegistry);
  compare('jwtproxy.external_evaluation', current.externalEvaluation, next.externalEvaluation);
  compare('jwtproxy.observability', current.observability, next.observability);
  const count = Math.max(current.verifierProxies.length, next.verifierProxies.length);
  for (let index = 0; index < count; index++) {
    const [before, after] = [current.verifierProxies[index], next.verifierProxies[index]];
    const at = `jwtproxy.verifier_proxies[${index}]`;
    if (!before || !after || before.enabled !== after.enabled) {
      changed.push(at);
      continue;
    }
    const [fixedBefore, fixedAfter] = [fixedParts(before), fixedParts(after)];
    for (const part of Object.keys(fixedBefore)) compare(part === 'listener' ? `${at} (listener)` : `${at}.${part}`, fixedBefore[part], fixedAfter[part]);
  }
  return changed;
}

/** The configuration file again, or why it cannot be used: what a reload starts with. */
async function reread(file: string, logger: Logger): Promise<Config | undefined> {
  try {
    const next = loadConfigFile(file);
    // As at start: a Lua script that does not load fails the configuration.
    for (const proxy of next.verifierProxies) if (proxy.enabled) await checkClaimsVerifiers(proxy.verifier.claimsVerifiers);
    return next;
  } catch (error) {
    logger.error({ file, error: (error as Error).message }, 'reload refused: the configuration file is not valid; the running configuration stays in use');
    return undefined;
  }
}

export class PolicyReloader {
  constructor(
    /** The file the configuration came from; none: nothing to re-read. */
    private readonly file: string | undefined,
    private current: Config,
    /** This process's verifier proxies. */
    private readonly proxies: readonly VerifierProxy[],
    private readonly logger: Logger,
  ) {}

  /** Checks the file as a reload would, without applying it (the primary of workers): true when valid. */
  async check(): Promise<boolean> {
    if (this.file === undefined) return true;
    const next = await reread(this.file, this.logger);
    if (!next) return false;
    this.warnAboutRestart(next);
    this.current = next;
    return true;
  }

  /** Re-reads the file and replaces every verifier's policy, all or none; reports in the log. */
  async reload(options: { quiet?: boolean } = {}): Promise<void> {
    if (this.file === undefined) return;
    const next = await reread(this.file, this.logger);
    if (!next) return;
    if (!options.quiet) this.warnAboutRestart(next);
    const prepared: PreparedPolicy[] = [];
    const replaced: string[] = [];
    try {
      for (const proxy of this.proxies) {
        const index = Number(/\[(\d+)\]$/.exec(proxy.name)?.[1]);
        const entry = next.verifierProxies[index];
        if (!entry?.enabled) continue;
        prepared.push(await proxy.preparePolicy(entry.verifier));
        replaced.push(proxy.name);
      }
    } catch (error) {
      await Promise.all(prepared.map((policy) => policy.discard().catch(() => undefined)));
      this.logger.error({ file: this.file, error: (error as Error).message }, 'reload refused: a policy failed to load; the running policies stay in use');
      return;
    }
    for (const policy of prepared) policy.adopt();
    this.current = next;
    if (replaced.length > 0) this.logger.info({ proxies: replaced }, 'reloaded policy');
  }

  private warnAboutRestart(next: Config): void {
    const settings = settingsNeedingRestart(this.current, next);
    if (settings.length > 0) this.logger.warn({ settings }, 'these settings changed in the file but take effect only on restart: the running ones stay in use');
  }
}
