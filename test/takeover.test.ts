// A takeover's rebuild (issue 10): rmtab holds no line of the exports taken
// over, so their lines come whole from the fold cache (one range scan per
// export, src/io/fold-cache.ts images), and the baseline lines that vanished
// are classified without an object per line (planVanished). Each shortcut
// must give exactly what the line-by-line plan gives.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { listed } from "../src/commands/format.js";
import type { JournalEvent } from "../src/core/events.js";
import { ExportIndex } from "../src/core/exports.js";
import { LineList } from "../src/core/line-list.js";
import { addedLines, cmpCodePoints, planLost, planReconcile, planRecord, planVanished, serializePlan, toCountMap, type ExportImage } from "../src/core/plan.js";
import { entryKey, entryProblem, formatLine, linesProblem, parseRmtab, serializeRmtab, type RmtabEntry } from "../src/core/rmtab.js";
import { FoldCache, FoldCacheDamaged, FoldStore, foldCacheFile } from "../src/io/fold-cache.js";
import { line, started } from "./helpers/cluster.js";

const index = new ExportIndex([
  { name: "vm0", path: "/srv/vm0" },
  { name: "vm0img", path: "/srv/vm0/images" },
  { name: "vm1", path: "/srv/vm1" },
  { name: "vm2", path: "/srv/vm2" },
] as never);
const exportName = (p: string) => index.exportOf(p)?.name ?? "";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rmtabsync-takeover-"));
  dirs.push(d);
  return d;
}

// clients and paths that SQLite's order and JavaScript's could disagree on: a surrogate pair (U+1F600)
// sorts after U+FFFD in code point order (and in UTF-8), before it in UTF-16 code units
const client = fc.constantFrom("10.0.0.1", "10.0.0.10", "10.0.0.2", "2001:db8::5", "host-\u00e9", "h\u{1F600}", "h\uFFFD", "H", "bad client");
const path = fc.constantFrom("/srv/vm0", "/srv/vm0/a", "/srv/vm0/images", "/srv/vm0/images/x", "/srv/vm1", "/srv/vm1/\u{1F600}", "/srv/vm1/\uFFFD", "/srv/vm2/b c", "/srv/vm2/../x", "/other");
const entry = fc.record({ client, path, count: fc.integer({ min: 0, max: 3 }) });
const key = (e: { client: string; path: string }) => entryKey(e.client, e.path);

/** An export's lines as images() joins them: mounted, writable, by client then path in code point order. */
function referenceImage(fold: readonly RmtabEntry[], name: string): ExportImage {
  const mine = fold.filter((e) => e.count > 0 && exportName(e.path) === name);
  const ok = mine.filter((e) => entryProblem(e) === undefined).sort((a, b) => cmpCodePoints(a.client, b.client) || cmpCodePoints(a.path, b.path));
  return { text: ok.map(formatLine).join(""), lines: ok.length, unwritable: mine.filter((e) => entryProblem(e) !== undefined) };
}

function ev(e: RmtabEntry, seq: number): JournalEvent {
  return { ...e, op: e.count > 0 ? "mount" : "umount", journal: "j", seq, wall: 1_700_000_000_000 + seq, logical: 0, node: "n01", hash: String(seq).padStart(64, "0") };
}

