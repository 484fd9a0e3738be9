import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../src/config.js";
import { parseEtab } from "../src/core/etab.js";
import { foldEvents, type JournalEvent } from "../src/core/events.js";
import { ExportIndex } from "../src/core/exports.js";
import { tick } from "../src/core/hlc.js";
import { planReconcile, planRecord, toCountMap } from "../src/core/plan.js";
import { checkRange, parseDuration, parseTime } from "../src/core/time.js";
import { formatHlc, hlcJson } from "../src/core/hlc.js";

const index = new ExportIndex([
  { name: "vm0", path: "/srv/vm0", nodes: ["a", "b"] },
  { name: "vm0img", path: "/srv/vm0/images/big", nodes: ["a"] },
  { name: "vm1", path: "/srv/vm1", nodes: ["b"] },
]);

function ev(over: Partial<JournalEvent>): JournalEvent {
  return { journal: "j", seq: 1, node: "a", wall: 1000, logical: 0, op: "mount", client: "c", path: "/srv/vm0", count: 1, hash: "", ...over };
}

describe("export index", () => {
  it("maps paths by longest prefix on whole components", () => {
    expect(index.exportOf("/srv/vm0")?.name).toBe("vm0");
    expect(index.exportOf("/srv/vm0/images")?.name).toBe("vm0");
    expect(index.exportOf("/srv/vm0/images/big/x")?.name).toBe("vm0img");
    expect(index.exportOf("/srv/vm01")).toBeUndefined();
    expect(index.exportOf("/srv")).toBeUndefined();
    expect(index.exportOf("/srv/vm0//")?.name).toBe("vm0");
    expect(index.eligibleFor("b")).toEqual(new Set(["vm0", "vm1"]));
  });
});

describe("export index, any path (property)", () => {
  it("finds what a walk over the path's components finds", () => {
    const defs = [
      { name: "root", path: "/" },
      { name: "a", path: "/a" },
      { name: "ab", path: "/a/b/" },
      { name: "abc", path: "//a/./b/c" },
      { name: "x", path: "/x.y" },
    ];
    const parts = (p: string) => p.split("/").filter((c) => c !== "" && c !== ".");
    const reference = (p: string): string | undefined => {
      if (!p.startsWith("/")) return undefined;
      const ps = parts(p);
      for (let n = ps.length; n >= 0; n--) {
        const hit = defs.find((d) => parts(d.path).join("/") === ps.slice(0, n).join("/"));
        if (hit) return hit.name;
      }
      return undefined;
    };
    for (const withRoot of [true, false]) {
      const ds = withRoot ? defs : defs.slice(1);
      const idx = new ExportIndex(ds as never);
      fc.assert(
        fc.property(fc.array(fc.constantFrom("/", "a", "b", "c", ".", "..", "x.y", "/."), { maxLength: 8 }), (bits) => {
          const p = bits.join("");
          const want = reference(p);
          expect(idx.exportOf(p)?.name).toBe(withRoot || want !== "root" ? want : undefined);
        }),
        { numRuns: 3000, seed: 20261204 },
      );
    }
  });
});

describe("export index, sole roots (property)", () => {
  it("names a root only when every path at or under it is the export's", () => {
    const defs = [
      { name: "vm0", path: "/srv/vm0" },
      { name: "vm0img", path: "/srv/vm0/images/big" },
      { name: "vm1", path: "//srv/./vm1/" },
      { name: "root", path: "/" },
      { name: "twin", path: "/srv/vm2" },
      { name: "twin2", path: "/srv/vm2/" },
    ];
    const idx = new ExportIndex(defs as never);
    expect(defs.map((d) => idx.soleRoot(d.name))).toEqual([undefined, "/srv/vm0/images/big", "/srv/vm1", undefined, undefined, "/srv/vm2"]);
    expect(idx.soleRoot("nothing")).toBeUndefined();
    fc.assert(
      fc.property(fc.constantFrom(...defs.map((d) => d.name)), fc.array(fc.constantFrom("/", "images", "big", "vm1", "x", ".", ".."), { maxLength: 6 }), (name, bits) => {
        const root = idx.soleRoot(name);
        if (root === undefined) return;
        const p = root + (bits.length > 0 ? "/" : "") + bits.join("/");
        expect(idx.exportOf(p)?.name).toBe(name);
      }),
      { numRuns: 2000, seed: 20261201 },
    );
  });
});

