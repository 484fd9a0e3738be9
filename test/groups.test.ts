// A control volume per export group (issue 11): each group's control
// directory lives on the group's own replicated volume, mounted only on the
// node that serves the group. Real files, real SQLite, real locks, the real
// CLI; DRBD is simulated as test/helpers/groups.ts says.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../src/config.js";
import { CLI, line, ROOT, TestCluster, type ExportSpec } from "./helpers/cluster.js";
import { GroupCluster, twoGroups } from "./helpers/groups.js";

const VM0 = "/srv/vm0";
const VM1 = "/srv/vm1";
const VM2 = "/srv/vm2";
const EXPORTS: ExportSpec[] = [
  { name: "vm0", path: VM0 },
  { name: "vm1", path: VM1 },
];

describe("configuration of export groups", () => {
  const base = { cluster: "c", stateDir: "/var/lib/nfs", nodes: ["a", "b"] };
  const problems = (raw: object): string[] => {
    const r = validateConfig({ ...base, ...raw }, "/etc/rmtabsync/config.yaml");
    return Array.isArray(r) ? r : [];
  };

  it("accepts groups by export name, inline exports, and a shared controlDir for the exports in no group", () => {
    const r = validateConfig(
      {
        ...base,
        controlDir: "/var/lib/rmtabsync/control",
        exports: [
          { name: "vm0", path: "/srv/g0/vm0" },
          { name: "vm9", path: "/srv/vm9" },
        ],
        groups: [
          { name: "g0", controlDir: "/srv/g0/rmtabsync", exports: ["vm0"] },
          { name: "g1", controlDir: "/srv/g1-ctl", controlDirIsMountpoint: false, exports: [{ name: "vm1", path: "/srv/g1/vm1" }] },
        ],
      },
      "f",
    );
    expect(Array.isArray(r)).toBe(false);
    if (Array.isArray(r)) return;
    expect(r.groups).toEqual([
      { name: "g0", controlDir: "/srv/g0/rmtabsync", controlDirIsMountpoint: true, exports: ["vm0"] },
      { name: "g1", controlDir: "/srv/g1-ctl", controlDirIsMountpoint: false, exports: ["vm1"] },
    ]);
    expect(r.exports.map((e) => e.name)).toEqual(["vm0", "vm9", "vm1"]);
  });

  it("a groups-only configuration needs no shared controlDir", () => {
    expect(problems({ groups: [{ name: "g0", controlDir: "/c/g0", exports: [{ name: "vm0", path: "/srv/vm0" }] }] })).toEqual([]);
  });

  it("names the key and the problem of every impossible combination", () => {
    const two = [
      { name: "vm0", path: "/srv/vm0" },
      { name: "vm1", path: "/srv/vm1" },
    ];
    expect(problems({ exports: two, groups: [{ name: "g0", controlDir: "/c/g0", exports: ["vm0", "vm0"] }], controlDir: "/c/s" })).toEqual([
      'groups[0].exports[1]: export "vm0" is already in group "g0": an export can be in one group only',
    ]);
    expect(
      problems({
        exports: two,
        groups: [
          { name: "g0", controlDir: "/c/g0", exports: ["vm0"] },
          { name: "g1", controlDir: "/c/g1", exports: ["vm0", "vm1"] },
        ],
      }),
    ).toEqual(['groups[1].exports[0]: export "vm0" is already in group "g0": an export can be in one group only']);
    expect(problems({ exports: two, groups: [{ name: "g0", controlDir: "/srv/vm0/.rmtabsync", exports: ["vm0", "vm1"] }] })[0]).toMatch(
      /^groups\[0\]\.controlDir: expected a directory outside every exported path, found "\/srv\/vm0\/\.rmtabsync" inside export "vm0"/,
    );
    expect(
      problems({
        exports: two,
        groups: [
          { name: "g0", controlDir: "/c/x", exports: ["vm0"] },
          { name: "g1", controlDir: "/c/x", exports: ["vm1"] },
        ],
      }),
    ).toEqual(['groups[1].controlDir: expected a directory of its own, found "/c/x", which is group "g0"\'s controlDir /c/x']);
    expect(problems({ exports: two, groups: [{ name: "g0", controlDir: "/c/g0", exports: ["vm0"] }] })).toEqual([
      "controlDir: expected the shared control volume's mount point for the exports in no group (vm1), found nothing (put them in a group, or set controlDir)",
    ]);
    expect(problems({ exports: two, controlDir: "/c/g0", groups: [{ name: "g0", controlDir: "/c/g0", exports: ["vm0"] }] })).toEqual([
      'groups[0].controlDir: expected a directory of its own, found "/c/g0", the shared controlDir',
    ]);
    expect(problems({ exports: two, groups: [{ name: "g0", controlDir: "/c/g0", exports: ["vm7"] }], controlDir: "/c/s" })).toEqual([
      'groups[0].exports[0]: expected the name of an export in exports (vm0, vm1) or an export (name, path), found "vm7"',
    ]);
    expect(
      problems({
        exports: [...two, { name: "img", path: "/srv/vm0/images" }],
        controlDir: "/c/s",
        groups: [{ name: "g0", controlDir: "/c/g0", exports: ["vm0"] }],
      }),
    ).toEqual(['groups: export "img" (/srv/vm0/images) lies inside export "vm0" (/srv/vm0) but is in no group while "vm0" is in group "g0": nested exports must be in the same group']);
    expect(problems({ exports: two, controlDir: "/c/s", groups: [{ name: "g0", controlDir: "/c/g0", exports: [], size: 1 }] })).toEqual([
      "groups[0].size: unknown key (expected one of name, controlDir, controlDirIsMountpoint, exports)",
      "groups[0].exports: expected a non-empty list of export names, or of exports (name, path, optional nodes), found a list of 0",
    ]);
  });
});