describe("a whole export's lines", () => {
  it("are what the line-by-line plan writes, in the same order, and list the same additions (property)", () => {
    let whole = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { selector: key, maxLength: 10 }),
        fc.uniqueArray(entry, { selector: key, maxLength: 25 }),
        fc.subarray(["vm0", "vm0img", "vm1", "vm2"]),
        fc.subarray(["vm0", "vm1"]),
        fc.boolean(),
        (rmtab, fold, managedList, frozenList, addOnly) => {
          const current = parseRmtab(Buffer.from(serializeRmtab(rmtab.filter((e) => e.count > 0 && entryProblem(e) === undefined)), "utf8"));
          const managed = new Set(managedList);
          const frozen = new Set(frozenList);
          const common = { current: current.entries, currentIndex: current.index, managed, index, addOnly, frozen };
          const one = planReconcile({ ...common, fold: fold.values() });
          const asked: string[] = [];
          const two = planReconcile({
            ...common,
            fold: (exports) => fold.filter((e) => exports.has(exportName(e.path))),
            image: (name) => {
              asked.push(name);
              return referenceImage(fold, name);
            },
          });
          whole += two.images.length;
          // only exports rmtab holds no line of, managed, not frozen
          for (const name of asked) {
            expect(managed.has(name) && !frozen.has(name)).toBe(true);
            expect(current.entries.some((e) => exportName(e.path) === name)).toBe(false);
          }
          expect(serializePlan(two).toString("utf8")).toBe(serializeRmtab(one.entries));
          expect(two.lines).toBe(one.entries.length);
          expect([...addedLines(two)]).toEqual(one.added);
          expect(addedLines(two).length).toBe(one.added.length);
          expect(two.removed).toEqual(one.removed);
          expect(two.changed).toEqual(one.changed);
          expect(two.heldBack).toEqual(one.heldBack);
          const u = (p: typeof one) => p.unwritable.map((x) => JSON.stringify(x)).sort();
          expect(u(two)).toEqual(u(one));
        },
      ),
      { numRuns: 2000, seed: 20261201 },
    );
    expect(whole).toBeGreaterThan(500);
  });

  it("come out of the fold cache in the plan's order (SQLite's and the planner's agree beyond ASCII), this run's changes included", () => {
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: key, maxLength: 40 }), fc.uniqueArray(entry, { selector: key, maxLength: 10 }), (before, changes) => {
        const dir = tempDir();
        const built = FoldStore.fresh(dir, 4, exportName);
        before.forEach((e, i) => built.set(key(e), ev(e, i + 1)));
        const sources = new Map([["/j/n01.sqlite", { journalId: "j1", seq: 1, hash: "h" }]]);
        expect(built.save(dir, { key: "k", sources, seen: { wall: 1, logical: 0 }, unchanged: undefined })).toBeUndefined();
        built.close();
        // the cache, with changes of this run in memory: images() puts them in the file first
        const store = FoldCache.open(dir, "k")!.store(exportName);
        changes.forEach((e, i) => store.set(key(e), ev(e, 100 + i)));
        const now = new Map(before.map((e) => [key(e), e]));
        for (const e of changes) now.set(key(e), e);
        const image = store.images(true)!;
        for (const name of ["vm0", "vm0img", "vm1", "vm2", "nothing"]) {
          const got = image(name);
          const want = referenceImage([...now.values()], name);
          expect(got.text).toBe(want.text);
          expect(got.lines).toBe(want.lines);
          expect(got.unwritable.map(key).sort()).toEqual(want.unwritable.map(key).sort());
        }
        // not saved: the changes were this run's only (rolled back with it)
        store.close();
        const again = FoldCache.open(dir, "k")!.store(exportName);
        expect(again.images(true)!("vm1").text).toBe(referenceImage(before, "vm1").text);
        again.close();
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 60, seed: 20261202 },
    );
  });

  it("saved with this run's changes: the cache holds them; a damaged line is a damaged cache, never an rmtab line", () => {
    const dir = tempDir();
    const sources = new Map([["/j/n01.sqlite", { journalId: "j1", seq: 1, hash: "h" }]]);
    const upd = { key: "k", sources, seen: { wall: 1, logical: 0 }, unchanged: undefined };
    const built = FoldStore.fresh(dir, 2, exportName);
    const a = { client: "10.0.0.1", path: "/srv/vm1", count: 1 };
    const b = { client: "10.0.0.2", path: "/srv/vm1", count: 2 };
    built.set(key(a), ev(a, 1));
    built.save(dir, upd);
    built.close();
    const store = FoldCache.open(dir, "k")!.store(exportName);
    store.set(key(b), ev(b, 2));
    expect(store.images(true)!("vm1").text).toBe(formatLine(a) + formatLine(b));
    expect(store.save(dir, upd)).toBeUndefined();
    store.close();
    const reread = FoldCache.open(dir, "k")!.store(exportName);
    expect(reread.get(key(b))?.count).toBe(2);
    reread.close();
    // a line that lost its newline (a bit flipped on disk that SQLite cannot see)
    const db = new Database(foldCacheFile(dir));
    db.prepare("UPDATE fold SET line = ? WHERE client = ?").run("10.0.0.2:/srv/vm1:0x00000002", "10.0.0.2");
    db.close();
    const bad = FoldCache.open(dir, "k")!.store(exportName);
    expect(() => bad.images(true)!("vm1")).toThrow(FoldCacheDamaged);
    expect(() => bad.images(true)!("vm1")).toThrow(/export vm1: line 2/);
    bad.close();
    // a row moved under another export (its line is sound): not written as that export's
    const moved = new Database(foldCacheFile(dir));
    moved.prepare("UPDATE fold SET line = ?, export = 'vm2' WHERE client = ?").run(formatLine(b), "10.0.0.2");
    moved.close();
    const wrong = FoldCache.open(dir, "k")!.store(exportName);
    expect(wrong.images(true)!("vm1").text).toBe(formatLine(a));
    expect(() => wrong.images(true)!("vm2")).toThrow(/export vm2: line 1 has a path, "\/srv\/vm1", that does not belong here/);
    wrong.close();
  });

  it("a cache file without its line index is a damaged cache; a new file whose index cannot be made is planned line by line, not kept", () => {
    const dir = tempDir();
    const sources = new Map([["/j/n01.sqlite", { journalId: "j1", seq: 1, hash: "h" }]]);
    const upd = { key: "k", sources, seen: { wall: 1, logical: 0 }, unchanged: undefined };
    const built = FoldStore.fresh(dir, 2, exportName);
    const a = { client: "10.0.0.1", path: "/srv/vm1", count: 1 };
    built.set(key(a), ev(a, 1));
    expect(built.save(dir, upd)).toBeUndefined();
    built.close();
    const db = new Database(foldCacheFile(dir));
    db.exec("DROP INDEX fold_lines");
    db.close();
    const store = FoldCache.open(dir, "k")!.store(exportName);
    expect(() => store.images(true)).toThrow(FoldCacheDamaged);
    store.close();
    // a new file (a full fold) whose index cannot be made (here: its name is taken; a full disk alike)
    const fresh = FoldStore.fresh(dir, 1, exportName);
    for (let i = 1; i <= 3; i++) {
      const e = { client: `10.0.0.${i}`, path: "/srv/vm1", count: 1 };
      fresh.set(key(e), ev(e, i));
    }
    const tmp = readdirSync(dir).find((f) => f.startsWith("rmtabsync.fold.tmp-"))!;
    const other = new Database(join(dir, tmp));
    other.exec("CREATE TABLE fold_lines (x)");
    other.close();
    expect(fresh.images(true)).toBeUndefined();
    expect([...fresh.mounted(new Set(["vm1"]))]).toHaveLength(3);
    expect(fresh.save(dir, upd)?.error).toMatch(/could not write the fold cache .*its new file could not be written: .*fold_lines/);
    fresh.close();
  });

  it("a dry run's changes are never written to the cache: its lines are planned one by one instead", () => {
    const dir = tempDir();
    const sources = new Map([["/j/n01.sqlite", { journalId: "j1", seq: 1, hash: "h" }]]);
    const built = FoldStore.fresh(dir, 2, exportName);
    const a = { client: "10.0.0.1", path: "/srv/vm1", count: 1 };
    built.set(key(a), ev(a, 1));
    built.save(dir, { key: "k", sources, seen: { wall: 1, logical: 0 }, unchanged: undefined });
    built.close();
    const before = readFileSync(foldCacheFile(dir));
    const quiet = FoldCache.open(dir, "k")!.store(exportName);
    expect(quiet.images(false)!("vm1").text).toBe(formatLine(a)); // nothing of its own: read as it is
    quiet.close();
    const dry = FoldCache.open(dir, "k")!.store(exportName);
    const b = { client: "10.0.0.2", path: "/srv/vm1", count: 1 };
    dry.set(key(b), ev(b, 2));
    expect(dry.images(false)).toBeUndefined();
    dry.close();
    expect(readFileSync(foldCacheFile(dir)).equals(before)).toBe(true);
    expect(existsSync(`${foldCacheFile(dir)}-journal`)).toBe(false);
  });
});

