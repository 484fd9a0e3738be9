// Health of one node, for `rmtabsync status`. Pure: the facts are read
// elsewhere (src/status.ts); each check is a small function of those facts
// that returns its findings. Ids are stable: monitoring and docs use them.

/** Monitoring-plugin states, in their exit-code order. */
export type State = "OK" | "WARNING" | "CRITICAL" | "UNKNOWN";

export const STATE_CODE: Readonly<Record<State, number>> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

export interface Finding {
  /** Stable id, e.g. `journal-unreadable`. */
  readonly id: string;
  readonly state: Exclude<State, "OK">;
  /** One line: what is wrong and what to do. */
  readonly message: string;
}

export type MarkerFact =
  | { readonly kind: "ok"; readonly cluster: string }
  | { readonly kind: "missing" }
  | { readonly kind: "foreign"; readonly cluster: string }
  | { readonly kind: "unreadable"; readonly problem: string };

export interface JournalFact {
  readonly node: string;
  readonly file: string;
  /** Whether this is the journal of the node running status. */
  readonly own: boolean;
  /** The file exists on the control volume. */
  readonly present: boolean;
  readonly problem?: string;
  /** Why this node cannot write it (own journal only): a read-only volume or file. */
  readonly unwritable?: string;
  /** A crash left a rollback journal beside it (read through a private copy). */
  readonly recovery?: boolean;
  readonly events?: number;
  readonly lastEvent?: { readonly wall: number; readonly op: string; readonly client: string; readonly path: string; readonly count: number };
}

export interface RmtabCheck {
  /** Lines reconcile would add, remove or change in the local rmtab (after --export filtering). */
  readonly add: number;
  readonly remove: number;
  readonly change: number;
  /** Removals an add-only reconcile would hold back. */
  readonly heldBack: number;
  /** Lines mountd would misread; reconcile would quarantine them. */
  readonly malformed: number;
  readonly addOnly: boolean;
  /** Entries in the local rmtab now (all exports). */
  readonly entries: number;
}

export interface StatusFacts {
  readonly node: string;
  readonly cluster: string;
  readonly controlDir: string;
  /** The control directory is a mount point (its device differs from its parent's). */
  readonly controlMounted: boolean | undefined;
  /** The configuration wants the control directory to be a mount point (controlDirIsMountpoint, default true). */
  readonly controlMustBeMountpoint?: boolean;
  readonly marker: MarkerFact;
  readonly journals: readonly JournalFact[];
  readonly lastRecord: number | undefined;
  readonly lastReconcile: number | undefined;
  /** A reconcile stopped between committing its baseline and confirming the rename. */
  readonly pending: boolean;
  /** Result of reconcile's read-only dry run, or why it could not run. */
  readonly rmtab: { readonly ok: RmtabCheck } | { readonly error: string } | undefined;
  /** Non-comment lines in rmtab.quarantine. */
  readonly quarantined: number;
  readonly export: string | undefined;
  /** Whether this node exports `export` now (per etab). */
  readonly exportHosted: boolean | undefined;
  readonly etabProblems: readonly string[];
  /** Journals rolled back, forked or gone relative to what some node saw (a split-brain or a restored backup). */
  readonly diverged: readonly { readonly file: string; readonly kind: string; readonly problem: string }[];
  /** Journals holding events reconcile does not use: "invalid" (bad content or chain) or "future" (stamped beyond the clock skew). */
  readonly unusable: readonly { readonly file: string; readonly kind: string; readonly problem: string }[];
  /** Why the configured stateDir cannot be used (missing, not a directory), if it cannot. */
  readonly stateDirProblem?: string;
  readonly now: number;
  /** A last reconcile older than this (ms) is stale. */
  readonly staleAfterMs: number;
  /**
   * Events mountd's callout captured that no record journaled yet, per spool
   * directory this control directory takes from (the node's, and with export
   * groups its own share); absent when not read.
   */
  readonly spool?: readonly { readonly dir: string; readonly events: number; readonly oldest: number | undefined }[];
}

