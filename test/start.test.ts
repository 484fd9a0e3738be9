// dist/cli.js starts the bundle with the code cache made at build time
// (src/start.ts): only the cache of that very bundle is handed to V8.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./helpers/cluster.js";

const DIST = join(ROOT, "dist");

/** A copy of the built CLI's files in a directory of its own. */
function copyOfDist(): string {
  const dir = mkdtempSync(join(tmpdir(), "rmtabsync-start-"));
  for (const f of ["cli.js", "rmtabsync.js", "rmtabsync.cache", "package.json"]) copyFileSync(join(DIST, f), join(dir, f));
  return dir;
}

type Loader = { compileBundle(dir: string): { script: { cachedDataRejected?: boolean } } };
const loaderIn = (dir: string) => createRequire(join(dir, "cli.js"))(join(dir, "cli.js")) as Loader;

function version(dir: string) {
  const r = spawnSync(process.execPath, [join(dir, "cli.js"), "--version"], { encoding: "utf8", env: { ...process.env, NODE_PATH: join(ROOT, "node_modules") } });
  return { code: r.status, out: r.stdout.trim() };
}

describe("the start with a code cache", () => {
  it("hands V8 the cache built with the bundle, and V8 takes it", () => {
    const dir = copyOfDist();
    try {
      expect(loaderIn(dir).compileBundle(dir).script.cachedDataRejected).toBe(false);
      expect(version(dir)).toEqual({ code: 0, out: JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not hand over the cache of another bundle of the same length (V8 would take it), nor a damaged or missing one", () => {
    const dir = copyOfDist();
    try {
      const file = join(dir, "rmtabsync.js");
      const source = readFileSync(file, "utf8");
      // one character of a comment changed: the same length, another sha256
      const at = source.indexOf("// ");
      writeFileSync(file, `${source.slice(0, at)}//_${source.slice(at + 3)}`);
      // no cachedData given: V8 reports no verdict (undefined), not a rejection
      expect(loaderIn(dir).compileBundle(dir).script.cachedDataRejected).toBeUndefined();
      expect(version(dir).code).toBe(0);
      writeFileSync(join(dir, "rmtabsync.cache"), "garbage");
      expect(version(dir).code).toBe(0);
      rmSync(join(dir, "rmtabsync.cache"));
      expect(version(dir).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
