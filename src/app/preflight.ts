// The start-up checks that need no network, run by -check and before anything starts: every file
// the enabled parts read is there, readable and what it should be (keys, certificates, CA bundles,
// scripts), folders can be written, unix sockets have a folder, and no two listeners share an
// address. Each problem is a ConfigError at the YAML path that names the file or address.
import { X509Certificate } from 'node:crypto';
import { constants as fsConstants, promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { ConfigError } from '../config/ConfigError';
import { listenTarget } from '../proxy/listenerConfig';
import { loadPrivateKeyPem } from '../keys/PresharedPrivateKey';
import { PresharedKeyServer } from '../keys/PresharedKeyServer';
import type { Config } from './loadConfig';
import type { FileContent, Prerequisite } from '../config/Prerequisite';

type FilePrerequisite = Extract<Prerequisite, { kind: 'file' }>;
type ListenPrerequisite = Extract<Prerequisite, { kind: 'listen' }>;

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const WILDCARD_HOSTS = new Set([undefined, '0.0.0.0', '::']);

/** Why `code` stopped a file operation, for operators. */
function explain(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  const reasons: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOTDIR: 'a part of the path is not a directory', ELOOP: 'too many symbolic links' };
  return code ? `${code}${reasons[code] ? ` (${reasons[code]})` : ''}` : message;
}