describe("linesProblem", () => {
  it("takes what formatLine writes and nothing mountd would misread", () => {
    const ok = [
      { client: "10.0.0.1", path: "/srv/vm0", count: 1 },
      { client: "2001:db8::5", path: "/srv/.snap/x..y", count: 0x7fffffff },
      { client: "host-\u00e9", path: "/srv/\u{1F600} b", count: 3 },
    ];
    const text = ok.map(formatLine).join("");
    expect(linesProblem(text, 3)).toBeUndefined();
    expect(linesProblem("", 0)).toBeUndefined();
    expect(linesProblem(text, 2)).toMatch(/3 lines where 2/);
    expect(linesProblem("10.0.0.1:/srv/vm0:0x00000001", 1)).toMatch(/line 1/);
    expect(linesProblem("10.0.0.1:/srv/../etc:0x00000001\n", 1)).toMatch(/line 1/);
    expect(linesProblem("10.0.0.1:/srv/./a:0x00000001\n", 1)).toMatch(/line 1/);
    expect(linesProblem(`${formatLine(ok[0]!)}10.0.0.1 /srv/vm0 0x00000001\n`, 2)).toMatch(/line 2/);
    expect(linesProblem("10.0.0.1:/srv/vm0:1\n", 1)).toMatch(/line 1/);
    expect(linesProblem(`c:/${"x".repeat(2040)}:0x00000001\n`, 1)).toMatch(/line 1/);
    // counts mountd reads as 0 or as a negative int
    for (const count of ["00000000", "80000000", "ffffffff"]) expect(linesProblem(`10.0.0.1:/srv/vm0:0x${count}\n`, 1)).toMatch(/line 1/);
    // a line of a path the caller does not expect there (a damaged export column)
    expect(linesProblem(text, 3, (p) => p !== "/srv/.snap/x..y")).toMatch(/line 2 has a path, "\/srv\/.snap\/x..y", that does not belong here/);
    expect(linesProblem(text, 3, () => true)).toBeUndefined();
    // a root with a regex's special characters is taken literally
    const special = "/srv/a+b(1)[x]";
    const lines = [`${special}`, `${special}/c.d`, "/srv/aab(1)[x]", "/srv/a+b(1)[x]x"].map((path) => formatLine({ client: "10.0.0.1", path, count: 1 })).join("");
    const asked: string[] = [];
    expect(linesProblem(lines, 4, (p) => (asked.push(p), true), special)).toBeUndefined();
    expect(asked).toEqual(["/srv/aab(1)[x]", "/srv/a+b(1)[x]x"]);
    expect(linesProblem(lines, 4, (p) => p.startsWith(`${special}/`) || p === special, special)).toMatch(/line 3 has a path, "\/srv\/aab\(1\)\[x\]", that does not belong here/);
  });

  it("takes the paths under a sole root without asking, and asks for every other one (property)", () => {
    const line = fc.record({
      client: fc.constantFrom("10.0.0.1", "2001:db8::5"),
      path: fc.constantFrom("/srv/vm0", "/srv/vm0/a", "/srv/vm0/", "/srv/vm0//b", "/srv/vm01", "/srv/vm0x/a", "/srv", "//srv/vm0", "/srv/vm0/images/big", "/srv/vm1", "/srv/vm1/a", "/srv/vm1x", "/srv/vm1x/a"),
      count: fc.constant(1),
    });
    // and lines no check may let through: counts mountd reads as 0 or negative, a "." component, fields too long, no newline
    const raw = fc.constantFrom(
      "10.0.0.1:/srv/vm1:0x00000000\n",
      "10.0.0.1:/srv/vm1:0x80000000\n",
      "10.0.0.1:/srv/vm1/./a:0x00000001\n",
      "10.0.0.1:/srv/vm1/..:0x00000001\n",
      `${"c".repeat(1025)}:/srv/vm1:0x00000001\n`,
      `${"c".repeat(600)}:/srv/vm1:0x00000001\n`,
      `10.0.0.1:/srv/vm1/${"p".repeat(1020)}:0x00000001\n`,
      "10.0.0.1:/srv/vm1:0x00000001",
      "10.0.0.1 /srv/vm1 0x00000001\n",
      "10.0.0.1:/srv/vm1:1\n",
      "h\u00e9:/srv/vm1:0x00000001\n",
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(line.map(formatLine), raw), { maxLength: 12 }), fc.constantFrom(0, 0, 1), (ls, miscount) => {
        const text = ls.join("");
        const n = ls.length + miscount;
        const asked: string[] = [];
        const ok = (p: string) => {
          asked.push(p);
          return index.exportOf(p)?.name === "vm1";
        };
        const root = index.soleRoot("vm1");
        expect(root).toBe("/srv/vm1");
        // the same verdict with and without the root; only paths outside it are looked up
        expect(linesProblem(text, n, ok, root)).toBe(linesProblem(text, n, (p) => index.exportOf(p)?.name === "vm1"));
        for (const p of asked) expect(p === root || p.startsWith(`${root}/`)).toBe(false);
        // vm0 has vm0img under it: no sole root, every path is asked
        expect(index.soleRoot("vm0")).toBeUndefined();
      }),
      { numRuns: 1000, seed: 20261201 },
    );
  });
});

