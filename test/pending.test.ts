// A reconcile that dies between committing its new baseline and renaming
// rmtab into place (driven in-process so the crash lands exactly there).
import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { reconcile, record, type SyncContext } from "../src/sync.js";
import { line, TestCluster } from "./helpers/cluster.js";

function ctx(c: TestCluster, node: string, extra: Partial<SyncContext> = {}): SyncContext {
  return { cfg: loadConfig(c.configFile(node)), node, lockTimeoutMs: 5000, now: () => Date.now(), warn: () => undefined, ...extra };
}

/** ds03's journal: its baseline parts and slots by name, and the pending state keys. */
function journalBaseline(c: TestCluster, node: string): { parts: Record<string, number>; slots: string[]; pendingBase?: string; pendingInBase?: string; baselineId?: string } {
  const db = new Database(join(c.control, "journals", `${node}.sqlite`), { readonly: true });
  try {
    const parts = db.prepare("SELECT part, length(content) AS n FROM baseline_content").all() as { part: number; n: number }[];
    const slots = db.prepare("SELECT slot FROM baseline").pluck().all() as string[];
    const state = (k: string) => (db.prepare("SELECT value FROM local_state WHERE key = ?").pluck().get(k) as string | undefined) ?? undefined;
    const out = {
      parts: Object.fromEntries(parts.map((r) => [["base", "edits", "pending"][r.part]!, r.n])),
      slots,
      pendingBase: state("pending_base"),
      pendingInBase: state("pending_in_base"),
      baselineId: state("baseline_id"),
    };
    return JSON.parse(JSON.stringify(out)) as typeof out;
  } finally {
    db.close();
  }
}

/** Runs `fn` on ds03's journal, writable (what an older release or a damaged disk leaves). */
function alterJournal(c: TestCluster, node: string, fn: (db: Database.Database) => void): void {
  const db = new Database(join(c.control, "journals", `${node}.sqlite`));
  try {
    fn(db);
  } finally {
    db.close();
  }
}

/** ds03 serving /srv/vm0 (one mount), ds04 /srv/vm1 (one mount, folded on ds03). */
function twoNodes(): TestCluster {
  const c = new TestCluster();
  c.initAll();
  c.etab("ds03", ["/srv/vm0"]);
  c.etab("ds04", ["/srv/vm1"]);
  c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
  c.ok("ds04", ["record"]);
  c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
  c.ok("ds03", ["reconcile"]);
  return c;
}

/**
 * twoNodes, then ds04's mount of 10.0.0.3, then /srv/vm1 moves to ds03:
 * ds03's next reconcile adds that line to an export it serves (a line a
 * record would take for ds03's own mount, were it not accounted for).
 */
function peerChange(): TestCluster {
  const c = twoNodes();
  c.mountd("ds04", "mount", "10.0.0.3", "/srv/vm1");
  c.ok("ds04", ["record"]);
  c.etab("ds04", []);
  c.etab("ds03", ["/srv/vm0", "/srv/vm1"]);
  return c;
}

const crashBeforeRename = (c: TestCluster) =>
  reconcile(
    ctx(c, "ds03", {
      beforeRename: () => {
        throw new Error("simulated crash before rename");
      },
    }),
  );

