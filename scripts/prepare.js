// npm's prepare step (after `npm ci`): compiles the TypeScript when the dev tools are installed.
// `npm ci --omit=dev` on a production host has no compiler: it keeps the dist/ built beforehand
// (`npm run build` where the dev tools are) instead of failing the install.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
} catch {
  const built = fs.existsSync(path.join(root, 'dist/cmd/jwtproxy.js'));
  process.stderr.write(
    built
      ? 'jwtproxy: dev dependencies omitted: using the dist/ already built\n'
      : 'jwtproxy: dev dependencies omitted and nothing built: run `npm ci && npm run build` where the dev tools are, then copy dist/ here (or use the Docker image)\n',
  );
  process.exit(0);
}
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