describe("vanished lines", () => {
  const canonicalBase = fc.uniqueArray(
    fc.record({
      client: fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.12", "2001:db8::5", "192.168.1.1", "h\u00e9"),
      path: fc.constantFrom("/srv/vm0", "/srv/vm0/images", "/srv/vm1", "/srv/vm1/b c", "/srv/vm2", "/other"),
      count: fc.integer({ min: 0, max: 3 }),
    }),
    { selector: key, maxLength: 30 },
  );
  const names = ["vm0", "vm0img", "vm1", "vm2"];

  it("are planned as planRecord plans an rmtab that lost them, or handed back to it (property)", () => {
    let fast = 0;
    fc.assert(
      fc.property(canonicalBase, fc.subarray(names), fc.option(fc.subarray(names)), (base, hostedList, before) => {
        const bytes = Buffer.from(serializeRmtab(base), "utf8");
        const hosted = new Set(hostedList);
        const hostedBefore = before === null ? undefined : new Set(before);
        const want = planRecord({ current: [], baselines: [toCountMap(parseRmtab(bytes).entries)], hosted, ...(hostedBefore ? { hostedBefore } : {}), index });
        const got = planVanished(bytes, hosted, hostedBefore, index);
        if (got === undefined) {
          expect(bytes.toString("latin1")).not.toBe(bytes.toString("utf8")); // only outside ASCII
          return;
        }
        fast++;
        expect(got.changes).toEqual(want.changes);
        expect([...got.ignored]).toEqual(want.ignored);
        expect(got.ignored.length).toBe(want.ignored.length);
        expect(got.ignored.byExport()).toEqual(LineList.of(want.ignored).byExport());
      }),
      { numRuns: 2000, seed: 20261203 },
    );
    expect(fast).toBeGreaterThan(500);
  });

  it("planLost plans what planRecord plans; when no export could journal a lost line it reads none until they are listed (property)", () => {
    let deferred = 0;
    const anyBase = fc.oneof(
      canonicalBase.map((b) => Buffer.from(serializeRmtab(b), "utf8")),
      fc.array(fc.constantFrom("10.0.0.1:/srv/vm0:0x00000001\n", "10.0.0.1:/srv/vm0:0x80000000\n", "h 1:/srv/vm1:0x00000001\n", "10.0.0.2:/srv/vm1/./x:0x00000002\n"), { maxLength: 5 }).map((ls) => Buffer.from(ls.join(""), "latin1")),
    );
    fc.assert(
      fc.property(anyBase, fc.subarray(names), fc.option(fc.subarray(names)), (bytes, hostedList, before) => {
        const hosted = new Set(hostedList);
        const hostedBefore = before === null ? undefined : new Set(before);
        const want = planRecord({ current: [], baselines: [toCountMap(parseRmtab(bytes).entries)], hosted, ...(hostedBefore ? { hostedBefore } : {}), index });
        // an index that counts its lookups: a line's export is looked up only when the line is read
        let lookups = 0;
        const counting = Object.assign(Object.create(index) as ExportIndex, {
          exportOf: (p: string) => {
            lookups++;
            return index.exportOf(p);
          },
        });
        const got = planLost(bytes, hosted, hostedBefore, counting);
        expect(got.changes).toEqual(want.changes);
        // no configured export journals a lost line (one exported here since the last record, or leaving since): a summary instead of the lines
        const quiet = bytes.length > 0 && names.every((n) => !(hostedBefore === undefined ? hosted.has(n) : hostedBefore.has(n)));
        const summaries = got.ignored.summaries();
        expect(summaries.length).toBe(quiet ? 1 : 0);
        if (quiet) {
          deferred++;
          expect(got.changes).toEqual([]);
          expect(got.ignored.empty).toBe(false);
          expect(got.ignored.listed().length).toBe(0);
          expect(lookups).toBe(0);
          expect(summaries[0]).toMatch(new RegExp(`^rmtab lost ${bytes.toString("latin1").split("\n").length - 1} lines? since the last record; none is recorded as an umount: no export configured here `));
        }
        const keys = (l: Iterable<{ client: string; path: string }>) => new Set([...l].map(key));
        expect(keys(got.ignored)).toEqual(keys(want.ignored));
        // (a damaged baseline's repeated line is listed as often as it stands)
        if (parseRmtab(bytes).canonical) {
          expect(got.ignored.length).toBe(want.ignored.length);
          expect(got.ignored.byExport()).toEqual(LineList.of(want.ignored).byExport());
        }
      }),
      { numRuns: 2000, seed: 20261206 },
    );
    expect(deferred).toBeGreaterThan(100);
  });

  it("a damaged baseline (lines parseRmtab drops, repeated lines) never journals what planRecord would not (property)", () => {
    const rawLine = fc.oneof(
      fc.record({ client: fc.constantFrom("10.0.0.1", "10.0.0.2", "2001;db8;;5", "h 1", "h\t2", "a/./b"), path: fc.constantFrom("/srv/vm0", "/srv/vm0/../etc", "/srv/vm1/./x", "/srv/vm1/..", "/srv/vm2", "srv/vm2", "/other"), count: fc.constantFrom("0x00000001", "0x00000002", "0x00000000", "0x80000000", "0xffffffff", "1", "0x0000001g") }).map((l) => `${l.client}:${l.path}:${l.count}\n`),
      fc.constantFrom(`10.0.0.9:/srv/vm0/${"x".repeat(1030)}:0x00000001\n`, `${"c".repeat(1020)}:/srv/vm0/${"y".repeat(1020)}:0x00000001\n`, "10.0.0.1:/srv/vm0:0x00000001"),
    );
    let fast = 0;
    fc.assert(
      fc.property(fc.array(rawLine, { maxLength: 12 }), fc.subarray(names), fc.option(fc.subarray(names)), (lines, hostedList, before) => {
        const bytes = Buffer.from(lines.join(""), "latin1");
        const hosted = new Set(hostedList);
        const hostedBefore = before === null ? undefined : new Set(before);
        const want = planRecord({ current: [], baselines: [toCountMap(parseRmtab(bytes).entries)], hosted, ...(hostedBefore ? { hostedBefore } : {}), index });
        const got = planVanished(bytes, hosted, hostedBefore, index);
        if (got === undefined) return;
        fast++;
        expect(got.changes).toEqual(want.changes);
        const keys = (l: Iterable<{ client: string; path: string }>) => new Set([...l].map(key));
        expect(keys(got.ignored)).toEqual(keys(want.ignored));
      }),
      { numRuns: 3000, seed: 20261205 },
    );
    expect(fast).toBeGreaterThan(150);
  });

  it("a line not as formatLine writes it is handed back", () => {
    expect(planVanished(Buffer.from("10.0.0.1:/srv/vm0:1\n"), new Set(["vm0"]), undefined, index)).toBeUndefined();
    expect(planVanished(Buffer.from("10.0.0.1:/srv/vm0:0x00000001"), new Set(["vm0"]), undefined, index)).toBeUndefined();
    expect(planVanished(Buffer.from("10.0.0.1:/srv/a:b:0x00000001\n"), new Set(["vm0"]), undefined, index)).toBeUndefined();
  });
});

