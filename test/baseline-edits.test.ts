// The baseline kept as a base plus edits (src/core/baseline-edits.ts): in
// the journal (table baseline_content) and in the local copy
// (rmtabsync.baseline and rmtabsync.baseline-edits).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { applySplices, applySplicesInPlace, decodeSplices, spliceRoom, encodeSplices, MAX_EDITS, MAX_EDITS_BYTES, smallSpliceOf, withSplice, type Splice } from "../src/core/baseline-edits.js";
import { loadConfig } from "../src/config.js";
import { readSnapshotWithRoom } from "../src/io/files.js";
import { localEditsFile, readLocalBaseline, writeLocalBaseline } from "../src/io/local-baseline.js";
import { record, type SyncContext } from "../src/sync.js";
import { line, TestCluster } from "./helpers/cluster.js";

/** The obvious way: one copy per splice. */
function naive(base: Buffer, list: readonly Splice[]): Buffer {
  let b = base;
  for (const s of list) b = Buffer.concat([b.subarray(0, s.start), s.ins, b.subarray(s.start + s.del)]);
  return b;
}

const lineArb = fc.constantFrom("10.0.0.1:/srv/vm0:0x00000001\n", "10.0.0.2:/srv/vm0:0x00000002\n", "h:/srv/vm1/a:0x00000001\n", "x:/srv/vm1:0x00000003\n", "");
const fileArb = fc.array(lineArb, { maxLength: 30 }).map((l) => Buffer.from(l.join("")));

describe("splices", () => {
  it("applied in one pass equal the splices applied one by one, and a file's successive versions round-trip through the encoding (property, pinned seed)", () => {
    fc.assert(
      fc.property(fileArb, fc.array(fileArb, { minLength: 1, maxLength: 12 }), (first, versions) => {
        let prev = first;
        const list: Splice[] = [];
        for (const next of versions) {
          list.push(smallSpliceOf(prev, next)!);
          prev = next;
        }
        const decoded = decodeSplices(encodeSplices(list));
        expect(applySplices(first, decoded).equals(prev)).toBe(true);
        expect(naive(first, decoded).equals(prev)).toBe(true);
      }),
      { seed: 20261201, numRuns: 400 },
    );
  });

  it("arbitrary in-range splices agree with the one-by-one copy (property, pinned seed)", () => {
    const arb = fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 10 }), fc.uint8Array({ maxLength: 6 })), { maxLength: 10 }));
    fc.assert(
      fc.property(arb, ([bytes, raw]) => {
        const base = Buffer.from(bytes);
        let len = base.length;
        const list: Splice[] = [];
        for (const [at, del, ins] of raw) {
          const start = len === 0 ? 0 : at % (len + 1);
          const d = Math.min(del, len - start);
          list.push({ start, del: d, ins: Buffer.from(ins) });
          len += ins.length - d;
        }
        expect(applySplices(base, list).equals(naive(base, list))).toBe(true);
        // in place, in a buffer with exactly the room the edits need
        const buf = Buffer.alloc(base.length + spliceRoom(list), 0xee);
        base.copy(buf);
        expect(buf.subarray(0, applySplicesInPlace(buf, base.length, list)).equals(naive(base, list))).toBe(true);
      }),
      { seed: 1201, numRuns: 1000 },
    );
  });

  it("refuses edits that are cut short or reach past the content, and stops growing at its limits", () => {
    const enc = encodeSplices([{ start: 0, del: 0, ins: Buffer.from("abc") }]);
    expect(() => decodeSplices(enc.subarray(0, enc.length - 1))).toThrow(/edit 1 is cut short/);
    expect(() => decodeSplices(enc.subarray(0, 5))).toThrow(/edit 1 is cut short/);
    expect(() => applySplices(Buffer.from("ab"), [{ start: 1, del: 5, ins: Buffer.alloc(0) }])).toThrow(/edit 1 reaches past the end/);
    expect(() => applySplicesInPlace(Buffer.from("ab"), 2, [{ start: 2, del: 0, ins: Buffer.from("c") }])).toThrow(/no room for the edits/);
    const one: Splice = { start: 0, del: 0, ins: Buffer.from("x") };
    expect(withSplice(Array.from({ length: MAX_EDITS - 1 }, () => one), one)).toHaveLength(MAX_EDITS);
    expect(withSplice(Array.from({ length: MAX_EDITS }, () => one), one)).toBeUndefined();
    expect(withSplice([], { start: 0, del: 0, ins: Buffer.alloc(70 * 1024) })).toBeUndefined();
    // a change too large to keep as an edit is no splice (its bytes are not copied): the whole content is written
    const lines = (n: number, from = 0) => Buffer.from(Array.from({ length: n }, (_, i) => `10.0.${(from + i) >> 8}.${(from + i) & 255}:/srv/vm0:0x00000001\n`).join(""));
    const big = lines(4000);
    expect(big.length).toBeGreaterThan(MAX_EDITS_BYTES);
    expect(smallSpliceOf(Buffer.alloc(0), big)).toBeUndefined();
    expect(withSplice([], smallSpliceOf(Buffer.alloc(0), big))).toBeUndefined();
    const grown = Buffer.concat([big, lines(1, 4000)]);
    const s = smallSpliceOf(big, grown)!;
    expect({ start: s.start, del: s.del, ins: s.ins.toString() }).toEqual({ start: big.length, del: 0, ins: lines(1, 4000).toString() });
    expect(applySplices(big, [s]).equals(grown)).toBe(true);
  });
});

