// Crash injection: record, reconcile and compact killed with SIGKILL at
// random points, hundreds of times. rmtab is always the old or the new
// content and parses; verify passes; no event reported committed is lost.
import { spawn, execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseRmtab } from "../src/core/rmtab.js";
import { CLI, python3, TestCluster } from "./helpers/cluster.js";

const KILLS = Number(process.env.RMTABSYNC_CRASH_KILLS ?? 300);

interface Outcome {
  killed: boolean;
  stdout: string;
}

/** Runs the CLI and SIGKILLs it after `delayMs` unless it finished first. */
function runAndKill(c: TestCluster, node: string, args: string[], delayMs: number): Promise<Outcome & { ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "-c", c.configFile(node), "-n", node, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === "SIGKILL" || code !== 0, stdout, ms: Date.now() - t0 });
    });
  });
}

/** Sequence numbers present in a journal, compacted ones included. */
function seqs(db: string): Set<number> {
  const out = execFileSync(python3(), [
    "-c",
    `import sqlite3\ncon = sqlite3.connect(${JSON.stringify(db)})\nprint(" ".join(str(r[0]) for r in con.execute("SELECT seq FROM events UNION SELECT seq FROM pruned")))`,
  ]).toString();
  return new Set(out.trim().split(/\s+/).filter(Boolean).map(Number));
}

// deterministic pseudo-random delays (xorshift), so a failure can be replayed
let state = 0x2545f491;
function rand(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 0x100000000;
}

