// The systemd units in deploy/systemd: `systemd-analyze verify` accepts each
// one, and the daemon's hardening keeps its exposure score low. verify needs
// ExecStart's binary to exist, so the units are checked in a copy whose
// /usr/bin/rmtabsync is a stub that runs the built CLI (test/package.test.ts
// verifies the installed units against the real installed path).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, ROOT } from "./helpers/cluster.js";

const UNITS = join(ROOT, "deploy/systemd");

function analyze(args: string[]) {
  const r = spawnSync("systemd-analyze", args, { encoding: "utf8" });
  if (r.error) throw new Error(`systemd-analyze is missing (${r.error.message}): apt-get install systemd`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Copies the units into a temp dir with ExecStart pointing at a stub of the CLI. */
function stubbedUnits(): { dir: string; files: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "rmtabsync-units-"));
  const stub = join(dir, "rmtabsync");
  writeFileSync(stub, `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`);
  chmodSync(stub, 0o755);
  const files = readdirSync(UNITS).map((name) => {
    const file = join(dir, name);
    writeFileSync(file, readFileSync(join(UNITS, name), "utf8").replaceAll("/usr/bin/rmtabsync", stub));
    return file;
  });
  return { dir, files };
}

describe("systemd units", () => {
  it("deploy/systemd holds the daemon and the daemon-less units", () => {
    expect(readdirSync(UNITS).sort()).toEqual([
      "rmtabsync-reconcile.service",
      "rmtabsync-reconcile.timer",
      "rmtabsync-record.path",
      "rmtabsync-record.service",
      "rmtabsync.service",
    ]);
  });

  it("systemd-analyze verify accepts every unit", () => {
    const { files } = stubbedUnits();
    for (const f of files) {
      const r = analyze(["verify", "--man=no", f]);
      expect(r.out, f).toBe("");
      expect(r.code, f).toBe(0);
    }
  });

  it("systemd-analyze security --offline=true: the daemon's exposure stays at or below 1.5", () => {
    const { files } = stubbedUnits();
    for (const name of ["rmtabsync.service", "rmtabsync-record.service", "rmtabsync-reconcile.service"]) {
      const r = analyze(["security", "--offline=true", files.find((f) => f.endsWith(`/${name}`))!]);
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(r.out);
      if (name === "rmtabsync.service") console.log(r.out);
      else console.log(m?.[0]);
      expect(m, r.out).not.toBeNull();
      expect(Number(m![1])).toBeLessThanOrEqual(1.5);
    }
  });
});
