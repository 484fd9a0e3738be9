// metrics, and watch --metrics-textfile, with export groups (issue 11): the
// series of each control directory carry group="NAME" (group="" is the
// shared control directory, which Prometheus stores as no label: the same
// series as without groups); a group served elsewhere is
// rmtabsync_control_mounted{group} 0, never an error. Real files, real
// SQLite, real locks, the real CLI; promtool checks the format.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers/cluster.js";
import { bothGroupsOnDs03, GroupCluster, twoGroups } from "./helpers/groups.js";
import { until, WatchProc } from "./helpers/watch-proc.js";

const CIB = join(ROOT, "test/fixtures/cib/good.xml");

const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync("umount", [m]);
});

function readOr(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function promtool(text: string): string {
  const p = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  if (p.error) throw new Error(`promtool is missing: apt-get install prometheus (${p.error.message})`);
  return `${p.status} ${p.stdout}${p.stderr}`;
}

/** The sample lines of `text` (no HELP/TYPE), sorted. */
function samples(text: string, re: RegExp): string[] {
  return text
    .split("\n")
    .filter((l) => re.test(l))
    .sort();
}

describe("metrics with export groups", () => {
  it("gives each control directory mounted here its series, and a group served elsewhere only as not mounted", () => {
    const c = twoGroups();
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.22", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    c.mountd("ds04", "mount", "10.0.0.31", "/srv/vm1");
    c.ok("ds04", ["reconcile"]);

    const r = c.run("ds03", ["metrics", "--cib", CIB]);
    expect(r.code, r.stderr).toBe(0);
    expect(promtool(r.stdout)).toBe("0 ");
    expect(samples(r.stdout, /^rmtabsync_control_mounted/)).toEqual(['rmtabsync_control_mounted{group="g0"} 1', 'rmtabsync_control_mounted{group="g1"} 0']);
    // g1 is served by ds04: nothing of it here but "not mounted", and no warning about it
    expect(r.stdout.split("\n").filter((l) => l.includes('group="g1"'))).toEqual(['rmtabsync_control_mounted{group="g1"} 0']);
    expect(r.stderr).not.toMatch(/g1/);
    expect(samples(r.stdout, /^rmtabsync_journal_readable/)).toEqual(['rmtabsync_journal_readable{group="g0",node="ds03"} 1']);
    expect(r.stdout).toMatch(/^rmtabsync_journal_last_event_timestamp_seconds\{group="g0",node="ds03"\} \d+/m);
    expect(r.stdout).toMatch(/^rmtabsync_last_success_timestamp_seconds\{group="g0",operation="reconcile"\} \d+/m);
    expect(r.stdout).toContain('rmtabsync_rmtab_drift_entries{group="g0"} 0');
    expect(r.stdout).toContain('rmtabsync_rmtab_entries{export="vm0"} 2');
    expect(r.stdout).toContain('rmtabsync_rmtab_entries{export="vm1"} 0');
    // the state is what status says over every control directory here
    const status = JSON.parse(c.run("ds03", ["status", "--json"]).stdout) as { state: string };
    expect(r.stdout).toContain(`rmtabsync_state{source="status",state="${status.state}"} 1`);
    expect(r.stdout).toContain(`rmtabsync_group_state{group="g0",state="${status.state}"} 1`);

    // exportfs stopped vm0 here, and a line went meanwhile: reconcile would put it back from g0's journal
    c.serve("ds03", []);
    c.writeRmtab("ds03", c.rmtab("ds03").replace(/^10\.0\.0\.22:.*\n/m, ""));
    const d = c.ok("ds03", ["metrics", "--cib", CIB]).stdout;
    expect(d).toContain('rmtabsync_rmtab_drift_entries{group="g0"} 1');
    const now = JSON.parse(c.run("ds03", ["status", "--json"]).stdout) as { state: string };
    expect(now.state).not.toBe("OK");
    expect(d).toContain(`rmtabsync_group_state{group="g0",state="${now.state}"} 1`);
    expect(d).toContain(`rmtabsync_state{source="status",state="${now.state}"} 1`);
  });

  it("labels the shared control directory group=\"\" beside the groups", () => {
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
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    const out = c.ok("ds03", ["metrics", "--cib", CIB]).stdout;
    expect(promtool(out)).toBe("0 ");
    expect(samples(out, /^rmtabsync_control_mounted/)).toEqual(['rmtabsync_control_mounted{group=""} 1', 'rmtabsync_control_mounted{group="g0"} 1']);
    expect(samples(out, /^rmtabsync_journal_readable/)).toEqual([
      'rmtabsync_journal_readable{group="",node="ds03"} 1',
      'rmtabsync_journal_readable{group="",node="ds04"} 1',
      'rmtabsync_journal_readable{group="g0",node="ds03"} 1',
    ]);
  });

  it("watch --metrics-textfile follows a group arriving on this node", async () => {
    const c = twoGroups();
    c.mountd("ds04", "mount", "10.0.0.31", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const prom = join(c.root, "rmtabsync.prom");
    const w = new WatchProc(c, "ds03", ["--interval", "3600", "--poll", "0.2", "--metrics-textfile", prom]);
    const read = () => {
      try {
        return readFileSync(prom, "utf8");
      } catch {
        return "";
      }
    };
    try {
      await w.ready();
      await until("the textfile with g0 here and g1 elsewhere", () => read().includes('rmtabsync_control_mounted{group="g1"} 0'));
      expect(read()).toContain('rmtabsync_control_mounted{group="g0"} 1');
      // g1 fails over to ds03 (nothing runs rmtabsync there but the daemon)
      c.serve("ds04", []);
      c.ok("ds04", ["record", "--hosting", "vm1"]);
      c.umount("ds04", "g1");
      c.mount("ds03", "g1");
      c.serve("ds03", ["vm0", "vm1"]);
      await until("the textfile with g1 here", () => read().includes('rmtabsync_control_mounted{group="g1"} 1'));
      await until("ds04's journal in g1 read here", () => read().includes('rmtabsync_journal_readable{group="g1",node="ds04"} 1'));
      expect(promtool(read())).toBe("0 ");
      expect(w.log).not.toMatch(/metrics refresh .* failed/);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("watch --metrics-textfile is refreshed while one group fails, and shows that group's state", async () => {
    const c = bothGroupsOnDs03(mounts);
    const g1 = c.ctl("ds03", "g1");
    c.ok("ds03", ["reconcile"]);
    c.mountd("ds03", "mount", "10.0.1.31", "/srv/vm1");
    execFileSync("mount", ["-o", "remount,ro", g1]);
    const prom = join(c.root, "rmtabsync.prom");
    const w = new WatchProc(c, "ds03", ["--interval", "3600", "--poll", "0.2", "--backoff-max", "0.5", "--metrics-textfile", prom]);
    try {
      // the first reconcile already fails for g1 (never "reconcile done"), and g0's part is done
      await w.waitFor(/^<3>reconcile failed: group g1: .*read-only file system/);
      await until("the textfile with g1 CRITICAL", () => readOr(prom).includes('rmtabsync_group_state{group="g1",state="CRITICAL"} 1'));
      const text = readOr(prom);
      expect(text).toContain('rmtabsync_group_state{group="g0",state="OK"} 1');
      expect(text).toContain('rmtabsync_state{source="status",state="CRITICAL"} 1');
      execFileSync("mount", ["-o", "remount,rw", g1]);
      await until("the textfile with g1 OK", () => readOr(prom).includes('rmtabsync_group_state{group="g1",state="OK"} 1'));
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
