// Config → the running parts: every enabled verifier proxy, the signer proxy and the
// key registry, each with the components its config names.
import type { Config } from '../config/types';
import { createKeyServer } from '../keys/createKeyServer';
import { createNonceStore } from '../nonce/createNonceStore';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { VerifierProxy } from '../verifier/VerifierProxy';
import type { Service } from './ServiceGroup';

export interface RuntimeDeps {
  clock: Clock;
  logger: Logger;
  /** True in a cluster worker: local nonces go through the primary, which also owns unix socket files. */
  clusterWorker: boolean;
}

export function verifierStoreId(index: number): string {
  return `verifier_proxies[${index}]`;
}

export function buildVerifierProxies(config: Config, deps: RuntimeDeps): VerifierProxy[] {
  const proxies: VerifierProxy[] = [];
  config.verifierProxies.forEach((proxyConfig, index) => {
    if (!proxyConfig.enabled) return;
    const logger = deps.logger.child({ proxy: verifierStoreId(index) });
    proxies.push(
      new VerifierProxy(proxyConfig, {
        keyServer: createKeyServer(proxyConfig.verifier.keyServer, { clock: deps.clock, logger }),
        nonceStore: createNonceStore(proxyConfig.verifier.nonceStorage, { clock: deps.clock, logger, id: verifierStoreId(index), shared: deps.clusterWorker }),
        clock: deps.clock,
        logger,
        removeStaleSocket: !deps.clusterWorker,
      }),
    );
  });
  return proxies;
}

export function buildServices(config: Config, deps: RuntimeDeps): Service[] {
  return [...buildVerifierProxies(config, deps)];
}
