// The watch daemon's scheduling rules (src/schedule.ts), driven step by
// step: the clock and the timers are this test's, the work is a promise the
// test settles. Nothing here waits for real time.
import { describe, expect, it } from "vitest";
import { Schedule, type Work } from "../src/schedule.js";

const DEBOUNCE = 100;

class Harness {
  now = 1_000_000;
  /** Timers set and not yet fired or cleared, by id. */
  readonly timers = new Map<number, { fn: () => void; ms: number }>();
  /** Every timer set, in order: its delay. */
  readonly delays: number[] = [];
  readonly runs: Work[] = [];
  private finish: ((took: number) => void) | undefined;
  /** What unchanged() answers: rmtab and the spool as the last work left them. */
  filesAsLeft = false;
  private next = 1;
  readonly schedule: Schedule;

  constructor() {
    this.schedule = new Schedule(
      {
        now: () => this.now,
        setTimer: (fn, ms) => {
          const id = this.next++;
          this.timers.set(id, { fn, ms });
          this.delays.push(ms);
          return id;
        },
        clearTimer: (t) => void this.timers.delete(t as number),
        run: (kind) => {
          this.runs.push(kind);
          return new Promise<number>((r) => (this.finish = r));
        },
        unchanged: () => this.filesAsLeft,
      },
      DEBOUNCE,
    );
  }

  /** Fires the one timer set (after its delay on the test's clock). */
  fire(): void {
    expect(this.timers.size).toBe(1);
    const [id, t] = [...this.timers][0]!;
    this.timers.delete(id);
    this.now += t.ms;
    t.fn();
  }

  /** Ends the running piece of work, which took `took` changes. */
  async end(took: number, afterMs = 40): Promise<void> {
    const f = this.finish;
    expect(f).toBeDefined();
    this.finish = undefined;
    this.now += afterMs;
    f!(took);
    await this.schedule.busy;
  }
}

describe("watch scheduling", () => {
  it("takes a change at once when no work runs or waits, also right after a piece of work ended", async () => {
    const h = new Harness();
    h.schedule.request("record");
    h.fire();
    expect(h.runs).toEqual(["record"]);
    await h.end(1);
    expect(h.timers.size).toBe(0);
    // 1 ms later, well within --debounce of the work's end: still at once
    h.now += 1;
    h.schedule.request("record");
    expect(h.delays).toEqual([0, 0]);
    h.fire();
    expect(h.runs).toEqual(["record", "record"]);
  });

  it("takes the changes that came while work ran together, right after it", async () => {
    const h = new Harness();
    h.schedule.request("record");
    h.fire();
    h.schedule.request("record");
    h.schedule.request("record");
    h.schedule.request("reconcile");
    expect(h.timers.size).toBe(0); // nothing starts beside the running work
    await h.end(1);
    expect(h.delays).toEqual([0, 0]);
    h.fire();
    expect(h.runs).toEqual(["record", "reconcile"]); // a reconcile records too: one piece of work
    await h.end(0);
    expect(h.timers.size).toBe(0);
  });

  it("drops a record asked for while work ran when the files are as that work left them (its own writes, the change it took)", async () => {
    const h = new Harness();
    h.schedule.request("reconcile");
    h.fire();
    h.schedule.request("record"); // the reconcile's own rename of rmtab
    h.filesAsLeft = true;
    await h.end(0);
    expect(h.timers.size).toBe(0);
    expect(h.runs).toEqual(["reconcile"]);
    // and the next change is taken at once
    h.filesAsLeft = false;
    h.schedule.request("record");
    expect(h.delays).toEqual([0, 0]);
  });

  it("a storm: after work that took more than one change, the changes queued behind it wait --debounce and are taken together", async () => {
    const h = new Harness();
    h.schedule.request("record");
    h.fire();
    h.schedule.request("record");
    await h.end(3); // it took three changes: they come faster than one at a time
    expect(h.delays).toEqual([0, DEBOUNCE]);
    // more changes while it waits join it: no earlier timer, no second one
    h.now += 30;
    h.schedule.request("record");
    h.schedule.request("record");
    expect(h.delays).toEqual([0, DEBOUNCE]);
    h.fire();
    expect(h.runs).toEqual(["record", "record"]);
    // the storm is over (one change taken): what came meanwhile is taken at once
    h.schedule.request("record");
    await h.end(1);
    expect(h.delays).toEqual([0, DEBOUNCE, 0]);
  });

  it("retries a failed piece of work after its backoff; requests meanwhile wait with it; clearBackoff makes it due now", async () => {
    const h = new Harness();
    h.schedule.request("record");
    h.fire();
    h.schedule.retry("record", 8000);
    await h.end(0, 0);
    expect(h.delays).toEqual([0, 8000]);
    h.schedule.request("reconcile");
    expect(h.delays).toEqual([0, 8000]);
    h.schedule.clearBackoff(); // e.g. SIGHUP
    expect(h.delays).toEqual([0, 8000, 0]);
    h.fire();
    expect(h.runs).toEqual(["record", "reconcile"]);
  });

  it("starts nothing after stop; the work in flight is still awaited", async () => {
    const h = new Harness();
    h.schedule.request("record");
    h.fire();
    h.schedule.request("record");
    h.schedule.stop();
    expect(h.schedule.busy).toBeDefined();
    await h.end(1);
    h.schedule.request("reconcile");
    expect(h.timers.size).toBe(0);
    expect(h.runs).toEqual(["record"]);
  });
});
