// How each value of a parsed YAML document was written, for the getters that need the text:
// a number YAML 1.1 has read (0755 as 493, 0999 as decimal 999) has lost its spelling.
import { isAlias, isMap, isScalar, isSeq, Scalar, type Document } from 'yaml';
import type { ConfigSource } from './ConfigNode';

const MERGE_KEY = '<<';

function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  return key.value === MERGE_KEY || (typeof key.value === 'symbol' && key.value.description === MERGE_KEY);
}

function resolved(document: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(document) : node;
}

/** The node under `key` of a mapping (its own, else from its `<<` merges) or at an index of a list. */
function find(document: Document, parent: unknown, key: string | number): unknown {
  const node = resolved(document, parent);
  if (isSeq(node)) return typeof key === 'number' ? resolved(document, node.items[key]) : undefined;
  if (!isMap(node)) return undefined;
  const merges: unknown[] = [];
  for (const pair of node.items) {
    if (isMergeKey(pair.key)) merges.push(resolved(document, pair.value));
    else if (isScalar(pair.key) && String(pair.key.value) === String(key)) return resolved(document, pair.value);
  }
  for (const merge of merges) {
    for (const map of isSeq(merge) ? merge.items : [merge]) {
      const found = find(document, map, key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

class YamlSource implements ConfigSource {
  constructor(
    private readonly document: Document,
    private readonly node: unknown,
  ) {}

  at(keyOrIndex: string | number): ConfigSource | undefined {
    const node = find(this.document, this.node, keyOrIndex);
    return node === undefined || node === null ? undefined : new YamlSource(this.document, node);
  }

  get literal(): string | undefined {
    return isScalar(this.node) && this.node.type === Scalar.PLAIN ? this.node.source : undefined;
  }
}

export function yamlSource(document: Document): ConfigSource {
  return new YamlSource(document, document.contents);
}