describe("crash injection", () => {
  it(`survives ${KILLS} SIGKILLs of record, reconcile and compact`, async () => {
    const c = new TestCluster();
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.etab("ds04", ["/srv/vm1"]);
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(`10.2.${i >> 8}.${i & 255}:/srv/vm${i % 2}:0x00000001\n`);
    c.writeRmtab("ds03", lines.filter((l) => l.includes("vm0")).join(""));
    c.writeRmtab("ds04", lines.filter((l) => l.includes("vm1")).join(""));
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);

    // how long each command takes on this machine now: kills land inside that span
    const took: Record<string, number> = {};
    for (const op of ["record", "reconcile", "compact"]) {
      const args = op === "compact" ? ["compact", "--keep", "0s", "--json"] : [op, "--json"];
      took[op] = (await runAndKill(c, "ds03", args, 60_000)).ms;
    }
    const committed = new Map<string, Set<number>>([["ds03", new Set()], ["ds04", new Set()]]);
    const counts = { record: 0, reconcile: 0, compact: 0, killed: 0, completed: 0 };
    let n = 0;
    for (let i = 0; i < KILLS; i++) {
      // mountd changes something on both nodes: a mount, sometimes an umount
      const a = `10.3.${(i >> 8) & 255}.${i & 255}`;
      c.mountd("ds03", "mount", a, "/srv/vm0");
      if (i % 3 === 0) c.mountd("ds04", "mount", a, "/srv/vm1");
      if (i % 4 === 0) c.mountd("ds03", "umount", `10.2.0.${(i * 2) % 250}`, "/srv/vm0");
      const r = rand();
      const op = r < 0.5 ? "reconcile" : r < 0.85 ? "record" : "compact";
      const node = i % 5 === 0 ? "ds04" : "ds03";
      counts[op]++;
      const before = c.rmtab(node);
      const args = op === "compact" ? ["compact", "--keep", "0s", "--json"] : [op, "--json"];
      const out = await runAndKill(c, node, args, Math.floor(took[op]! * (0.3 + rand() * 0.9)));
      if (!out.killed) took[op] = (took[op]! * 3 + out.ms) / 4;
      if (out.killed) counts.killed++;
      else {
        counts.completed++;
        if (op !== "compact") for (const e of JSON.parse(out.stdout).recorded as { seq: number }[]) committed.get(node)!.add(e.seq);
      }
      // rmtab is the old content or parses completely (a finished rewrite)
      const after = c.rmtab(node);
      const parsed = parseRmtab(after);
      expect(parsed.malformed).toEqual([]);
      expect(parsed.canonical || after === before).toBe(true);
      if (op !== "reconcile") expect(after).toBe(before);
      if (op === "reconcile" && out.killed && after !== before) {
        // the killed reconcile got as far as its rename: a complete run now writes the same
        c.ok(node, ["reconcile"]);
        expect(c.rmtab(node)).toBe(after);
      }
      if (++n % 25 === 0) {
        const v = c.run(node, ["verify"]);
        expect(v.stdout + v.stderr, `verify after kill ${n}`).toMatch(/all journals sound/);
      }
    }
    // finish: every node converges, verify passes, no committed event is missing
    for (const node of ["ds03", "ds04", "ds03"]) c.ok(node, ["reconcile"]);
    const v = c.run("ds03", ["verify"]);
    expect(v.code, v.stdout).toBe(0);
    for (const [node, s] of committed) {
      const present = seqs(join(c.control, "journals", `${node}.sqlite`));
      for (const seq of s) expect(present.has(seq), `event ${seq} of ${node} reported committed`).toBe(true);
    }
    expect(c.json("ds03", ["reconcile"]).problems).toEqual([]);
    expect(c.lines("ds03")).toEqual(c.lines("ds04"));
    console.log(`crash injection: ${counts.killed} kills survived, ${counts.completed} runs completed (record ${counts.record}, reconcile ${counts.reconcile}, compact ${counts.compact})`);
    expect(counts.killed).toBeGreaterThan(KILLS / 3);
  }, 600_000);

  // A takeover onto an emptied rmtab: the reconcile's new rmtab is past what a splice holds, so its pending
  // baseline is written as the journal's base (with the edit back) and the local copy is a new base.
  const TAKEOVER_KILLS = Math.max(10, Math.round(KILLS / 6));
  it(`survives ${TAKEOVER_KILLS} SIGKILLs of a takeover's reconcile onto an emptied rmtab; nothing is journaled for it`, async () => {
    const c = new TestCluster();
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.etab("ds04", ["/srv/vm1"]);
    // 3000 mounts of vm1 on ds04 (about 90 KB of lines), a few of vm0 on ds03
    const vm1 = Array.from({ length: 3000 }, (_, i) => `10.4.${i >> 8}.${i & 255}:/srv/vm1:0x00000001\n`);
    c.writeRmtab("ds04", vm1.join(""));
    c.writeRmtab("ds03", "10.5.0.1:/srv/vm0:0x00000001\n10.5.0.2:/srv/vm0:0x00000001\n");
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    // vm1 moves to ds03 (its rmtab lost on the way)
    c.etab("ds04", []);
    c.ok("ds04", ["record"]);
    c.etab("ds03", ["/srv/vm0", "/srv/vm1"]);
    const full = () => c.lines("ds03").join("\n");
    c.ok("ds03", ["reconcile"]);
    const expected = full();
    expect(c.lines("ds03")).toHaveLength(3002);
    const eventsBefore = seqs(join(c.control, "journals", "ds03.sqlite")).size;
    c.writeRmtab("ds03", "");
    let took = (await runAndKill(c, "ds03", ["reconcile"], 60_000)).ms;
    expect(full()).toBe(expected);
    let killed = 0;
    for (let i = 0; i < TAKEOVER_KILLS; i++) {
      c.writeRmtab("ds03", "");
      const out = await runAndKill(c, "ds03", ["reconcile"], Math.floor(took * (0.2 + rand() * 1.0)));
      if (out.killed) killed++;
      else took = (took * 3 + out.ms) / 4;
      // rmtab is still empty or whole, never part of it
      const after = c.rmtab("ds03");
      expect(after === "" || full() === expected, `rmtab after kill ${i}`).toBe(true);
      // a complete run finishes the takeover: the same lines, and nothing taken for a mount or an umount
      c.ok("ds03", ["reconcile"]);
      expect(full()).toBe(expected);
      c.ok("ds03", ["record"]);
      expect(seqs(join(c.control, "journals", "ds03.sqlite")).size, `events after kill ${i}`).toBe(eventsBefore);
      if (i % 10 === 9) {
        const v = c.run("ds03", ["verify"]);
        expect(v.stdout + v.stderr, `verify after kill ${i}`).toMatch(/all journals sound/);
      }
    }
    expect(seqs(join(c.control, "journals", "ds03.sqlite")).size).toBe(eventsBefore);
    expect(c.run("ds03", ["verify"]).code).toBe(0);
    console.log(`crash injection (takeover): ${killed} kills of ${TAKEOVER_KILLS} reconciles`);
    expect(killed).toBeGreaterThan(TAKEOVER_KILLS / 3);
  }, 600_000);
});