describe("listing", () => {
  it("a list read only as far as it is listed prints what the array prints", () => {
    const items = Array.from({ length: 57 }, (_, i) => ({ client: `10.0.0.${i}`, path: i % 3 ? "/srv/vm1" : "/srv/vm0", export: i % 3 ? "vm1" : i % 2 ? null : "vm0" }));
    const show = (x: (typeof items)[number]) => `${x.client} ${x.path}`;
    const lazy = new LineList([
      { length: 30, items: () => items.slice(0, 30) },
      { length: 27, byExport: LineList.of(items.slice(30)).byExport(), items: () => items.slice(30) },
    ]);
    const ofExport = (x: (typeof items)[number]) => x.export;
    expect(listed(lazy, show, "lines", ofExport)).toEqual(listed(items, show, "lines", ofExport));
    expect(listed(lazy, show, "lines", ofExport).at(-1)).toBe("... and 37 more lines (no export 6; vm0 6; vm1 25; --json lists every one)");
    expect(listed(lazy, show, "lines")).toEqual(listed(items, show, "lines"));
    expect(JSON.stringify(lazy)).toBe(JSON.stringify(items));
  });
});

describe("takeover", () => {
  it("an emptied rmtab is rebuilt from the cache's whole exports; a damaged cached line makes it fold every journal instead", () => {
    const c = started();
    for (let i = 1; i <= 30; i++) c.mountd("ds04", "mount", `10.0.1.${i}`, i % 2 ? "/srv/vm1" : "/srv/vm1/sub");
    c.ok("ds04", ["record"]);
    for (let i = 1; i <= 5; i++) c.mountd("ds03", "mount", `10.0.3.${i}`, "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    const want = c.lines("ds03").sort();
    expect(want).toHaveLength(35);
    // ds03 takes vm1 over with an emptied rmtab: the lines come back, none is journaled as an umount
    c.writeRmtab("ds03", "");
    const r = JSON.parse(c.ok("ds03", ["reconcile", "--json", "--hosting", "vm1"]).stdout);
    expect(r.recorded).toEqual([]);
    expect(r.added).toHaveLength(35);
    expect(r.ignored.length + r.recorded.length).toBeGreaterThan(0);
    expect(c.lines("ds03").sort()).toEqual(want);
    // new lines by export, then client, then path
    expect(c.rmtab("ds03").split("\n").slice(0, 7)).toEqual([
      ...[1, 2, 3, 4, 5].map((i) => line(`10.0.3.${i}`, "/srv/vm0")),
      line("10.0.1.1", "/srv/vm1"),
      line("10.0.1.10", "/srv/vm1/sub"),
    ]);
    // a cached line damaged on disk (no newline): never written, the journals are folded instead
    const db = new Database(foldCacheFile(c.stateDir("ds03")));
    db.prepare("UPDATE fold SET line = substr(line, 1, length(line) - 1) WHERE client = '10.0.1.7'").run();
    db.close();
    c.writeRmtab("ds03", "");
    const again = c.ok("ds03", ["reconcile", "--hosting", "vm1"]);
    expect(again.stderr).toMatch(/warning: the fold cache could not be read: export vm1: line \d+ .*; folding every journal instead/);
    expect(c.lines("ds03").sort()).toEqual(want);
  });

  it("the agent's start on an emptied rmtab: text output sums the lost lines up (none could be an umount), --json lists each", () => {
    const c = started();
    for (let i = 1; i <= 30; i++) c.mountd("ds04", "mount", `10.0.1.${i}`, "/srv/vm1");
    c.ok("ds04", ["record"]);
    // ds03 holds vm1's lines (the shared volume pre-populates them), then its exports stop
    c.ok("ds03", ["reconcile"]);
    const want = c.lines("ds03").sort();
    expect(want).toHaveLength(30);
    c.etab("ds03", []);
    c.ok("ds03", ["record"]);
    // vm1 comes over onto an emptied rmtab
    c.writeRmtab("ds03", "");
    const dry = JSON.parse(c.ok("ds03", ["reconcile", "--dry-run", "--json", "--hosting", "vm1"]).stdout);
    expect(dry.recorded).toEqual([]);
    expect(dry.ignored).toHaveLength(30);
    expect(dry.ignored[0].reason).toMatch(/^export vm1 was taken over since the last record/);
    const text = c.ok("ds03", ["reconcile", "--hosting", "vm1"]).stdout;
    expect(text).toMatch(
      /^not recorded: rmtab lost 30 lines since the last record; none is recorded as an umount: no export configured here was exported by this node both at the last record and now; vm1 taken over since \(a line lost meanwhile may be an UMNTALL from before\); vm0 not exported by this node \(etab\); reconcile restores what the journals hold/m,
    );
    expect(text).not.toMatch(/^not recorded: 10\./m);
    expect(text).toMatch(/^\.\.\. and 10 more lines added \(vm1 10; --json lists every one\)$/m);
    expect(c.lines("ds03").sort()).toEqual(want);
  });
});
