// Checks the TypeScript declarations with the pinned tsc (devDependency; `npm ci` in clients/js, done
// by scripts/test-setup.sh): the ESM, CommonJS and script-tag forms as an application uses them,
// including what must NOT compile (@ts-expect-error). usage: node test/typecheck.mjs   (CTest: js_client_types)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!fs.existsSync(tsc)) {
  console.error('FAILED: typescript is not installed in clients/js (run scripts/test-setup.sh, i.e. `npm ci` in clients/js) - this test does not skip');
  process.exit(1);
}
const version = execFileSync(process.execPath, [tsc, '--version'], { encoding: 'utf8' }).trim();
try {
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'test', 'types', 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
} catch {
  console.error(`FAILED: tsc (${version}) found errors in the declarations or their uses`);
  process.exit(1);
}
console.log(`${version}: sse-client.d.ts and index.d.mts check (ESM, CommonJS and script-tag uses)`);
