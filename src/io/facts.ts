// Collects this node's facts (src/core/facts.ts) from the system files named
// in the config's `system:` mapping, runs blkid once, and publishes them in
// the node's own journal (a new version only when something changed).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { delimiter, join } from "node:path";
import { paths, type Config } from "../config.js";
import { parseExportsFile, type ExportsLine } from "../core/exports-file.js";
import { buildFacts, FACTS_FORMAT, known, nfsdScopeSupport, unknown, type Known, type NodeFacts, type Read } from "../core/facts.js";
import { mountOf, parseBlkidExport, parseMountinfo } from "../core/mountinfo.js";
import { emptyNfsConf, parseNfsConf } from "../core/nfs-conf.js";
import { parseNfsdStates, type NfsdState } from "../core/nfsd-states.js";
import { parseRmtab } from "../core/rmtab.js";
import { errorMessage } from "../errors.js";
import { factsDue, type FactsRecord, type OwnJournal } from "./journal.js";

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function readFileFact(file: string): Read {
  try {
    return { file, text: readFileSync(file, "utf8") };
  } catch (err) {
    const c = code(err);
    return { file, reason: c === "ENOENT" ? `${file} does not exist` : `cannot read ${file} (${c ?? errorMessage(err)})`, missing: c === "ENOENT" };
  }
}

function listDir(dir: string): string[] | { reason: string; missing: boolean } {
  try {
    return readdirSync(dir).sort();
  } catch (err) {
    const c = code(err);
    return { reason: c === "ENOENT" ? `${dir} does not exist` : `cannot list ${dir} (${c ?? errorMessage(err)})`, missing: c === "ENOENT" };
  }
}

function runBlkid(cmd: string, devices: string[]): Map<string, Record<string, string>> | { reason: string } {
  if (devices.length === 0) return new Map();
  const r = spawnSync(cmd, ["-o", "export", ...devices], { encoding: "utf8", timeout: 10_000 });
  if (r.error) {
    const c = code(r.error);
    return { reason: c === "ENOENT" ? `${cmd} not found (install util-linux)` : `${cmd} failed (${c ?? errorMessage(r.error)})` };
  }
  // blkid exits 2 when a device has no tags it recognises: the others still count.
  if (r.status !== 0 && r.status !== 2) return { reason: `${cmd} exited ${r.status ?? r.signal}: ${r.stderr.trim().slice(0, 200)}` };
  return parseBlkidExport(r.stdout);
}

/** A command's file: a path as given, else the first regular file of that name on PATH, /usr/sbin or /sbin. */
export function findCommand(cmd: string, path = process.env.PATH ?? ""): string | { reason: string } {
  if (cmd.includes("/")) return cmd;
  const dirs = [...path.split(delimiter).filter((d) => d.startsWith("/")), "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    try {
      if (statSync(join(d, cmd)).isFile()) return join(d, cmd);
    } catch {
      // not in this directory
    }
  }
  return { reason: `${cmd} not found on PATH, in /usr/sbin or /sbin (no nfs-kernel-server/nfs-utils installed?)` };
}

/**
 * Whether this node's rpc.nfsd reads [nfsd] scope, from the binary's bytes
 * (about 50 KB: reading and searching it takes about 0.1 ms, so no cache).
 */
export function rpcNfsdScopeSupport(cmd: string): Known<boolean> {
  const file = findCommand(cmd);
  if (typeof file !== "string") return unknown(file.reason);
  try {
    return nfsdScopeSupport(file, readFileSync(file));
  } catch (err) {
    return unknown(`cannot read ${file} (${code(err) ?? errorMessage(err)})`);
  }
}

function underOrAt(path: string, root: string): boolean {
  const p = path.split("/").filter((c) => c !== "");
  const r = root.split("/").filter((c) => c !== "");
  return r.length <= p.length && r.every((c, i) => p[i] === c);
}

/** A facts body as this version writes it, or undefined. */
export function asNodeFacts(rec: FactsRecord | undefined): NodeFacts | undefined {
  if (!rec || rec.format !== FACTS_FORMAT) return undefined;
  const b = rec.body as Partial<NodeFacts> | undefined;
  if (!b || typeof b !== "object" || typeof b.hostname !== "string" || typeof b.exports !== "object" || b.exports === null) return undefined;
  return b as NodeFacts;
}

/** blkid's answer for one mountinfo and device list, kept so an unchanged mountinfo costs no blkid run. */
export interface BlkidMemo {
  readonly key: string;
  readonly result: [string, Record<string, string>][];
}

