// Where a key lives at a key registry, written as the Go clients write it.

/** The User-Agent of the Go key registry client; registries may log or filter on it. */
export const REGISTRY_USER_AGENT = 'KeyRegistryClient/0.1.0';

/** Go's url.QueryEscape, which the Go clients apply to path segments: only A–Z a–z 0–9 - _ . ~ stay, "=" becomes %3D. */
function goQueryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** `<registry path>/services/<service>/keys/<kid>`, joined to the registry's own path with one slash. */
export function registryKeyPath(registry: URL, service: string, keyId: string): string {
  const base = registry.pathname.replace(/\/+$/, '');
  return `${base}/services/${goQueryEscape(service)}/keys/${goQueryEscape(keyId)}`;
}
