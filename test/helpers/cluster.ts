// A throwaway cluster on this machine: one control directory, one state
// directory and config file per node. Runs the real bundled CLI.
import { spawnSync, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = join(ROOT, "dist/cli.js");
export const SIM = join(ROOT, "test/helpers/mountd_sim.py");

export interface ExportSpec {
  name: string;
  path: string;
  nodes?: string[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real python3 interpreter (skips pyenv's slow shim). */
let python: string | undefined;
export function python3(): string {
  if (python === undefined) {
    const r = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error("python3 not found: apt-get install python3");
    python = r.stdout.trim() || "python3";
  }
  return python;
}

const roots: string[] = [];
process.on("exit", () => {
  if (process.env.RMTABSYNC_KEEP_TEST_DIRS) return;
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

export class TestCluster {
  readonly root: string;
  readonly control: string;
  /** More top-level YAML for every node's config (call writeConfigs() after changing it). */
  extraConfig = "";
  /** The config leaves out `controlDirIsMountpoint: false` (see configure). */
  controlIsMountpoint = false;

  constructor(
    readonly nodes: string[] = ["ds03", "ds04"],
    readonly exports: ExportSpec[] = [
      { name: "vm0", path: "/srv/vm0" },
      { name: "vm1", path: "/srv/vm1" },
    ],
    readonly cluster = "test",
  ) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first (npm test does)`);
    this.root = mkdtempSync(join(tmpdir(), "rmtabsync-test-"));
    roots.push(this.root);
    this.control = join(this.root, "control");
    mkdirSync(this.control);
    for (const n of nodes) {
      mkdirSync(this.stateDir(n), { recursive: true });
      writeFileSync(this.configFile(n), this.configText(n));
    }
  }

  /** Rewrites every node's config; `controlIsMountpoint` true drops the tests' opt-out (the deployed default). */
  configure(opts: { controlIsMountpoint?: boolean; control?: string }): void {
    if (opts.controlIsMountpoint !== undefined) this.controlIsMountpoint = opts.controlIsMountpoint;
    if (opts.control !== undefined) (this as { control: string }).control = opts.control;
    for (const n of this.nodes) writeFileSync(this.configFile(n), this.configText(n));
  }

  stateDir(node: string): string {
    return join(this.root, "state", node);
  }

  configFile(node: string): string {
    return join(this.root, `${node}.yaml`);
  }

  configText(node: string): string {
    const ex = this.exports
      .map((e) => `  - name: ${e.name}\n    path: ${e.path}\n${e.nodes ? `    nodes: [${e.nodes.join(", ")}]\n` : ""}`)
      .join("");
    // test control directories are plain temp directories: opt out of the mount point check
    const strict = this.controlIsMountpoint ? "" : "controlDirIsMountpoint: false\n";
    return `cluster: ${this.cluster}\ncontrolDir: ${this.control}\n${strict}stateDir: ${this.stateDir(node)}\nnodes: [${this.nodes.join(", ")}]\nexports:\n${ex}${this.extraConfig}`;
  }

  /** Points a node's config at another copy of the control volume (a split-brain's other side). */
  pointAt(node: string, controlDir: string): void {
    writeFileSync(this.configFile(node), this.configText(node).replace(`controlDir: ${this.control}`, `controlDir: ${controlDir}`));
  }

  /** Rewrites every node's config file (after changing extraConfig). */
  writeConfigs(): void {
    for (const n of this.nodes) writeFileSync(this.configFile(n), this.configText(n));
  }

  /** Runs `rmtabsync -c <node config> -n <node> ...args`. */
  run(node: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
    const r = spawnSync(process.execPath, [CLI, "-c", this.configFile(node), "-n", node, ...args], {
      encoding: "utf8",
      env: { ...process.env, ...opts.env },
      timeout: opts.timeoutMs ?? 60_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Like run, but fails the test on a non-zero exit. */
  ok(node: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): RunResult {
    const r = this.run(node, args, opts);
    if (r.code !== 0) throw new Error(`rmtabsync ${args.join(" ")} on ${node} exited ${r.code}\n${r.stderr}${r.stdout}`);
    return r;
  }

  json<T = any>(node: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): T {
    return JSON.parse(this.ok(node, [...args, "--json"], opts).stdout) as T;
  }

  initAll(): void {
    for (const n of this.nodes) this.ok(n, ["init"]);
  }

  /** Sets what `node` exports now (its etab). */
  etab(node: string, paths: string[]): void {
    writeFileSync(
      join(this.stateDir(node), "etab"),
      paths.map((p, i) => `${p}\t*(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,fsid=${i + 1})\n`).join(""),
    );
  }

  rmtab(node: string): string {
    const f = join(this.stateDir(node), "rmtab");
    return existsSync(f) ? readFileSync(f, "utf8") : "";
  }

  /** rmtab lines, sorted, for order-insensitive comparison. */
  lines(node: string): string[] {
    return this.rmtab(node)
      .split("\n")
      .filter((l) => l !== "")
      .sort();
  }

  writeRmtab(node: string, content: string): void {
    writeFileSync(join(this.stateDir(node), "rmtab"), content);
  }

  /** What rpc.mountd does on MNT / UMNT / UMNTALL, under its lock. */
  mountd(node: string, op: "mount" | "umount", host: string, path: string): void;
  mountd(node: string, op: "umountall", host: string): void;
  mountd(node: string, op: string, ...args: string[]): void {
    execFileSync(python3(), [SIM, this.stateDir(node), op, ...args], { stdio: "pipe" });
  }
}

/** Canonical rmtab line as mountd writes it. */
export function line(host: string, path: string, count = 1): string {
  return `${host.replaceAll(":", ";")}:${path}:0x${count.toString(16).padStart(8, "0")}`;
}

/** Two initialised nodes: ds03 exports vm0, ds04 exports vm1. */
export function started(): TestCluster {
  const c = new TestCluster();
  c.initAll();
  c.etab("ds03", ["/srv/vm0"]);
  c.etab("ds04", ["/srv/vm1"]);
  return c;
}
