// Builds what the image and `agent/bin/vmprobe.js` run: one ES-module bundle of the compiled CLI
// (agent/dist, from `tsc -b`) with the agent's own code, @vmprobe/shared and the pure-JavaScript
// dependencies, tree-shaken, into agent/bundle/. Why: V8 keeps the source text of every loaded
// script for the life of the process, and @kubernetes/client-node's `dist/config.js` imports its
// whole generated API (every API group's request factory, Observable/ObjectParam/Promise wrappers:
// ~14 MiB of source); the bundle keeps only the classes agent/src/kube/ uses.
// Left external, loaded from node_modules at run time: the ICMP addon (net-ping → raw-socket,
// native); pino and pino-pretty (pino starts its transports as worker threads from files resolved
// next to pino itself); @grpc/grpc-js and protobufjs (guest probes only; protobufjs finds its
// optional modules with an eval'd require, which a bundle would hide); node-fetch (client-node's
// HTTP library) with whatwg-url/tr46 beneath it: they call url.parse() per request and require the
// built-in punycode, which Node 22+ reports as DeprecationWarnings (DEP0169, DEP0040) on stderr —
// but only for callers outside node_modules, so bundled they would print on every agent start.
// Output: agent/bundle/vmprobe.js (entry), plus chunks for modules imported with `import()`.
// agent/bundle/ sits beside agent/dist so that `new URL('../package.json', import.meta.url)`
// (version.ts) still names agent/package.json.
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const agentDir = fileURLToPath(new URL('.', import.meta.url));
const outdir = `${agentDir}bundle`;

const EXTERNAL = [
  'net-ping',
  'raw-socket',
  'pino',
  'pino-pretty',
  '@grpc/grpc-js',
  'protobufjs',
  'node-fetch',
];

await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { vmprobe: `${agentDir}dist/cli/main.js` },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // CommonJS dependencies bundled into an ES module still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __vmprobeCreateRequire } from 'node:module';\nconst require = __vmprobeCreateRequire(import.meta.url);",
  },
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((s, o) => s + o.bytes, 0);
process.stdout.write(
  `agent/bundle: ${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1048576).toFixed(2)} MiB\n`,
);
