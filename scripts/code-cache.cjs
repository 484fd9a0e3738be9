// Makes dist/rmtabsync.cache (see src/start.ts): compiles the bundle as
// dist/cli.js does, runs `check-config` on the example configuration (its
// output is dropped), then writes what V8 compiled by then. Run by
// scripts/build.mjs, which fails with it.
const { writeFileSync } = require("node:fs");
const { join, resolve } = require("node:path");
const dist = resolve(__dirname, "..", "dist");
const { compileBundle, cacheFileContent } = require(join(dist, "cli.js"));
const bundle = compileBundle(dist);
process.argv = [process.argv[0], join(dist, "cli.js"), "-c", resolve(__dirname, "..", "deploy", "config.example.yaml"), "-n", "ds03", "check-config"];
process.stdout.write = () => true;
process.on("exit", (code) => {
  if (code !== 0 || process.exitCode) {
    process.stderr.write("code-cache: check-config failed; no cache written\n");
    process.exitCode = 1;
    return;
  }
  writeFileSync(join(dist, "rmtabsync.cache"), cacheFileContent(bundle.source, bundle.script.createCachedData()));
});
bundle.run();