describe("etab", () => {
  it("parses paths with octal escapes and options", () => {
    const p = parseEtab("/srv/my\\040share\t*(rw,fsid=7)\n/srv/vm0\t10.0.0.0/24(ro)\nbroken line\n");
    expect(p.lines.map((l) => l.path)).toEqual(["/srv/my share", "/srv/vm0"]);
    expect(p.lines[0]!.options).toContain("fsid=7");
    expect(p.problems).toEqual([{ line: 3, text: "broken line", problem: expect.any(String) }]);
  });
});

describe("hybrid logical clock", () => {
  it("never goes below what was seen, even when the wall clock is behind", () => {
    expect(tick({ wall: 5000, logical: 3 }, 1000)).toEqual({ wall: 5000, logical: 4 });
    expect(tick({ wall: 5000, logical: 3 }, 6000)).toEqual({ wall: 6000, logical: 0 });
  });
});

describe("fold", () => {
  it("last writer wins by stamp, node name breaks ties, a tie never loses a mount", () => {
    const f = foldEvents([
      ev({ wall: 10, node: "a", count: 2 }),
      ev({ wall: 20, node: "a", op: "umount", count: 0 }),
      ev({ wall: 20, node: "b", count: 5 }),
      ev({ client: "d", wall: 30, node: "a", count: 1 }),
      ev({ client: "d", wall: 30, node: "a", op: "umount", count: 0 }),
    ]);
    expect(f.get("c\n/srv/vm0")!.count).toBe(5);
    expect(f.get("d\n/srv/vm0")!.count).toBe(1);
  });

  it("folds only events up to --at", () => {
    const f = foldEvents([ev({ wall: 10, count: 2 }), ev({ wall: 20, op: "umount", count: 0 })], { until: 15 });
    expect(f.get("c\n/srv/vm0")!.count).toBe(2);
  });
});

describe("planRecord", () => {
  const cur = (...e: [string, string, number][]) => e.map(([client, path, count]) => ({ client, path, count }));
  it("journals every hosted line on a node's first record", () => {
    const p = planRecord({ current: cur(["c", "/srv/vm0", 1], ["c", "/srv/vm1", 1], ["c", "/other", 1]), baselines: [], hosted: new Set(["vm0"]), index });
    expect(p.changes).toEqual([{ op: "mount", client: "c", path: "/srv/vm0", count: 1 }]);
    expect(p.ignored.map((i) => i.export)).toEqual(["vm1"]);
  });
  it("classifies mount, count change and umount against the baseline", () => {
    const base = toCountMap(cur(["a", "/srv/vm0", 1], ["b", "/srv/vm0", 2]));
    const p = planRecord({ current: cur(["b", "/srv/vm0", 3], ["n", "/srv/vm0/x", 1]), baselines: [base], hosted: new Set(["vm0"]), index });
    expect(p.changes).toEqual([
      { op: "umount", client: "a", path: "/srv/vm0", count: 0 },
      { op: "count", client: "b", path: "/srv/vm0", count: 3 },
      { op: "mount", client: "n", path: "/srv/vm0/x", count: 1 },
    ]);
  });
  it("with two baseline candidates records only what differs from both, and never an ambiguous umount", () => {
    const old = toCountMap(cur(["a", "/srv/vm0", 1]));
    const pending = toCountMap(cur(["a", "/srv/vm0", 1], ["r", "/srv/vm0", 1]));
    // rmtab still holds the old content: the reconcile crashed before its rename
    expect(planRecord({ current: cur(["a", "/srv/vm0", 1]), baselines: [old, pending], hosted: new Set(["vm0"]), index }).changes).toEqual([]);
    // rmtab holds the new content: nothing to record either
    expect(planRecord({ current: [...pending.values()], baselines: [old, pending], hosted: new Set(["vm0"]), index }).changes).toEqual([]);
    // a real umount of a line both candidates had is still recorded
    expect(planRecord({ current: cur(["r", "/srv/vm0", 1]), baselines: [old, pending], hosted: new Set(["vm0"]), index }).changes).toEqual([
      { op: "umount", client: "a", path: "/srv/vm0", count: 0 },
    ]);
  });
});

