// recover killed (SIGKILL) while it builds a new journal: the journal is made
// under a temporary name that no reader takes for a journal, and the next
// run removes it and merges again.
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, watch, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, line, TestCluster, started } from "./helpers/cluster.js";

const TEMP = /^\.ds04~[0-9a-f]{8}\.sqlite\.tmp-/;
/** The first file of a new branch journal to appear: the temporary one (or, before the fix, the journal itself). */
const NEW_BRANCH = /^\.?ds04~[0-9a-f]{8}\.sqlite/;

/** Runs recover and SIGKILLs it as soon as its new branch journal (a temporary file) appears. */
function recoverKilledWhileBuilding(c: TestCluster, node: string, from: string, journals: string): Promise<{ signal: string | null; seen: string | undefined }> {
  return new Promise((resolve) => {
    let seen: string | undefined;
    const child = spawn(process.execPath, [CLI, "-c", c.configFile(node), "-n", node, "recover", "--from", from], { stdio: "ignore" });
    const w = watch(journals, (_ev, name) => {
      if (seen === undefined && name && NEW_BRANCH.test(String(name))) {
        seen = String(name);
        child.kill("SIGKILL");
      }
    });
    child.on("exit", (_code, signal) => {
      w.close();
      resolve({ signal, seen });
    });
  });
}

function temps(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes(".tmp-"));
}

describe("recover killed while it creates a journal", () => {
  it("leaves no empty journal behind; the next run removes the temporary file and merges", async () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    // split-brain: ds04 records many events on its own copy (a big branch takes a while to build)
    const victim = join(c.root, "victim");
    cpSync(c.control, victim, { recursive: true });
    c.pointAt("ds04", victim);
    const many: string[] = [line("10.0.0.2", "/srv/vm1")];
    for (let i = 0; i < 10000; i++) many.push(line(`10.9.${i >> 8}.${i & 255}`, "/srv/vm1"));
    c.writeRmtab("ds04", `${many.join("\n")}\n`);
    c.ok("ds04", ["record"]);
    // back on the survivor, ds04 records again: its journal forks from the victim's
    c.pointAt("ds04", c.control);
    // (its clients went away meanwhile: keeps the reports below small)
    c.writeRmtab("ds04", `${line("10.0.0.2", "/srv/vm1")}\n`);
    c.run("ds04", ["reconcile"]);
    c.mountd("ds04", "mount", "10.0.0.5", "/srv/vm1");
    c.ok("ds04", ["record"]);

    const journals = join(c.control, "journals");
    const k = await recoverKilledWhileBuilding(c, "ds03", victim, journals);
    expect(k.signal).toBe("SIGKILL");
    // no reader takes the leftover for a journal
    const v = c.run("ds03", ["verify"]);
    expect(v.stdout + v.stderr).not.toMatch(/\.tmp-|ds04~|empty/);
    const r = c.json("ds03", ["reconcile", "--dry-run"]);
    expect(r.problems.filter((p: { kind: string }) => p.kind === "unreadable" || p.kind === "missing")).toEqual([]);
    expect(k.seen).toMatch(TEMP);
    expect(temps(journals).length).toBeGreaterThan(0);
    expect(readdirSync(journals).filter((n) => n.endsWith(".sqlite")).sort()).toEqual(["ds03.sqlite", "ds04.sqlite"]);

    // the next run cleans up and merges
    const again = c.run("ds03", ["recover", "--from", victim, "--json"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/removed .*\.ds04~[0-9a-f]{8}\.sqlite\.tmp-\S+: a temporary journal left by a killed command/);
    expect(JSON.parse(again.stdout).actions.filter((a: { action: string }) => a.action === "branch")).toEqual([expect.objectContaining({ node: "ds04", events: 10000 })]);
    expect(temps(journals)).toEqual([]);
    expect(readdirSync(journals).filter((n) => /^ds04~[0-9a-f]{8}\.sqlite$/.test(n))).toHaveLength(1);
    const ok = c.run("ds03", ["verify"]);
    expect(ok.stdout + ok.stderr).toMatch(/all journals sound/);
    expect(ok.code).toBe(0);
    for (const n of ["ds03", "ds04"]) {
      const rec = c.json(n, ["reconcile"]);
      expect(rec.problems).toEqual([]);
      expect(rec.addOnly).toBe(false);
    }
    expect(c.run("ds03", ["recover", "--from", victim]).code).toBe(0);
  }, 120_000);

  it("reconcile removes only temporary journals whose process is gone", () => {
    const c = started();
    const journals = join(c.control, "journals");
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, "_");
    const dead = spawnSync("true").pid!;
    const gone = `.ds04~0badc0de.sqlite.tmp-${host}-${dead}-0123abcd`;
    const goneRollback = `${gone}-journal`;
    const live = `.ds04~feedbeef.sqlite.tmp-${host}-${process.pid}-89abcdef`;
    const unrelated = ".ds04~0badc0de.sqlite.tmp-something-else";
    for (const n of [gone, goneRollback, live, unrelated]) writeFileSync(join(journals, n), "");
    c.ok("ds03", ["reconcile", "--dry-run"]);
    expect(existsSync(join(journals, gone))).toBe(true);
    const r = c.run("ds03", ["reconcile"]);
    expect(r.code).toBe(0);
    expect(temps(journals).sort()).toEqual([live, unrelated].sort());
    expect(c.run("ds03", ["verify"]).code).toBe(0);
  });
});
