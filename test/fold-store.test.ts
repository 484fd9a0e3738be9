// The fold a reconcile works on (src/io/fold-cache.ts, FoldStore): read by
// key from the fold cache, or built in a new file that spills to disk as it
// grows. Whatever path an entry takes (memory, the new file, the saved
// cache), the store must answer exactly as a fold held in memory.
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { compareEvents, type JournalEvent } from "../src/core/events.js";
import { entryKey } from "../src/core/rmtab.js";
import { FoldCache, FoldStore, foldCacheFile } from "../src/io/fold-cache.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rmtabsync-foldstore-"));
  dirs.push(d);
  return d;
}

const KEY = "test-config";
const SOURCES = new Map([["/j/n01.sqlite", { journalId: "j1", seq: 1, hash: "h" }]]);

/** What every reconcile's sink does with an event (src/sync.ts gather). */
function fold(into: { get(k: string): JournalEvent | undefined; set(k: string, e: JournalEvent): void }, events: readonly JournalEvent[]): void {
  for (const e of events) {
    const k = entryKey(e.client, e.path);
    const cur = into.get(k);
    if (cur === undefined || compareEvents(e, cur) > 0) into.set(k, e);
  }
}

const event = fc.record({
  client: fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.3", "host-a", "host-b"),
  path: fc.constantFrom("/srv/a", "/srv/a/x", "/srv/b"),
  count: fc.integer({ min: 0, max: 3 }),
  wall: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_020 }),
  logical: fc.integer({ min: 0, max: 2 }),
  node: fc.constantFrom("n01", "n02"),
  seq: fc.integer({ min: 1, max: 1000 }),
});
const toEvent = (r: { client: string; path: string; count: number; wall: number; logical: number; node: string; seq: number }): JournalEvent => ({
  ...r,
  op: r.count === 0 ? "umount" : "mount",
  journal: `j-${r.node}`,
  hash: `${r.seq}`.padStart(64, "0"),
});

/** The store's answers as one comparable value: every key's entry, and the mounted ones. */
function answers(s: FoldStore, keys: Iterable<string>) {
  const each = [...keys].sort().map((k) => [k, s.get(k) ?? null]);
  const mounted = [...s.mounted()].map((e) => [entryKey(e.client, e.path), e] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { each, mounted };
}
function expected(m: Map<string, JournalEvent>, keys: Iterable<string>) {
  const each = [...keys].sort().map((k) => [k, m.get(k) ?? null]);
  const mounted = [...m]
    .filter(([, e]) => e.count > 0)
    .map(([k, e]) => [k, { client: e.client, path: e.path, count: e.count }] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { each, mounted };
}

describe("FoldStore", () => {
  it("answers as an in-memory fold: built with spills to its file, saved, reopened and folded further", () => {
    fc.assert(
      fc.property(fc.array(event.map(toEvent), { maxLength: 60 }), fc.array(event.map(toEvent), { maxLength: 30 }), fc.integer({ min: 1, max: 8 }), (first, later, spillAt) => {
        const dir = stateDir();
        const keys = new Set([...first, ...later].map((e) => entryKey(e.client, e.path)));
        const truth = new Map<string, JournalEvent>();
        fold(truth, first);
        const built = FoldStore.fresh(dir, spillAt);
        fold(built, first);
        expect(answers(built, keys)).toEqual(expected(truth, keys));
        expect(built.save(dir, { key: KEY, sources: SOURCES, seen: { wall: 1, logical: 0 }, unchanged: undefined })).toBeUndefined();
        // the new file became the cache; nothing else is left in the state directory
        expect(readdirSync(dir)).toEqual(["rmtabsync.fold"]);
        const cache = FoldCache.open(dir, KEY);
        expect(cache?.state.sources.get("/j/n01.sqlite")?.seq).toBe(1);
        const store = cache!.store();
        cache!.close();
        fold(truth, later);
        fold(store, later);
        expect(answers(store, keys)).toEqual(expected(truth, keys));
        expect(store.save(dir, { key: KEY, sources: SOURCES, seen: { wall: 2, logical: 0 }, unchanged: undefined })).toBeUndefined();
        store.close();
        const again = FoldCache.open(dir, KEY)!.store();
        expect(answers(again, keys)).toEqual(expected(truth, keys));
        again.close();
      }),
      { seed: 20261130, numRuns: 150 },
    );
  });

  it("a new fold not saved leaves no file; one of a killed run is removed once it is an hour old", () => {
    const dir = stateDir();
    const old = `${foldCacheFile(dir)}.tmp-0123456789ab`;
    const recent = `${foldCacheFile(dir)}.tmp-ba9876543210`;
    writeFileSync(old, "left by a killed run");
    writeFileSync(recent, "another run's, in progress");
    const hourAgo = (Date.now() - 3_700_000) / 1000;
    utimesSync(old, hourAgo, hourAgo);
    const s = FoldStore.fresh(dir, 2);
    fold(s, [toEvent({ client: "10.0.0.1", path: "/srv/a", count: 1, wall: 1_700_000_000_000, logical: 0, node: "n01", seq: 1 })]);
    s.close();
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([recent.slice(dir.length + 1)]);
  });

  it("a dry run's fold lives in memory and cannot be saved", () => {
    const dir = stateDir();
    const s = FoldStore.fresh(undefined, 1);
    fold(s, [toEvent({ client: "10.0.0.1", path: "/srv/a", count: 2, wall: 1_700_000_000_000, logical: 0, node: "n01", seq: 1 })]);
    expect(s.get(entryKey("10.0.0.1", "/srv/a"))?.count).toBe(2);
    const r = s.save(dir, { key: KEY, sources: SOURCES, seen: { wall: 1, logical: 0 }, unchanged: undefined });
    expect(r).toHaveProperty("error");
    expect(readdirSync(dir)).toEqual([]);
  });
});
