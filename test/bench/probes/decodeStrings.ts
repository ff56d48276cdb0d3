// msgpackr's decode of values holding strings, with and without its native string extractor
// (docs/design.md: why the ~22 ms of import it costs stays). Each entry point runs in a
// child process of its own: `msgpackr` loads the extractor, `msgpackr/pack` does not.
//
//   node dist/test/bench/probes/decodeStrings.js

import { spawnSync } from 'node:child_process';

const child = (entry: string): string => `
const { Packr } = await import(${JSON.stringify(entry)});
const p = new Packr({ structures: [], mapsAsObjects: true, moreTypes: true, copyBuffers: true, saveStructures: () => true });
const values = [];
for (let i = 0; i < 1000; i++) values.push(new Uint8Array(p.pack({ name: 'libc.so.' + i, path: '/usr/lib/x86_64-linux-gnu/libc.so.' + i, id: i, note: i % 3 ? 'short' : 'a somewhat longer string value here ' + i })));
let sink = 0;
const out = [];
for (let r = 0; r < 3; r++) {
  const t = process.hrtime.bigint();
  for (let k = 0; k < 300; k++) for (const b of values) sink += p.unpack(b).id;
  out.push(Number(process.hrtime.bigint() - t) / 300000);
}
console.log(out.map((x) => x.toFixed(0)).join(' ') + (sink < 0 ? '!' : ''));
`;

for (const entry of ['msgpackr', 'msgpackr/pack']) {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', child(entry)], { encoding: 'utf8', cwd: process.cwd() });
  if (run.status !== 0) throw new Error(`${entry}: ${run.stderr}`);
  console.log(`${entry.padEnd(14)} ns per unpack of a value with three strings, three passes: ${run.stdout.trim()}`);
}
