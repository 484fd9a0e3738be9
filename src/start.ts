// dist/cli.js: runs the bundle (dist/rmtabsync.js) with the V8 code cache
// made at build time (dist/rmtabsync.cache, see scripts/code-cache.cjs), so
// that a start skips compiling what the cache holds: the bundle's top level
// and what a run of check-config compiled (commander, the YAML parser, the
// configuration checks). A cache is used only for the bundle it was made
// from (its sha256 heads the file: V8 itself compares only the source's
// length) and by the V8 that made it (V8 refuses another's); without one
// the bundle is compiled as usual.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import Module from "node:module";
import { join } from "node:path";
import { Script } from "node:vm";

const HASH_BYTES = 32;

/** The bundle, compiled with its cache when it has a matching one; `run` executes it as a CommonJS module. */
export function compileBundle(dir: string): { script: Script; source: string; run: () => void } {
  const file = join(dir, "rmtabsync.js");
  const source = readFileSync(file, "utf8");
  let cachedData: Buffer | undefined;
  try {
    const c = readFileSync(join(dir, "rmtabsync.cache"));
    if (c.subarray(0, HASH_BYTES).equals(createHash("sha256").update(source).digest())) cachedData = c.subarray(HASH_BYTES);
  } catch {
    // no cache: compiled as usual
  }
  const script = new Script(Module.wrap(source), { filename: file, cachedData });
  const run = () => {
    const m = new Module(file);
    m.filename = file;
    m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dir);
    const req = Object.assign((id: string) => m.require(id), { resolve: (id: string) => require.resolve(id, { paths: m.paths }) });
    (script.runInThisContext() as (...args: unknown[]) => void).call(m.exports, m.exports, req, m, file, dir);
  };
  return { script, source, run };
}

/** What scripts/code-cache.cjs writes: the bundle's sha256, then V8's data. */
export function cacheFileContent(source: string, data: Buffer): Buffer {
  return Buffer.concat([createHash("sha256").update(source).digest(), data]);
}

if (require.main === module) compileBundle(__dirname).run();
