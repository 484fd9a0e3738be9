// When the watch daemon's work runs (src/daemon.ts does the watching and
// the work). One piece of work runs at a time. A change is taken at once
// when no work runs or waits: mountd's MNT waits for nothing, and neither
// should its record. Changes that come while work runs are taken together
// right after it; but when that work took more than one change (changes
// come faster than one at a time: a storm, say every client of a node
// mounting again after a failover), they wait --debounce after it, so the
// storm is taken in batches instead of back to back.
//
// The clock and the timers are injected: test/schedule.test.ts drives them.

export type Work = "record" | "reconcile";

export interface ScheduleDeps {
  readonly now: () => number;
  readonly setTimer: (fn: () => void, ms: number) => unknown;
  readonly clearTimer: (t: unknown) => void;
  /**
   * One piece of work: it reads the files afresh. Resolves to how many
   * changes it took (journaled from rmtab and the spool; 0 when skipped or
   * failed). A failure is retried through retry().
   */
  readonly run: (kind: Work) => Promise<number>;
  /**
   * After a piece of work, whether rmtab and the spool are as it left them:
   * a record asked for meanwhile was then asked for by that work's own
   * writes or by the change it took, and is no work queued behind it.
   */
  readonly unchanged: () => boolean;
}

export class Schedule {
  private readonly pending = { record: false, reconcile: false };
  private timer: unknown;
  private dueAt = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** No work starts before this (ms): the backoff after a failure. */
  private notBefore = 0;

  constructor(
    private readonly deps: ScheduleDeps,
    private readonly debounceMs: number,
  ) {}

  /** The work in flight, if any. */
  get busy(): Promise<void> | undefined {
    return this.running;
  }

  /** Asks for a piece of work: at once when none runs or waits, else with the one that waits or after the one that runs. */
  request(kind: Work): void {
    if (this.stopped) return;
    this.pending[kind] = true;
    if (this.running || this.timer !== undefined) return;
    this.wake(0);
  }

  /** After a failed piece of work: `kind` again, not before `delayMs`. */
  retry(kind: Work, delayMs: number): void {
    this.pending[kind] = true;
    this.notBefore = this.deps.now() + delayMs;
  }

  /** The backoff is over (the work works again, or the configuration was reloaded): work waiting for it is due now. */
  clearBackoff(): void {
    this.notBefore = 0;
    if (this.timer === undefined) return;
    this.deps.clearTimer(this.timer);
    this.timer = undefined;
    this.wake(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clearTimer(this.timer);
    this.timer = undefined;
  }

  private wake(delayMs: number): void {
    const now = this.deps.now();
    const at = Math.max(now + delayMs, this.notBefore);
    if (this.timer !== undefined) {
      if (this.dueAt <= at) return;
      this.deps.clearTimer(this.timer);
    }
    this.dueAt = at;
    this.timer = this.deps.setTimer(() => {
      this.timer = undefined;
      this.kick();
    }, at - now);
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    if (!this.pending.record && !this.pending.reconcile) return;
    const kind: Work = this.pending.reconcile ? "reconcile" : "record";
    // a reconcile records too
    this.pending.record = false;
    this.pending.reconcile = false;
    const running = this.deps.run(kind).then(
      (took) => this.done(took),
      () => this.done(0),
    );
    this.running = running;
  }

  private done(took: number): void {
    this.running = undefined;
    if (this.stopped) return;
    if (this.pending.record && !this.pending.reconcile && this.deps.unchanged()) this.pending.record = false;
    if (!this.pending.record && !this.pending.reconcile) return;
    // changes came while it ran: taken together, at once; after --debounce when they come faster than one at a time
    this.wake(took > 1 ? this.debounceMs : 0);
  }
}
