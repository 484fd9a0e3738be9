// compact and forget with export groups (issue 11): each works per control
// directory. Without --group: every control directory mounted here (a
// group served elsewhere is left out and said so), the same as show, log
// and status; --group names one; forget --export picks the export's group.
// Real files, real SQLite, real locks, the real CLI.
import { describe, expect, it } from "vitest";
import { line } from "./helpers/cluster.js";
import { GroupCluster, twoGroups } from "./helpers/groups.js";

type Row = { op: string; client: string; path: string; export: string | null; group?: string | null };

/** Events of `group`'s journal, read on `node` (which has it mounted). */
function ops(c: GroupCluster, node: string, group: string, client: string): string[] {
  return c.json<{ events: Row[] }>(node, ["log", "--group", group, "--client", client]).events.map((e) => `${e.op} ${e.path}`);
}

/** Churn on `node`'s export `path`: 20 clients mount, 10 of them umount again. */
function churn(c: GroupCluster, node: string, path: string): void {
  for (let i = 0; i < 20; i++) c.mountd(node, "mount", `10.5.0.${i}`, path);
  c.ok(node, ["record"]);
  for (let i = 0; i < 20; i += 2) c.mountd(node, "umount", `10.5.0.${i}`, path);
  c.ok(node, ["record"]);
}

describe("compact with export groups", () => {
  it("compacts every control directory mounted here, leaves out the groups served elsewhere, and --group names one", () => {
    const c = twoGroups();
    churn(c, "ds03", "/srv/vm0");
    churn(c, "ds04", "/srv/vm1");
    const before = c.json<{ mounts: unknown[] }>("ds03", ["show"]).mounts;
    // with groups, the JSON has one entry per control directory, also for one named with --group
    type One = { groups: { group: string; dropped: number; file: string }[] };
    const planned = c.json<One>("ds03", ["compact", "--group", "g0", "--keep", "0s", "--dry-run"]).groups[0]!.dropped;
    expect(planned).toBeGreaterThan(0);

    const r = c.json<{ groups: { group: string; here: boolean; dropped?: number; file?: string; reason?: string }[] }>("ds03", ["compact", "--keep", "0s"]);
    expect(r.groups.map((x) => [x.group, x.here])).toEqual([
      ["g0", true],
      ["g1", false],
    ]);
    expect(r.groups[0]!.dropped).toBe(planned);
    expect(r.groups[0]!.file).toBe(`${c.ctl("ds03", "g0")}/journals/ds03.sqlite`);
    expect(r.groups[1]!.reason).toMatch(/not mounted/);
    expect(c.json<{ mounts: unknown[] }>("ds03", ["show"]).mounts).toEqual(before);
    expect(c.run("ds03", ["verify", "--group", "g0"]).code).toBe(0);

    // text: one line per control directory
    const text = c.ok("ds03", ["compact", "--keep", "0s", "--dry-run"]).stdout;
    expect(text).toMatch(/^group g0: .*ds03\.sqlite: would drop 0 of \d+ events older than .*\ngroup g1: not mounted here, left out \(.*\)\n$/);

    // --group: the group's volume must be here
    const away = c.run("ds03", ["compact", "--group", "g1"]);
    expect(away.code).toBe(3);
    expect(away.stderr).toMatch(/group g1: control directory .* does not exist here .*: run this on the node that serves the group; nothing was changed/);
    const bad = c.run("ds03", ["compact", "--group", "g9"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--group: expected one of g0, g1, found "g9"/);
    const one = c.json<One>("ds04", ["compact", "--group", "g1", "--keep", "0s"]);
    expect(one.groups.map((x) => x.group)).toEqual(["g1"]);
    const r1 = one.groups[0]!;
    expect(r1.dropped).toBe(planned); // the same churn
    expect(r1.file).toBe(`${c.ctl("ds04", "g1")}/journals/ds04.sqlite`);
  });

  it("with a shared control directory too, the default covers it and each group mounted here", () => {
    const c = GroupCluster.make(
      [{ name: "g0", exports: ["vm0"] }],
      [
        { name: "vm0", path: "/srv/vm0" },
        { name: "vm9", path: "/srv/vm9" },
      ],
      { shared: true },
    );
    c.create("ds03", "g0");
    c.ok("ds03", ["init"]);
    c.ok("ds04", ["init"]);
    c.serve("ds03", ["vm0", "vm9"]);
    churn(c, "ds03", "/srv/vm0");
    churn(c, "ds03", "/srv/vm9");
    const r = c.json<{ groups: { group: string | null; here: boolean; dropped?: number; file?: string }[] }>("ds03", ["compact", "--keep", "0s"]);
    expect(r.groups.map((x) => [x.group, x.here, x.file])).toEqual([
      [null, true, `${c.control}/journals/ds03.sqlite`],
      ["g0", true, `${c.ctl("ds03", "g0")}/journals/ds03.sqlite`],
    ]);
    // the same churn in each: the same events dropped from each journal
    expect(r.groups[0]!.dropped).toBeGreaterThan(0);
    expect(r.groups[1]!.dropped).toBe(r.groups[0]!.dropped);
  });
});

describe("forget with export groups", () => {
  it("writes each forget into the group of the client's entry only, and says which groups it could not reach", () => {
    const c = twoGroups();
    c.mountd("ds03", "mount", "10.0.0.66", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.7", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.66", "/srv/vm1");
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["record"]);

    // on ds03 (g0 here, g1 served by ds04): g0's entry only, and a warning naming g1
    const r = c.run("ds03", ["forget", "--client", "10.0.0.66", "--json"]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout).forgotten as Row[]).map((e) => [e.op, e.path, e.export, e.group])).toEqual([["forget", "/srv/vm0", "vm0", "g0"]]);
    expect(r.stderr).toMatch(/group g1: not mounted here, left out: run forget also on the node that serves it/);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.7", "/srv/vm0")]);
    expect(ops(c, "ds03", "g0", "10.0.0.66")).toEqual(["mount /srv/vm0", "forget /srv/vm0"]);

    // --export picks the export's group: not mounted on ds03, refused there; done on ds04
    const away = c.run("ds03", ["forget", "--client", "10.0.0.66", "--export", "vm1"]);
    expect(away.code).toBe(3);
    expect(away.stderr).toMatch(/group g1: .*run this on the node that serves the group/);
    expect(c.ok("ds04", ["forget", "--client", "10.0.0.66", "--export", "vm1"]).stdout).toBe("forgot 10.0.0.66 /srv/vm1 (vm1) in group g1\n");
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([]);
    expect(ops(c, "ds04", "g1", "10.0.0.66")).toEqual(["mount /srv/vm1", "forget /srv/vm1"]);
    // g0's journal never got anything of vm1
    expect(ops(c, "ds03", "g0", "10.0.0.66")).toEqual(["mount /srv/vm0", "forget /srv/vm0"]);

    // nothing left anywhere reachable: a usage error, as without groups
    const none = c.run("ds03", ["forget", "--client", "10.0.0.66"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no mount of client 10\.0\.0\.66 in the cluster-wide table: nothing to forget/);
    expect(c.run("ds04", ["forget", "--client", "10.0.0.7", "--group", "g0"]).code).toBe(3);
  });
});
