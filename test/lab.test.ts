// The real-kernel lab's CI subset (scenario 1 with rmtabsync in both
// control modes and the three fsid cases; the rest takes too long for CI): boots the qemu guest once (lab/run.sh --cases ci) and
// turns each case into a test. Runs only with RMTABSYNC_LAB=1 (.ci/run sets
// it in a step of its own: the guest takes both cores for several minutes).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";

const CASES = ["s1-rmtabsync", "s1-group", "fsid_differ", "nofsid_dev", "nofsid_uuid"];
const cache = process.env.LAB_CACHE ?? "/var/tmp/rmtabsync-lab";

interface Row {
  kind: "CHECK" | "RESULT";
  fields: string[];
}

describe.skipIf(process.env.RMTABSYNC_LAB !== "1")("real-kernel lab (CI subset)", () => {
  let rows: Row[] = [];
  beforeAll(() => {
    const r = spawnSync("bash", ["lab/run.sh", "--cases", "ci"], { encoding: "utf8", env: { ...process.env, LAB_CACHE: cache }, timeout: 30 * 60_000 });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    const log = readFileSync(join(cache, "last.log.txt"), "utf8");
    rows = log
      .split("\n")
      .filter((l) => l.startsWith("CHECK\t") || l.startsWith("RESULT\t"))
      .map((l) => {
        const [kind, ...fields] = l.split("\t");
        return { kind: kind as Row["kind"], fields };
      });
  }, 30 * 60_000);

  test.each(CASES)("%s", (id) => {
    const mine = rows.filter((r) => r.fields[0] === id);
    expect(mine.length, `no output for case ${id}: did the guest finish?`).toBeGreaterThan(0);
    for (const r of mine.filter((x) => x.kind === "CHECK")) expect(r.fields[2], `${id}: ${r.fields[1]} (observed: ${r.fields[3]})`).toBe("pass");
    for (const r of mine.filter((x) => x.kind === "RESULT")) {
      const [, critical, , saw, broke] = r.fields;
      // doctor's prediction (any critical finding) matches what the client saw
      expect(critical !== "-", `${id}: doctor critical "${critical}", client saw "${saw}"`).toBe(broke === "yes");
    }
  });
});
