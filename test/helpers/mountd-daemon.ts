// The real Debian NFS daemons for test/mountd.test.ts: rpcbind, rpc.mountd,
// exportfs (in a private mount namespace), showmount, rpcinfo, and a real
// SunRPC UMNT client (rpc-umnt.py). Nothing here is simulated.
//
// Only one rpc.mountd can own the MOUNT registration with rpcbind, so only
// one test file may use this helper at a time (today: test/mountd.test.ts).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { delimiter, join } from "node:path";
import { lock as fcntlLock } from "os-lock";
import { ROOT } from "./cluster.js";

export const RPC_UMNT = join(ROOT, "test/helpers/rpc-umnt.py");
/** Name of the ha-callout script; marks an rpc.mountd as started by these tests. */
export const CALLOUT_NAME = "rmtabsync-mountd-callout.sh";

const MOUNT_PROG = 100005;
const MACHINE_LOCK = "/tmp/rmtabsync-test-rpc-mountd.lock";

interface Tool {
  readonly bin: string;
  readonly pkg: string;
}

const TOOLS: readonly Tool[] = [
  { bin: "rpc.mountd", pkg: "nfs-kernel-server" },
  { bin: "exportfs", pkg: "nfs-kernel-server" },
  { bin: "rpcbind", pkg: "rpcbind" },
  { bin: "rpcinfo", pkg: "rpcbind" },
  { bin: "showmount", pkg: "nfs-common" },
  { bin: "unshare", pkg: "util-linux" },
  { bin: "mount", pkg: "mount" },
  { bin: "python3", pkg: "python3" },
];

/** Resolved absolute paths of the tools, filled by preflight(). */
export const bin: Record<string, string> = {};

function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const d of dirs) {
    if (d === "") continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * Fails (never skips) when a daemon, tool or privilege is missing, naming
 * each missing piece and the Debian package that ships it.
 */
export function preflight(): void {
  const problems: string[] = [];
  for (const t of TOOLS) {
    const p = which(t.bin);
    if (p) bin[t.bin] = p;
    else problems.push(`${t.bin} not found: apt-get install ${t.pkg}`);
  }
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    problems.push(
      `not running as root (uid ${process.getuid()}): rpcbind, rpc.mountd, 'unshare -m' with 'mount --bind', and UMNT from a port below 1024 need root (CI runs npm test as root)`,
    );
  for (const f of ["/etc/nfs.conf", "/etc/exports"])
    if (!existsSync(f)) problems.push(`${f} is missing (exportfs is run with a bind mount over it): apt-get install nfs-kernel-server nfs-common`);
  if (problems.length > 0) throw new Error(`the real-mountd tests cannot run:\n  ${problems.join("\n  ")}`);
}

/**
 * Resolves python3 once and puts a symlink to the real interpreter first on
 * this process's PATH: a version-manager shim (pyenv) costs ~0.4 s per call,
 * and the tests run python3 (rpc-umnt.py, mountd_sim.py) a dozen times.
 */
export function pinPython3(binDir: string): string {
  const r = run(bin.python3!, ["-c", "import sys; print(sys.executable)"]);
  const exe = r.stdout.trim();
  if (r.code !== 0 || exe === "") throw new Error(`${bin.python3} does not run:\n${r.stderr}`);
  mkdirSync(binDir, { recursive: true });
  const link = join(binDir, "python3");
  if (!existsSync(link)) symlinkSync(exe, link);
  process.env.PATH = `${binDir}${delimiter}${process.env.PATH ?? ""}`;
  bin.python3 = exe;
  return exe;
}

function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: opts.timeoutMs ?? 20_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}${r.signal ? ` (${r.signal})` : ""}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface ExportLine {
  readonly path: string;
  /** Options inside the parentheses, e.g. "rw,sync,no_subtree_check,fsid=1". */
  readonly options: string;
}

