// `rmtabsync watch` against real files, real SQLite journals, real fcntl
// locks (python's fcntl.lockf in a second process) and real signals.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { line, ROOT, SIM, TestCluster, started } from "./helpers/cluster.js";
import { sleep, until, WatchProc } from "./helpers/watch-proc.js";

type Ev = { op: string; client: string; path: string; count: number; node: string };

/** Events recorded by `origin`, as "op client path count". */
function events(c: TestCluster, origin: string): string[] {
  return c.json<{ events: Ev[] }>(origin, ["log", "--origin", origin]).events.map((e) => `${e.op} ${e.client} ${e.path} ${e.count}`);
}

async function eventsBecome(c: TestCluster, origin: string, want: string[]): Promise<void> {
  let last: string[] = [];
  try {
    await until(`${origin}'s journal to hold ${JSON.stringify(want)}`, () => {
      last = events(c, origin);
      return JSON.stringify(last) === JSON.stringify(want);
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; it holds ${JSON.stringify(last)}`);
  }
}

/** Holds mountd's rmtab lock from a second process (python fcntl.lockf) for `seconds`. */
async function holdLock(stateDir: string, seconds: number) {
  const child = spawn("python3", [SIM, stateDir, "hold", String(seconds)], { stdio: ["ignore", "pipe", "pipe"] });
  const done = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("locked")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`lock holder exited ${code} before locking`)));
  });
  return { done };
}

function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith(".tmp") || /\.tmp-[0-9a-f]{12}$/.test(n));
}

describe("rmtabsync watch", () => {
  it("records an rmtab that mountd replaced by rename, and an in-place count change", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03");
    try {
      await w.ready();
      const dir = c.stateDir("ds03");
      // mountd's UMNT path: write rmtab.tmp, rename it over rmtab
      writeFileSync(join(dir, "rmtab.tmp"), `${line("10.0.0.21", "/srv/vm0", 2)}\n${line("2001:db8::5", "/srv/vm0/images")}\n`);
      renameSync(join(dir, "rmtab.tmp"), join(dir, "rmtab"));
      await eventsBecome(c, "ds03", ["mount 10.0.0.21 /srv/vm0 2", "mount 2001:db8::5 /srv/vm0/images 1"]);
      // mountd's MNT path: the count rewritten in place, under its lock
      c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
      await eventsBecome(c, "ds03", ["mount 10.0.0.21 /srv/vm0 2", "mount 2001:db8::5 /srv/vm0/images 1", "count 10.0.0.21 /srv/vm0 3"]);
      // a line of an export this node does not export is not journaled (etab rule)
      c.mountd("ds03", "mount", "10.0.0.40", "/srv/vm1");
      await w.waitFor(/^<7>not recorded: 10\.0\.0\.40 \/srv\/vm1 \(export vm1 is not exported by this node/);
      expect(events(c, "ds03")).toHaveLength(3);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("takes each change at once, also one that comes right after a piece of work ended (--debounce holds back only a storm)", async () => {
    const c = started();
    // an hour: a change made to wait for --debounce after the work before it would not be recorded within this test
    const w = new WatchProc(c, "ds03", ["--debounce", "3600000", "--interval", "3600"]);
    try {
      await w.ready();
      const want: string[] = [];
      for (let i = 1; i <= 3; i++) {
        // one change at a time, each as soon as the one before is journaled (the daemon may still be finishing that work)
        c.mountd("ds03", "mount", `10.0.0.${20 + i}`, "/srv/vm0");
        want.push(`mount 10.0.0.${20 + i} /srv/vm0 1`);
        await eventsBecome(c, "ds03", want);
      }
      await w.waitFor(/^<6>recorded 1 change: mount 10\.0\.0\.23 /);
      // one piece of work each
      expect(w.lines.filter((l) => l.startsWith("<6>recorded"))).toEqual([1, 2, 3].map((i) => `<6>recorded 1 change: mount 10.0.0.${20 + i} /srv/vm0 1`));
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("follows a symlinked rmtab: mountd's rename lands on the link's target, in another directory", async () => {
    const c = started();
    const elsewhere = join(c.root, "elsewhere");
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, "rmtab.real"), "");
    symlinkSync(join(elsewhere, "rmtab.real"), join(c.stateDir("ds03"), "rmtab"));
    const w = new WatchProc(c, "ds03", ["--interval", "3600"]);
    try {
      await w.ready();
      c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0"); // in place, in the target
      await eventsBecome(c, "ds03", ["mount 10.0.0.21 /srv/vm0 1"]);
      c.mountd("ds03", "mount", "10.0.0.22", "/srv/vm0");
      // mountd's UMNT: rmtab.tmp in the state directory, renamed onto the link's target (slink_safe_rename)
      writeFileSync(join(c.stateDir("ds03"), "rmtab.tmp"), `${line("10.0.0.22", "/srv/vm0")}\n`);
      renameSync(join(c.stateDir("ds03"), "rmtab.tmp"), join(elsewhere, "rmtab.real"));
      // one record or two, depending on the debounce: compare as a set
      await until("both changes in ds03's journal", () => events(c, "ds03").length === 3);
      expect(events(c, "ds03").sort()).toEqual(["mount 10.0.0.21 /srv/vm0 1", "mount 10.0.0.22 /srv/vm0 1", "umount 10.0.0.21 /srv/vm0 0"]);
      expect(lstatSync(join(c.stateDir("ds03"), "rmtab")).isSymbolicLink()).toBe(true);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("reconciles when a peer journals a new event", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03", ["--interval", "3600"]);
    try {
      await w.ready();
      const mark = w.lines.length;
      c.mountd("ds04", "mount", "10.0.0.31", "/srv/vm1");
      c.ok("ds04", ["record"]);
      await until("ds03's rmtab to get ds04's mount", () => c.rmtab("ds03") === `${line("10.0.0.31", "/srv/vm1")}\n`);
      await w.waitFor(/^<6>.*rmtab rewritten: 1 added, 0 removed, 0 changed, 1 entries$/, { from: mark });
      // the umount through ds04 reaches ds03 too
      c.mountd("ds04", "umount", "10.0.0.31", "/srv/vm1");
      c.ok("ds04", ["record"]);
      await until("ds03's rmtab to lose it again", () => c.rmtab("ds03") === "");
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("refreshes the metrics textfile after a reconcile when asked to", async () => {
    const c = started();
    const prom = join(c.root, "rmtabsync.prom");
    const w = new WatchProc(c, "ds03", ["--interval", "3600", "--metrics-textfile", prom]);
    try {
      await w.ready();
      c.mountd("ds04", "mount", "10.0.0.32", "/srv/vm1");
      c.ok("ds04", ["record"]);
      await until("the metrics textfile to name vm1's entry", () => {
        try {
          return /^rmtabsync_rmtab_entries\{export="vm1"\} 1$/m.test(readFileSync(prom, "utf8"));
        } catch {
          return false;
        }
      });
      expect(readFileSync(prom, "utf8")).toMatch(/^rmtabsync_journal_readable\{node="ds04"\} 1$/m);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("SIGTERM during a reconcile waiting for the lock finishes it: rmtab is old or new, never partial, and exit is 0", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03", ["--interval", "3600", "--lock-timeout", "30"]);
    const dir = c.stateDir("ds03");
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    await w.ready();
    const before = c.rmtab("ds03");
    expect(before).toBe(`${line("10.0.0.21", "/srv/vm0")}\n`);
    const holder = await holdLock(dir, 8);
    const mark = w.lines.length;
    execFileSync("python3", [SIM, c.stateDir("ds04"), "loop", "50", "10.0.1", "/srv/vm1"]);
    c.ok("ds04", ["record"]);
    await w.waitFor(/^<7>reconcile started/, { from: mark });
    await sleep(200);
    expect(c.rmtab("ds03")).toBe(before); // blocked on the lock python holds
    w.signal("SIGTERM");
    await w.waitFor(/^<6>SIGTERM: stopping after the work in flight/, { from: mark });
    const exit = await w.exited;
    expect(await holder.done).toBe(0);
    expect(exit).toEqual({ code: 0, signal: null });
    const after = c.rmtab("ds03");
    const wanted = [line("10.0.0.21", "/srv/vm0"), ...Array.from({ length: 50 }, (_, i) => line(`10.0.1.${i + 1}`, "/srv/vm1"))].sort();
    expect(after === before || JSON.stringify(c.lines("ds03")) === JSON.stringify(wanted)).toBe(true);
    expect(c.lines("ds03")).toEqual(wanted); // it finished the work in flight
    expect(tempFiles(dir)).toEqual([]);
    // the baseline was committed with the rename: nothing left to record
    expect(c.json("ds03", ["record"]).recorded).toEqual([]);
  });

  it("SIGHUP with a broken configuration keeps the old one and keeps running; a good one is taken", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03");
    try {
      await w.ready();
      const good = readFileSync(c.configFile("ds03"), "utf8");
      writeFileSync(c.configFile("ds03"), "cluster: [oops\n");
      w.signal("SIGHUP");
      await w.waitFor(/^<3>reloading the configuration failed, keeping the one in force/);
      writeFileSync(c.configFile("ds03"), good.replace("nodes: [ds03, ds04]", "nodes: [ds04]"));
      w.signal("SIGHUP");
      await w.waitFor(/^<3>reloading the configuration failed.*node "ds03" \(from --node\) is not in the nodes/);
      c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
      await eventsBecome(c, "ds03", ["mount 10.0.0.21 /srv/vm0 1"]);
      writeFileSync(c.configFile("ds03"), `${good}  - name: vm2\n    path: /srv/vm2\n`);
      const mark = w.lines.length;
      w.signal("SIGHUP");
      await w.waitFor(/^<6>configuration reloaded from .* \(node ds03, 3 exports\)/, { from: mark });
      expect(w.child.exitCode).toBeNull();
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("survives a control volume whose marker goes away, reports it, retries, and catches up when it is back", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03", ["--backoff-max", "0.5"]);
    try {
      await w.ready();
      const marker = join(c.control, "rmtabsync.cluster");
      const saved = readFileSync(marker);
      rmSync(marker);
      c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
      c.mountd("ds03", "mount", "10.0.0.22", "/srv/vm0");
      const first = await w.waitFor(/^<3>record failed: control volume marker .* is missing.*; retry 1 in /);
      c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
      c.mountd("ds03", "umount", "10.0.0.22", "/srv/vm0");
      await w.waitFor(/^<3>record failed: .*; retry 3 in /, { from: first });
      writeFileSync(marker, saved);
      await w.waitFor(/^<5>record works again after \d+ failures/, { from: first });
      // nothing mountd changed meanwhile is lost: the net change since the baseline is journaled
      await eventsBecome(c, "ds03", ["mount 10.0.0.21 /srv/vm0 2"]);
      expect(w.child.exitCode).toBeNull();
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("survives the control volume being unmounted (an empty mount point) and re-arms its watch when it is back", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03", ["--backoff-max", "0.5", "--interval", "3600"]);
    try {
      await w.ready();
      const away = `${c.control}.away`;
      renameSync(c.control, away);
      mkdirSync(c.control); // what an unmounted mount point looks like
      c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
      // the record mountd's change asks for, or a reconcile when the poll saw the journals go first
      const first = await w.waitFor(/^<3>(record|reconcile) failed: control volume marker .* is missing/);
      await w.waitFor(/^<4>cannot watch .*journals: not a directory or missing; polling until it is back/);
      rmSync(c.control, { recursive: true });
      renameSync(away, c.control);
      await w.waitFor(/^<5>\w+ works again after/, { from: first });
      await eventsBecome(c, "ds03", ["mount 10.0.0.21 /srv/vm0 1"]);
      // the journals watch works again: a peer's event still arrives
      c.mountd("ds04", "mount", "10.0.0.31", "/srv/vm1");
      c.ok("ds04", ["record"]);
      await until("ds03's rmtab to get ds04's mount", () => c.lines("ds03").includes(line("10.0.0.31", "/srv/vm1")));
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("tells systemd READY, STATUS, WATCHDOG and STOPPING through $NOTIFY_SOCKET (systemd-notify)", async () => {
    if (spawnSync("systemd-notify", ["--help"]).error) throw new Error("systemd-notify not found: apt-get install systemd");
    const c = started();
    const sock = join(c.root, "notify.sock");
    const listener = spawn("python3", [join(ROOT, "test/helpers/notify-socket.py"), sock], { stdio: ["ignore", "pipe", "pipe"] });
    const got: string[] = [];
    let buf = "";
    listener.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      got.push(...parts);
    });
    try {
      await until("the notify socket", () => got.includes("bound"));
      const w = new WatchProc(c, "ds03", [], { NOTIFY_SOCKET: sock, WATCHDOG_USEC: "400000" });
      await until("READY=1", () => got.some((m) => m.includes("READY=1")));
      const ready = got.find((m) => m.includes("READY=1"))!;
      expect(ready).toContain(`MAINPID=${w.child.pid}`);
      expect(ready).toMatch(/STATUS=ok: last reconcile /);
      await until("two watchdog pings", () => got.filter((m) => m.includes("WATCHDOG=1")).length >= 2);
      expect(await w.stop()).toEqual({ code: 0, signal: null });
      expect(got.some((m) => m.includes("STOPPING=1"))).toBe(true);
    } finally {
      listener.kill("SIGTERM");
    }
  });
});
