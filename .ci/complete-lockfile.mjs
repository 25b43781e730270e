#!/usr/bin/env node
// Adds lock-file entries for the platform-specific optional packages (other OSes and CPUs) that the npm
// registry reachable here does not serve. `npm install` leaves them out of package-lock.json, and `npm ci`
// then refuses the lock file as out of sync (npm/cli#9846). Each added entry carries its os/cpu/libc, so
// `npm ci` skips it on every platform it does not fit and never fetches it. Run after `npm install`:
//   node .ci/complete-lockfile.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'openharmony', 'win32', 'sunos', 'aix'];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el'];

/** os, cpu and libc from a platform package's name, e.g. cli-linux-x64-musl or rollup-linux-arm-gnueabihf. */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p));
  if (!os || !cpu) return null;
  const rest = parts.slice(parts.indexOf(cpu) + 1).join('-');
  const libc = os !== 'linux' ? undefined : rest.includes('musl') ? 'musl' : 'glibc';
  return { os: [os], cpu: [cpu], ...(libc ? { libc: [libc] } : {}) };
}

let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  const optional = entry.optionalDependencies ?? {};
  const base = key === '' ? 'node_modules/' : `${key.slice(0, key.lastIndexOf('node_modules/') + 13)}`;
  for (const [name, spec] of Object.entries(optional)) {
    const nested = `${key}/node_modules/${name}`;
    const hoisted = `${base}${name}`;
    if (packages[nested] || packages[hoisted] || packages[`node_modules/${name}`]) continue;
    const platform = platformOf(name);
    if (!platform || !/^\d+\.\d+\.\d+/.test(spec)) continue;
    packages[`node_modules/${name}`] = {
      version: spec,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...platform,
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} platform entries`);
