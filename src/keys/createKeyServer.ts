// The registry of key server types: one constructor per `type` of the key_server config.
import type { KeyServerConfig } from '../config/types';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { JwksKeyServer } from './JwksKeyServer';
import { KeyRegistryKeyServer } from './KeyRegistryKeyServer';
import type { KeyServer } from './KeyServer';
import { PresharedKeyServer } from './PresharedKeyServer';

export interface KeyServerDeps {
  clock: Clock;
  logger: Logger;
}

export function createKeyServer(config: KeyServerConfig, deps: KeyServerDeps): KeyServer {
  switch (config.type) {
    case 'preshared':
      return new PresharedKeyServer(config);
    case 'keyregistry':
      return new KeyRegistryKeyServer(config, { clock: deps.clock, logger: deps.logger.child({ component: 'keyregistry' }) });
    case 'jwks':
      return new JwksKeyServer(config, { clock: deps.clock, logger: deps.logger.child({ component: 'jwks' }) });
  }
}
