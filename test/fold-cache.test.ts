// The fold cache (<stateDir>/rmtabsync.fold): reconcile reads only what is
// past each journal's mark, and never trusts the cache when the journals
// moved in a way it cannot follow (issue 10). The model test compares every
// cached reconcile with a full fold; these are the cases worth naming.
import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { line, started } from "./helpers/cluster.js";

const cacheOf = (dir: string) => join(dir, "rmtabsync.fold");

describe("fold cache", () => {
  it("is written 0600 after a reconcile, and follows peer events past its marks", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.1", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    const file = cacheOf(c.stateDir("ds03"));
    expect(lstatSync(file).mode & 0o777).toBe(0o600);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm1")]);
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.mountd("ds04", "umount", "10.0.0.1", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.2", "/srv/vm1")]);
  });

  it("a peer that compacted away events past the mark (a retired umount) makes it fold from the start", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.1", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm1")]);
    // ds04: the client goes, and compaction retires both its mount and its umount before ds03 looks
    c.mountd("ds04", "umount", "10.0.0.1", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.mountd("ds04", "mount", "10.0.0.5", "/srv/vm1"); // the journal's tip stays: make it another event
    c.ok("ds04", ["record"]);
    c.ok("ds04", ["compact", "--keep", "0s"]); // drops the mount the umount superseded
    c.ok("ds04", ["compact", "--keep", "0s"]); // then the umount, no older mount of it surviving
    const r = JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout);
    expect(r.addOnly).toBe(false);
    expect(c.lines("ds03")).toEqual([line("10.0.0.5", "/srv/vm1")]);
  });

  it("lost, garbage or a symbolic link: reconcile folds everything again and the result is the same", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.1", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    const file = cacheOf(c.stateDir("ds03"));
    const want = c.rmtab("ds03");
    writeFileSync(file, "SQLite format 3\0 not really");
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm1"), line("10.0.0.2", "/srv/vm1")]);
    // a link planted where the cache goes is never written through
    const victim = join(c.root, "victim");
    writeFileSync(victim, "precious\n");
    rmSync(file);
    symlinkSync(victim, file);
    c.mountd("ds04", "mount", "10.0.0.3", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const r = c.run("ds03", ["reconcile"]);
    expect(r.code).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(c.lines("ds03")).toContain(line("10.0.0.3", "/srv/vm1"));
    expect(want).not.toBe("");
    expect(existsSync(victim)).toBe(true);
  });

  it("a damaged page inside it: reconcile folds every journal instead, and the result is the same", () => {
    const c = started();
    for (let i = 1; i <= 40; i++) c.mountd("ds04", "mount", `10.0.1.${i}`, "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    const want = c.rmtab("ds03");
    const file = cacheOf(c.stateDir("ds03"));
    // the cache opens (its meta and marks are sound), the page of its fold table is not
    const db = new Database(file, { readonly: true });
    const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'fold'").get() as { rootpage: number };
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    db.close();
    const bytes = readFileSync(file);
    bytes.fill(0xa5, (rootpage - 1) * pageSize + 8, rootpage * pageSize);
    writeFileSync(file, bytes);
    c.mountd("ds04", "umount", "10.0.1.7", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const r = c.ok("ds03", ["reconcile"]);
    expect(r.stderr).toMatch(/warning: the fold cache could not be read: .*; folding every journal instead/);
    expect(c.rmtab("ds03")).toBe(want.replace(`${line("10.0.1.7", "/srv/vm1")}\n`, ""));
    // and the cache it writes instead serves the next run
    expect(c.ok("ds03", ["reconcile", "--json"]).stdout).toContain('"written": false');
  });

  it("nothing moved: a second reconcile changes nothing and a change of etab or of a peer is seen", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.9", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    const before = c.rmtab("ds03");
    const again = JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout);
    expect(again.written).toBe(false);
    expect(c.rmtab("ds03")).toBe(before);
    // the count of lines comes from the cache's note (the file is only hashed), as the reconcile that wrote it counted
    expect(again.entries).toBe(1);
    const db = new Database(cacheOf(c.stateDir("ds03")));
    const note = JSON.parse((db.prepare("SELECT value FROM meta WHERE key = 'unchanged'").get() as { value: string }).value);
    expect(note.entries).toBe(1);
    // a note that cannot be right (more lines than bytes) is not believed: the lines are counted
    db.prepare("UPDATE meta SET value = ? WHERE key = 'unchanged'").run(JSON.stringify({ ...note, entries: 1e9 }));
    db.close();
    expect(JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout)).toMatchObject({ written: false, entries: 1 });
    // rmtab changed behind the note (a line appended, the lock held by nobody): the full path sees it
    c.mountd("ds03", "mount", "10.0.0.10", "/srv/vm0");
    expect(JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout)).toMatchObject({ entries: 2 });
    // a peer's change is not "nothing moved"
    c.mountd("ds04", "mount", "10.0.0.4", "/srv/vm1");
    c.ok("ds04", ["record"]);
    expect(JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout).added).toHaveLength(1);
  });
});
