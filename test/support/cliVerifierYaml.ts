// A whole jwtproxy config file with one verifier proxy (preshared interop key), for CLI tests.
import { interopFile } from './interop';

/** The audience the verifier expects: mint tokens for it with mintToken({ audience: CLI_AUDIENCE }). */
export const CLI_AUDIENCE = 'http://verifier.test/';

export interface CliVerifierOptions {
  /** `host:port` or `unix:/path`. */
  listen: string;
  upstream: string;
  /** A YAML flow mapping, e.g. `{type: redis, options: {url: redis://…}}`; local storage when unset. */
  nonceStorage?: string;
  workers?: number;
  /** Short by default, so that tests stop quickly. */
  shutdownTimeout?: string;
  publicKeyPath?: string;
}

export function cliVerifierYaml(options: CliVerifierOptions): string {
  const lines = ['jwtproxy:'];
  if (options.workers !== undefined) lines.push(`  workers: ${options.workers}`);
  lines.push(
    '  signer_proxy: {enabled: false}',
    '  verifier_proxies:',
    `  - listen_addr: ${options.listen}`,
    `    shutdown_timeout: ${options.shutdownTimeout ?? '1s'}`,
    '    verifier:',
    `      upstream: ${options.upstream}`,
    `      audience: ${CLI_AUDIENCE}`,
    `      key_server: {type: preshared, options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${options.publicKeyPath ?? interopFile('mykey.pub')}}}`,
  );
  if (options.nonceStorage) lines.push(`      nonce_storage: ${options.nonceStorage}`);
  return `${lines.join('\n')}\n`;
}