describe("a control volume per export group", () => {
  it("init marks each group's volume where it is mounted, names the group in the marker, and skips the others", () => {
    const c = twoGroups();
    const r = c.json("ds03", ["init"]);
    expect(r.units.map((u: { unit: string; state: string }) => `${u.unit} ${u.state}`)).toEqual(["g0 initialised before", "g1 skipped"]);
    expect(JSON.parse(spawnSync("cat", [join(c.ctl("ds03", "g0"), "rmtabsync.cluster")], { encoding: "utf8" }).stdout).group).toBe("g0");
    // --group names one group: not mounted here is then a refusal
    expect(c.run("ds03", ["init", "--group", "g1"]).code).toBe(3);
  });

  it("failover and failback of each group: every node's rmtab holds exactly the clients of the groups it serves", () => {
    const c = twoGroups();
    c.mountd("ds03", "mount", "10.0.0.1", VM0);
    c.mountd("ds03", "mount", "10.0.0.2", `${VM0}/images`);
    c.mountd("ds04", "mount", "10.0.1.1", VM1);
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", VM0), line("10.0.0.2", `${VM0}/images`)]);
    expect(c.lines("ds04")).toEqual([line("10.0.1.1", VM1)]);

    // g0 fails over to ds04 (its first takeover there: ds04 joins g0's volume)
    c.move("g0", "ds03", "ds04", { from: [], to: ["vm1", "vm0"] });
    expect(c.lines("ds03")).toEqual([]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.1", VM0), line("10.0.0.2", `${VM0}/images`), line("10.0.1.1", VM1)].sort());
    expect(existsSync(join(c.ctl("ds04", "g0"), "journals", "ds04.sqlite"))).toBe(true);

    // while ds04 serves it: a client unmounts, another mounts
    c.mountd("ds04", "umount", "10.0.0.1", VM0);
    c.mountd("ds04", "mount", "10.0.0.3", VM0);
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]); // nothing of g0 comes back to ds03: it is served elsewhere
    expect(c.lines("ds03")).toEqual([]);

    // g1 moves to ds03 too, then both come back home
    c.move("g1", "ds04", "ds03", { from: ["vm0"], to: ["vm1"] });
    expect(c.lines("ds03")).toEqual([line("10.0.1.1", VM1)]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.2", `${VM0}/images`), line("10.0.0.3", VM0)].sort());
    c.move("g0", "ds04", "ds03", { from: [], to: ["vm1", "vm0"] });
    c.move("g1", "ds03", "ds04", { from: ["vm0"], to: ["vm1"] });
    expect(c.lines("ds03")).toEqual([line("10.0.0.2", `${VM0}/images`), line("10.0.0.3", VM0)].sort());
    expect(c.lines("ds04")).toEqual([line("10.0.1.1", VM1)]);
    // steady state: reconcile changes nothing anywhere
    for (const n of ["ds03", "ds04"]) {
      const r = c.json(n, ["reconcile"]);
      expect(r.units.filter((u: { state: string; written?: boolean }) => u.state === "done" && u.written)).toEqual([]);
      expect(r.released).toEqual([]);
    }
    for (const g of ["g0", "g1"]) expect(c.run(g === "g0" ? "ds03" : "ds04", ["verify", "--group", g]).code).toBe(0);
  });

  it("a crash of the serving node: the survivor takes over from its replica of the group's volume; the rebooted node drops the group's lines and never journals them as umounts", () => {
    const c = twoGroups();
    c.mountd("ds03", "mount", "10.0.0.1", VM0);
    c.mountd("ds03", "mount", "10.0.0.2", VM0);
    c.ok("ds03", ["record"]);
    // ds03 dies: DRBD's replica on ds04 holds what was journaled
    cpSync(c.ctl("ds03", "g0"), c.ctl("ds04", "g0"), { recursive: true });
    rmSync(c.ctl("ds03", "g0"), { recursive: true });
    c.ok("ds04", ["reconcile", "--hosting", "vm0"]);
    c.serve("ds04", ["vm1", "vm0"]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.1", VM0), line("10.0.0.2", VM0), line("10.0.1.1", VM1)].filter((l) => !l.startsWith("10.0.1.1")).sort());
    c.mountd("ds04", "umount", "10.0.0.1", VM0);
    c.mountd("ds04", "mount", "10.0.0.3", VM0);
    c.ok("ds04", ["record"]);

    // ds03 reboots without the group: its rmtab still lists g0's old clients, etab is empty
    c.serve("ds03", []);
    const r = c.json("ds03", ["reconcile"]);
    expect(r.units.map((u: { unit: string; state: string }) => `${u.unit} ${u.state}`)).toEqual(["g0 absent", "g1 absent"]);
    expect(r.released.map((l: { client: string }) => l.client)).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(c.lines("ds03")).toEqual([]);

    // failback: the volume (ds04's copy) comes back; nothing ds03 missed is taken for an umount
    c.move("g0", "ds04", "ds03", { from: ["vm1"], to: ["vm0"] });
    expect(c.lines("ds03")).toEqual([line("10.0.0.2", VM0), line("10.0.0.3", VM0)]);
    const log = c.json("ds03", ["log", "--group", "g0", "--origin", "ds03"]);
    expect(log.events.filter((e: { op: string }) => e.op === "umount")).toEqual([]);
  });

  it("both modes in one cluster: the shared volume pre-populates its exports on every node, a group's lines live only where it is served", () => {
    const c = GroupCluster.make([{ name: "g0", exports: ["vm0"] }], [...EXPORTS, { name: "vm2", path: VM2 }], { shared: true });
    c.create("ds03", "g0");
    c.ok("ds03", ["init"]);
    c.ok("ds04", ["init"]);
    c.serve("ds03", ["vm0", "vm1"]);
    c.serve("ds04", ["vm2"]);
    c.mountd("ds03", "mount", "10.0.0.1", VM0);
    c.mountd("ds03", "mount", "10.0.0.5", VM1);
    c.mountd("ds04", "mount", "10.0.2.1", VM2);
    for (const n of ["ds03", "ds04", "ds03"]) c.ok(n, ["reconcile"]);
    // vm1 and vm2 (shared volume): on both nodes; vm0 (group g0): only on ds03
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", VM0), line("10.0.0.5", VM1), line("10.0.2.1", VM2)].sort());
    expect(c.lines("ds04")).toEqual([line("10.0.0.5", VM1), line("10.0.2.1", VM2)].sort());
    c.move("g0", "ds03", "ds04", { from: ["vm1"], to: ["vm2", "vm0"] });
    expect(c.lines("ds03")).toEqual([line("10.0.0.5", VM1), line("10.0.2.1", VM2)].sort());
    expect(c.lines("ds04")).toEqual([line("10.0.0.1", VM0), line("10.0.0.5", VM1), line("10.0.2.1", VM2)].sort());
  });

  it("a missing or foreign marker refuses (exit 3) for that group only; the other groups go on", () => {
    const c = twoGroups();
    c.mountd("ds03", "mount", "10.0.0.1", VM0);
    // g1's volume is mounted on ds03 too, but it holds another group's marker
    c.create("ds03", "g1");
    writeFileSync(join(c.ctl("ds03", "g1"), "rmtabsync.cluster"), `${JSON.stringify({ cluster: "test", format: 1, created: "x", id: "y", group: "g7" })}\n`);
    const r = c.run("ds03", ["reconcile", "--json"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('group g1: control directory');
    expect(r.stderr).toContain('belongs to group "g7", not to group "g1"');
    const out = JSON.parse(r.stdout);
    expect(out.units.map((u: { unit: string; state: string }) => `${u.unit} ${u.state}`)).toEqual(["g0 done", "g1 refused"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", VM0)]);
    // show and log read the control directories mounted here; a group named that is not here is said so
    expect(c.json("ds04", ["show"]).mounts).toEqual([]);
    const log = c.run("ds04", ["log", "--group", "g0"]);
    expect(log.code).toBe(1);
    expect(log.stderr).toMatch(/journals directory .*g0\/journals does not exist: is the control volume mounted/);
  });

  it("an export served here whose group volume is not mounted: refused for that group, its lines untouched", () => {
    const c = twoGroups();
    c.mountd("ds03", "mount", "10.0.0.1", VM0);
    c.ok("ds03", ["record"]);
    c.umount("ds03", "g0");
    const r = c.run("ds03", ["reconcile"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/group g0: .* but its export vm0 is served here/);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", VM0)]);
  });

  it("a split-brain of one group's volume: each side's mounts survive recover --group --from the victim's copy", () => {
    const c = twoGroups();
    c.mountd("ds03", "mount", "10.0.0.1", VM0);
    c.ok("ds03", ["reconcile"]);
    // the replication link breaks; ds04 promotes its copy and serves vm0 as well
    cpSync(c.ctl("ds03", "g0"), c.ctl("ds04", "g0"), { recursive: true });
    c.ok("ds04", ["reconcile", "--hosting", "vm0"]);
    c.serve("ds04", ["vm1", "vm0"]);
    c.mountd("ds04", "mount", "10.0.0.4", VM0);
    c.ok("ds04", ["record"]);
    c.mountd("ds03", "mount", "10.0.0.3", VM0);
    c.ok("ds03", ["record"]);
    // ds03's data is kept; ds04 keeps a copy of its own and gives the group up (--discard-my-data)
    const victim = join(c.root, "victim-g0");
    c.serve("ds04", ["vm1"]);
    c.ok("ds04", ["record", "--hosting", "vm0"]);
    cpSync(c.ctl("ds04", "g0"), victim, { recursive: true });
    rmSync(c.ctl("ds04", "g0"), { recursive: true });
    expect(c.lines("ds04")).toEqual([line("10.0.1.1", VM1)].filter(() => false));
    const rec = c.json("ds03", ["recover", "--group", "g0", "--from", victim]);
    expect(rec.merged).toBeGreaterThan(0);
    expect(c.run("ds03", ["verify", "--group", "g0"]).code).toBe(0);
    const r = c.json("ds03", ["reconcile"]);
    expect(r.units[0].addOnly).toBe(false);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", VM0), line("10.0.0.3", VM0), line("10.0.0.4", VM0)]);
    // the other group was never touched
    expect(c.run("ds04", ["verify", "--group", "g1"]).code).toBe(0);
  });
});

describe("the Pacemaker agent with export groups", () => {
  const AGENT = join(ROOT, "deploy/ocf/rmtabsync");
  function agent(dir: string, c: TestCluster, node: string, action: string) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OCF_ROOT: "/usr/lib/ocf",
      OCF_RESOURCE_INSTANCE: `rmtabsync_vm0_${node}`,
      HA_RSCTMP: join(dir, `rsctmp-${node}`),
      OCF_RESKEY_export: "vm0",
      OCF_RESKEY_config: c.configFile(node),
      OCF_RESKEY_node: node,
      OCF_RESKEY_binary: join(dir, "rmtabsync-cli"),
      HA_LOGFILE: join(dir, "ha.log"),
      HA_use_logd: "no",
    };
    const r = spawnSync(join(dir, "rmtabsync"), [action], { encoding: "utf8", env, timeout: 60_000 });
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
  }

  it("stop journals into the group's volume before the Filesystem stops and takes the lines away; start (after Filesystem, before exportfs) brings them back", () => {
    const dir = mkdtempSync(join(tmpdir(), "rmtabsync-ocf-groups-"));
    copyFileSync(AGENT, join(dir, "rmtabsync"));
    chmodSync(join(dir, "rmtabsync"), 0o755);
    writeFileSync(join(dir, "rmtabsync-cli"), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`);
    chmodSync(join(dir, "rmtabsync-cli"), 0o755);
    const c = twoGroups();
    expect(agent(dir, c, "ds03", "start").code).toBe(0);
    c.mountd("ds03", "mount", "10.0.0.1", VM0);
    c.mountd("ds03", "mount", "10.0.0.2", VM0);
    c.ok("ds03", ["record"]);
    c.mountd("ds03", "umount", "10.0.0.2", VM0); // the last change before the move: not recorded yet
    // stop order: exportfs, rmtabsync, Filesystem
    c.serve("ds03", []);
    const stop = agent(dir, c, "ds03", "stop");
    expect(stop.code, stop.out).toBe(0);
    expect(c.lines("ds03")).toEqual([]);
    c.umount("ds03", "g0");
    // start order on ds04: Filesystem, rmtabsync, exportfs
    c.mount("ds04", "g0");
    const start = agent(dir, c, "ds04", "start");
    expect(start.code, start.out).toBe(0);
    expect(c.lines("ds04")).toEqual([line("10.0.0.1", VM0)]);
    c.serve("ds04", ["vm1", "vm0"]);
    // the monitor's status looks at the export's group
    const st = c.run("ds04", ["status", "--export", "vm0"]);
    expect(st.code, st.stdout).toBe(0);
    expect(st.stdout).toContain(`control volume ${c.ctl("ds04", "g0")}: marker ok`);
    // started before its Filesystem (wrong order): the group's volume is not there, start fails under strict
    c.serve("ds03", []);
    rmSync(join(dir, "rsctmp-ds03"), { recursive: true, force: true });
    const early = spawnSync(join(dir, "rmtabsync"), ["start"], {
      encoding: "utf8",
      env: { ...process.env, OCF_ROOT: "/usr/lib/ocf", OCF_RESOURCE_INSTANCE: "rmtabsync_vm0_ds03", HA_RSCTMP: join(dir, "rsctmp-ds03"), OCF_RESKEY_export: "vm0", OCF_RESKEY_config: c.configFile("ds03"), OCF_RESKEY_node: "ds03", OCF_RESKEY_binary: join(dir, "rmtabsync-cli"), OCF_RESKEY_strict: "true", HA_LOGFILE: join(dir, "ha.log"), HA_use_logd: "no" },
    });
    expect(early.status, `${early.stdout}${early.stderr}`).toBe(1);
    expect(`${early.stdout}${early.stderr}`).toMatch(/served here: mount the group's control volume before rmtabsync starts/);
  });
});

describe("doctor, per export group", () => {
  type Doc = { state: string; findings: { check: string; severity: string; nodes: string[] }[]; skipped: { check: string; reason: string }[] };
  const doctor = (c: GroupCluster, node: string): Doc => JSON.parse(c.run(node, ["doctor", "--json"]).stdout) as Doc;

  it("reads node facts from the group volumes mounted here; a node none of them holds is skipped, never a fault", () => {
    const c = twoGroups();
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["record"]);
    // each node holds one group, whose volume only it has ever mounted: the other node is not compared
    for (const [node, other] of [["ds03", "ds04"], ["ds04", "ds03"]] as const) {
      const d = doctor(c, node);
      expect(d.state, JSON.stringify(d)).not.toBe("UNKNOWN");
      expect(d.findings.filter((f) => f.check === "facts-missing")).toEqual([]);
      expect(d.skipped.map((s) => s.reason).join("\n")).toMatch(new RegExp(`facts of ${other} not compared: no control directory mounted here \\(group g\\d\\) holds its journal`));
    }
    // g0 moves to ds04: ds04 now reads ds03's facts from g0's volume; ds03 has no group mounted
    c.move("g0", "ds03", "ds04", { from: [], to: ["vm1", "vm0"] });
    const d4 = doctor(c, "ds04");
    expect(d4.skipped.filter((s) => s.check === "facts-missing")).toEqual([]);
    expect(d4.findings.filter((f) => f.check === "facts-missing")).toEqual([]);
    const d3 = doctor(c, "ds03");
    expect(d3.state, JSON.stringify(d3)).not.toBe("UNKNOWN");
    expect(d3.findings.filter((f) => f.check === "facts-missing")).toEqual([]);
    expect(d3.skipped.map((s) => s.reason).join("\n")).toContain("facts of ds03, ds04 not compared: no control directory is mounted here");
  });
});

describe("status over every group", () => {
  type St = { state: string; groups: { group: string | null; here: boolean; state?: string }[]; findings: { id: string; state: string; message: string; group: string | null }[] };

  it("without --group or --export, judges each control directory mounted here; one finding list naming the group; a group served elsewhere is no fault", () => {
    const c = twoGroups();
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    for (const [node, mine, other] of [["ds03", "g0", "g1"], ["ds04", "g1", "g0"]] as const) {
      const r = c.run(node, ["status", "--json"]);
      expect(r.code, r.stdout).toBe(0);
      const st = JSON.parse(r.stdout) as St;
      expect(st.state).toBe("OK");
      expect(st.findings).toEqual([]);
      expect(st.groups.map((g) => [g.group, g.here])).toEqual([
        ["g0", mine === "g0"],
        ["g1", mine === "g1"],
      ]);
      const text = c.run(node, ["status"]).stdout;
      expect(text).toMatch(/^rmtabsync OK: rmtab and journals in order \| journals=1;/);
      expect(text).toContain(`== group ${mine}\ncontrol volume ${c.ctl(node, mine)}: marker ok`);
      expect(text).toContain(`== group ${other}\n${c.ctl(node, other)} not mounted here (the group is served elsewhere)`);
    }
    // ds03 exports vm1 but g1's volume is not mounted there: critical, for g1 only
    c.serve("ds03", ["vm0", "vm1"]);
    const r = c.run("ds03", ["status", "--json"]);
    expect(r.code, r.stdout).toBe(2);
    const st = JSON.parse(r.stdout) as St;
    expect(st.state).toBe("CRITICAL");
    expect(st.findings.map((f) => [f.group, f.id, f.state])).toEqual([["g1", "control-marker-missing", "CRITICAL"]]);
    expect(st.findings[0]!.message).toMatch(/^group g1: no marker on .*, but vm1 is exported here/);
    expect(st.groups.map((g) => [g.group, g.state])).toEqual([
      ["g0", "OK"],
      ["g1", "CRITICAL"],
    ]);
    const text = c.run("ds03", ["status"]).stdout;
    expect(text).toMatch(/^rmtabsync CRITICAL: group g1: no marker on /);
    expect(text.trimEnd().split("\n").pop()).toMatch(/^CRITICAL control-marker-missing: group g1: /);
    // --group still judges the one group
    expect(c.run("ds03", ["status", "--group", "g0"]).code).toBe(0);
  });
});
