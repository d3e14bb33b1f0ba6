// The documentation keeps up with the code: every option a configuration parser reads is named
// in docs/, and every link of the README and docs/ leads to a file and heading that exist.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { documentationFiles, headingAnchors, referenceText, ROOT, withoutCodeBlocks } from '../support/documentation';

/** The TypeScript files under src/ that read configuration. */
function configurationParsers(): string[] {
  const files = fs.readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  return files.map((file) => path.join(ROOT, 'src', file)).filter((file) => !file.endsWith('ConfigNode.ts') && fs.readFileSync(file, 'utf8').includes('ConfigNode'));
}

/** The keys a parser reads: the first argument of a ConfigNode reader, or of a helper given the node. */
const READ_KEY = [
  /\.(?:child|children|string|secret|requiredString|stringList|boolean|integer|duration|byteSize|fileMode|headerName|httpUrl|has|raw|choice|component)\('([a-z][a-z0-9_]*)'/g,
  /\b(?:parse\w*|urlOverride|originOption)\(\w+, '([a-z][a-z0-9_]*)'/g,
];

test('every option the configuration parsers read is named in docs/', () => {
  const prose = withoutCodeBlocks(referenceText());
  const named = new Set<string>();
  for (const [, code] of prose.matchAll(/`([^`\n]+)`/g)) for (const [word] of code.matchAll(/[a-z][a-z0-9_]*/g)) named.add(word);
  const undocumented: string[] = [];
  for (const file of configurationParsers()) {
    const source = fs.readFileSync(file, 'utf8');
    for (const pattern of READ_KEY) {
      for (const [, key] of source.matchAll(pattern)) if (!named.has(key)) undocumented.push(`${path.relative(ROOT, file)}: ${key}`);
    }
  }
  expect(undocumented).toEqual([]);
});

test('every relative link of the README and docs/ leads to a file and a heading that exist', () => {
  const broken: string[] = [];
  for (const file of documentationFiles()) {
    const text = withoutCodeBlocks(fs.readFileSync(path.join(ROOT, file), 'utf8'));
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [linked, anchor] = target.split('#');
      const destination = linked ? path.join(ROOT, path.dirname(file), linked) : path.join(ROOT, file);
      if (!fs.existsSync(destination)) broken.push(`${file}: ${target}`);
      else if (anchor && !headingAnchors(fs.readFileSync(destination, 'utf8')).has(anchor)) broken.push(`${file}: ${target}`);
    }
  }
  expect(broken).toEqual([]);
});
