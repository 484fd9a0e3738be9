import { Command } from "@commander-js/extra-typings";
import { ExitError, EXIT } from "../errors.js";
import { verifyVolume } from "../verify.js";
import { loadConfigFor, printJson, readGlobals, table, unitView, type Runtime } from "./common.js";
import { NAME_RE } from "../config.js";

export function verifyCommand(rt: Runtime) {
  return new Command("verify")
    .description("check every journal: SQLite integrity, schema, hash chain, sequence gaps, rollbacks and forks; exit 0 only when all is sound")
    .option("--control-dir <dir>", "verify this copy of the control volume instead of the configured one")
    .option("--group <name>", "the export group's control volume (default: the shared one)")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const base = unitView(loadConfigFor(g, rt), opts.group);
      const cfg = opts.controlDir ? { ...base, controlDir: opts.controlDir } : base;
      // this node's own marks count too, when we know which node we are
      const node = g.node ?? rt.env.RMTABSYNC_NODE ?? rt.hostname().split(".")[0];
      const r = verifyVolume(cfg, {
        node: node && NAME_RE.test(node) && cfg.nodes.includes(node) && !opts.controlDir ? node : undefined,
        futureAfterMs: rt.now() + cfg.maxClockSkewMs,
      });
      if (g.json) printJson(rt, { ok: r.findings.length === 0, ...r });
      else {
        rt.out(
          table(
            ["JOURNAL", "NODE", "EVENTS", "LAST SEQ", "STATUS"],
            r.journals.map((j) => [j.file, j.node, String(j.events), String(j.lastSeq), j.ok ? "ok" : "PROBLEM"]),
          ),
        );
        for (const f of r.findings) rt.out(`${f.check}: ${f.file}${f.seq !== undefined ? ` event ${f.seq}` : ""}: ${f.problem}\n`);
        rt.out(r.findings.length === 0 ? "all journals sound\n" : `${r.findings.length} problem${r.findings.length === 1 ? "" : "s"}\n`);
      }
      if (r.findings.length > 0) throw new ExitError("", EXIT.failure);
    });
}
