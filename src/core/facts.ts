// Node facts: what one node knows about itself that decides whether NFS
// clients survive a failover. Built here from already-read file contents
// (pure); src/io/facts.ts does the reading. Unknown stays unknown: a value
// is either known (with where it came from) or null with the reason.
import type { ExportDef } from "./exports.js";
import { parseEtab } from "./etab.js";
import type { ExportsLine } from "./exports-file.js";
import { mountOf, parseMountinfo } from "./mountinfo.js";
import { parsePort, type NfsConf } from "./nfs-conf.js";
import type { NfsdState } from "./nfsd-states.js";
import { parseProcExports } from "./proc-exports.js";

export const FACTS_FORMAT = 1;

export type Known<T> = { readonly value: T; readonly source: string } | { readonly value: null; readonly reason: string };

export function known<T>(value: T, source: string): Known<T> {
  return { value, source };
}
export function unknown<T = never>(reason: string): Known<T> {
  return { value: null, reason };
}

/** What was read from a file: its text, or why it could not be read. */
export type Read = { readonly text: string; readonly file: string } | { readonly text?: undefined; readonly file: string; readonly reason: string; readonly missing: boolean };

export interface FsFacts {
  readonly mountPoint: string;
  readonly type: string;
  /** "major:minor", decimal. */
  readonly device: string;
  readonly source: string;
  /** libblkid's UUID; null when blkid has none (or skips this type). */
  readonly uuid: string | null;
}

export interface ServedFacts {
  /** When this identity was first seen while exported (ms). */
  readonly wall: number;
  readonly fsid: string | null;
  readonly fs: FsFacts | null;
}

export interface V4Counts {
  readonly opens: number;
  readonly locks: number;
  readonly delegations: number;
  readonly other: number;
}

export interface ExportFacts {
  readonly path: string;
  /** Whether etab lists exactly this path now. */
  readonly exported: Known<boolean>;
  /** Distinct fsid= values on this path's etab lines (empty: none configured). */
  readonly etabFsids: readonly string[];
  /** Options of this path's first etab line. */
  readonly etabOptions: readonly string[];
  /** The fsid in force: the kernel's export cache, else etab's fsid=. "uuid:..." for a UUID. */
  readonly fsid: Known<string>;
  readonly fs: Known<FsFacts>;
  readonly v4State: Known<V4Counts>;
  /** The identity this node served the export with, now or the last time it exported it. */
  readonly served: ServedFacts | null;
}

/** nfsdcld's database: the NFSv4 clients allowed to reclaim state after a restart or failover. */
export interface NfsdcldFacts {
  /** [nfsdcld] storagedir, else nfsdcld's default. */
  readonly dir: string;
  /** The mount that holds the directory (the longest mount point above it). */
  readonly mount: { readonly mountPoint: string; readonly type: string; readonly device: string; readonly source: string };
}

/**
 * rpc.nfsd reads [nfsd] scope (and -S/--scope) since nfs-utils 2.6.3
 * (commit 580ac005, "nfsd: allow server scope to be set with config or
 * command line"); older ones ignore the line and nfsd runs with the hostname.
 */
export const NFSD_SCOPE_SINCE = "2.6.3";
/** A string every rpc.nfsd with scope support holds: its message when it cannot set the scope. */
export const NFSD_SCOPE_MARKER = "Unable to set server scope";

/** nfsdcld's storagedir when nfs.conf sets none (nfs-utils: NFS_STATEDIR "/nfsdcld"). */
export const NFSDCLD_DEFAULT_DIR = "/var/lib/nfs/nfsdcld";