/**
 * Runs the real `exportfs -ra` for a node: writes an nfs.conf whose
 * [exportfs]/[mountd] state-directory-path is stateDir and an exports file,
 * and bind-mounts them over /etc/nfs.conf and /etc/exports in a private mount
 * namespace (empty directories over /etc/nfs.conf.d and /etc/exports.d, so
 * nothing of this machine's own configuration leaks in). Returns the etab.
 */
export function exportfs(workDir: string, stateDir: string, exports: readonly ExportLine[]): string {
  mkdirSync(workDir, { recursive: true });
  const conf = join(workDir, "nfs.conf");
  const exportsFile = join(workDir, "exports");
  const empty = join(workDir, "empty.d");
  mkdirSync(empty, { recursive: true });
  writeFileSync(conf, `[exportfs]\nstate-directory-path=${stateDir}\n[mountd]\nstate-directory-path=${stateDir}\n`);
  writeFileSync(exportsFile, exports.map((e) => `${e.path} *(${e.options})\n`).join(""));
  const script = [
    "set -e",
    'mount --bind "$1" /etc/nfs.conf',
    'mount --bind "$2" /etc/exports',
    'if [ -d /etc/nfs.conf.d ]; then mount --bind "$3" /etc/nfs.conf.d; fi',
    'if [ -d /etc/exports.d ]; then mount --bind "$3" /etc/exports.d; fi',
    'exec "$4" -ra',
  ].join("\n");
  const r = run(bin.unshare!, ["-m", "--propagation", "private", "sh", "-c", script, "sh", conf, exportsFile, empty, bin.exportfs!]);
  if (r.code !== 0)
    throw new Error(
      `exportfs -ra in a private mount namespace failed (exit ${r.code}); 'unshare -m' and 'mount --bind' need root with CAP_SYS_ADMIN:\n${r.stderr}${r.stdout}`,
    );
  const etab = join(stateDir, "etab");
  if (!existsSync(etab)) throw new Error(`exportfs -ra did not write ${etab}:\n${r.stderr}`);
  return readFileSync(etab, "utf8");
}

/** The MOUNT v3 UDP port rpcbind has for mountd, per `rpcinfo -p 127.0.0.1`. */
export function mountdUdpPort(): number | undefined {
  const r = run(bin.rpcinfo!, ["-p", "127.0.0.1"]);
  if (r.code !== 0) return undefined;
  for (const l of r.stdout.split("\n")) {
    const f = l.trim().split(/\s+/);
    if (f[0] === String(MOUNT_PROG) && f[1] === "3" && f[2] === "udp") return Number(f[3]);
  }
  return undefined;
}

function rpcbindAnswers(): boolean {
  return run(bin.rpcinfo!, ["-p", "127.0.0.1"], { timeoutMs: 5000 }).code === 0;
}

