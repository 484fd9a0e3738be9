// record's quick path (src/core/plan.ts planChangedRegion): the lines
// between the common first and last lines of rmtab and its baseline. It
// must plan exactly what the full parse plans, or step aside.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ExportIndex } from "../src/core/exports.js";
import { changedLines, diffLines, planChangedRegion, planReconcile, planReconcileEdit, planRecord, toCountMap } from "../src/core/plan.js";
import { planSpool, type SpoolEvent } from "../src/core/spool.js";
import { changedRegion, formatLine, parseRmtab, serializeRmtab, type RmtabEntry } from "../src/core/rmtab.js";

const index = new ExportIndex([
  { name: "vm0", path: "/srv/vm0" },
  { name: "vm1", path: "/srv/vm1" },
] as never);
const hosted = new Set(["vm0", "vm1"]);

/** What record planned before the quick path: a full parse, then the changed lines of the canonical form. */
function fullPlan(current: Buffer, committed: Buffer) {
  const parsed = parseRmtab(current);
  const canonicalNow = parsed.canonical ? current.toString("utf8") : serializeRmtab(parsed.entries);
  if (canonicalNow === committed.toString("utf8")) return { changes: [], ignored: [] };
  const d = diffLines(canonicalNow, committed.toString("utf8"));
  return planRecord({ current: parseRmtab(d.added).entries, baselines: [toCountMap(parseRmtab(d.removed).entries)], hosted, index });
}

const entry = fc.record({
  client: fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.12", "2001:db8::5", "192.168.1.1", "10.0.0.1"),
  path: fc.constantFrom("/srv/vm0", "/srv/vm1", "/srv/vm0/a", "/srv/vm1/b c", "/other"),
  count: fc.integer({ min: 1, max: 3 }),
});

/** A canonical rmtab (no client+path twice), as a baseline is. */
const canonical = fc.uniqueArray(entry, { selector: (e) => `${e.client}\n${e.path}`, maxLength: 12 });