export interface NodeFacts {
  readonly hostname: string;
  readonly exports: Record<string, ExportFacts>;
  /** Every etab line's path and fsid (for collisions with exports outside the config). */
  readonly etab: Known<{ path: string; fsid: string | null }[]>;
  readonly scope: { readonly configured: Known<string>; readonly effective: Known<string> };
  readonly leaseTime: Known<number>;
  readonly graceTime: Known<number>;
  readonly ports: Record<"mountd" | "statd" | "statdOutgoing" | "lockdTcp" | "lockdUdp", Known<number>>;
  /** sha256 of the fh-key-file contents ("none" when no key is configured), never the key. */
  readonly fhKey: Known<string>;
  readonly nfsServerEnabled: Known<boolean>;
  /** /etc/exports lines for cluster export paths. */
  readonly exportsFile: Known<ExportsLine[]>;
  readonly rmtab: Known<{ line: number; problem: string }[]>;
  readonly nfsConfProblems: readonly string[];
  /** Where nfsdcld keeps its database (absent in facts published before it existed). */
  readonly nfsdcld?: Known<NfsdcldFacts>;
  /** Whether this node's rpc.nfsd reads [nfsd] scope (absent in facts published before it existed). */
  readonly nfsdScopeSupport?: Known<boolean>;
  /** The NFS versions nfsd serves, like ["3", "4", "4.1", "4.2"] (absent in facts published before it existed). */
  readonly nfsVersions?: Known<string[]>;
}

export interface FactsInput {
  readonly hostname: string;
  readonly exports: readonly ExportDef[];
  readonly etab: Read;
  readonly procExports: Read;
  readonly mountinfo: Read;
  /** blkid answers by device path (DEVNAME), or why blkid could not run. */
  readonly blkid: Map<string, Record<string, string>> | { reason: string };
  readonly nfsConf: NfsConf;
  readonly nfsConfRead: Read;
  readonly leaseTime: Read;
  readonly graceTime: Read;
  /** Hash of the fh-key-file when one is configured. */
  readonly fhKey: { file: string; sha256: string } | { file: string; reason: string } | null;
  readonly nfsServerEnabled: Known<boolean>;
  readonly exportsFile: Known<ExportsLine[]>;
  /** NFSv4 states per client, or why they could not be read. */
  readonly nfsdStates: NfsdState[] | { reason: string };
  readonly rmtabMalformed: Known<{ line: number; problem: string }[]>;
  /** Whether rpc.nfsd reads [nfsd] scope (see nfsdScopeSupport). */
  readonly nfsdScopeSupport: Known<boolean>;
  /** /proc/fs/nfsd/versions and /proc/fs/nfsd/threads. */
  readonly nfsdVersions: Read;
  readonly nfsdThreads: Read;
  /** This node's previous facts (for `served`). */
  readonly previous: NodeFacts | undefined;
  readonly nowMs: number;
}

/** File systems libblkid does not probe: f_fsid (or the device number) is used instead. */
export const BLKID_SKIPPED = new Set(["btrfs", "zfs", "nfs", "nfs4", "tmpfs", "overlay", "fuse", "proc", "sysfs"]);

function why(r: Read): string {
  return "reason" in r && r.reason ? r.reason : `${r.file}: unreadable`;
}

function splitComponents(p: string): string {
  return p.split("/").filter((c) => c !== "").join("/");
}

function samePath(a: string, b: string): boolean {
  return splitComponents(a) === splitComponents(b);
}

function num(r: Read): Known<number> {
  if (r.text === undefined) return unknown(why(r));
  const t = r.text.trim();
  return /^\d+$/.test(t) ? known(Number(t), r.file) : unknown(`${r.file}: expected a number of seconds, found "${t.slice(0, 20)}"`);
}

function confNum(conf: NfsConf, key: string): Known<number> | undefined {
  const v = conf.values.get(key);
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? known(Number(v), `${conf.origin.get(key)} (${key})`) : unknown(`${conf.origin.get(key)}: ${key} is not a number: "${v}"`);
}

function port(conf: NfsConf, keys: string[], confFile: string): Known<number> {
  for (const k of keys) {
    const v = conf.values.get(k);
    if (v === undefined) continue;
    const p = parsePort(v);
    return p === undefined ? unknown(`${conf.origin.get(k)}: ${k} is not a port: "${v}"`) : known(p, `${conf.origin.get(k)} (${k})`);
  }
  return unknown(`not set in ${confFile} (${keys.join(" or ")})`);
}

