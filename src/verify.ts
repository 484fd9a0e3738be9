// verify: checks every journal of a control volume (or a copy of it).
import { journalFile, paths, unitStateDir, type Config } from "./config.js";
import { checkChain, checkMarks, originKey, type JournalView, type Mark } from "./core/integrity.js";
import { errorMessage, JournalError } from "./errors.js";
import { futureProblem, rowProblem, type RawRow } from "./core/event-check.js";
import { latestTableProblems } from "./core/latest-table.js";
import { listJournalFiles, readMarker } from "./io/control.js";
import { isBranchFile, nodeOfFile, readChain } from "./io/journal.js";
import { readMarks } from "./io/marks.js";

export interface VerifyFinding {
  /** Stable id: sqlite-integrity, unreadable, chain, invalid-event, future-event, latest-table, rolled-back, forked, gone, missing-journal, marker. */
  readonly check: string;
  readonly file: string;
  readonly seq?: number;
  readonly problem: string;
}

export interface VerifiedJournal {
  readonly file: string;
  readonly node: string;
  readonly journalId: string | null;
  readonly events: number;
  readonly lastSeq: number;
  readonly branchOf: string | null;
  readonly ok: boolean;
}

export interface VerifyReport {
  readonly controlDir: string;
  readonly journals: VerifiedJournal[];
  readonly findings: VerifyFinding[];
}

/** Checks SQLite integrity, schema, identity, the hash chains, and rollbacks/forks against every mark known. */
export function verifyVolume(cfg: Config, opts: { node?: string; futureAfterMs?: number } = {}): VerifyReport {
  const p = paths(cfg);
  const findings: VerifyFinding[] = [];
  try {
    const m = readMarker(p.marker);
    if (!m) findings.push({ check: "marker", file: p.marker, problem: "control volume marker is missing" });
    else if (m.cluster !== cfg.cluster) findings.push({ check: "marker", file: p.marker, problem: `marker names cluster "${m.cluster}", not "${cfg.cluster}"` });
  } catch (err) {
    findings.push({ check: "marker", file: p.marker, problem: errorMessage(err) });
  }
  const journals: VerifiedJournal[] = [];
  const views: JournalView[] = [];
  const published: { node: string; marks: Mark[] }[] = [];
  const present = new Set<string>();
  for (const file of listJournalFiles(p.journals)) {
    const node = nodeOfFile(file);
    if (!isBranchFile(file)) present.add(node);
    try {
      const c = readChain(file, cfg.cluster);
      let ok = true;
      const bad = c.integrity.filter((l) => l !== "ok");
      for (const l of bad) findings.push({ check: "sqlite-integrity", file, problem: `SQLite integrity check: ${l}` });
      if (bad.length) ok = false;
      for (const pr of checkChain(c.meta.journalId, c.rows, c.pruned)) {
        findings.push({ check: "chain", file, seq: pr.seq, problem: pr.problem });
        ok = false;
      }
      for (const r of c.rows) {
        const bad = rowProblem(r as unknown as RawRow, { node: c.meta.node });
        const future = bad === undefined ? futureProblem(r.wall, opts.futureAfterMs) : undefined;
        if (bad) findings.push({ check: "invalid-event", file, seq: r.seq, problem: `event ${r.seq}: ${bad}` });
        else if (future) findings.push({ check: "future-event", file, seq: r.seq, problem: `event ${r.seq}: ${future}` });
        if (bad || future) ok = false;
      }
      // schema v2: the latest-event table recomputed from the events (a stale one is not read by anyone, and not checked)
      if (c.latest !== undefined)
        for (const pr of latestTableProblems(c.rows, c.latest)) {
          findings.push({ check: "latest-table", file, ...(pr.seq !== undefined ? { seq: pr.seq } : {}), problem: pr.problem });
          ok = false;
        }
      const hashes = new Map<number, string>();
      const origins = new Map<string, string>();
      let lastSeq = 0;
      for (const r of [...c.pruned, ...c.rows]) {
        hashes.set(r.seq, r.hash);
        if (r.origin_journal !== c.meta.journalId) origins.set(originKey(r.origin_journal, r.origin_seq), r.origin_hash);
        if (r.seq > lastSeq) lastSeq = r.seq;
      }
      views.push({ file, journalId: c.meta.journalId, node: c.meta.node, hashes, lastSeq, origins });
      published.push({ node: c.meta.node, marks: c.peerMarks });
      journals.push({ file, node, journalId: c.meta.journalId, events: c.rows.length, lastSeq, branchOf: null, ok });
    } catch (err) {
      findings.push({ check: "unreadable", file, problem: err instanceof JournalError ? err.problem : errorMessage(err) });
      journals.push({ file, node, journalId: null, events: 0, lastSeq: 0, branchOf: null, ok: false });
    }
  }
  for (const n of cfg.group === undefined ? cfg.nodes : [])
    if (!present.has(n)) findings.push({ check: "missing-journal", file: journalFile(p.journals, n), problem: `no journal for configured node ${n}` });

  const markSources: { who: string; marks: Mark[] }[] = published.map((x) => ({ who: `node ${x.node}`, marks: x.marks }));
  if (opts.node) {
    try {
      markSources.push({ who: `this node (${opts.node})`, marks: readMarks(unitStateDir(cfg)) });
    } catch (err) {
      findings.push({ check: "unreadable", file: err instanceof JournalError ? err.file : cfg.stateDir, problem: errorMessage(err) });
    }
  }
  const seen = new Set<string>();
  for (const src of markSources) {
    for (const pr of checkMarks(src.marks, views, src.who)) {
      const key = `${pr.journalId}/${pr.kind}/${pr.seq}`;
      if (seen.has(key)) continue;
      seen.add(key);
      findings.push({ check: pr.kind, file: pr.file ?? journalFile(p.journals, pr.node), seq: pr.seq, problem: pr.problem });
      const j = journals.find((x) => x.journalId === pr.journalId);
      if (j) journals[journals.indexOf(j)] = { ...j, ok: false };
    }
  }
  return { controlDir: cfg.controlDir, journals, findings };
}
