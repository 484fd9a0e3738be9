// One source of truth for the command line: the man page, --help and the bash
// completion all come from the commander definitions.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, ROOT, TestCluster } from "./helpers/cluster.js";

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS = ["init", "check-config", "record", "reconcile", "show", "log", "status", "watch", "verify", "recover", "forget", "compact", "doctor", "metrics", "completion"];

describe("man page", () => {
  const man = cli(["man"]).stdout;

  it("the checked-in deploy/man/rmtabsync.8 is what 'rmtabsync man' generates (run 'npm run man' after changing the CLI)", () => {
    expect(readFileSync(join(ROOT, "deploy/man/rmtabsync.8"), "utf8")).toBe(man);
  });

  it("documents every command, its options and defaults, and every file", () => {
    for (const c of COMMANDS) expect(man, c).toContain(`\\fBrmtabsync ${c.replaceAll("-", "\\-")}\\fR`);
    for (const o of ["\\-\\-facts", "\\-\\-hosting", "\\-\\-debounce", "\\-\\-interval", "\\-\\-poll", "\\-\\-backoff\\-max", "\\-\\-metrics\\-textfile", "\\-\\-keep", "\\-\\-from", "\\-\\-cib"])
      expect(man, o).toContain(`\\fB${o}\\fR`);
    expect(man).toContain("(default: 30d)");
    expect(man).not.toMatch(/default: "/);
    const files = man.slice(man.indexOf(".SH FILES"), man.indexOf(".SH ENVIRONMENT"));
    for (const f of ["config.yaml", "/rmtab\n", "/etab", ".rmtab.lock", "rmtab.quarantine", "rmtabsync.marks", "rmtabsync.baseline", "rmtabsync.volume", "rmtabsync.spool", "controlDir/rmtabsync.cluster", "controlDir/journals/"])
      expect(files, f).toContain(f);
  });

  it("is well-formed: every .TP tag is one text line, and groff reports no warnings", () => {
    const lines = man.split("\n");
    lines.forEach((l, i) => {
      if (l === ".TP") expect(lines[i + 1], `line ${i + 2}`).toMatch(/^[^.]|^\.(B|I|BR|IR) /);
    });
    const g = spawnSync("groff", ["-man", "-ww", "-z"], { input: man, encoding: "utf8" });
    if (g.error) throw new Error("groff is missing: apt-get install groff-base");
    expect(g.stderr).toBe("");
    expect(g.status).toBe(0);
    // the rendered page keeps each synopsis option with its value
    const text = spawnSync("groff", ["-man", "-Tutf8", "-P", "-cbou"], { input: man, encoding: "utf8" }).stdout;
    expect(text).toMatch(/rmtabsync reconcile\s+\[--lock-timeout seconds\]\s+\[--dry-run\]\s+\[--accept-empty\]\s+\[--hosting export\]\.\.\.\n/);
  });
});

describe("--help", () => {
  it("each command's help shows the global options and unquoted defaults", () => {
    for (const c of COMMANDS) {
      const h = cli([c, "--help"]);
      expect(h.code, c).toBe(0);
      expect(h.stdout, c).toMatch(/Global Options:[\s\S]*-c, --config <file>[\s\S]*-n, --node <name>[\s\S]*--json[\s\S]*--debug/);
      expect(h.stdout, c).not.toMatch(/default: ["[]/);
    }
    expect(cli(["compact", "--help"]).stdout).toMatch(/\(default: 30d\)/);
    expect(cli(["watch", "--help"]).stdout).toMatch(/\(default: 100\)/);
  });
});

describe("output", () => {
  it("a reader that goes away (| head) ends the output quietly, not with a stack trace", async () => {
    const child = spawn(process.execPath, [CLI, "man"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy(); // our end of the pipe closes before the CLI writes: its write fails with EPIPE
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});

describe("--json", () => {
  it("is accepted where the README says, and refused with exit 2 by watch, metrics and completion", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toMatch(/Every command but `watch`, `metrics` and `completion` accepts `--json`/);
    const c = new TestCluster();
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    for (const args of [["init"], ["check-config"], ["record"], ["reconcile"], ["show"], ["show", "--facts"], ["log"], ["verify"], ["compact"], ["recover", "--from", c.control, "--dry-run"], ["forget", "--client", "10.0.0.1"]]) {
      const r = c.run("ds03", [...args, "--json"]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      expect(() => JSON.parse(r.stdout), args.join(" ")).not.toThrow();
    }
    for (const args of [["status"], ["doctor"]]) expect(() => JSON.parse(c.run("ds03", [...args, "--json"]).stdout)).not.toThrow();
    for (const args of [["watch"], ["metrics"], ["completion", "bash"]]) {
      const r = c.run("ds03", [...args, "--json"]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/--json: /);
    }
  });
});

describe("bash completion", () => {
  const bash = (script: string) => {
    const r = spawnSync("bash", ["-c", `source <(${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} completion bash)\n${script}`], { encoding: "utf8", cwd: ROOT });
    return { code: r.status ?? -1, out: r.stdout.trim(), err: r.stderr };
  };
  /** COMPREPLY for a command line whose last word is being completed. */
  const complete = (line: string) =>
    bash(`COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); [[ "${line}" == *" " ]] && { COMP_WORDS+=(""); COMP_CWORD=$((COMP_CWORD + 1)); }; _rmtabsync; printf '%s\\n' "\${COMPREPLY[@]}"`).out.split("\n").filter(Boolean);

  it("registers a completion function for rmtabsync", () => {
    const r = bash("complete -p rmtabsync");
    expect(r.err).toBe("");
    expect(r.out).toBe("complete -F _rmtabsync rmtabsync");
  });

  it("completes commands, each command's options with the global ones, and file names after -c", () => {
    expect(complete("rmtabsync ").sort()).toEqual([...COMMANDS].sort());
    expect(complete("rmtabsync re")).toEqual(["record", "reconcile", "recover"]);
    expect(complete("rmtabsync -c /etc/x.yaml -n ds03 compact --")).toEqual(["--keep", "--dry-run", "--group", "--help", "--version", "--config", "--node", "--json", "--debug"]);
    expect(complete("rmtabsync watch --met")).toEqual(["--metrics-textfile"]);
    expect(complete("rmtabsync show --f")).toEqual(["--facts"]);
    expect(complete("rmtabsync reconcile --ho")).toEqual(["--hosting"]);
    expect(complete("rmtabsync -c package.js")).toEqual(["package.json"]);
    expect(complete("rmtabsync recover --from scrip")).toEqual(["scripts"]);
    expect(complete("rmtabsync compact --keep ")).toEqual([]);
    expect(complete("rmtabsync completion ")).toContain("bash");
  });
});