export function fhKeyFacts(input: FactsInput["fhKey"]): Known<string> {
  if (input === null) return known("none", "no [nfsd] fh-key-file in nfs.conf");
  if ("sha256" in input) return known(input.sha256, input.file);
  return unknown(input.reason);
}

function sameFs(a: FsFacts | null, b: FsFacts | null): boolean {
  if (a === null || b === null) return a === b;
  return a.mountPoint === b.mountPoint && a.type === b.type && a.device === b.device && a.source === b.source && a.uuid === b.uuid;
}

export function buildFacts(input: FactsInput): NodeFacts {
  const conf = input.nfsConf;
  const confFile = input.nfsConfRead.file;

  // etab
  let etabLines: ReturnType<typeof parseEtab>["lines"] | null = null;
  let etabWhy = "";
  if (input.etab.text !== undefined) etabLines = parseEtab(input.etab.text).lines;
  else if ("missing" in input.etab && input.etab.missing) etabLines = [];
  else etabWhy = why(input.etab);

  const proc = input.procExports.text !== undefined ? parseProcExports(input.procExports.text) : null;
  const mounts = input.mountinfo.text !== undefined ? parseMountinfo(input.mountinfo.text) : null;

  const exports: Record<string, ExportFacts> = {};
  for (const e of input.exports) {
    const lines = etabLines?.filter((l) => samePath(l.path, e.path)) ?? [];
    const etabFsids = [...new Set(lines.flatMap((l) => l.options.filter((o) => o.startsWith("fsid=")).map((o) => o.slice(5))))].sort();
    const exported: Known<boolean> = etabLines === null ? unknown(etabWhy) : known(lines.length > 0, input.etab.file);

    let fsid: Known<string>;
    const live = proc?.filter((p) => samePath(p.path, e.path) && (p.fsid !== null || p.uuid !== null)) ?? [];
    if (live.length > 0) {
      const p = live[0]!;
      fsid = p.fsid !== null ? known(p.fsid, input.procExports.file) : known(`uuid:${p.uuid}`, input.procExports.file);
    } else if (etabFsids.length > 0) fsid = known(etabFsids[0]!, input.etab.file);
    else if (etabLines === null) fsid = unknown(etabWhy);
    else if (lines.length === 0) fsid = unknown("not exported on this node now");
    else
      fsid = unknown(
        proc === null
          ? `no fsid= in ${input.etab.file} and ${why(input.procExports)}: the kernel picks a UUID or device number`
          : `no fsid= in ${input.etab.file} and no live entry in ${input.procExports.file}`,
      );

    let fs: Known<FsFacts>;
    if (mounts === null) fs = unknown(why(input.mountinfo));
    else {
      const m = mountOf(mounts, e.path);
      if (!m) fs = unknown(`no mount for ${e.path} in ${input.mountinfo.file}`);
      else {
        let uuid: string | null = null;
        if (!BLKID_SKIPPED.has(m.fsType) && !("reason" in input.blkid)) uuid = input.blkid.get(m.source)?.UUID ?? null;
        if (!BLKID_SKIPPED.has(m.fsType) && "reason" in input.blkid) fs = unknown(`${input.blkid.reason} (for ${m.source})`);
        else fs = known({ mountPoint: m.mountPoint, type: m.fsType, device: m.device, source: m.source, uuid }, input.mountinfo.file);
      }
    }

    let v4State: Known<V4Counts>;
    if ("reason" in input.nfsdStates) v4State = unknown(input.nfsdStates.reason);
    else if (fs.value === null) v4State = unknown(`filesystem of ${e.path} unknown: ${fs.reason}`);
    else {
      const dev = fs.value.device;
      const c = { opens: 0, locks: 0, delegations: 0, other: 0 };
      for (const s of input.nfsdStates) {
        if (s.device !== dev) continue;
        if (s.type === "open") c.opens++;
        else if (s.type === "lock") c.locks++;
        else if (s.type === "deleg") c.delegations++;
        else c.other++;
      }
      v4State = known(c, "nfsd clients states");
    }

    let served: ServedFacts | null = input.previous?.exports[e.name]?.served ?? null;
    // an export of the path while the volume is not mounted (it sits on the
    // root filesystem) is not how this node serves the cluster's data
    if (exported.value === true && fs.value?.mountPoint !== "/") {
      const now = { fsid: fsid.value, fs: fs.value };
      const same = served !== null && served.fsid === now.fsid && sameFs(served.fs, now.fs);
      if (!same) served = { wall: input.nowMs, ...now };
    }

    exports[e.name] = { path: e.path, exported, etabFsids, etabOptions: lines[0]?.options ?? [], fsid, fs, v4State, served };
  }

  const scopeConfigured: Known<string> = conf.values.has("nfsd.scope")
    ? known(conf.values.get("nfsd.scope")!, conf.origin.get("nfsd.scope")!)
    : input.nfsConfRead.text === undefined && !("missing" in input.nfsConfRead && input.nfsConfRead.missing)
      ? unknown(why(input.nfsConfRead))
      : unknown(`no [nfsd] scope in ${confFile}`);
  const scopeEffective = ownScope(input.hostname, scopeConfigured, input.nfsdScopeSupport).scope;

  const cldKey = "nfsdcld.storagedir";
  const cldDir = conf.values.get(cldKey) ?? NFSDCLD_DEFAULT_DIR;
  const cldSource = conf.values.has(cldKey) ? `${conf.origin.get(cldKey)} (${cldKey})` : `nfsdcld default (no [nfsdcld] storagedir in ${confFile})`;
  let nfsdcld: Known<NfsdcldFacts>;
  if (mounts === null) nfsdcld = unknown(why(input.mountinfo));
  else {
    const m = mountOf(mounts, cldDir);
    nfsdcld = m
      ? known({ dir: cldDir, mount: { mountPoint: m.mountPoint, type: m.fsType, device: m.device, source: m.source } }, cldSource)
      : unknown(`no mount for ${cldDir} in ${input.mountinfo.file}`);
  }

  const lease = num(input.leaseTime);
  const grace = num(input.graceTime);

  return {
    hostname: input.hostname,
    exports,
    etab: etabLines === null ? unknown(etabWhy) : known(etabLines.map((l) => ({ path: l.path, fsid: l.options.find((o) => o.startsWith("fsid="))?.slice(5) ?? null })), input.etab.file),
    scope: { configured: scopeConfigured, effective: scopeEffective },
    leaseTime: lease.value !== null ? lease : (confNum(conf, "nfsd.lease-time") ?? lease),
    graceTime: grace.value !== null ? grace : (confNum(conf, "nfsd.grace-time") ?? grace),
    ports: {
      mountd: port(conf, ["mountd.port"], confFile),
      statd: port(conf, ["statd.port"], confFile),
      statdOutgoing: port(conf, ["statd.outgoing-port"], confFile),
      lockdTcp: port(conf, ["lockd.port"], confFile),
      lockdUdp: port(conf, ["lockd.udp-port", "lockd.port"], confFile),
    },
    fhKey: fhKeyFacts(input.fhKey),
    nfsServerEnabled: input.nfsServerEnabled,
    exportsFile: input.exportsFile,
    rmtab: input.rmtabMalformed,
    nfsConfProblems: conf.problems.map((p) => `${p.file} line ${p.line}: ${p.problem}`),
    nfsdcld,
    nfsdScopeSupport: input.nfsdScopeSupport,
    nfsVersions: nfsVersions(input.nfsdVersions, input.nfsdThreads, conf, confFile),
  };
}

