// The Debian package: `npm run package` output passes lintian without
// errors, installs with dpkg -i, and the installed CLI, units and agent work.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, TestCluster } from "./helpers/cluster.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 300_000, env: { ...process.env, ...opts.env } });
  if (r.error) throw new Error(`${cmd} could not run (${r.error.message})`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function need(cmd: string, pkgName: string): void {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) throw new Error(`${cmd} is missing: apt-get install ${pkgName}`);
}

/** dpkg takes a lock other apt/dpkg runs on this machine may hold: retry while it is busy. */
function dpkg(args: string[]) {
  for (let i = 0; ; i++) {
    const r = run("dpkg", args);
    if (r.code === 0 || !/lock|locked/i.test(r.out) || i >= 60) return r;
    execFileSync("sleep", ["5"]);
  }
}

let installed = false;
afterAll(() => {
  if (installed) dpkg(["--purge", "rmtabsync"]);
});

describe("Debian package", () => {
  let deb = "";

  it("npm run package builds it and lintian reports no errors", () => {
    need("dpkg-deb", "dpkg");
    need("lintian", "lintian");
    const built = run(process.execPath, [join(ROOT, "scripts/package.mjs")]);
    expect(built.code, built.out).toBe(0);
    deb = built.out.trim().split("\n").pop()!;
    expect(existsSync(deb)).toBe(true);
    const contents = run("dpkg-deb", ["--contents", deb]).out;
    for (const f of [
      "./usr/bin/rmtabsync",
      "./usr/lib/rmtabsync/cli.js",
      "./usr/lib/rmtabsync/rmtabsync.js",
      "./usr/lib/rmtabsync/rmtabsync.cache",
      "./usr/lib/rmtabsync/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
      "./usr/lib/rmtabsync/node_modules/os-lock/build/Release/addon.node",
      "./usr/lib/rmtabsync/node_modules/bindings/bindings.js",
      "./lib/systemd/system/rmtabsync.service",
      "./lib/systemd/system/rmtabsync-record.path",
      "./lib/systemd/system/rmtabsync-reconcile.timer",
      "./usr/lib/ocf/resource.d/rmtabsync/rmtabsync",
      "./usr/share/man/man8/rmtabsync.8.gz",
      "./usr/share/bash-completion/completions/rmtabsync",
      "./usr/share/doc/rmtabsync/copyright",
      "./usr/share/doc/rmtabsync/changelog.gz",
      "./usr/share/doc/rmtabsync/examples/config.yaml",
      "./usr/share/doc/rmtabsync/examples/config.groups.yaml",
      "./usr/share/doc/rmtabsync/examples/pacemaker/cib-groups.xml",
    ])
      expect(contents).toContain(f);
    const lint = run("lintian", ["--tag-display-limit", "0", "--display-info", deb]);
    console.log(`lintian ${deb}:\n${lint.out}`);
    expect(lint.out).not.toMatch(/^E: /m);
    expect(lint.out).not.toMatch(/^W: /m);
    expect(lint.code, lint.out).toBe(0);
  });

  it("dpkg -i installs it; the installed rmtabsync, units and agent work; dpkg -r removes it", () => {
    expect(deb, "the build test above must pass first").not.toBe("");
    const inst = dpkg(["-i", deb]);
    installed = true;
    expect(inst.code, inst.out).toBe(0);
    expect(run("/usr/bin/rmtabsync", ["--version"]).out.trim()).toBe(pkg.version);

    // the installed native modules load: init and status on a real cluster directory
    const c = new TestCluster();
    for (const n of c.nodes) expect(run("/usr/bin/rmtabsync", ["-c", c.configFile(n), "-n", n, "init"]).code).toBe(0);
    const st = run("/usr/bin/rmtabsync", ["-c", c.configFile("ds03"), "-n", "ds03", "status", "--json"]);
    expect(JSON.parse(st.out.slice(0, st.out.lastIndexOf("}") + 1)).journals).toHaveLength(2);

    const units = ["rmtabsync.service", "rmtabsync-record.path", "rmtabsync-record.service", "rmtabsync-reconcile.timer", "rmtabsync-reconcile.service"];
    const verify = run("systemd-analyze", ["verify", "--man=no", ...units.map((u) => `/lib/systemd/system/${u}`)]);
    expect(verify.out).toBe("");
    expect(verify.code).toBe(0);
    expect(run("man", ["-w", "rmtabsync"]).out.trim()).toBe("/usr/share/man/man8/rmtabsync.8.gz");
    const meta = run("/usr/lib/ocf/resource.d/rmtabsync/rmtabsync", ["meta-data"], { env: { OCF_ROOT: "/usr/lib/ocf" } });
    expect(meta.code).toBe(0);
    expect(meta.out).toContain('<resource-agent name="rmtabsync"');

    const rm = dpkg(["-r", "rmtabsync"]);
    expect(rm.code, rm.out).toBe(0);
    expect(existsSync("/usr/bin/rmtabsync")).toBe(false);
    expect(dpkg(["--purge", "rmtabsync"]).code).toBe(0);
    installed = false;
  });
});
