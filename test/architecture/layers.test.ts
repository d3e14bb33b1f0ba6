// The layers of src/, highest first; imports run downwards only, or within a layer (never in a cycle):
//
//     cmd, cli, demo                          entry points
//     app                                     the whole config, and what runs where: alone, the primary, each worker
//     signer, verifier, registry, evaluation, the roles; providers are the verifier's presets, the observability
//     providers, observability server         server answers /healthz, /readyz and /metrics
//     claims                                  claims verifiers and claims-to-headers, one registration table
//     keys, nonce, proxy                      key sources and servers, replay stores, listeners and forwarding
//     redis, policy                           Redis connections; CEL and Lua
//     cluster, http                           processes: topology, placement, the primary-worker channel; outbound HTTP
//     observability                           logging, metrics, the access log
//     config, verdicts                        the YAML reader; the table of refusals
//     jwt, x509                               pure formats
//     util                                    clock, service group, header names, the error base class
//
// Each part reads its own config section with the reader below it, and a registration table
// (key servers, private keys, nonce stores, claims verifiers, key storage) loads an
// implementation only when a config names it, with a lazy `require`: reading a config loads no
// Redis, HTTP or Lua client, so the command-line tools start without them.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Lowest first. A unit is a folder of src/ (or one file, which then leaves its folder's layer). */
const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['jwt', 'x509'],
  ['config', 'verdicts'],
  ['observability'],
  ['cluster', 'http'],
  ['redis', 'policy'],
  ['keys', 'nonce', 'proxy'],
  ['claims'],
  ['signer', 'verifier', 'registry', 'evaluation', 'providers', 'observability/ObservabilityServer.ts'],
  ['app'],
  ['cli', 'demo', '../cmd'],
];

const ROOT = path.resolve(__dirname, '../..');
const SOURCES = path.join(ROOT, 'src');

interface Edge {
  from: string;
  to: string;
  /** A `require` or `import()` run when called: it cannot close a cycle at load time. */
  lazy: boolean;
  /** `import type`: checked for layers and cycles, but it loads nothing. */
  typeOnly: boolean;
}

/** What must not load to read a config: servers and clients load when a config's parts are built. */
const LOADED_WHEN_SERVING = ['ioredis', 'undici', 'wasmoon'];
const READING_A_CONFIG = ['app/loadConfig.ts'];

function sourceFiles(folder: string): string[] {
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

// Relative specifiers of modules (package.json, read for the version, is data).
const STATIC_IMPORT = /^\s*(?:import|export)\b(\s+type\b)?[^;]*?\bfrom\s*'(\.[^']+)'|^\s*import\s*'(\.[^']+)'/gm;
/** Packages imported for their values (a type-only import loads nothing). */
const PACKAGE_IMPORT = /^\s*import\s+(?!type\b)[^;]*?\bfrom\s*'([^.'][^']*)'/gm;
const LAZY_IMPORT = /\b(?:require|import)\(\s*'(\.[^']+?)(?<!\.json)'\s*\)/g;

/** The file a relative specifier names, as a path relative to src/ (cmd/ is `../cmd/…`). */
function resolve(from: string, specifier: string): string {
  const target = path.resolve(path.dirname(from), specifier);
  const file = [`${target}.ts`, path.join(target, 'index.ts')].find((candidate) => fs.existsSync(candidate));
  if (!file) throw new Error(`${path.relative(SOURCES, from)} imports ${specifier}, which is no source file`);
  return path.relative(SOURCES, file);
}

/** The packages each file loads when it loads, by file. */
function packageImports(): Map<string, string[]> {
  return new Map(sourceFiles(SOURCES).map((file) => [path.relative(SOURCES, file), [...fs.readFileSync(file, 'utf8').matchAll(PACKAGE_IMPORT)].map((match) => match[1])]));
}

/** Every file loaded with `entries`, through the imports run at load time. */
function loadedWith(entries: readonly string[], edges: readonly Edge[]): Set<string> {
  const loaded = new Set(entries);
  for (const file of loaded) for (const edge of edges) if (edge.from === file && !edge.lazy && !edge.typeOnly) loaded.add(edge.to);
  return loaded;
}

function importGraph(): Edge[] {
  const files = [...sourceFiles(SOURCES), ...sourceFiles(path.join(ROOT, 'cmd'))];
  return files.flatMap((file) => {
    const text = fs.readFileSync(file, 'utf8');
    const from = path.relative(SOURCES, file);
    const edges: Edge[] = [];
    for (const match of text.matchAll(STATIC_IMPORT)) edges.push({ from, to: resolve(file, match[2] ?? match[3]), lazy: false, typeOnly: match[1] !== undefined });
    for (const match of text.matchAll(LAZY_IMPORT)) edges.push({ from, to: resolve(file, match[1]), lazy: true, typeOnly: false });
    return edges;
  });
}

/** The layer of a file: the one of its longest unit. */
function layerOf(file: string): number {
  let best: { layer: number; length: number } | undefined;
  LAYERS.forEach((units, layer) => {
    for (const unit of units) {
      const matches = unit.endsWith('.ts') ? file === unit : file.startsWith(`${unit}/`);
      if (matches && (!best || unit.length > best.length)) best = { layer, length: unit.length };
    }
  });
  if (!best) throw new Error(`${file} is in no layer: add its folder to LAYERS`);
  return best.layer;
}

/** Every import cycle among load-time imports, each as the files around it. */
function cycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const edge of edges) if (!edge.lazy) next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const trail: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    trail.push(file);
    for (const target of next.get(file) ?? []) {
      if (state.get(target) === 'open') found.push([...trail.slice(trail.indexOf(target)), target]);
      else if (!state.has(target)) visit(target);
    }
    trail.pop();
    state.set(file, 'done');
  };
  for (const file of [...next.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

describe('the layers of src/', () => {
  const edges = importGraph();

  it('has no import cycle', () => {
    expect(cycles(edges).map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('imports from its own layer or lower ones only', () => {
    const upward = edges.filter((edge) => layerOf(edge.to) > layerOf(edge.from)).map((edge) => `${edge.from} → ${edge.to}`);
    expect(upward).toEqual([]);
  });

  it('reads a config without loading Redis, HTTP or Lua clients', () => {
    const packages = packageImports();
    const loads = [...loadedWith(READING_A_CONFIG, edges)].flatMap((file) => (packages.get(file) ?? []).filter((name) => LOADED_WHEN_SERVING.includes(name)).map((name) => `${file} loads ${name}`));
    expect(loads).toEqual([]);
  });

  it('places every file in a layer', () => {
    for (const edge of edges) expect(() => [layerOf(edge.from), layerOf(edge.to)]).not.toThrow();
  });
});