export type Check = (f: StatusFacts) => Finding[];

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export const formatAge = ago;

const controlVolume: Check = (f) => {
  switch (f.marker.kind) {
    case "ok":
      // a marker on a plain directory: the volume is not mounted and this is a copy underneath
      return f.controlMounted === false && f.controlMustBeMountpoint
        ? [
            {
              id: "control-not-mountpoint",
              state: "CRITICAL",
              message: `${f.controlDir} is not a mount point: the control volume is not mounted there (record and reconcile refuse to run; set controlDirIsMountpoint: false only for a plain directory on purpose)`,
            },
          ]
        : [];
    case "missing":
      return [
        {
          id: "control-marker-missing",
          state: "CRITICAL",
          message: `no marker on ${f.controlDir}: the control volume is not mounted (record and reconcile refuse to run)`,
        },
      ];
    case "foreign":
      return [
        {
          id: "control-marker-foreign",
          state: "CRITICAL",
          message: `${f.controlDir} belongs to cluster "${f.marker.cluster}", not "${f.cluster}": the wrong volume is mounted`,
        },
      ];
    case "unreadable":
      return [{ id: "control-marker-unreadable", state: "CRITICAL", message: f.marker.problem }];
  }
};

const ownJournal: Check = (f) => {
  const own = f.journals.find((j) => j.own);
  if (f.marker.kind !== "ok" || !own) return [];
  if (!own.present)
    return [{ id: "own-journal-missing", state: "CRITICAL", message: `${own.file} does not exist: run 'rmtabsync init' on ${f.node}` }];
  if (own.problem !== undefined)
    return [{ id: "own-journal-unreadable", state: "CRITICAL", message: `${own.file}: ${own.problem} (record and reconcile fail)` }];
  if (own.unwritable !== undefined)
    return [{ id: "own-journal-readonly", state: "CRITICAL", message: `${own.file} ${own.unwritable}: record, reconcile and forget fail` }];
  if (own.recovery)
    return [
      {
        id: "own-journal-recovery",
        state: "WARNING",
        message: `${own.file}-journal: an interrupted write left a rollback journal; the next record or reconcile on ${f.node} rolls it back`,
      },
    ];
  return [];
};

const peerJournals: Check = (f) => {
  if (f.marker.kind !== "ok") return [];
  const out: Finding[] = [];
  for (const j of f.journals) {
    if (j.own) continue;
    if (!j.present)
      out.push({
        id: "journal-missing",
        state: "WARNING",
        message: `no journal for configured node ${j.node} (run 'rmtabsync init' there): reconcile runs add-only`,
      });
    else if (j.problem !== undefined)
      out.push({ id: "journal-unreadable", state: "WARNING", message: `${j.file}: ${j.problem}: reconcile runs add-only` });
  }
  return out;
};

const journalsDiverged: Check = (f) =>
  f.diverged.map((d) => ({
    id: "journal-diverged",
    state: "CRITICAL" as const,
    message: `${d.file}: ${d.problem}; reconcile runs add-only until 'rmtabsync recover' merges the other copy`,
  }));

const journalsUnusable: Check = (f) =>
  f.unusable.map((u) =>
    u.kind === "future"
      ? {
          id: "journal-future",
          state: "WARNING" as const,
          message: `${u.file}: ${u.problem}; check the clocks (NTP) of this node and of that journal's node; reconcile runs add-only meanwhile`,
        }
      : {
          id: "journal-invalid",
          state: "WARNING" as const,
          message: `${u.file}: ${u.problem}; reconcile ignores those events and runs add-only ('rmtabsync verify' names them all)`,
        },
  );

