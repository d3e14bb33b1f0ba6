// The vectors captured from the Go jwtproxy (test/fixtures/interop, described in its README.md).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const INTEROP_DIR = path.resolve(__dirname, '../fixtures/interop');

export function interopFile(name: string): string {
  return path.join(INTEROP_DIR, name);
}

export function readInterop(name: string): string {
  return fs.readFileSync(interopFile(name), 'utf8');
}

/** The instant the Go verifier's responses were captured at (ms). */
export const CAPTURE_CLOCK_MS = 1795357782_000;

export interface VerifierCase {
  name: string;
  status: number;
  body: string;
  tokenFile?: string;
}

export function verifierCases(): VerifierCase[] {
  const [, ...rows] = readInterop('verifier_responses.tsv').trim().split('\n');
  return rows.map((row) => {
    const [name, status, body, tokenFile] = row.split('\t');
    return { name, status: Number(status), body, tokenFile: tokenFile === '-' ? undefined : tokenFile };
  });
}

export interface GoToken {
  token: string;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export function goTokens(file: 'go_signer_tokens_raw.decoded.jsonl' | 'go_signer_tokens_via_verifier.decoded.jsonl'): GoToken[] {
  return readInterop(file)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as GoToken);
}