/** What mountd and others do to a file: append, drop, bump a count, rewrite, plus damage the quick path must refuse. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant("append" as const), e: entry }),
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("count" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), e: entry }),
  fc.record({ kind: fc.constant("raw" as const), at: fc.nat(), text: fc.constantFrom("garbage\n", "10.0.0.9:/srv/vm0\n", "10.0.0.9:/srv/vm0:5\n", "10.0.0.1:/srv/vm0:0x00000001", "\n", "10.0.0.9:/srv/vm0:0X00000001\n") }),
);

type Edit = { kind: string; at?: number; e?: RmtabEntry; count?: number; text?: string };

function apply(base: RmtabEntry[], edits: readonly Edit[]): Buffer {
  const lines = base.map((e) => formatLine(e));
  for (const ed of edits) {
    const at = lines.length === 0 ? 0 : (ed.at ?? 0) % lines.length;
    if (ed.kind === "append") lines.push(formatLine(ed.e!));
    else if (ed.kind === "drop" && lines.length) lines.splice(at, 1);
    else if (ed.kind === "count" && lines.length) {
      const p = parseRmtab(lines[at]!).entries[0];
      if (p) lines[at] = formatLine({ ...p, count: ed.count! });
    } else if (ed.kind === "insert") lines.splice(at, 0, formatLine(ed.e!));
    else if (ed.kind === "raw") lines.splice(at, 0, ed.text!);
  }
  return Buffer.from(lines.join(""), "utf8");
}

describe("changedRegion", () => {
  it("cuts the common leading and trailing lines, whole lines only", () => {
    const base = Buffer.from("a:/x:0x00000001\nb:/x:0x00000001\nc:/x:0x00000001\n");
    const cur = Buffer.from("a:/x:0x00000001\nb:/x:0x00000002\nc:/x:0x00000001\n");
    const r = changedRegion(cur, base);
    expect(r.current.toString()).toBe("b:/x:0x00000002\n");
    expect(r.base.toString()).toBe("b:/x:0x00000001\n");
    expect(r.start).toBe(16);
    const appended = changedRegion(Buffer.concat([base, Buffer.from("d:/x:0x00000001\n")]), base);
    expect(appended.current.toString()).toBe("d:/x:0x00000001\n");
    expect(appended.base.length).toBe(0);
    const dropped = changedRegion(Buffer.from("a:/x:0x00000001\nc:/x:0x00000001\n"), base);
    expect(dropped.current.length).toBe(0);
    expect(dropped.base.toString()).toBe("b:/x:0x00000001\n");
    expect(changedRegion(base, base).current.length + changedRegion(base, base).base.length).toBe(0);
    // lines that share a tail ("1:/x..." inside "11:/x...") are never cut in the middle
    const r2 = changedRegion(Buffer.from("11:/x:0x00000001\n"), Buffer.from("1:/x:0x00000001\n"));
    expect(r2.current.toString()).toBe("11:/x:0x00000001\n");
    expect(r2.base.toString()).toBe("1:/x:0x00000001\n");
  });

  it("a base that is a view of the current bytes (read from rmtab itself) is their prefix; other views are compared", () => {
    const lines = Array.from({ length: 5_000 }, (_, i) => formatLine({ client: `10.0.${i >> 8}.${i & 255}`, path: "/srv/vm0", count: 1 }));
    const cur = Buffer.from(lines.join(""));
    const at = Buffer.byteLength(lines.slice(0, 4_000).join(""));
    const r = changedRegion(cur, cur.subarray(0, at));
    expect(r.start).toBe(at);
    expect(r.current.toString()).toBe(lines.slice(4_000).join(""));
    expect(r.base.length).toBe(0);
    // the same memory at another offset is other bytes
    const shifted = changedRegion(cur.subarray(lines[0]!.length), cur);
    expect(shifted.start).toBe(0);
    expect(shifted.current.toString()).toBe("");
    expect(shifted.base.toString()).toBe(lines[0]);
  });

  it("finds the region past 64 KiB chunks", () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => formatLine({ client: `10.0.${i >> 8}.${i & 255}`, path: "/srv/vm0", count: 1 }));
    const base = Buffer.from(lines.join(""));
    lines[12_345] = formatLine({ client: "10.0.48.57", path: "/srv/vm0", count: 2 });
    const r = changedRegion(Buffer.from(lines.join("")), base);
    expect(r.current.toString()).toBe(lines[12_345]);
    expect(r.base.toString()).toBe("10.0.48.57:/srv/vm0:0x00000001\n");
  });
});

describe("record's quick path", () => {
  it("plans what the full parse plans, or steps aside (property)", () => {
    let quick = 0;
    fc.assert(
      fc.property(canonical, fc.array(edit, { maxLength: 4 }), (base, edits) => {
        const committed = Buffer.from(serializeRmtab(base), "utf8");
        const current = apply(base, edits as Edit[]);
        const q = planChangedRegion(current, committed, hosted, undefined, index);
        if (q === undefined) return;
        quick++;
        expect(q).toEqual(fullPlan(current, committed));
        // the quick path only answers for a canonical file: its content is the next baseline as it is
        expect(parseRmtab(current).canonical).toBe(true);
      }),
      { numRuns: 3000, seed: 20261130 },
    );
    expect(quick).toBeGreaterThan(1000);
  });

  it("steps aside for a line that repeats one outside the region", () => {
    const committed = Buffer.from("10.0.0.1:/srv/vm0:0x00000001\n10.0.0.2:/srv/vm0:0x00000001\n");
    const dup = Buffer.concat([committed, Buffer.from("10.0.0.1:/srv/vm0:0x00000001\n")]);
    expect(planChangedRegion(dup, committed, hosted, undefined, index)).toBeUndefined();
    const other = Buffer.concat([committed, Buffer.from("10.0.0.11:/srv/vm0:0x00000001\n")]);
    expect(planChangedRegion(other, committed, hosted, undefined, index)?.changes).toEqual([{ op: "mount", client: "10.0.0.11", path: "/srv/vm0", count: 1 }]);
  });

  it("with the callout's spool: the changed lines plus the spool's plan what the full parse plans (property)", () => {
    const spoolEvent = fc.record({
      op: fc.constantFrom("mount" as const, "unmount" as const),
      client: fc.constantFrom("10.0.0.1", "10.0.0.2", "2001:db8::5", "10.0.0.77"),
      path: fc.constantFrom("/srv/vm0", "/srv/vm1", "/srv/vm0/a", "/other"),
      count: fc.integer({ min: 0, max: 3 }),
    });
    let quick = 0;
    fc.assert(
      fc.property(canonical, fc.array(edit, { maxLength: 3 }), fc.array(spoolEvent, { minLength: 1, maxLength: 4 }), (base, edits, raw) => {
        const events: SpoolEvent[] = raw.map((e, i) => ({ ...e, where: `spool line ${i + 1}` }));
        const committed = Buffer.from(serializeRmtab(base), "utf8");
        const current = apply(base, edits as Edit[]);
        const plan = (cur: RmtabEntry[], bases: Map<string, RmtabEntry>[]) => {
          const sp = planSpool({ events, baselines: bases, hosted, index });
          const rest = planRecord({ current: cur, baselines: sp.baselines, hosted, index });
          return [...sp.changes, ...rest.changes];
        };
        const lines = changedLines(current, committed, events);
        if (lines === undefined) return;
        quick++;
        const parsed = parseRmtab(current);
        expect(plan(lines.current, [lines.base])).toEqual(plan(parsed.entries, [toCountMap(parseRmtab(committed).entries)]));
      }),
      { numRuns: 3000, seed: 20261201 },
    );
    expect(quick).toBeGreaterThan(1000);
  });
});

describe("reconcile's in-place edit", () => {
  const managed = new Set(["vm0", "vm1"]);
  const ev = (client: string, path: string, count: number) =>
    ({ client, path, count, op: count > 0 ? "mount" : "umount", journal: "j", seq: 1, wall: 1, logical: 0, node: "n", hash: "h" }) as never;
  const key = (e: { client: string; path: string }) => `${e.client}\n${e.path}`;

  it("writes byte for byte what the full plan writes, or steps aside (property)", () => {
    let quick = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { selector: key, maxLength: 12 }),
        fc.array(entry, { maxLength: 5 }),
        fc.array(fc.record({ e: entry, count: fc.integer({ min: 0, max: 3 }) }), { maxLength: 5 }),
        fc.array(edit, { maxLength: 3 }),
        (live, unmanaged, foldChanges, edits) => {
          // the last reconcile: rmtab as the full plan wrote it from the fold (plus a few lines of no export)
          const fold0 = new Map(live.map((e) => [key(e), ev(e.client, e.path, e.count)]));
          const others = unmanaged.map((e) => ({ ...e, path: "/other" }));
          const p0 = planReconcile({ current: others.filter((e, i) => others.findIndex((o) => key(o) === key(e)) === i), fold: fold0.values(), managed, index, addOnly: false });
          if (p0.unwritable.length > 0) return;
          const written = serializeRmtab(p0.entries);
          // since: peers' events change the fold, mountd changes lines
          const fold1 = new Map(fold0);
          const keys = new Set<string>();
          for (const c of foldChanges) {
            fold1.set(key(c.e), ev(c.e.client, c.e.path, c.count));
            keys.add(key(c.e));
          }
          const current = apply(parseRmtab(written).entries, edits as Edit[]);
          const lines = changedLines(current, Buffer.from(written, "utf8"));
          if (lines === undefined) return;
          for (const e of lines.current) keys.add(key(e));
          for (const k of lines.base.keys()) keys.add(k);
          const inc = planReconcileEdit(current, keys, fold1, managed, index);
          if (inc === undefined) return;
          quick++;
          const full = planReconcile({ current: parseRmtab(current).entries, fold: fold1.values(), managed, index, addOnly: false });
          expect(inc.content.toString("utf8")).toBe(serializeRmtab(full.entries));
          expect(inc.plan.added).toEqual(full.added);
          expect(inc.plan.removed).toEqual(full.removed);
          expect(inc.plan.changed).toEqual(full.changed);
        },
      ),
      { numRuns: 3000, seed: 20261202 },
    );
    expect(quick).toBeGreaterThan(1000);
  });

  it("a full plan that adds, removes and changes no line keeps rmtab's entries as they are: a canonical file is written back byte for byte (property)", () => {
    let kept = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { selector: key, maxLength: 12 }),
        fc.array(fc.record({ e: entry, count: fc.integer({ min: 0, max: 3 }) }), { maxLength: 8 }),
        fc.array(edit, { maxLength: 3 }),
        fc.boolean(),
        (live, folded, edits, addOnly) => {
          const fold = new Map(live.map((e) => [key(e), ev(e.client, e.path, e.count)]));
          for (const f of folded) fold.set(key(f.e), ev(f.e.client, f.e.path, f.count));
          const current = apply(live, edits as Edit[]);
          const parsed = parseRmtab(current);
          const plan = planReconcile({ current: parsed.entries, currentIndex: parsed.index, fold: fold.values(), managed: new Set(["vm0"]), index, addOnly });
          if (plan.added.length > 0 || plan.removed.length > 0 || plan.changed.length > 0) return;
          kept++;
          expect(plan.entries).toEqual(parsed.entries);
          if (parsed.canonical) expect(serializeRmtab(plan.entries)).toBe(current.toString("utf8"));
        },
      ),
      { numRuns: 3000, seed: 20261203 },
    );
    expect(kept).toBeGreaterThan(100);
  });
});