const rmtabMatches: Check = (f) => {
  const r = f.rmtab;
  if (r === undefined) return [];
  if ("error" in r) return [{ id: "rmtab-unchecked", state: "UNKNOWN", message: `could not compare rmtab with the journals: ${r.error}` }];
  const out: Finding[] = [];
  const { add, remove, change } = r.ok;
  if (add + remove + change > 0) {
    const parts = [add && `${add} to add`, remove && `${remove} to remove`, change && `${change} to change`].filter(Boolean).join(", ");
    out.push({
      id: "rmtab-differs",
      state: "WARNING",
      message: `rmtab differs from what reconcile would write${f.export ? ` for export ${f.export}` : ""} (${parts}): run 'rmtabsync reconcile'`,
    });
  }
  if (r.ok.malformed > 0)
    out.push({
      id: "rmtab-malformed",
      state: "WARNING",
      message: `rmtab holds ${r.ok.malformed} line(s) mountd would misread: the next reconcile quarantines them`,
    });
  return out;
};

const stateDir: Check = (f) =>
  f.stateDirProblem === undefined
    ? []
    : [{ id: "state-dir-unusable", state: "CRITICAL", message: `stateDir ${f.stateDirProblem}: record and reconcile fail until it is fixed in the configuration or created` }];

const reconcileFresh: Check = (f) => {
  if (f.marker.kind !== "ok" || f.stateDirProblem !== undefined) return [];
  if (f.lastReconcile === undefined)
    return [{ id: "reconcile-never", state: "WARNING", message: `${f.node} has never reconciled: run 'rmtabsync reconcile' (or start rmtabsync.service)` }];
  const age = f.now - f.lastReconcile;
  if (age > f.staleAfterMs)
    return [
      {
        id: "reconcile-stale",
        state: "WARNING",
        message: `last reconcile was ${ago(age)} ago (more than ${ago(f.staleAfterMs)}): is rmtabsync.service or rmtabsync-reconcile.timer running?`,
      },
    ];
  return [];
};

const pendingReconcile: Check = (f) =>
  f.pending
    ? [{ id: "reconcile-interrupted", state: "WARNING", message: "a reconcile stopped before confirming its rmtab rename: the next reconcile settles it" }]
    : [];

const quarantine: Check = (f) =>
  f.quarantined > 0
    ? [
        {
          id: "quarantine-present",
          state: "WARNING",
          message: `rmtab.quarantine holds ${f.quarantined} line(s) removed from rmtab: read them, then delete the file`,
        },
      ]
    : [];

// The callout's events live only in this node's state directory until a
// record journals them: waiting longer than a reconcile may be stale, they
// are one lost disk away from lost mount records.
const spoolWaits: Check = (f) =>
  (f.spool ?? []).flatMap((s) =>
    s.events > 0 && s.oldest !== undefined && f.now - s.oldest > f.staleAfterMs
      ? [
          {
            id: "spool-waiting",
            state: "WARNING" as const,
            message: `${s.events} event(s) mountd's callout captured wait in ${s.dir} since ${ago(f.now - s.oldest)} ago, not journaled: run 'rmtabsync record' and read its errors (a control volume not writable or not mounted here keeps them waiting)`,
          },
        ]
      : [],
  );

const etab: Check = (f) => f.etabProblems.map((p) => ({ id: "etab-unparsable", state: "WARNING" as const, message: p }));

/** The registry: adding a check means adding a function here. */
export const CHECKS: readonly Check[] = [stateDir, controlVolume, ownJournal, peerJournals, journalsDiverged, journalsUnusable, rmtabMatches, reconcileFresh, pendingReconcile, quarantine, spoolWaits, etab];

/** Worst first: CRITICAL, then UNKNOWN (something could not be checked), then WARNING. */
const RANK: Readonly<Record<State, number>> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };

export interface Evaluation {
  readonly state: State;
  readonly findings: Finding[];
}

export function evaluateStatus(f: StatusFacts, checks: readonly Check[] = CHECKS): Evaluation {
  const findings = checks.flatMap((c) => c(f));
  findings.sort((a, b) => RANK[b.state] - RANK[a.state]);
  const state = findings.reduce<State>((s, x) => (RANK[x.state] > RANK[s] ? x.state : s), "OK");
  return { state, findings };
}