describe("planReconcile", () => {
  const fold = foldEvents([
    ev({ client: "x", path: "/srv/vm0", count: 2 }),
    ev({ client: "y", path: "/srv/vm1", count: 1 }),
    ev({ client: "gone", path: "/srv/vm0", op: "umount", count: 0 }),
  ]);
  it("writes the table's entries of managed exports, keeps unmanaged lines, drops the rest", () => {
    const p = planReconcile({
      current: [
        { client: "u", path: "/home", count: 1 },
        { client: "gone", path: "/srv/vm0", count: 1 },
        { client: "x", path: "/srv/vm0", count: 1 },
      ],
      fold: fold.values(),
      managed: new Set(["vm0"]),
      index,
      addOnly: false,
    });
    expect(p.entries).toEqual([
      { client: "u", path: "/home", count: 1 },
      { client: "x", path: "/srv/vm0", count: 2 },
    ]);
    expect(p.removed.map((r) => r.client)).toEqual(["gone"]);
    expect(p.changed).toHaveLength(1);
  });
  it("in add-only mode removes nothing and lowers no count", () => {
    const p = planReconcile({
      current: [{ client: "gone", path: "/srv/vm0", count: 1 }, { client: "x", path: "/srv/vm0", count: 9 }],
      fold: fold.values(),
      managed: new Set(["vm0", "vm1"]),
      index,
      addOnly: true,
    });
    expect(p.entries).toEqual([
      { client: "gone", path: "/srv/vm0", count: 1 },
      { client: "x", path: "/srv/vm0", count: 9 },
      { client: "y", path: "/srv/vm1", count: 1 },
    ]);
    expect(p.heldBack.map((h) => h.client)).toEqual(["gone", "x"]);
  });
  it("does not write journal entries that mountd would misread", () => {
    const bad = foldEvents([ev({ client: "c", path: "/srv/vm0/a:b", count: 1 })]);
    const p = planReconcile({ current: [], fold: bad.values(), managed: new Set(["vm0"]), index, addOnly: false });
    expect(p.entries).toEqual([]);
    expect(p.unwritable[0]!.problem).toMatch(/':'/);
  });
});

describe("config validation", () => {
  const good = { cluster: "nfs-ha", controlDir: "/srv/nfs-control", nodes: ["ds03", "ds04"], exports: [{ name: "vm0", path: "/srv/vm0" }] };
  it("accepts the documented example and fills defaults", () => {
    const c = validateConfig(good, "/etc/x.yaml");
    expect(Array.isArray(c)).toBe(false);
    if (Array.isArray(c)) return;
    expect(c.stateDir).toBe("/var/lib/nfs");
    expect(c.exports[0]!.nodes).toEqual(["ds03", "ds04"]);
    expect(c.system.nfsConf).toBe("/etc/nfs.conf");
    expect(c.system.procExports).toBe("/proc/net/rpc/nfsd.export/content");
    expect(c.system.nfsServerEnabled).toBe("/etc/systemd/system/multi-user.target.wants/nfs-server.service");
  });
  it("system: paths override the defaults and are checked", () => {
    const c = validateConfig({ ...good, system: { nfsConf: "/tmp/t/nfs.conf", blkid: "/sbin/blkid" } }, "/etc/x.yaml");
    expect(Array.isArray(c) ? c : [c.system.nfsConf, c.system.exports, c.system.blkid]).toEqual(["/tmp/t/nfs.conf", "/etc/exports", "/sbin/blkid"]);
    expect(validateConfig({ ...good, system: ["x"] }, "/etc/x.yaml")).toEqual([
      "system: expected a mapping of nfsConf, nfsConfDir, exports, exportsDir, procExports, nfsdClients, nfsdLeaseTime, nfsdGraceTime, nfsdVersions, nfsdThreads, mountinfo, nfsServerEnabled, blkid, rpcNfsd, found a list of 1",
    ]);
    expect(validateConfig({ ...good, system: { blkid: "rm -rf /" } }, "/etc/x.yaml")).toEqual(['system.blkid: expected a command name or path, found "rm -rf /"']);
    expect(validateConfig({ ...good, system: { rpcNfsd: "rpc.nfsd -S x" } }, "/etc/x.yaml")).toEqual(['system.rpcNfsd: expected a command name or path, found "rpc.nfsd -S x"']);
    const n = validateConfig({ ...good, system: { rpcNfsd: "/usr/local/sbin/rpc.nfsd" } }, "/etc/x.yaml");
    expect(Array.isArray(n) ? n : [n.system.rpcNfsd, n.system.nfsdVersions]).toEqual(["/usr/local/sbin/rpc.nfsd", "/proc/fs/nfsd/versions"]);
  });
  it("names key, expected and found for every problem", () => {
    const errs = validateConfig(
      { ...good, controlDir: "relative", nodes: ["ds03", "ds03"], exports: [{ name: "vm0", path: "/a", nodes: ["ds09"] }, { name: "vm0", path: "/a", extra: 1 }], bogus: 1 },
      "/etc/x.yaml",
    );
    expect(errs).toEqual(
      expect.arrayContaining([
        "bogus: unknown key (expected one of cluster, controlDir, controlDirIsMountpoint, stateDir, nodes, exports, system, maxClockSkew)",
        'controlDir: expected an absolute path without \':\' or newlines, found "relative"',
        'nodes[1]: expected a unique node name, found "ds03" twice',
        'exports[0].nodes[0]: expected one of the configured nodes (ds03), found "ds09"',
        "exports[1].extra: unknown key (expected one of name, path, nodes)",
        'exports[1].name: expected a unique export name, found "vm0" twice',
      ]),
    );
  });
});

