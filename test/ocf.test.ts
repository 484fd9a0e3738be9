// The Pacemaker resource agent deploy/ocf/rmtabsync: Debian's ocf-tester
// against a real temporary cluster, and what start/stop/monitor do there.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, line, ROOT, TestCluster } from "./helpers/cluster.js";

const AGENT = join(ROOT, "deploy/ocf/rmtabsync");
const OCF = { OCF_SUCCESS: 0, OCF_ERR_GENERIC: 1, OCF_ERR_INSTALLED: 5, OCF_ERR_CONFIGURED: 6, OCF_NOT_RUNNING: 7 };

function need(cmd: string, pkg: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`]);
  if (r.status !== 0) throw new Error(`${cmd} is missing: apt-get install ${pkg}`);
}

/** A world-readable copy of the agent (ocf-tester runs meta-data as nobody), a CLI stub and HA_RSCTMP. */
function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), "rmtabsync-ocf-"));
  chmodSync(dir, 0o755);
  const agent = join(dir, "rmtabsync");
  copyFileSync(AGENT, agent);
  chmodSync(agent, 0o755);
  const binary = join(dir, "rmtabsync-cli");
  writeFileSync(binary, `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`);
  chmodSync(binary, 0o755);
  const rsctmp = join(dir, "rsctmp");
  return { dir, agent, binary, rsctmp };
}

function agent(
  box: ReturnType<typeof sandbox>,
  c: TestCluster,
  node: string,
  action: string,
  params: Record<string, string> = {},
  meta: Record<string, string> = {},
) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OCF_ROOT: "/usr/lib/ocf",
    OCF_RESOURCE_INSTANCE: `rmtabsync_${params.export ?? "vm0"}_${node}`,
    HA_RSCTMP: box.rsctmp,
    OCF_RESKEY_CRM_meta_interval: "30000",
    OCF_RESKEY_export: "vm0",
    OCF_RESKEY_config: c.configFile(node),
    OCF_RESKEY_node: node,
    OCF_RESKEY_binary: box.binary,
    HA_LOGFILE: join(box.dir, "ha.log"),
    HA_use_logd: "no",
  };
  for (const [k, v] of Object.entries(params)) env[`OCF_RESKEY_${k}`] = v;
  for (const [k, v] of Object.entries(meta)) env[`OCF_RESKEY_CRM_meta_${k}`] = v;
  const r = spawnSync(box.agent, [action], { encoding: "utf8", env, timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function cluster(): TestCluster {
  const c = new TestCluster();
  c.initAll();
  c.etab("ds03", ["/srv/vm0"]);
  c.etab("ds04", ["/srv/vm1"]);
  return c;
}

describe("record --hosting", () => {
  it("journals the last changes of an export that etab no longer lists (once: then it is released)", () => {
    const c = cluster();
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.22", "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.mountd("ds03", "umount", "10.0.0.21", "/srv/vm0");
    c.etab("ds03", []); // exportfs has stopped vm0
    // vm0 was this node's at the last record: mountd's change is journaled by whichever record comes first
    expect(c.json("ds03", ["record", "--dry-run"]).recorded.map((e: { op: string; client: string }) => `${e.op} ${e.client}`)).toEqual(["umount 10.0.0.21"]);
    const r = c.json("ds03", ["record", "--hosting", "vm0"]);
    expect(r.recorded.map((e: { op: string; client: string }) => `${e.op} ${e.client}`)).toEqual(["umount 10.0.0.21"]);
    // released now: an UMNTALL of a rebooting client is not taken for an umount, with or without --hosting
    c.mountd("ds03", "umountall", "10.0.0.22");
    expect(c.json("ds03", ["record", "--dry-run"]).recorded).toEqual([]);
    expect(c.json("ds03", ["record", "--hosting", "vm0"]).recorded).toEqual([]);
    expect(c.run("ds03", ["record", "--hosting", "nope"]).code).toBe(2);
  });
});

describe("OCF agent deploy/ocf/rmtabsync", () => {
  it("passes Debian's ocf-tester against a real temporary cluster", () => {
    need("ocf-tester", "resource-agents");
    need("xmllint", "libxml2-utils");
    const c = cluster();
    const box = sandbox();
    const r = spawnSync(
      "ocf-tester",
      ["-v", "-n", "rmtabsync_vm0", "-o", "export=vm0", "-o", `config=${c.configFile("ds03")}`, "-o", "node=ds03", "-o", `binary=${box.binary}`, box.agent],
      { encoding: "utf8", env: { ...process.env, HA_RSCTMP: box.rsctmp }, timeout: 120_000 },
    );
    const out = `${r.stdout}${r.stderr}`;
    console.log(out);
    expect(out).toContain("rmtabsync passed all tests");
    expect(r.status, out).toBe(0);
  });

  it("start reconciles the export's clients into rmtab before exportfs; stop journals its last changes", () => {
    const c = cluster();
    const box = sandbox();
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.22", "/srv/vm0");
    c.ok("ds03", ["record"]);
    // vm0 fails over: stop on ds03 (exportfs already gone), start on ds04 before its exportfs.
    c.etab("ds03", []);
    expect(agent(box, c, "ds03", "stop").code).toBe(OCF.OCF_SUCCESS); // never started here: stop of a stopped resource
    expect(agent(box, c, "ds04", "monitor").code).toBe(OCF.OCF_NOT_RUNNING);
    const start = agent(box, c, "ds04", "start");
    expect(start.code, start.out).toBe(OCF.OCF_SUCCESS);
    expect(c.lines("ds04")).toEqual([line("10.0.0.21", "/srv/vm0"), line("10.0.0.22", "/srv/vm0")]);
    c.etab("ds04", ["/srv/vm1", "/srv/vm0"]); // exportfs starts
    expect(agent(box, c, "ds04", "monitor").code).toBe(OCF.OCF_SUCCESS);

    // a client unmounts through ds04, then vm0 moves back: exportfs stops first, then rmtabsync
    c.mountd("ds04", "umount", "10.0.0.22", "/srv/vm0");
    c.etab("ds04", ["/srv/vm1"]);
    const stop = agent(box, c, "ds04", "stop");
    expect(stop.code, stop.out).toBe(OCF.OCF_SUCCESS);
    expect(agent(box, c, "ds04", "monitor").code).toBe(OCF.OCF_NOT_RUNNING);
    expect(agent(box, c, "ds04", "stop").code).toBe(OCF.OCF_SUCCESS);
    const log = c.json("ds03", ["log", "--origin", "ds04"]);
    expect(log.events.map((e: { op: string; client: string }) => `${e.op} ${e.client}`)).toContain("umount 10.0.0.22");
    expect(agent(box, c, "ds03", "start").code).toBe(OCF.OCF_SUCCESS);
    expect(c.lines("ds03")).toEqual([line("10.0.0.21", "/srv/vm0")]);
  });

  it("a control volume that is gone: start and monitor warn, or fail with strict=true; stop still succeeds", () => {
    const c = cluster();
    const box = sandbox();
    expect(agent(box, c, "ds03", "start").code).toBe(OCF.OCF_SUCCESS);
    rmSync(join(c.control, "rmtabsync.cluster"));
    expect(agent(box, c, "ds03", "monitor").code).toBe(OCF.OCF_SUCCESS);
    const strict = agent(box, c, "ds03", "monitor", { strict: "true" });
    expect(strict.code).toBe(OCF.OCF_ERR_GENERIC);
    expect(strict.out).toMatch(/no marker on/);
    expect(agent(box, c, "ds03", "stop").code).toBe(OCF.OCF_SUCCESS);
    expect(agent(box, c, "ds03", "start", { strict: "true" }).code).toBe(OCF.OCF_ERR_GENERIC);
    expect(agent(box, c, "ds03", "start").code).toBe(OCF.OCF_SUCCESS);
    expect(existsSync(join(box.rsctmp, "rmtabsync-rmtabsync_vm0_ds03.state"))).toBe(true);
  });

  it("validate-all names what is wrong: unknown export, missing program, bad lock_timeout, missing config", () => {
    const c = cluster();
    const box = sandbox();
    expect(agent(box, c, "ds03", "validate-all").code).toBe(OCF.OCF_SUCCESS);
    const bad = agent(box, c, "ds03", "validate-all", { export: "nope" });
    expect(bad.code).toBe(OCF.OCF_ERR_CONFIGURED);
    expect(bad.out).toMatch(/--export: expected one of vm0, vm1, found \\?"nope/);
    expect(agent(box, c, "ds03", "validate-all", { binary: "/nonexistent/rmtabsync" }).code).toBe(OCF.OCF_ERR_INSTALLED);
    expect(agent(box, c, "ds03", "validate-all", { lock_timeout: "ten" }).code).toBe(OCF.OCF_ERR_CONFIGURED);
    expect(agent(box, c, "ds03", "validate-all", { config: "/nonexistent.yaml" }).code).toBe(OCF.OCF_ERR_INSTALLED);
    expect(agent(box, c, "ds03", "validate-all", { node: "ds99" }).code).toBe(OCF.OCF_ERR_CONFIGURED);
  });

  it("validate-all runs check-config: an invalid configuration is OCF_ERR_CONFIGURED naming the key", () => {
    const c = cluster();
    const box = sandbox();
    writeFileSync(c.configFile("ds03"), `${c.configText("ds03")}maxClockSkew: forever\n`);
    const bad = agent(box, c, "ds03", "validate-all");
    expect(bad.code).toBe(OCF.OCF_ERR_CONFIGURED);
    expect(bad.out).toMatch(/maxClockSkew: expected a duration from 1s to 1d, like 5m, found \\?"forever/);
    // start validates the same way and does not start
    expect(agent(box, c, "ds03", "start").code).toBe(OCF.OCF_ERR_CONFIGURED);
    // a program that is not rmtabsync (check-config unknown) is not installed right
    writeFileSync(box.binary, "#!/bin/sh\nexit 1\n");
    writeFileSync(c.configFile("ds03"), c.configText("ds03"));
    expect(agent(box, c, "ds03", "validate-all").code).toBe(OCF.OCF_ERR_INSTALLED);
  });
});