/** Whether an rpc.nfsd binary (its bytes) reads [nfsd] scope: it does when it holds NFSD_SCOPE_MARKER. */
export function nfsdScopeSupport(file: string, binary: Uint8Array): Known<boolean> {
  return Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength).includes(NFSD_SCOPE_MARKER)
    ? known(true, `${file} reads [nfsd] scope (nfs-utils ${NFSD_SCOPE_SINCE} or later)`)
    : known(false, `${file} has no scope support (nfs-utils before ${NFSD_SCOPE_SINCE})`);
}

/** The scope nfsd runs with when it is started as nfs.conf says, and the [nfsd] scope line it ignores, if any. */
export interface OwnScope {
  readonly scope: Known<string>;
  readonly ignored?: { readonly value: string; readonly where: string };
}

/**
 * The scope a node's nfsd gets from the node itself: [nfsd] scope when its
 * rpc.nfsd reads it, else the hostname of the process that starts nfsd
 * (knfsd's default). `support` is undefined in facts from before it existed.
 */
export function ownScope(hostname: string, configured: Known<string>, support: Known<boolean> | undefined): OwnScope {
  if (configured.value === null)
    return { scope: configured.reason.startsWith("no [nfsd]") ? known(hostname, "hostname (knfsd default)") : unknown(configured.reason) };
  const where = configured.source;
  if (support?.value === true) return { scope: configured };
  if (support?.value === false)
    return {
      scope: known(hostname, `hostname: [nfsd] scope in ${where} is ignored (no scope support before nfs-utils ${NFSD_SCOPE_SINCE})`),
      ignored: { value: configured.value, where },
    };
  const why = support === undefined ? "facts from an older rmtabsync" : "reason" in support ? support.reason : "";
  return { scope: unknown(`[nfsd] scope=${configured.value} in ${where}, but whether rpc.nfsd reads it is unknown (${why})`) };
}

