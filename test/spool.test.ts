// The pure half of the callout spool: parsing its lines and turning them
// into journal changes (src/core/spool.ts).
import { describe, expect, it } from "vitest";
import { ExportIndex } from "../src/core/exports.js";
import { toCountMap } from "../src/core/plan.js";
import { parseSpool, planSpool } from "../src/core/spool.js";

const index = new ExportIndex([
  { name: "vm0", path: "/srv/vm0", nodes: ["a", "b"] },
  { name: "vm1", path: "/srv/vm1", nodes: ["a", "b"] },
]);
const hosted = new Set(["vm0"]);
const e = (client: string, path: string, count: number) => ({ client, path, count });

describe("parseSpool", () => {
  it("reads the callout's lines, a tab inside the path and IPv6 stored with ';' included", () => {
    const p = parseSpool("mount\t1\t10.0.0.1\t/srv/vm0/a\tb\nunmount\t0\t2001;db8;;5\t/srv/vm0\nunmount-all\t\t10.0.0.2\t\n", "s");
    expect(p.problems).toEqual([]);
    expect(p.events.map((x) => [x.op, x.count, x.client, x.path])).toEqual([
      ["mount", 1, "10.0.0.1", "/srv/vm0/a\tb"],
      ["unmount", 0, "2001:db8::5", "/srv/vm0"],
      ["unmount-all", -1, "10.0.0.2", ""],
    ]);
  });

  it("reports bad lines by position and drops an incomplete last line", () => {
    const p = parseSpool("mount\tx\t10.0.0.1\t/srv/vm0\nfoo\t1\th\t/p\nmount\t1\t\t/srv/vm0\nmount\t1\th\trelative\nmount\t1\th\t/srv/vm0", "s");
    expect(p.events).toEqual([]);
    expect(p.problems.map((x) => `${x.where}: ${x.problem}`)).toEqual([
      's line 1: count "x" is not a number >= 0',
      's line 2: unknown event "foo" (expected mount, unmount or unmount-all)',
      "s line 3: empty client",
      "s line 4: path is not absolute",
      "s line 5: incomplete last line (no newline): dropped",
    ]);
  });
});

describe("planSpool", () => {
  it("keeps every step with its count, in order, and applies the last one to the baseline", () => {
    const { events } = parseSpool("mount\t1\th\t/srv/vm0\nmount\t2\th\t/srv/vm0\nunmount\t1\th\t/srv/vm0\nunmount\t0\th\t/srv/vm0\n", "s");
    const plan = planSpool({ events, baselines: [new Map()], hosted, index });
    expect(plan.changes.map((c) => `${c.op} ${c.count}`)).toEqual(["mount 1", "count 2", "count 1", "umount 0"]);
    expect([...plan.baselines[0]!.values()]).toEqual([]);
  });

  it("does not journal exports this node does not export, nor paths under no export", () => {
    const { events } = parseSpool("mount\t1\th\t/srv/vm1\nmount\t1\th\t/elsewhere\n", "s");
    const plan = planSpool({ events, baselines: [], hosted, index });
    expect(plan.changes).toEqual([]);
    expect(plan.ignored.map((i) => i.export)).toEqual(["vm1"]);
    expect(plan.baselines).toEqual([new Map()]);
  });

  it("an unmount-all without a path drops every line of that client mountd knew of", () => {
    const base = toCountMap([e("h", "/srv/vm0", 2), e("h", "/srv/vm0/x", 1), e("g", "/srv/vm0", 1)]);
    const { events } = parseSpool("mount\t1\th\t/srv/vm0/y\nunmount-all\t\th\t\n", "s");
    const plan = planSpool({ events, baselines: [base], hosted, index });
    expect(plan.changes.map((c) => `${c.op} ${c.client} ${c.path} ${c.count}`)).toEqual([
      "mount h /srv/vm0/y 1",
      "umount h /srv/vm0 0",
      "umount h /srv/vm0/x 0",
      "umount h /srv/vm0/y 0",
    ]);
    expect([...plan.baselines[0]!.values()]).toEqual([e("g", "/srv/vm0", 1)]);
  });

  it("with two baseline candidates (a reconcile that may have died), an event decides the entry for both", () => {
    const committed = toCountMap([e("h", "/srv/vm0", 1)]);
    const pending = toCountMap([e("h", "/srv/vm0", 3)]);
    const { events } = parseSpool("mount\t4\th\t/srv/vm0\n", "s");
    const plan = planSpool({ events, baselines: [committed, pending], hosted, index });
    expect(plan.changes.map((c) => `${c.op} ${c.count}`)).toEqual(["count 4"]);
    expect(plan.baselines.map((b) => b.get("h\n/srv/vm0")?.count)).toEqual([4, 4]);
  });
});