describe("time arguments", () => {
  it("parses ISO, epoch, durations ago, and explains bad input", () => {
    const now = Date.parse("2026-11-25T12:00:00Z");
    expect(parseTime("2026-11-25T10:00:00Z", now)).toBe(Date.parse("2026-11-25T10:00:00Z"));
    expect(parseTime("@1000", now)).toBe(1_000_000);
    expect(parseTime("2h", now)).toBe(now - 7_200_000);
    expect(parseTime("yesterday", now)).toMatch(/expected an ISO 8601 time/);
    expect(parseDuration("30d")).toBe(30 * 86_400_000);
    expect(parseDuration("x")).toMatch(/expected a duration/);
  });

  it("reads back what it prints: ISO with milliseconds, and the logical counter after Z", () => {
    const wall = Date.parse("2026-11-30T12:27:11.815Z");
    expect(parseTime(formatHlc({ wall, logical: 1 }), 0)).toBe(wall);
    expect(parseTime(hlcJson({ wall, logical: 7 }).time, 0)).toBe(wall);
    expect(hlcJson({ wall, logical: 7 })).toEqual({ time: "2026-11-30T12:27:11.815Z", logical: 7 });
    expect(parseTime("2026-11-30T13:27:11.815+01:00", 0)).toBe(wall);
    expect(parseTime("2026-11-30T07:57:11.815-0430", 0)).toBe(wall);
    expect(parseTime("2026-11-25", 0)).toBe(Date.parse("2026-11-25T00:00:00Z"));
  });

  it("refuses dates that do not exist, a time without offset, and names an inverted range", () => {
    expect(parseTime("2026-02-31", 0)).toMatch(/"2026-02-31" is not a date: 2026-02 has no day 31/);
    expect(parseTime("2026-02-29T10:00:00Z", 0)).toMatch(/is not a date/);
    expect(parseTime("2028-02-29T10:00:00Z", 0)).toBe(Date.parse("2028-02-29T10:00:00Z"));
    expect(parseTime("2026-13-01", 0)).toMatch(/is not a date/);
    expect(parseTime("2026-11-25T24:00:00Z", 0)).toMatch(/not a time of day/);
    expect(parseTime("2026-11-25T10:00:00", 0)).toMatch(/has no UTC offset: add Z for UTC or the offset/);
    expect(parseTime("2026-11-25T10:00", 0)).toMatch(/has no UTC offset/);
    expect(parseTime("2026-11-25T10:00:00+1", 0)).toMatch(/expected an ISO 8601 time with an offset/);
    const now = Date.parse("2026-11-25T12:00:00Z");
    const since = { flag: "--since", text: "1m", ms: parseTime("1m", now) as number };
    const until = { flag: "--until", text: "2h", ms: parseTime("2h", now) as number };
    expect(checkRange(since, until)).toMatch(/^--since 1m \(2026-11-25T11:59:00.000Z\) is after --until 2h \(2026-11-25T10:00:00.000Z\): the range is inverted/);
    expect(checkRange(until, since)).toBeUndefined();
    expect(checkRange(since, undefined)).toBeUndefined();
  });
});
