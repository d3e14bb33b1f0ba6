// Key storage in this process's memory: lost on restart, invisible to other processes.
import type { KeyChange, KeyStorage } from './KeyStorage';
import type { RegisteredKey } from './RegisteredKey';

export class MemoryKeyStorage implements KeyStorage {
  private readonly services = new Map<string, Map<string, RegisteredKey>>();

  async get(service: string, kid: string): Promise<RegisteredKey | undefined> {
    return this.services.get(service)?.get(kid);
  }

  async list(service?: string): Promise<RegisteredKey[]> {
    if (service !== undefined) return [...(this.services.get(service)?.values() ?? [])];
    return [...this.services.values()].flatMap((keys) => [...keys.values()]);
  }

  async update(service: string, kid: string, change: KeyChange): Promise<RegisteredKey | undefined> {
    const keys = this.services.get(service);
    const current = keys?.get(kid);
    const next = change(current, keys ? [...keys.values()].filter((key) => key.kid !== kid) : []);
    if (next === undefined) return current;
    if (next === null) {
      keys?.delete(kid);
      if (keys?.size === 0) this.services.delete(service);
      return undefined;
    }
    if (keys) keys.set(kid, next);
    else this.services.set(service, new Map([[kid, next]]));
    return next;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
