// mountd's fcntl lock held by a second, real process (python3 fcntl.lockf,
// the same call mountd's xflock makes).
import { spawn, type ChildProcess } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, line, python3, SIM, TestCluster } from "./helpers/cluster.js";

const holders: ChildProcess[] = [];
afterEach(() => {
  for (const h of holders.splice(0)) h.kill("SIGKILL");
});

/** Starts a process that holds the rmtab write lock; resolves once it holds it. */
function holdLock(stateDir: string, seconds: number): Promise<ChildProcess> {
  const child = spawn(python3(), [SIM, stateDir, "hold", String(seconds)], { stdio: ["ignore", "pipe", "inherit"] });
  holders.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("locked")) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`lock holder exited ${code} before locking`)));
  });
}

function runAsync(c: TestCluster, node: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "-c", c.configFile(node), "-n", node, ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
  });
}


function setup(): TestCluster {
  const c = new TestCluster();
  c.initAll();
  c.etab("ds03", ["/srv/vm0"]);
  c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
  return c;
}

describe("mountd's rmtab lock", () => {
  it("reconcile waits while another process holds the lock, then proceeds", async () => {
    const c = setup();
    c.ok("ds04", ["init"]);
    c.etab("ds04", ["/srv/vm1"]);
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const holder = await holdLock(c.stateDir("ds03"), 60);
    let exitedAt = 0;
    const pending = runAsync(c, "ds03", ["reconcile", "--lock-timeout", "60"]).then((r) => {
      exitedAt = Date.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 2500));
    expect(exitedAt, "reconcile must wait while the lock is held").toBe(0);
    expect(c.rmtab("ds03")).toBe(line("10.0.0.1", "/srv/vm0") + "\n");
    const releasedAt = Date.now();
    holder.kill("SIGKILL"); // the kernel drops the holder's fcntl lock
    const r = await pending;
    expect(r.code).toBe(0);
    expect(exitedAt).toBeGreaterThanOrEqual(releasedAt);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1")]);
  });

  it("with a short --lock-timeout exits 3 and leaves rmtab byte-for-byte unchanged", async () => {
    const c = setup();
    c.ok("ds04", ["init"]);
    c.etab("ds04", ["/srv/vm1"]);
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const before = c.rmtab("ds03");
    const mtime = statSync(join(c.stateDir("ds03"), "rmtab")).mtimeMs;
    await holdLock(c.stateDir("ds03"), 30);
    const r = await runAsync(c, "ds03", ["reconcile", "--lock-timeout", "0.5"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/could not lock .*\.rmtab\.lock within 0\.5 s/);
    expect(c.rmtab("ds03")).toBe(before);
    expect(statSync(join(c.stateDir("ds03"), "rmtab")).mtimeMs).toBe(mtime);
    // and nothing was journaled either: the record step runs under the same lock
    expect(c.json("ds03", ["log", "--origin", "ds03"]).events).toHaveLength(0);
    expect(c.json("ds03", ["log", "--origin", "ds04"]).events).toHaveLength(1);
  });

  it("loses no entry while a writer appends under the lock and reconcile runs repeatedly", async () => {
    const c = setup();
    c.ok("ds04", ["init"]);
    const N = 400;
    const writer = spawn(python3(), [SIM, c.stateDir("ds03"), "loop", String(N), "10.9.0", "/srv/vm0"], { stdio: "inherit" });
    holders.push(writer);
    const done = new Promise<number>((r) => writer.on("exit", (code) => r(code ?? -1)));
    let runs = 0;
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished || runs < 3) {
      const r = await runAsync(c, "ds03", ["reconcile", "--lock-timeout", "20"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      runs++;
    }
    expect(await done).toBe(0);
    c.ok("ds03", ["reconcile"]);
    const lines = c.lines("ds03");
    for (let i = 1; i <= N; i++) expect(lines).toContain(line(`10.9.0.${i}`, "/srv/vm0"));
    expect(lines).toHaveLength(N + 1);
    // every mount reached the journal too: ds04 gets them all
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual(lines);
    expect(runs).toBeGreaterThanOrEqual(3);
  });
});