async function stat(file: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The file's text, or the problem that keeps it from being read. */
async function readText(file: string): Promise<string | { problem: string }> {
  try {
    const stats = await fs.stat(file);
    if (stats.isDirectory()) return { problem: `${file} is a directory; give the path of a file` };
    if (!stats.isFile()) return { problem: `${file} is not a regular file` };
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    return { problem: `cannot read ${file}: ${explain(error)}` };
  }
}

/** What is wrong with `text` as the content `holds`, read with the code start-up reads it with. */
async function contentProblem(holds: FileContent, file: string, text: string): Promise<string | undefined> {
  try {
    switch (holds) {
      case 'public_key':
        await new PresharedKeyServer({ type: 'preshared', issuer: '', keyId: '', publicKeyPath: file }).start();
        return undefined;
      case 'private_key':
        await loadPrivateKeyPem(file, '');
        return undefined;
      case 'certificate':
      case 'mitm_ca_certificate':
      case 'trusted_certificates':
        return certificatesProblem(file, text);
      case 'any':
        return undefined;
    }
  } catch (error) {
    return (error as Error).message;
  }
}

function certificatesProblem(file: string, text: string): string | undefined {
  const blocks = text.match(CERTIFICATE_PEM) ?? [];
  if (blocks.length === 0) return `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `certificate ${index + 1} of ${file} cannot be read: ${(error as Error).message}`;
    }
  }
  return undefined;
}

/** A certificate against its private key, checked as the listener or the MITM CA will check them. */
async function pairProblem(certificate: FilePrerequisite, key: { path: string }, certificateText: string): Promise<string | undefined> {
  try {
    if (certificate.holds === 'mitm_ca_certificate') {
      const { CertificateAuthority } = await import('../proxy/mitm/CertificateAuthority');
      await CertificateAuthority.load({ keyFile: key.path, certFile: certificate.path });
    } else {
      tls.createSecureContext({ key: await fs.readFile(key.path), cert: certificateText });
    }
    return undefined;
  } catch (error) {
    const message = (error as Error).message;
    return /key values mismatch/.test(message) ? `${certificate.path} is not the certificate of the private key ${key.path}` : message;
  }
}

async function checkFile(need: FilePrerequisite, failed: ReadonlySet<string>): Promise<string | undefined> {
  const text = await readText(need.path);
  if (typeof text !== 'string') return text.problem;
  const problem = await contentProblem(need.holds, need.path, text);
  if (problem || !need.key || failed.has(need.key.at)) return problem;
  return pairProblem(need, need.key, text);
}

/** The folder, or the deepest part of it that exists, must be a folder this process may write in. */
async function checkFolder(folder: string): Promise<string | undefined> {
  let existing = path.resolve(folder);
  let stats = await stat(existing).catch(() => undefined);
  while (!stats && path.dirname(existing) !== existing) {
    existing = path.dirname(existing);
    stats = await stat(existing).catch(() => undefined);
  }
  if (!stats?.isDirectory()) return `${existing} is not a directory, so ${folder} cannot be made there`;
  try {
    await fs.access(existing, fsConstants.W_OK | fsConstants.X_OK);
  } catch (error) {
    return `cannot write in ${existing}${existing === path.resolve(folder) ? '' : ` to make ${folder}`}: ${explain(error)}`;
  }
  return undefined;
}

async function checkWrittenFile(file: string): Promise<string | undefined> {
  const folder = path.dirname(path.resolve(file));
  const folderStats = await stat(folder).catch(() => undefined);
  if (!folderStats?.isDirectory()) return `the directory ${folder} does not exist; create it, or choose another path`;
  try {
    await fs.access(folder, fsConstants.W_OK | fsConstants.X_OK);
  } catch (error) {
    return `cannot write in ${folder}: ${explain(error)}`;
  }
  const stats = await stat(file).catch(() => undefined);
  if (stats && !stats.isFile()) return `${file} exists and is not a regular file`;
  return undefined;
}

async function checkSocketPath(socket: string): Promise<string | undefined> {
  const folder = path.dirname(path.resolve(socket));
  const folderStats = await stat(folder).catch(() => undefined);
  if (!folderStats?.isDirectory()) return `the directory ${folder} of the unix socket does not exist; create it, or choose another path`;
  const stats = await stat(socket).catch(() => undefined);
  if (stats && !stats.isSocket()) return `${socket} exists and is not a unix socket; remove it or choose another path`;
  return undefined;
}

/** Two TCP listeners collide on one port when their hosts are equal or either is a wildcard (Linux binds ":port" on every address). */
function collide(a: ListenPrerequisite, b: ListenPrerequisite): boolean {
  const first = listenTarget(a.addr);
  const second = listenTarget(b.addr);
  if ('path' in first || 'path' in second) return 'path' in first && 'path' in second && path.resolve(first.path) === path.resolve(second.path);
  if (first.port === 0 || first.port !== second.port) return false;
  return first.host?.toLowerCase() === second.host?.toLowerCase() || WILDCARD_HOSTS.has(first.host) || WILDCARD_HOSTS.has(second.host);
}

function sharedAddresses(listeners: ListenPrerequisite[]): ConfigError[] {
  const problems: ConfigError[] = [];
  listeners.forEach((listener, index) => {
    const earlier = listeners.slice(0, index).find((other) => collide(other, listener));
    if (earlier) problems.push(new ConfigError(listener.at, `${JSON.stringify(listener.addr)} is taken by ${earlier.at} (${JSON.stringify(earlier.addr)}); give each listener its own address`));
  });
  return problems;
}

/** Every problem found, in the order the config names them; empty when the config can start as far as can be told offline. */
export async function preflight(config: Pick<Config, 'prerequisites'>): Promise<ConfigError[]> {
  const problems: ConfigError[] = [];
  const failed = new Set<string>();
  const report = (at: string, problem: string | undefined) => {
    if (problem === undefined) return;
    failed.add(at);
    problems.push(new ConfigError(at, problem));
  };
  // Private keys first: a certificate is checked against its key only when the key itself is fine.
  const needs = [...config.prerequisites].sort((a, b) => Number(a.kind === 'file' && a.key !== undefined) - Number(b.kind === 'file' && b.key !== undefined));
  for (const need of needs) {
    if (need.kind === 'file') report(need.at, await checkFile(need, failed));
    else if (need.kind === 'folder') report(need.at, await checkFolder(need.path));
    else if (need.kind === 'written_file') report(need.at, await checkWrittenFile(need.path));
    else if (need.addr.startsWith('unix:')) report(need.at, await checkSocketPath(need.addr.slice('unix:'.length)));
  }
  problems.push(...sharedAddresses(config.prerequisites.filter((need): need is ListenPrerequisite => need.kind === 'listen')));
  const order = config.prerequisites.map((need) => need.at);
  return problems.sort((a, b) => order.indexOf(a.path) - order.indexOf(b.path));
}

/**
 * A start-up failure that names a file or address the config gave (a port in use, a file that
 * changed since the checks) as the YAML path that gave it; other errors as they are.
 */
export function locateStartError(error: Error, config: Pick<Config, 'prerequisites'>): string {
  const { port, address, syscall, path: errorPath, file } = error as NodeJS.ErrnoException & { port?: number; address?: string; file?: string };
  const named = [errorPath, file].filter((value): value is string => typeof value === 'string').map((value) => path.resolve(value));
  const need = config.prerequisites.find((candidate) => {
    if (candidate.kind !== 'listen') return named.includes(path.resolve(candidate.path));
    // Only a failure to listen names a listener (a cluster worker's says bind): a refused connection to a port says nothing about ours.
    if (syscall !== 'listen' && syscall !== 'bind') return false;
    const target = listenTarget(candidate.addr);
    return 'path' in target ? typeof address === 'string' && path.resolve(address) === path.resolve(target.path) : target.port === port;
  });
  return need ? `${need.at}: ${error.message}` : error.message;
}