/** nfs.conf booleans as nfs-utils reads them (conf_get_bool): anything else is the default. */
function confBool(conf: NfsConf, key: string, dflt: boolean): boolean {
  const v = conf.values.get(key)?.toLowerCase();
  if (v === undefined) return dflt;
  if (["1", "t", "true", "y", "yes", "on"].includes(v)) return true;
  if (["0", "f", "false", "n", "no", "off"].includes(v)) return false;
  return dflt;
}

/**
 * The NFS versions nfsd serves: /proc/fs/nfsd/versions ("-2 +3 +4 +4.1
 * +4.2") while nfsd runs; else what rpc.nfsd will write there from nfs.conf
 * ([nfsd] vers3, vers4, vers4.0-4.2, all on by default; vers4=n turns every
 * minor version off unless it is set on by name).
 */
export function nfsVersions(versions: Read, threads: Read, conf: NfsConf, confFile: string): Known<string[]> {
  const stopped = threads.text !== undefined && threads.text.trim() === "0";
  if (versions.text !== undefined && !stopped) {
    const on = new Set<string>();
    let v4off = false;
    for (const t of versions.text.trim().split(/\s+/)) {
      const m = /^([+-])(\d)(?:\.(\d+))?$/.exec(t);
      if (!m) return unknown(`${versions.file}: expected "+3 -4.0"-style versions, found "${versions.text.trim().slice(0, 40)}"`);
      if (m[1] === "+") on.add(m[3] === undefined ? m[2]! : `${m[2]}.${m[3]}`);
      else if (m[2] === "4" && m[3] === undefined) v4off = true;
    }
    return known([...on].filter((v) => !(v4off && v.startsWith("4"))).sort(), versions.file);
  }
  const out: string[] = [];
  if (confBool(conf, "nfsd.vers3", true)) out.push("3");
  const v4 = confBool(conf, "nfsd.vers4", true);
  const minors = [0, 1, 2].filter((i) => confBool(conf, `nfsd.vers4.${i}`, v4));
  if (minors.length > 0) out.push("4", ...minors.filter((i) => i > 0).map((i) => `4.${i}`));
  const set = ["vers3", "vers4", "vers4.0", "vers4.1", "vers4.2"].filter((k) => conf.values.has(`nfsd.${k}`));
  const from = set.length > 0 ? `[nfsd] ${set.join(", ")} in ${confFile}` : `defaults (no [nfsd] vers4 in ${confFile})`;
  return known(out, stopped ? `${from}; nfsd not running (${threads.file} is 0)` : `${from}; ${why(versions)}`);
}

/** True unless the versions are known to leave out NFSv4.1 and 4.2 (the ones with a server scope). */
export function mayServeV41(f: NodeFacts): boolean {
  const v = f.nfsVersions;
  return v === undefined || v.value === null || v.value.some((x) => x === "4.1" || x === "4.2");
}