describe("a reconcile's pending rmtab, kept as one splice of the journal's baseline", () => {
  it("is the splice of the lines it adds, not the whole file; once the rename is durable it joins the baseline's edits", async () => {
    const c = peerChange();
    await expect(crashBeforeRename(c)).rejects.toThrow(/simulated crash/);
    const pending = journalBaseline(c, "ds03");
    expect(pending.slots).toEqual([]);
    // of the baseline its record step left (the one etab's change moved)
    expect(pending.pendingBase).toBe(pending.baselineId);
    // the splice: a 12-byte head and the added line
    expect(pending.parts.pending).toBe(12 + line("10.0.0.3", "/srv/vm1").length + 1);
    expect(JSON.parse(c.run("ds03", ["status", "--json"]).stdout).reconcileInterrupted).toBe(true);
    // killed after its rename: rmtab holds the new line, which the pending splice accounts for (not ds03's own mount)
    const renamed = [line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1"), line("10.0.0.3", "/srv/vm1")].sort().join("\n") + "\n";
    c.writeRmtab("ds03", renamed);
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
    await reconcile(ctx(c, "ds03"));
    expect(c.rmtab("ds03")).toBe(renamed);
    const done = journalBaseline(c, "ds03");
    expect([done.slots, done.parts.pending, done.pendingBase]).toEqual([[], undefined, undefined]);
    // a reconcile that is not interrupted: its splice joins the edits, the base stays
    const base = journalBaseline(c, "ds03").parts.base;
    c.mountd("ds04", "mount", "10.0.0.5", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const r2 = await reconcile(ctx(c, "ds03"));
    expect(r2.added.map((e) => e.client)).toEqual(["10.0.0.5"]);
    const after = journalBaseline(c, "ds03");
    expect([after.slots, after.parts.base, after.parts.pending, after.pendingBase]).toEqual([[], base, undefined, undefined]);
    expect(after.parts.edits).toBeGreaterThan(0);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1"), line("10.0.0.3", "/srv/vm1"), line("10.0.0.5", "/srv/vm1")].sort());
    // the journal's baseline (base + edits) is rmtab as written: with the local copy gone, a record finds nothing new
    rmSync(join(c.stateDir("ds03"), "rmtabsync.baseline"));
    rmSync(join(c.stateDir("ds03"), "rmtabsync.baseline-edits"), { force: true });
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
  });

  it("written before an older release committed another baseline, is ignored (that release cleared only its 'pending' slot)", async () => {
    const c = peerChange();
    await expect(crashBeforeRename(c)).rejects.toThrow(/simulated crash/);
    alterJournal(c, "ds03", (db) => db.prepare("UPDATE local_state SET value = 'another' WHERE key = 'baseline_id'").run());
    expect(journalBaseline(c, "ds03").parts.pending).toBeGreaterThan(0);
    expect(JSON.parse(c.run("ds03", ["status", "--json"]).stdout).reconcileInterrupted).toBe(false);
    const r = await reconcile(ctx(c, "ds03"));
    expect(r.added.map((e) => e.client)).toEqual(["10.0.0.3"]);
    expect(journalBaseline(c, "ds03").parts.pending).toBeUndefined();
  });

  it("damaged, is an error naming the journal, and nothing is recorded or written", async () => {
    const c = peerChange();
    await expect(crashBeforeRename(c)).rejects.toThrow(/simulated crash/);
    alterJournal(c, "ds03", (db) => db.prepare("UPDATE baseline_content SET content = x'0000' WHERE part = 2").run());
    const before = c.rmtab("ds03");
    await expect(record(ctx(c, "ds03"))).rejects.toThrow(/ds03\.sqlite.*its pending baseline is damaged \(edit 1 is cut short\)/);
    expect(c.rmtab("ds03")).toBe(before);
  });

  it("an older release's 'pending' slot (the whole file) is still taken", async () => {
    const c = peerChange();
    await expect(crashBeforeRename(c)).rejects.toThrow(/simulated crash/);
    // what an older release leaves: the whole pending rmtab in the slot, no splice
    const text = [line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1"), line("10.0.0.3", "/srv/vm1")].sort().join("\n") + "\n";
    alterJournal(c, "ds03", (db) => {
      db.prepare("DELETE FROM baseline_content WHERE part = 2").run();
      db.prepare("DELETE FROM local_state WHERE key = 'pending_base'").run();
      db.prepare("INSERT INTO baseline (slot, content) VALUES ('pending', ?)").run(Buffer.from(text));
    });
    // killed after its rename: the slot accounts for the new line
    c.writeRmtab("ds03", text);
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
    await reconcile(ctx(c, "ds03"));
    const after = journalBaseline(c, "ds03");
    expect([after.slots, after.parts.pending]).toEqual([[], undefined]);
    expect(c.rmtab("ds03")).toBe(text);
  });
});

describe("a reconcile's pending rmtab grown past a splice (a takeover's new lines)", () => {
  it("is written once, as the base with the edit back to the committed baseline; the commit copies nothing", async () => {
    const c = twoNodes();
    // 3000 mounts on ds04 (about 90 KB of lines, past the 64 KiB a splice holds) that ds03's reconcile adds
    const many = Array.from({ length: 3000 }, (_, i) => line(`10.1.${i >> 8}.${i & 255}`, "/srv/vm1"));
    c.writeRmtab("ds04", `${[line("10.0.0.2", "/srv/vm1"), ...many].join("\n")}\n`);
    c.ok("ds04", ["record"]);
    const before = c.rmtab("ds03");
    await expect(crashBeforeRename(c)).rejects.toThrow(/simulated crash/);
    expect(c.rmtab("ds03")).toBe(before);
    const pending = journalBaseline(c, "ds03");
    expect(pending.slots).toEqual([]);
    expect(pending.pendingBase).toBeUndefined();
    expect(pending.pendingInBase).toBe(pending.baselineId);
    expect(pending.parts.pending).toBeUndefined();
    // the base is the new rmtab; the edits take it back to the old one (only the old one's two lines are in them)
    expect(pending.parts.base).toBeGreaterThan(64 * 1024);
    expect(pending.parts.edits).toBeLessThan(200);
    expect(JSON.parse(c.run("ds03", ["status", "--json"]).stdout).reconcileInterrupted).toBe(true);
    // killed before its rename: rmtab as before is the committed baseline still, nothing to record
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
    // killed after its rename: the base accounts for every new line (none is taken for ds03's own mount)
    await expect(crashBeforeRename(c)).rejects.toThrow(/simulated crash/);
    const all = [line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1"), ...many].sort().join("\n") + "\n";
    c.writeRmtab("ds03", all);
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
    expect(c.rmtab("ds03")).toBe(all);
    // an uninterrupted one: committed, the base is rmtab as written and no edit is left
    c.writeRmtab("ds03", before);
    const r = await reconcile(ctx(c, "ds03"));
    expect(r.written).toBe(true);
    const done = journalBaseline(c, "ds03");
    expect([done.slots, done.parts.edits, done.parts.pending, done.pendingInBase]).toEqual([[], undefined, undefined, undefined]);
    expect(done.parts.base).toBe(Buffer.byteLength(c.rmtab("ds03")));
    // the journal's baseline is rmtab as written: with the local copy gone, a record finds nothing new
    rmSync(join(c.stateDir("ds03"), "rmtabsync.baseline"));
    rmSync(join(c.stateDir("ds03"), "rmtabsync.baseline-edits"), { force: true });
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
    expect(c.json("ds03", ["show"]).mounts).toHaveLength(3002);
  });
});

describe("a reconcile that crashes before its rename", () => {
  it("leaves rmtab old, and the next record neither re-records nor erases what that reconcile meant to write", async () => {
    const c = twoNodes();
    // a peer change that the next reconcile on ds03 adds, and one it removes
    c.mountd("ds04", "mount", "10.0.0.3", "/srv/vm1");
    c.mountd("ds04", "umount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const before = c.rmtab("ds03");
    await expect(crashBeforeRename(c)).rejects.toThrow(/simulated crash/);
    expect(c.rmtab("ds03")).toBe(before);
    // the next record sees the old rmtab against two candidate baselines: nothing to record
    const r = await record(ctx(c, "ds03"));
    expect(r.recorded).toEqual([]);
    // a real change made meanwhile is still recorded
    c.mountd("ds03", "mount", "10.0.0.4", "/srv/vm0");
    const r2 = await reconcile(ctx(c, "ds03"));
    expect(r2.recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["mount 10.0.0.4"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.3", "/srv/vm1"), line("10.0.0.4", "/srv/vm0")].sort());
    expect(c.json("ds03", ["show"]).mounts).toHaveLength(3);
  });
});