export interface CollectOptions {
  readonly previous?: NodeFacts;
  readonly nowMs: number;
  readonly hostname?: string;
  /** The malformed lines of rmtab, when the caller parsed it already. */
  readonly rmtabMalformed?: readonly { line: number; problem: string }[];
  /** blkid's last answer; a new one is handed to `remember`. */
  readonly blkid?: { readonly memo: BlkidMemo | undefined; readonly remember: (m: BlkidMemo) => void };
}

export function collectFacts(cfg: Config, opts: CollectOptions): NodeFacts {
  const sys = cfg.system;
  const nfsConfRead = readFileFact(sys.nfsConf);
  const conf = emptyNfsConf();
  if (nfsConfRead.text !== undefined) parseNfsConf(nfsConfRead.text, sys.nfsConf, conf);
  const confD = listDir(sys.nfsConfDir);
  if (Array.isArray(confD))
    for (const n of confD.filter((n) => n.endsWith(".conf"))) {
      const r = readFileFact(join(sys.nfsConfDir, n));
      if (r.text !== undefined) parseNfsConf(r.text, r.file, conf);
    }

  let fhKey: { file: string; sha256: string } | { file: string; reason: string } | null = null;
  const keyFile = conf.values.get("nfsd.fh-key-file");
  if (keyFile !== undefined) {
    try {
      fhKey = { file: keyFile, sha256: createHash("sha256").update(readFileSync(keyFile)).digest("hex") };
    } catch (err) {
      fhKey = { file: keyFile, reason: `cannot read fh-key-file ${keyFile} (${code(err) ?? errorMessage(err)})` };
    }
  }

  const mountinfo = readFileFact(sys.mountinfo);
  let blkid: Map<string, Record<string, string>> | { reason: string } = new Map();
  if (mountinfo.text !== undefined) {
    const mounts = parseMountinfo(mountinfo.text);
    const sources = new Set<string>();
    for (const e of cfg.exports) {
      const m = mountOf(mounts, e.path);
      if (m && m.source.startsWith("/")) sources.add(m.source);
    }
    const devices = [...sources].sort();
    const key = createHash("sha256").update(JSON.stringify([sys.blkid, devices, mountinfo.text])).digest("hex");
    const memo = opts.blkid?.memo;
    if (memo && memo.key === key) blkid = new Map(memo.result);
    else {
      blkid = runBlkid(sys.blkid, devices);
      if (blkid instanceof Map) opts.blkid?.remember({ key, result: [...blkid] });
    }
  }

  let nfsServerEnabled: Known<boolean>;
  try {
    lstatSync(sys.nfsServerEnabled);
    nfsServerEnabled = known(true, sys.nfsServerEnabled);
  } catch (err) {
    nfsServerEnabled = code(err) === "ENOENT" ? known(false, `${sys.nfsServerEnabled} absent`) : unknown(`cannot check ${sys.nfsServerEnabled} (${code(err)})`);
  }

  let exportsFile: Known<ExportsLine[]>;
  const main = readFileFact(sys.exports);
  if (main.text === undefined && !("missing" in main && main.missing)) exportsFile = unknown(main.reason);
  else {
    const lines: ExportsLine[] = main.text !== undefined ? parseExportsFile(main.text, sys.exports) : [];
    const d = listDir(sys.exportsDir);
    let bad: string | undefined;
    if (Array.isArray(d)) {
      for (const n of d.filter((n) => n.endsWith(".exports"))) {
        const r = readFileFact(join(sys.exportsDir, n));
        if (r.text !== undefined) lines.push(...parseExportsFile(r.text, r.file));
        else bad = r.reason;
      }
    } else if (!d.missing) bad = d.reason;
    const mine = lines.filter((l) => cfg.exports.some((e) => underOrAt(l.path, e.path)));
    exportsFile = bad !== undefined ? unknown(bad) : known(mine, sys.exports);
  }

  let nfsdStates: NfsdState[] | { reason: string };
  const clients = listDir(sys.nfsdClients);
  if (!Array.isArray(clients)) nfsdStates = { reason: clients.missing ? `${sys.nfsdClients} does not exist (no kernel nfsd running)` : clients.reason };
  else {
    nfsdStates = [];
    for (const c of clients) {
      const r = readFileFact(join(sys.nfsdClients, c, "states"));
      if (r.text !== undefined) nfsdStates.push(...parseNfsdStates(r.text));
      else if (!("missing" in r && r.missing)) {
        nfsdStates = { reason: r.reason };
        break;
      }
    }
  }

  let rmtabMalformed: Known<{ line: number; problem: string }[]>;
  const rmtabFile = paths(cfg).rmtab;
  if (opts.rmtabMalformed) rmtabMalformed = known([...opts.rmtabMalformed], rmtabFile);
  else try {
    const parsed = parseRmtab(readFileSync(rmtabFile));
    rmtabMalformed = known(parsed.malformed.map((m) => ({ line: m.line, problem: m.problem })), rmtabFile);
  } catch (err) {
    rmtabMalformed = code(err) === "ENOENT" ? known([], `${rmtabFile} absent`) : unknown(`cannot read ${rmtabFile} (${code(err) ?? errorMessage(err)})`);
  }

  return buildFacts({
    hostname: opts.hostname ?? hostname(),
    exports: cfg.exports,
    etab: readFileFact(paths(cfg).etab),
    procExports: readFileFact(sys.procExports),
    mountinfo,
    blkid,
    nfsConf: conf,
    nfsConfRead,
    leaseTime: readFileFact(sys.nfsdLeaseTime),
    graceTime: readFileFact(sys.nfsdGraceTime),
    fhKey,
    nfsServerEnabled,
    exportsFile,
    nfsdStates,
    rmtabMalformed,
    nfsdScopeSupport: rpcNfsdScopeSupport(sys.rpcNfsd),
    nfsdVersions: readFileFact(sys.nfsdVersions),
    nfsdThreads: readFileFact(sys.nfsdThreads),
    previous: opts.previous,
    nowMs: opts.nowMs,
  });
}

