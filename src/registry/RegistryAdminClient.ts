// The admin API seen from the command line: what `jwtproxy registry …` uses when the keys live
// in a running registry's memory.
import * as http from 'node:http';
import { listenTarget } from '../proxy/listenerConfig';
import { parseRegisteredKey, type KeyState, type RegisteredKey } from './RegisteredKey';
import { isRegistryErrorCode, RegistryError } from './RegistryError';
import type { KeyRegistryConfig } from './registryConfig';

const REQUEST_TIMEOUT_MS = 10_000;

export class RegistryAdminClient {
  constructor(private readonly admin: KeyRegistryConfig['admin']) {}

  async list(filter: { service?: string; state?: KeyState } = {}): Promise<RegisteredKey[]> {
    const query = new URLSearchParams();
    if (filter.service !== undefined) query.set('service', filter.service);
    if (filter.state !== undefined) query.set('state', filter.state);
    const body = (await this.request('GET', `/keys${query.size > 0 ? `?${query}` : ''}`)) as { keys?: unknown };
    if (!Array.isArray(body?.keys)) throw new Error('the admin API answered without a "keys" list');
    return body.keys.map(parseRegisteredKey);
  }

  async approve(service: string, kid: string): Promise<RegisteredKey> {
    return parseRegisteredKey(await this.request('POST', `${keyPath(service, kid)}/approve`));
  }

  async revoke(service: string, kid: string): Promise<RegisteredKey> {
    return parseRegisteredKey(await this.request('POST', `${keyPath(service, kid)}/revoke`));
  }

  private request(method: string, path: string): Promise<unknown> {
    const target = listenTarget(this.admin.listenAddr);
    const where =
      'path' in target
        ? { socketPath: target.path }
        : // A wildcard listener is reached on loopback.
          { host: !target.host || target.host === '0.0.0.0' ? '127.0.0.1' : target.host === '::' ? '::1' : target.host, port: target.port };
    const headers: Record<string, string> = this.admin.token ? { Authorization: `Bearer ${this.admin.token}` } : {};
    const timeout = new Error(`the admin API at ${this.admin.listenAddr} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`);
    return new Promise((resolve, reject) => {
      const req = http.request({ ...where, method, path, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(new Error(`the admin API at ${this.admin.listenAddr} answered ${res.statusCode} without JSON`));
          }
          if (res.statusCode === 200) return resolve(body);
          const { error, code } = (body ?? {}) as { error?: unknown; code?: unknown };
          const message = typeof error === 'string' ? error : `the admin API answered ${res.statusCode}`;
          reject(isRegistryErrorCode(code) ? new RegistryError(code, message) : new Error(message));
        });
      });
      req.on('timeout', () => req.destroy(timeout));
      req.on('error', (error) =>
        reject(error === timeout ? error : new Error(`cannot reach the key registry admin API at ${this.admin.listenAddr} (is the registry running?): ${error.message}`, { cause: error })),
      );
      req.end();
    });
  }
}

function keyPath(service: string, kid: string): string {
  return `/services/${encodeURIComponent(service)}/keys/${encodeURIComponent(kid)}`;
}
