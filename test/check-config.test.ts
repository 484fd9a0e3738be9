// rmtabsync check-config: validates the configuration and prints the settings
// in force; the Pacemaker agent's validate-all relies on its exit code.
import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TestCluster } from "./helpers/cluster.js";

describe("check-config", () => {
  it("prints the resolved settings, defaults filled in, as text and as JSON", () => {
    const c = new TestCluster();
    const text = c.ok("ds03", ["check-config"]).stdout;
    expect(text).toContain(`${c.configFile("ds03")}: valid`);
    expect(text).toMatch(/^node\s+ds03 \(of ds03, ds04\)$/m);
    expect(text).toMatch(/^maxClockSkew\s+300 s$/m);
    expect(text).toMatch(/^system\.nfsConf\s+\/etc\/nfs\.conf$/m);
    expect(text).toMatch(/^export vm0\s+\/srv\/vm0 on ds03, ds04$/m);
    const j = c.json("ds03", ["check-config"]);
    expect(j).toMatchObject({
      valid: true,
      node: "ds03",
      cluster: "test",
      controlDir: c.control,
      controlDirIsMountpoint: false,
      stateDir: c.stateDir("ds03"),
      maxClockSkewSeconds: 300,
      exports: [
        { name: "vm0", path: "/srv/vm0", nodes: ["ds03", "ds04"] },
        { name: "vm1", path: "/srv/vm1", nodes: ["ds03", "ds04"] },
      ],
    });
    expect(j.files).toMatchObject({
      rmtab: `${c.stateDir("ds03")}/rmtab`,
      lock: `${c.stateDir("ds03")}/.rmtab.lock`,
      marks: `${c.stateDir("ds03")}/rmtabsync.marks`,
      spool: `${c.stateDir("ds03")}/rmtabsync.spool`,
      marker: `${c.control}/rmtabsync.cluster`,
      journal: `${c.control}/journals/ds03.sqlite`,
    });
    // it only reads: no control volume, journal or state file is needed or made
    expect(c.run("ds03", ["status"]).stdout).toMatch(/no marker/);
  });

  it("names every problem with its key and exits 2; --json says valid: false", () => {
    const c = new TestCluster();
    writeFileSync(c.configFile("ds03"), "cluster: test\ncontrolDir: relative\nnodes: [ds03]\nexports: []\nbogus: 1\n");
    const r = c.run("ds03", ["check-config"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("controlDir: expected an absolute path");
    expect(r.stderr).toContain("bogus: unknown key");
    const j = c.run("ds03", ["check-config", "--json"]);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toMatchObject({ valid: false, file: c.configFile("ds03") });
    expect(JSON.parse(j.stdout).problems).toHaveLength(2);

    const d = new TestCluster();
    expect(d.run("ds03", ["-n", "ds99", "check-config"]).stderr).toMatch(/node "ds99" \(from --node\) is not in the nodes/);
    expect(d.run("ds03", ["check-config", "--export", "nope"]).stderr).toMatch(/--export: expected one of vm0, vm1, found "nope"/);
    expect(d.run("ds03", ["check-config", "--export", "vm1"]).code).toBe(0);
    expect(d.run("ds03", ["-c", "/nonexistent.yaml", "check-config"]).stderr).toMatch(/nonexistent\.yaml/);
  });
});
