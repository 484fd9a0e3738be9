// The systemd units in deploy/systemd: `systemd-analyze verify` accepts each
// one, and the daemon's hardening keeps its exposure score low. verify needs
// ExecStart's binary to exist, so the units are checked in a copy whose
// /usr/bin/rmtabsync is a stub that runs the built CLI (test/package.test.ts
// verifies the installed units against the real installed path).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, line, python3, ROOT, SIM, TestCluster } from "./helpers/cluster.js";

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

// What the units' file-system settings leave writable, emulated in a private
// mount namespace (systemd itself is not PID 1 here): the root file system
// read-only (ProtectSystem=strict), a fresh /tmp (PrivateTmp), and writable
// only mountd's state directory and the control volume (ReadWritePaths,
// StateDirectory). record, reconcile, status, show and log must all work.
const SANDBOX = `
set -eu
R=$1 CLI=$2 NODE=$3 SIM=$4 H=$5 TOP=$6 HTOP=$7 PY=$8
cd /
mount --bind "$R" "$H"
# the checkout itself may live under /tmp (a fresh clone in CI): keep it, read-only
mount --bind "$TOP" "$HTOP"
mount -t tmpfs tmpfs /tmp
mkdir -p "$TOP" "$R"
mount --bind "$HTOP" "$TOP"
mount -o remount,bind,ro "$TOP"
mount --bind "$H" "$R"
mount -o remount,bind,ro "$R"
mount --bind "$H/control" "$R/control"
mount --bind "$H/state" "$R/state"
mount -o remount,bind,ro /
if touch /var/lib/rmtabsync-sandbox-check 2>/dev/null || touch "$R/ds03.yaml" 2>/dev/null; then
  echo "sandbox: the root file system is still writable" >&2; exit 99
fi
run() { n=$1; shift; "$NODE" "$CLI" -c "$R/$n.yaml" -n "$n" "$@"; }
"$PY" "$SIM" "$R/state/ds03" mount 10.0.0.21 /srv/vm0
run ds03 record
"$PY" "$SIM" "$R/state/ds04" mount 10.0.0.22 /srv/vm1
run ds04 reconcile
run ds03 reconcile
run ds03 status
run ds03 show >/dev/null
run ds03 log >/dev/null
`;

describe("the units' file-system sandbox (emulated with unshare)", () => {
  it("record, reconcile, status, show and log need nothing writable beyond the state directory, the control volume and /tmp", () => {
    const c = new TestCluster();
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.etab("ds04", ["/srv/vm1"]);
    const hold = mkdtempSync("/dev/shm/rmtabsync-sandbox-");
    const holdTop = mkdtempSync("/dev/shm/rmtabsync-sandbox-top-");
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", SANDBOX, "sh", c.root, CLI, process.execPath, SIM, hold, ROOT, holdTop, python3()], {
      encoding: "utf8",
      timeout: 120_000,
    });
    rmSync(hold, { recursive: true, force: true });
    rmSync(holdTop, { recursive: true, force: true });
    if (r.error) throw new Error(`unshare could not run (${r.error.message}): apt-get install util-linux`);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^rmtabsync OK: /m);
    expect(c.lines("ds03")).toEqual([line("10.0.0.21", "/srv/vm0"), line("10.0.0.22", "/srv/vm1")]);
  });
});
