// Runs the Playwright suites (npm run test:e2e [-- playwright args]) in the
// engines this machine has. A project whose engine is missing is left out,
// with the Debian package that brings it; with no engine at all the suites
// are skipped. Under CI=true a missing engine is a failure, never a silent
// skip. `--project=NAME` (Playwright's own flag, repeatable, `*` wildcards)
// picks projects: chromium-opfs, chromium-idb, firefox-opfs, firefox-idb, webkit.
import { spawnSync } from 'node:child_process';
import { engineStatus, missingMessage, PROJECTS, selectProjects } from './engines.mjs';

const args = process.argv.slice(2);
const patterns = [];
const rest = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--project') patterns.push(args[++i]);
  else if (args[i].startsWith('--project=')) patterns.push(args[i].slice('--project='.length));
  else rest.push(args[i]);
}

const selected = selectProjects(patterns);
if (selected.length === 0) {
  console.error(
    `No project matches ${patterns.join(', ')}: the projects are ${PROJECTS.map((p) => p.name).join(', ')}.`,
  );
  process.exit(2);
}
const engines = [...new Set(selected.map((p) => p.engine))];
const missing = engines.filter((e) => !engineStatus(e).available);

let projects = selected;
if (missing.length > 0) {
  const msgs = missing.map(missingMessage);
  if (process.env.CI === 'true') {
    console.error(`FAIL (CI=true): browser tests need every engine.\n  ${msgs.join('\n  ')}`);
    process.exit(1);
  }
  projects = selected.filter((p) => !missing.includes(p.engine));
  const skipped = selected.filter((p) => missing.includes(p.engine)).map((p) => p.name);
  console.warn(`SKIPPED projects ${skipped.join(', ')}:\n  ${msgs.join('\n  ')}`);
  if (projects.length === 0) {
    console.warn('SKIPPED browser tests: no engine to run them in.');
    process.exit(0);
  }
}

// Name the projects only when a choice was made, so Playwright's own default (all) stays.
const projectArgs = patterns.length === 0 && missing.length === 0 ? [] : projects.map((p) => `--project=${p.name}`);
const r = spawnSync('npx', ['playwright', 'test', ...projectArgs, ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
