// What rmtabsync (root) writes: never through a symbolic link it did not
// expect (only rmtab's is followed, like mountd), temp files created
// exclusively under random names, and private files 0600 whatever the umask.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, ROOT, started, type RunResult, type TestCluster } from "./helpers/cluster.js";
import { CALLOUT } from "./helpers/watch-proc.js";

const CIB = join(ROOT, "test/fixtures/cib/good.xml");

/** Runs the CLI like TestCluster.run, under an explicit umask. */
function runUmask(c: TestCluster, node: string, umask: string, args: string[]): RunResult {
  const r = spawnSync("sh", ["-c", `umask ${umask}; exec "$@"`, "sh", process.execPath, CLI, "-c", c.configFile(node), "-n", node, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function okUmask(c: TestCluster, node: string, umask: string, args: string[]): RunResult {
  const r = runUmask(c, node, umask, args);
  if (r.code !== 0) throw new Error(`rmtabsync ${args.join(" ")} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return r;
}

function mode(file: string): string {
  return (statSync(file).mode & 0o7777).toString(8);
}

/** A root-only file that a link made by another user could point at. */
function victim(c: TestCluster, name: string, content = "secret\n"): string {
  const dir = join(c.root, "elsewhere");
  mkdirSync(dir, { recursive: true });
  const f = join(dir, name);
  writeFileSync(f, content, { mode: 0o600 });
  chmodSync(f, 0o600);
  return f;
}

function expectUntouched(file: string, content: string | Buffer): void {
  expect(readFileSync(file)).toEqual(Buffer.from(content));
  expect(mode(file)).toBe("600");
}

describe("no write through a symbolic link", () => {
  it("metrics --textfile refuses a link at the textfile path and leaves its target alone", () => {
    const c = started();
    const target = victim(c, "shadow");
    const link = join(c.root, "rmtabsync.prom");
    symlinkSync(target, link);
    const r = c.run("ds03", ["metrics", "--textfile", link, "--cib", CIB]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`refusing to write ${link}: it is a symbolic link`);
    expectUntouched(target, "secret\n");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it("reconcile refuses a link at rmtab.quarantine and leaves rmtab and the target alone", () => {
    const c = started();
    const bad = "10.0.0.1:/srv/vm0:0x00000001\nnot-an-entry\n";
    c.writeRmtab("ds03", bad);
    const target = victim(c, "quarantine");
    const link = join(c.stateDir("ds03"), "rmtab.quarantine");
    symlinkSync(target, link);
    const r = c.run("ds03", ["reconcile"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`refusing to write ${link}: it is a symbolic link`);
    expectUntouched(target, "secret\n");
    expect(c.rmtab("ds03")).toBe(bad);
  });

  for (const name of ["rmtabsync.marks", "rmtabsync.baseline"]) {
    it(`reconcile refuses a link at ${name} before any work, and leaves its target alone`, () => {
      const c = started();
      c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
      c.ok("ds03", ["reconcile"]);
      const file = join(c.stateDir("ds03"), name);
      // the link points at a well-formed copy: only the write would betray it
      const target = victim(c, name, readFileSync(file, "utf8"));
      const before = readFileSync(target);
      rmSync(file);
      symlinkSync(target, file);
      c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
      c.ok("ds04", ["record"]);
      const rmtab = c.rmtab("ds03");
      const r = c.run("ds03", ["reconcile"]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`refusing to write ${file}: it is a symbolic link`);
      expectUntouched(target, before);
      expect(c.rmtab("ds03")).toBe(rmtab);
    });
  }

  it("record refuses a link at rmtabsync.baseline-edits before any work, and leaves its target alone", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    // a record of one more line writes its edit beside the base
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const file = join(c.stateDir("ds03"), "rmtabsync.baseline-edits");
    expect(mode(file)).toBe("600");
    const target = victim(c, "edits", readFileSync(file, "latin1"));
    const before = readFileSync(target);
    rmSync(file);
    symlinkSync(target, file);
    c.mountd("ds03", "mount", "10.0.0.4", "/srv/vm0");
    const journal = readFileSync(join(c.control, "journals", "ds03.sqlite"));
    const r = c.run("ds03", ["record"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`refusing to write ${file}: it is a symbolic link`);
    expectUntouched(target, before);
    expect(readFileSync(join(c.control, "journals", "ds03.sqlite")).equals(journal)).toBe(true);
  });

  it("refuses an own journal that is a symbolic link before SQLite opens it", () => {
    const c = started();
    const file = join(c.control, "journals", "ds03.sqlite");
    const target = victim(c, "ds03.sqlite", "");
    writeFileSync(target, readFileSync(file));
    const before = readFileSync(target);
    rmSync(file);
    symlinkSync(target, file);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    for (const args of [["record"], ["reconcile"], ["init"]]) {
      const r = c.run("ds03", args);
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.stderr).toContain(`journal ${file}: is a symbolic link`);
    }
    expectUntouched(target, before);
    expect(existsSync(`${target}-journal`)).toBe(false);
  });

  it("a dangling link at a new own journal's path is refused, not created through", () => {
    const c = started();
    const file = join(c.control, "journals", "ds03.sqlite");
    rmSync(file);
    const target = join(c.root, "elsewhere-new.sqlite");
    symlinkSync(target, file);
    const r = c.run("ds03", ["init"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`journal ${file}: is a symbolic link`);
    expect(existsSync(target)).toBe(false);
  });

  it("planted temp names cannot redirect a write; a killed writer's stale temp file is cleaned", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    const dir = c.stateDir("ds03");
    const target = victim(c, "shadow");
    const planted = join(dir, ".rmtabsync.marks.tmp-000000000000");
    symlinkSync(target, planted);
    const stale = join(dir, ".rmtabsync.marks.tmp-aaaaaaaaaaaa");
    writeFileSync(stale, "left by a killed writer");
    const old = Date.now() / 1000 - 120;
    utimesSync(stale, old, old);
    const fresh = join(dir, ".rmtabsync.marks.tmp-bbbbbbbbbbbb"); // maybe a live writer's: kept
    writeFileSync(fresh, "in flight");
    const other = join(dir, ".rmtabsync.marks.tmp-aaaaaaaaaaaa.keep"); // not our exact pattern: kept
    writeFileSync(other, "x");
    utimesSync(other, old, old);
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    expectUntouched(target, "secret\n");
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(statSync(join(dir, "rmtabsync.marks")).isFile()).toBe(true);
    // nothing else of ours is left behind
    expect(readdirSync(dir).filter((n) => /\.tmp-[0-9a-f]{12}$/.test(n)).sort()).toEqual([".rmtabsync.marks.tmp-000000000000", ".rmtabsync.marks.tmp-bbbbbbbbbbbb"]);
  });

  it("the callout never appends through a link at the spool path", () => {
    const c = started();
    const target = victim(c, "spool-target");
    const spool = join(c.stateDir("ds03"), "rmtabsync.spool");
    symlinkSync(target, spool);
    const r = spawnSync(CALLOUT, ["mount", "10.0.0.21", "/srv/vm0", "1"], { env: { ...process.env, RMTABSYNC_SPOOL: spool } });
    expect(r.status).toBe(0);
    expectUntouched(target, "secret\n");
  });
});

describe("file modes under umask 022", () => {
  it("journal, marks, baseline, quarantine and spool are 0600; rmtab 0644 or its own; the textfile 0644", () => {
    const c = started();
    const own = join(c.control, "journals", "ds03.sqlite");
    rmSync(own);
    okUmask(c, "ds03", "022", ["init"]);
    expect(mode(own)).toBe("600");
    const dir = c.stateDir("ds03");
    // a marks file an older version left 0644 is tightened on its next write
    writeFileSync(join(dir, "rmtabsync.marks"), `${JSON.stringify({ version: 1, marks: [] })}\n`, { mode: 0o644 });
    c.writeRmtab("ds03", "10.0.0.1:/srv/vm0:0x00000001\nnot-an-entry\n");
    chmodSync(join(dir, "rmtab"), 0o640);
    okUmask(c, "ds03", "022", ["reconcile"]);
    expect(mode(join(dir, "rmtab.quarantine"))).toBe("600");
    expect(mode(join(dir, "rmtabsync.marks"))).toBe("600");
    expect(mode(join(dir, "rmtabsync.baseline"))).toBe("600");
    expect(mode(join(dir, "rmtab"))).toBe("640"); // an existing rmtab keeps its mode
    // a new rmtab is 0644, as mountd (fopen "w" under umask 022) makes it
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    okUmask(c, "ds04", "022", ["record"]);
    rmSync(join(dir, "rmtab"));
    okUmask(c, "ds03", "077", ["reconcile"]);
    expect(mode(join(dir, "rmtab"))).toBe("644");
    // node_exporter reads the textfile as its own user
    const prom = join(c.root, "textfile.prom");
    okUmask(c, "ds03", "077", ["metrics", "--textfile", prom, "--cib", CIB]);
    expect(mode(prom)).toBe("644");
    // mountd's callout, under mountd's umask
    const spool = join(dir, "rmtabsync.spool");
    expect(spawnSync("sh", ["-c", `umask 022; exec "${CALLOUT}" mount 10.0.0.21 /srv/vm0 2`], { env: { ...process.env, RMTABSYNC_SPOOL: spool } }).status).toBe(0);
    expect(mode(spool)).toBe("600");
  });

  it("recover creates a missing journal 0600", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["reconcile"]);
    const copy = join(c.root, "victim");
    cpSync(c.control, copy, { recursive: true });
    const lost = join(c.control, "journals", "ds04.sqlite");
    rmSync(lost);
    const r = okUmask(c, "ds03", "022", ["recover", "--from", copy, "--json"]);
    expect(JSON.parse(r.stdout).actions).toContainEqual(expect.objectContaining({ action: "copy", node: "ds04" }));
    expect(mode(lost)).toBe("600");
  });
});
