// A build's CLI as the benchmarks run it: dist/cli.js, and the bundle and
// code cache it starts (src/start.ts); an older build is cli.js alone.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const CLI_FILES = ["cli.js", "rmtabsync.js", "rmtabsync.cache"];

/** The bundle itself: what names the build (its sha256) and what is searched for what it knows. */
export function bundleOf(cli: string): string {
  const bundle = join(dirname(cli), "rmtabsync.js");
  return existsSync(bundle) ? bundle : cli;
}

/** `controlDirIsMountpoint: false` for a CLI that knows the key (older builds refuse it as unknown). */
export function mountpointKeyFor(cli: string): string {
  return readFileSync(bundleOf(cli), "utf8").includes("controlDirIsMountpoint") ? "controlDirIsMountpoint: false\n" : "";
}