/** Local state: factsInputsKey when the facts were last collected. */
const FACTS_INPUTS = "facts_inputs";

/**
 * What moves this node's facts at a failover or a record, read as bytes
 * (no parse): etab, the kernel's export table, the mounts, the hostname and
 * rmtab's malformed lines.
 */
function factsInputsKey(cfg: Config, rmtabMalformed: readonly { line: number; problem: string }[] | undefined): string {
  const h = createHash("sha256");
  for (const file of [paths(cfg).etab, cfg.system.procExports, cfg.system.mountinfo]) {
    const r = readFileFact(file);
    h.update(r.text !== undefined ? `${file}=${Buffer.byteLength(r.text)}\n${r.text}\n` : `${file}!${r.reason}\n`);
  }
  h.update(`${hostname()}\n${JSON.stringify(rmtabMalformed ?? null)}`);
  return h.digest("hex");
}

/**
 * publishOwnFacts for record and reconcile, which run at every mount: the
 * facts are collected when etab, the kernel's export table, the mounts, the
 * hostname or rmtab's malformed lines changed since the last collection,
 * else at most once a minute (factsDue: the rest, nfs.conf,
 * /etc/exports, nfsd's settings and NFSv4 state counts, is that fresh;
 * doctor collects its own node's facts every time). Undefined when not
 * collected.
 */
export function publishOwnFactsIfMoved(
  cfg: Config,
  own: OwnJournal,
  nowMs: number,
  opts: { rmtabMalformed?: readonly { line: number; problem: string }[] } = {},
): { facts: NodeFacts; version: number; changed: boolean } | undefined {
  const key = factsInputsKey(cfg, opts.rmtabMalformed);
  const stored = own.localState(FACTS_INPUTS);
  if (stored === key && !factsDue(own.factsChecked(), nowMs)) return undefined;
  const r = publishOwnFacts(cfg, own, nowMs, opts);
  if (stored !== key) own.setLocalState(FACTS_INPUTS, key);
  return r;
}

/** Collects and publishes this node's facts in its own journal. */
export function publishOwnFacts(
  cfg: Config,
  own: OwnJournal,
  nowMs: number,
  opts: { rmtabMalformed?: readonly { line: number; problem: string }[] } = {},
): { facts: NodeFacts; version: number; changed: boolean } {
  const previous = asNodeFacts(own.latestFacts());
  let memo: BlkidMemo | undefined;
  try {
    memo = JSON.parse(own.localState("blkid_memo") ?? "null") ?? undefined;
  } catch {
    memo = undefined;
  }
  const facts = collectFacts(cfg, {
    previous,
    nowMs,
    rmtabMalformed: opts.rmtabMalformed,
    blkid: { memo, remember: (m) => own.setLocalState("blkid_memo", JSON.stringify(m)) },
  });
  const r = own.publishFacts(facts, FACTS_FORMAT, nowMs);
  return { facts, ...r };
}