/** Local UDP ports of the sockets process `pid` has open (from /proc). */
function udpPortsOf(pid: number): Set<number> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        /* fd closed meanwhile */
      }
    }
  } catch {
    return new Set();
  }
  const ports = new Set<number>();
  for (const table of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const l of text.split("\n").slice(1)) {
      const f = l.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      ports.add(parseInt(f[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

interface ProcInfo {
  readonly pid: number;
  readonly argv: string[];
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Live processes whose command name is `comm`. */
function processesNamed(comm: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== comm || !alive(pid)) continue;
      out.push({ pid, argv: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "") });
    } catch {
      /* gone */
    }
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every `everyMs` until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function waitFor<T>(what: string, cond: () => T | undefined | false, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function terminate(pid: number, child?: ChildProcess): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const gone = () => !alive(pid) || (child !== undefined && child.exitCode !== null) || (child !== undefined && child.signalCode !== null);
  try {
    await waitFor(`pid ${pid} to exit on SIGTERM`, gone, 5000);
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    await waitFor(`pid ${pid} to exit on SIGKILL`, gone, 5000);
  }
}

interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly log: string;
}

/** Starts `cmd` in its own session (setsid(2), like `setsid CMD &`), output to `log`. */
function startDetached(cmd: string, args: string[], log: string, env?: NodeJS.ProcessEnv): Started {
  const fd = openSync(log, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { detached: true, stdio: ["ignore", fd, fd], env: env ?? process.env });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  child.on("error", () => {
    /* reported through exitCode / the log */
  });
  child.unref();
  return { child, pid: child.pid, log };
}

/**
 * rpcbind (only if none answers on 127.0.0.1) and one rpc.mountd serving a
 * given state directory, with an ha-callout that logs every call and can hold
 * mountd inside its rmtab write lock on demand (see block/release).
 */
export class MountdDaemons {
  private rpcbind?: Started;
  private mountd?: Started;
  readonly callout: string;
  readonly calloutLog: string;
  private readonly onExit = () => this.killNow();
  private machineLockFd: number | undefined;

  /**
   * `chain`: a real ha-callout (e.g. deploy/mountd-callout) the test callout
   * execs after logging, with mountd's arguments; `env`: rpc.mountd's environment.
   */
  constructor(
    readonly workDir: string,
    private readonly opts: { chain?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    mkdirSync(workDir, { recursive: true });
    this.callout = join(workDir, CALLOUT_NAME);
    this.calloutLog = join(workDir, "callout.log");
    writeFileSync(
      this.callout,
      [
        "#!/bin/sh",
        "# rpc.mountd --ha-callout for test/mountd.test.ts. mountd runs it while it",
        "# holds the rmtab write lock: log the call; while ./block exists, create",
        "# ./inside and wait (at most 30 s) for ./release.",
        `d='${workDir}'`,
        'echo "$*" >> "$d/callout.log"',
        'if [ -e "$d/block" ]; then',
        '  : > "$d/inside"',
        "  i=0",
        '  while [ ! -e "$d/release" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
        '  rm -f "$d/inside"',
        "fi",
        opts.chain ? `exec '${opts.chain}' "$@"` : "exit 0",
        "",
      ].join("\n"),
    );
    chmodSync(this.callout, 0o755);
  }

  get mountdPid(): number | undefined {
    return this.mountd?.pid;
  }

  get startedRpcbind(): boolean {
    return this.rpcbind !== undefined;
  }

  mountdLog(): string {
    return this.mountd ? readFileSync(this.mountd.log, "utf8") : "";
  }

  calloutCalls(): string[] {
    return existsSync(this.calloutLog) ? readFileSync(this.calloutLog, "utf8").split("\n").filter((l) => l !== "") : [];
  }

  /** Stops rpc.mountd processes left by an earlier run of these tests; fails on a foreign one. */
  private async clearStaleMountd(): Promise<void> {
    for (const p of processesNamed("rpc.mountd")) {
      if (p.argv.some((a) => a.endsWith(`/${CALLOUT_NAME}`))) {
        await terminate(p.pid);
        continue;
      }
      throw new Error(
        `another rpc.mountd is running (pid ${p.pid}: ${p.argv.join(" ")}); it owns the MOUNT registration with rpcbind. ` +
          `Stop it (e.g. systemctl stop nfs-server nfs-mountd) before running test/mountd.test.ts`,
      );
    }
  }

  private async ensureRpcbind(): Promise<void> {
    if (rpcbindAnswers()) return;
    const s = startDetached(bin.rpcbind!, ["-f", "-w"], join(this.workDir, "rpcbind.log"));
    this.rpcbind = s;
    try {
      await waitFor("rpcbind to answer rpcinfo -p 127.0.0.1", () => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`rpcbind -f -w exited at once:\n${readFileSync(s.log, "utf8")}`);
        return rpcbindAnswers();
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\nrpcbind log:\n${readFileSync(s.log, "utf8")}`);
    }
  }

  /** Starts rpcbind if needed, then `rpc.mountd -F -s stateDir`, and waits until rpcbind lists its port. */
  async start(stateDir: string): Promise<void> {
    if (this.mountd) throw new Error("rpc.mountd already started");
    // One rpc.mountd per machine owns the MOUNT registration: test files that
    // start one (in parallel vitest workers) take turns on this fcntl lock.
    // The lock goes with the process, so a crashed test cannot leave it held.
    this.machineLockFd = openSync(MACHINE_LOCK, "a");
    await fcntlLock(this.machineLockFd, { exclusive: true });
    await this.clearStaleMountd();
    process.on("exit", this.onExit);
    await this.ensureRpcbind();
    const s = startDetached(bin["rpc.mountd"]!, ["-F", "-s", stateDir, "--ha-callout", this.callout], join(this.workDir, "mountd.log"), {
      ...process.env,
      ...this.opts.env,
    });
    this.mountd = s;
    try {
      await waitFor("rpc.mountd to register MOUNT v3/udp with rpcbind", () => {
        if (s.child.exitCode !== null || s.child.signalCode !== null)
          throw new Error(`rpc.mountd exited (${s.child.exitCode ?? s.child.signalCode})`);
        const port = mountdUdpPort();
        // A registration left by an earlier mountd names a port that is not ours.
        return port !== undefined && udpPortsOf(s.pid).has(port);
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\nmountd log:\n${this.mountdLog()}\nrpcinfo -p 127.0.0.1:\n${run(bin.rpcinfo!, ["-p", "127.0.0.1"]).stdout}`);
    }
  }

  /** Stops what start() started, by PID: mountd first (it unregisters on SIGTERM), then rpcbind if it was ours. */
  async stop(): Promise<void> {
    if (this.mountd) await terminate(this.mountd.pid, this.mountd.child);
    if (this.rpcbind) await terminate(this.rpcbind.pid, this.rpcbind.child);
    process.off("exit", this.onExit);
    if (this.machineLockFd !== undefined) closeSync(this.machineLockFd); // closing drops the fcntl lock
    this.machineLockFd = undefined;
  }

  private killNow(): void {
    for (const s of [this.mountd, this.rpcbind]) {
      if (s && alive(s.pid)) {
        try {
          process.kill(s.pid, "SIGTERM");
        } catch {
          /* gone */
        }
      }
    }
  }

  /** Throws with mountd's log if it is no longer running. */
  assertRunning(): void {
    const s = this.mountd;
    if (!s || s.child.exitCode !== null || s.child.signalCode !== null || !alive(s.pid))
      throw new Error(`rpc.mountd is not running\nmountd log:\n${this.mountdLog()}`);
  }
}

/** `showmount -a --no-headers 127.0.0.1`: the DUMP answer, one "host:path" per line, sorted. */
export function showmountAll(): string[] {
  return must(bin.showmount!, ["-a", "--no-headers", "127.0.0.1"])
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

/** `showmount -e --no-headers 127.0.0.1`: the exported paths, sorted. Also makes mountd load etab. */
export function showmountExports(): string[] {
  return must(bin.showmount!, ["-e", "--no-headers", "127.0.0.1"])
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => l.trim().split(/\s+/)[0]!)
    .sort();
}

export interface UmntResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function umntArgs(path: string): string[] {
  const port = mountdUdpPort();
  if (port === undefined) throw new Error("rpcinfo -p 127.0.0.1 lists no MOUNT v3/udp port: is rpc.mountd running?");
  return [RPC_UMNT, "127.0.0.1", String(port), path, "--reserved"];
}

/** Sends a real MOUNT v3 UMNT for `path` to mountd over UDP from 127.0.0.1, a port below 1024. */
export function umnt(path: string): UmntResult {
  const r = run(bin.python3!, umntArgs(path));
  if (r.code !== 0) throw new Error(`UMNT ${path} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r;
}

/** Like umnt, without waiting: resolves when mountd has replied (or the client gave up). */
export function umntAsync(path: string): Promise<UmntResult> {
  const args = umntArgs(path);
  return new Promise((resolve, reject) => {
    const child = spawn(bin.python3!, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
