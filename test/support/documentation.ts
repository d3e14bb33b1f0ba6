// The product's documentation as tests read it: the README and the reference pages under docs/.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const DOCS_DIR = path.join(ROOT, 'docs');

/** Every documentation file, the README first, as paths relative to the repository. */
export function documentationFiles(): string[] {
  const pages = fs
    .readdirSync(DOCS_DIR)
    .filter((name) => name.endsWith('.md'))
    .sort();
  return ['README.md', ...pages.map((name) => path.join('docs', name))];
}

/** The reference pages under docs/, one text. */
export function referenceText(): string {
  return documentationFiles()
    .filter((file) => file !== 'README.md')
    .map((file) => fs.readFileSync(path.join(ROOT, file), 'utf8'))
    .join('\n');
}

/** Markdown without its fenced code blocks, whose backticks would pair with the prose's. */
export function withoutCodeBlocks(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** The anchors GitHub gives a page's headings. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const [, heading] of withoutCodeBlocks(markdown).matchAll(/^#+ (.*)$/gm)) {
    anchors.add(
      heading
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    );
  }
  return anchors;
}
