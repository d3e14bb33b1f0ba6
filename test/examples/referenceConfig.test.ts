// config.example.yaml is the reference: every option the tables of docs/ document is in it, and
// every commented option in it is valid when uncommented (alone, in place of the active value
// it is an alternative to).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/app/loadConfig';
import { referenceText, ROOT } from '../support/documentation';

const REFERENCE = fs.readFileSync(path.join(ROOT, 'config.example.yaml'), 'utf8');
const LINES = REFERENCE.split('\n');

/** An option in a comment: `# key: …` or `# - key: …`, as opposed to prose. */
const COMMENTED_OPTION = /^(\s*)# ((?:- )?([a-z_]+):(?:\s|$).*)$/;

function indentOf(text: string): number {
  return /^\s*/.exec(text)![0].length;
}

/** A line as it is when uncommented once: "  #   x: 1" is "    x: 1". */
function uncommented(line: string): string | undefined {
  const match = /^(\s*)# ?(.*)$/.exec(line);
  return match ? match[1] + match[2] : undefined;
}

function isActive(line: string): boolean {
  return line.trim() !== '' && !line.trim().startsWith('#');
}

interface Block {
  /** Line numbers (0-based) of the commented block, its first line an option. */
  lines: number[];
  key: string;
  indent: number;
}

/** A commented line and the commented lines nested under it. */
function blockLines(start: number, indent: number): number[] {
  const lines = [start];
  for (let next = start + 1; next < LINES.length; next++) {
    const line = LINES[next];
    if (!line.trim().startsWith('#')) break;
    const inner = uncommented(line)!;
    if (inner.trim() === '' || indentOf(inner) <= indent) break;
    lines.push(next);
  }
  return lines;
}

/**
 * Options valid only with others: uncommented together with the commented ones named in `with`,
 * and with the active lines of `replaces` (at the same level) taken out.
 */
const TOGETHER: Record<string, { with?: string[]; replaces?: string[]; set?: string[] }> = {
  client_ca_file: { set: ['key_file: tls.key', 'crt_file: tls.crt'] },
  client_auth: { with: ['client_ca_file'], set: ['key_file: tls.key', 'crt_file: tls.crt'] },
  crl_file: { with: ['client_ca_file'], set: ['key_file: tls.key', 'crt_file: tls.crt'] },
  forward_auth: { replaces: ['upstream'] },
  provider: { replaces: ['nonce_storage'] },
  trusted_client_cert_header: { with: ['trusted_gateways'] },
  trusted_client_cert_format: { with: ['trusted_client_cert_header', 'trusted_gateways'] },
  trusted_gateways: { with: ['trusted_client_cert_header'] },
};

function commentedBlocks(): Block[] {
  const blocks: Block[] = [];
  for (let start = 0; start < LINES.length; start++) {
    const match = COMMENTED_OPTION.exec(LINES[start]);
    if (!match) continue;
    // A block inside another commented block is tried with its parent.
    const previous = LINES[start - 1];
    const text = uncommented(LINES[start])!;
    const indent = indentOf(text);
    if (previous !== undefined && COMMENTED_OPTION.test(previous) && indentOf(uncommented(previous)!) < indent) continue;
    // `options:` after a commented `type:` goes with it (and both replace the active ones).
    const typeBlock = blocks.at(-1);
    if (match[3] === 'options' && typeBlock?.key === 'type' && typeBlock.lines.at(-1)! === start - 1 && typeBlock.indent === indentOf(uncommented(LINES[start])!)) {
      typeBlock.lines.push(...blockLines(start, indentOf(uncommented(LINES[start])!)));
      continue;
    }
    blocks.push({ lines: blockLines(start, indent), key: match[3], indent });
  }
  return blocks;
}

/** The active lines of the sibling `key` at `indent` around `at`, with what is nested under it. */
function activeSibling(at: number, key: string, indent: number): number[] {
  const found = (index: number) => {
    const lines = [index];
    for (let next = index + 1; next < LINES.length && (!isActive(LINES[next]) || indentOf(LINES[next]) > indent); next++) {
      if (isActive(LINES[next])) lines.push(next);
      else if (indentOf(LINES[next]) > indent && LINES[next].trim().startsWith('#')) continue;
    }
    return lines;
  };
  for (const step of [-1, 1]) {
    for (let index = at + step; index >= 0 && index < LINES.length; index += step) {
      const line = LINES[index];
      if (!isActive(line)) continue;
      if (indentOf(line) < indent) break;
      if (indentOf(line) === indent && line.trim().startsWith(`${key}:`)) return found(index);
    }
  }
  return [];
}

/** The reference with `block` uncommented and, when it is an alternative, its active sibling removed. */
function withBlock(block: Block, blocks: Block[]): string {
  const uncomment = new Set(block.lines);
  const remove = new Set(activeSibling(block.lines[0], block.key, block.indent));
  if (block.key === 'type') activeSibling(block.lines[0], 'options', block.indent).forEach((line) => remove.add(line));
  const together = TOGETHER[block.key] ?? {};
  for (const key of together.with ?? []) {
    blocks.find((candidate) => candidate.key === key && Math.abs(candidate.lines[0] - block.lines[0]) < 6)?.lines.forEach((line) => uncomment.add(line));
  }
  for (const key of together.replaces ?? []) activeSibling(block.lines[0], key, block.indent).forEach((line) => remove.add(line));
  const set = new Map<number, string>();
  for (const entry of together.set ?? []) {
    const key = entry.slice(0, entry.indexOf(':'));
    const [line] = activeSibling(block.lines[0], key, block.indent);
    set.set(line, `${' '.repeat(block.indent)}${entry}`);
  }
  return LINES.flatMap((line, index) => (remove.has(index) ? [] : [set.get(index) ?? (uncomment.has(index) ? uncommented(line)! : line)])).join('\n');
}

test('the reference configuration is valid as it is', () => {
  expect(() => parseConfig(REFERENCE)).not.toThrow();
});

const BLOCKS = commentedBlocks();

test.each(BLOCKS.map((block) => [`line ${block.lines[0] + 1}: ${LINES[block.lines[0]].trim()}`, block] as const))('uncommented, %s is valid', (_name, block) => {
  const text = withBlock(block, BLOCKS);
  expect(() => parseConfig(text)).not.toThrow();
});

test('every option the documentation lists in its tables is in the reference', () => {
  const missing: string[] = [];
  let inOptionTable = false;
  for (const line of referenceText().split('\n')) {
    if (/^\| (key|option) \|/.test(line)) {
      inOptionTable = true;
      continue;
    }
    if (!line.startsWith('|')) inOptionTable = false;
    if (!inOptionTable || !line.startsWith('| `')) continue;
    for (const [, name] of line.split('|')[1].matchAll(/`([^`]+)`/g)) {
      const key = name.split('.').pop()!.trim();
      if (/^[a-z_]+$/.test(key) && !new RegExp(`(^|[\\s{,#])${key}:`, 'm').test(REFERENCE)) missing.push(name);
    }
  }
  expect(missing).toEqual([]);
});