function ctx(c: TestCluster, node: string): SyncContext {
  return { cfg: loadConfig(c.configFile(node)), node, lockTimeoutMs: 5000, now: () => Date.now(), warn: () => undefined };
}

/** The journal's baseline rows: "base" and "edits" (baseline_content), and the older slots ("committed", "pending"). */
function slots(c: TestCluster, node: string): Record<string, Buffer> {
  const db = new Database(join(c.control, "journals", `${node}.sqlite`), { readonly: true });
  try {
    const parts = db.prepare("SELECT part, content FROM baseline_content").all() as { part: number; content: Buffer }[];
    const old = db.prepare("SELECT slot, content FROM baseline").all() as { slot: string; content: Buffer }[];
    return Object.fromEntries([...parts.map((r) => [["base", "edits"][r.part]!, r.content] as const), ...old.map((r) => [r.slot, r.content] as const)]);
  } finally {
    db.close();
  }
}

/** ds03 after two records of one mount each: base and one edit. */
async function twoRecords(): Promise<TestCluster> {
  const c = new TestCluster();
  c.initAll();
  c.etab("ds03", ["/srv/vm0"]);
  c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
  await record(ctx(c, "ds03"));
  c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
  await record(ctx(c, "ds03"));
  return c;
}

describe("a file read with room to edit it in place", () => {
  it("holds the whole file, from a regular file and from one that grows past its size at open (a FIFO), with the room after it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rmtabsync-room-"));
    try {
      const f = join(dir, "file");
      const data = randomBytes(200_000);
      writeFileSync(f, data);
      const r = readSnapshotWithRoom(f, 100);
      expect(r.exists).toBe(true);
      expect(r.content.equals(data)).toBe(true);
      expect(r.buf.length).toBe(data.length + 100);
      expect(r.buf.subarray(0, data.length).equals(data)).toBe(true);
      const gone = readSnapshotWithRoom(join(dir, "none"), 7);
      expect([gone.exists, gone.content.length, gone.buf.length]).toEqual([false, 0, 7]);
      // a FIFO's size is 0 at open: every byte past it comes through the growing path
      const fifo = join(dir, "fifo");
      expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
      writeFileSync(f, data);
      const writer = spawn("sh", ["-c", 'cat "$1" > "$2"', "sh", f, fifo]);
      const exited = new Promise((res) => writer.on("exit", res));
      const p = readSnapshotWithRoom(fifo, 5);
      await exited;
      expect(p.content.equals(data)).toBe(true);
      expect(p.buf.length).toBe(data.length + 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a record of a few lines", () => {
  it("writes only the splice to the journal and the local copy, and a later record diffs against base plus edits", async () => {
    const c = new TestCluster();
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    const many = Array.from({ length: 200 }, (_, i) => `${line(`10.1.${i >> 8}.${i & 255}`, "/srv/vm0")}\n`).join("");
    c.writeRmtab("ds03", many);
    await record(ctx(c, "ds03"));
    const first = slots(c, "ds03");
    expect(Object.keys(first).sort()).toEqual(["base"]);
    expect(first.base!.toString()).toBe(many);
    c.mountd("ds03", "mount", "10.0.0.9", "/srv/vm0");
    const r = await record(ctx(c, "ds03"));
    expect(r.recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["mount 10.0.0.9"]);
    const second = slots(c, "ds03");
    expect(second.base!.equals(first.base!)).toBe(true);
    expect(decodeSplices(second.edits!)).toHaveLength(1);
    expect(second.edits!.length).toBeLessThan(100);
    // the local copy: the same base, the edit beside it
    const local = readLocalBaseline(c.stateDir("ds03"))!;
    expect(local.content.toString()).toBe(c.rmtab("ds03"));
    expect(existsSync(localEditsFile(c.stateDir("ds03")))).toBe(true);
    // an umount, then a record that sees nothing new: base plus edits is what rmtab holds
    c.mountd("ds03", "umount", "10.1.0.7", "/srv/vm0");
    expect((await record(ctx(c, "ds03"))).recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["umount 10.1.0.7"]);
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
    expect(decodeSplices(slots(c, "ds03").edits!)).toHaveLength(2);
  });

  it("a record of mountd's append takes the copy's content from rmtab (length and sha256 in its header): the base file is not read", async () => {
    const c = await twoRecords();
    const dir = c.stateDir("ds03");
    const head = (f: string) => JSON.parse(readFileSync(f, "utf8").split("\n", 1)[0]!) as { length: number; sha256: string };
    const rmtab = Buffer.from(c.rmtab("ds03"));
    // both headers name the whole content (the edits file's: after its edits)
    expect(head(localEditsFile(dir))).toMatchObject({ length: rmtab.length, sha256: createHash("sha256").update(rmtab).digest("hex") });
    const baseFile = join(dir, "rmtabsync.baseline");
    const [baseHead, ...body] = readFileSync(baseFile, "utf8").split("\n");
    const baseBody = body.join("\n");
    expect(head(baseFile)).toMatchObject({ length: Buffer.byteLength(baseBody), sha256: createHash("sha256").update(baseBody).digest("hex") });
    // the base's body gone: a record that read it could not apply the edits to it
    writeFileSync(baseFile, `${baseHead}\n`);
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
    expect((await record(ctx(c, "ds03"))).recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["mount 10.0.0.3"]);
    // the new header's sha256 went on from the prefix's (only the appended line hashed): still the whole content's
    const appended = Buffer.from(c.rmtab("ds03"));
    expect(head(localEditsFile(dir))).toMatchObject({ length: appended.length, sha256: createHash("sha256").update(appended).digest("hex") });
    // an umount does not start rmtab with the copy's content: the base is read, and found wanting
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    await expect(record(ctx(c, "ds03"))).rejects.toThrow(/rmtabsync\.baseline-edits: unreadable local baseline \(edit 1 reaches past the end/);
  });

  it("a copy whose base is replaced after its header was read is refused when its content is read", () => {
    const c = new TestCluster();
    c.initAll();
    const dir = c.stateDir("ds03");
    const copy = { gen: 1, id: "a", journalId: "j", hosted: [], hlc: { wall: 1, logical: 0 }, content: Buffer.from(`${line("10.0.0.1", "/srv/vm0")}\n`) };
    writeLocalBaseline(dir, copy);
    const local = readLocalBaseline(dir)!;
    writeLocalBaseline(dir, { ...copy, gen: 2, id: "b" });
    expect(() => local.content).toThrow(/rmtabsync\.baseline: unreadable local baseline \(it changed while it was read\)/);
    expect(readLocalBaseline(dir)!.content.equals(copy.content)).toBe(true);
  });

  it("diffs against the journal's base plus edits when the local copy is gone, and writes a new base", async () => {
    const c = await twoRecords();
    expect(slots(c, "ds03").edits).toBeDefined();
    rmSync(join(c.stateDir("ds03"), "rmtabsync.baseline"));
    rmSync(localEditsFile(c.stateDir("ds03")));
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    const r = await record(ctx(c, "ds03"));
    expect(r.recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["umount 10.0.0.1"]);
    expect(readLocalBaseline(c.stateDir("ds03"))!.content.toString()).toBe(c.rmtab("ds03"));
  });

  it("takes an older release's committed slot over base and edits, and replaces it with a base", async () => {
    const c = await twoRecords();
    // an older release then recorded 10.0.0.3 (it writes slot 'committed' and knows nothing of the others)
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
    const db = new Database(join(c.control, "journals", "ds03.sqlite"));
    db.prepare("INSERT INTO baseline (slot, content) VALUES ('committed', ?)").run(Buffer.from(c.rmtab("ds03")));
    db.prepare("UPDATE local_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'baseline_gen'").run();
    db.close();
    // its local copy is older than the journal's generation: the journal's committed slot is the baseline
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
    // the next change is written as a new base, and the committed slot goes
    c.mountd("ds03", "mount", "10.0.0.4", "/srv/vm0");
    expect((await record(ctx(c, "ds03"))).recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["mount 10.0.0.4"]);
    expect(Object.keys(slots(c, "ds03")).sort()).toEqual(["base"]);
    expect(slots(c, "ds03").base!.toString()).toBe(c.rmtab("ds03"));
  });

  it("names the local edits file when it is damaged, and ignores one left beside another base", async () => {
    const c = await twoRecords();
    const f = localEditsFile(c.stateDir("ds03"));
    const good = readFileSync(f);
    writeFileSync(f, good.subarray(0, good.length - 3));
    await expect(record(ctx(c, "ds03"))).rejects.toThrow(/rmtabsync\.baseline-edits: unreadable local baseline \(edit 1 is cut short\); move it aside/);
    // edits naming another base (a crash between a new base and their removal): the copy is the base
    const nl = good.indexOf(0x0a);
    const h = JSON.parse(good.subarray(0, nl).toString()) as Record<string, unknown>;
    writeFileSync(f, Buffer.concat([Buffer.from(`${JSON.stringify({ ...h, baseId: "another" })}\n`), good.subarray(nl + 1)]));
    expect(readLocalBaseline(c.stateDir("ds03"))!.content.toString()).toBe(`${line("10.0.0.1", "/srv/vm0")}\n`);
    // the journal's generation is newer than the base's: the journal's baseline is used, nothing is re-recorded
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
  });

  it("after a crash between the journal's commit and the local copy's write (the copy one record behind), a record journals only what is new", async () => {
    const c = await twoRecords();
    const dir = c.stateDir("ds03");
    const saved = [localEditsFile(dir), join(dir, "rmtabsync.baseline")].map((f) => [f, readFileSync(f)] as const);
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
    expect((await record(ctx(c, "ds03"))).recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["mount 10.0.0.3"]);
    // the local copy as it was before that record: its write is lost
    for (const [f, b] of saved) writeFileSync(f, b);
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    expect((await record(ctx(c, "ds03"))).recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["umount 10.0.0.1"]);
    expect(readLocalBaseline(dir)!.content.toString()).toBe(c.rmtab("ds03"));
    expect((await record(ctx(c, "ds03"))).recorded).toEqual([]);
  });

  it("with the journal rolled back under it (the local copy one record ahead), a record journals only what is new", async () => {
    const c = await twoRecords();
    const journal = join(c.control, "journals", "ds03.sqlite");
    const old = readFileSync(journal);
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
    expect((await record(ctx(c, "ds03"))).recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["mount 10.0.0.3"]);
    writeFileSync(journal, old);
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    const r = await record(ctx(c, "ds03"));
    expect(r.recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["umount 10.0.0.1"]);
    expect(readLocalBaseline(c.stateDir("ds03"))!.content.toString()).toBe(c.rmtab("ds03"));
  });
});
