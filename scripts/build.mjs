// Bundles the CLI (and the benchmark) into single CommonJS files for fast
// start-up. Native modules stay external and load from node_modules.
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
// the release date (of the newest changelog entry) dates the man page
const trailer = /^ -- .*>  (.+)$/m.exec(await readFile(new URL("../deploy/debian/changelog", import.meta.url), "utf8"));
if (!trailer) throw new Error("deploy/debian/changelog: no trailer line with a date");
const releaseDate = new Date(trailer[1]).toISOString().slice(0, 10);
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap: "linked",
  external: ["better-sqlite3", "os-lock", "fsevents"],
  define: { RMTABSYNC_VERSION: JSON.stringify(pkg.version), RMTABSYNC_DATE: JSON.stringify(releaseDate) },
  logLevel: "warning",
};
// dist/cli.js starts dist/rmtabsync.js with a V8 code cache made here (src/start.ts)
await rm("dist/rmtabsync.cache", { force: true });
await build({ ...common, entryPoints: ["src/main.ts"], outfile: "dist/rmtabsync.js" });
await build({ ...common, entryPoints: ["src/start.ts"], outfile: "dist/cli.js", sourcemap: false, banner: { js: "#!/usr/bin/env node" } });
await build({ ...common, entryPoints: ["bench/bench.ts"], outfile: "dist/bench.js" });
await build({ ...common, entryPoints: ["bench/watch.ts"], outfile: "dist/bench-watch.js" });
await build({ ...common, entryPoints: ["bench/doctor.ts"], outfile: "dist/bench-doctor.js" });
// dist/ holds CommonJS bundles in a package whose sources are ESM.
await mkdir("dist", { recursive: true });
await writeFile("dist/package.json", JSON.stringify({ type: "commonjs" }) + "\n");
execFileSync(process.execPath, [fileURLToPath(new URL("code-cache.cjs", import.meta.url))], { stdio: "inherit" });
