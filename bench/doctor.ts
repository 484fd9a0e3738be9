// rmtabsync doctor benchmark: 32 nodes x 500 exports of published facts and a
// CIB of that size (one group per export: portblock block, Filesystem,
// rmtabsync, exportfs, IPaddr2, portblock unblock). Measures a cold
// `rmtabsync doctor --cib` (fresh CLI process, wall time and peak RSS) and
// the pure checks alone.
//
//   npm run bench:doctor              (build + node dist/bench-doctor.js)
//   BENCH_DOCTOR_NODES=8 BENCH_DOCTOR_EXPORTS=100 BENCH_REPS=3 node dist/bench-doctor.js
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { loadConfig } from "../src/config.js";
import { CHECKS } from "../src/core/checks/index.js";
import { parseCib } from "../src/core/cib-parse.js";
import { runChecks } from "../src/core/doctor.js";
import { buildFacts, FACTS_FORMAT, known } from "../src/core/facts.js";
import { emptyNfsConf, parseNfsConf } from "../src/core/nfs-conf.js";
import { readNodeInputs } from "../src/io/doctor-input.js";
import { OwnJournal } from "../src/io/journal.js";

const ROOT = resolve(dirname(process.argv[1] ?? "dist/bench-doctor.js"), "..");
const CLI = join(ROOT, "dist", "cli.js");

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: "${v}" is not a positive integer`);
  return n;
}
const NODES = envInt("BENCH_DOCTOR_NODES", 32);
const EXPORTS = envInt("BENCH_DOCTOR_EXPORTS", 500);
const REPS = envInt("BENCH_REPS", 5);

const nv = (owner: string, name: string, value: string) => `<nvpair id="${owner}-${name}" name="${name}" value="${value}"/>`;
function primitive(id: string, provider: string, type: string, params: Record<string, string>, ops = ""): string {
  return `<primitive id="${id}" class="ocf" provider="${provider}" type="${type}"><instance_attributes id="${id}-ia">${Object.entries(params)
    .map(([k, v]) => nv(id, k, v))
    .join("")}</instance_attributes>${ops}</primitive>`;
}

function cibXml(exports: number, nodes: string[]): string {
  const groups: string[] = [];
  for (let i = 0; i < exports; i++) {
    const ip = `10.${Math.floor(i / 250)}.${i % 250}.10`;
    groups.push(
      `<group id="g_e${i}">` +
        primitive(`pb_e${i}_block`, "heartbeat", "portblock", { ip, portno: "2049", protocol: "tcp", action: "block" }) +
        primitive(`fs_e${i}`, "heartbeat", "Filesystem", { device: `/dev/drbd${100 + i}`, directory: `/srv/e${i}`, fstype: "ext4" }) +
        primitive(`rmtabsync_e${i}`, "rmtabsync", "rmtabsync", { export: `e${i}` }) +
        primitive(`ex_e${i}`, "heartbeat", "exportfs", { directory: `/srv/e${i}`, clientspec: "10.0.0.0/8", options: "rw,mp", fsid: String(1000 + i), wait_for_leasetime_on_stop: "true" }, `<operations><op id="ex_e${i}-stop" name="stop" interval="0s" timeout="120s"/></operations>`) +
        primitive(`ip_e${i}`, "heartbeat", "IPaddr2", { ip, cidr_netmask: "8" }) +
        primitive(`pb_e${i}_unblock`, "heartbeat", "portblock", { ip, portno: "2049", protocol: "tcp", action: "unblock" }) +
        `</group>`,
    );
  }
  return `<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config><cluster_property_set id="o">${nv("o", "stonith-enabled", "false")}</cluster_property_set></crm_config><nodes>${nodes
    .map((n, i) => `<node id="${i + 1}" uname="${n}"/>`)
    .join("")}</nodes><resources>${groups.join("")}</resources><constraints/></configuration><status/></cib>`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const t = mkdtempSync(join(tmpdir(), "rmtabsync-bench-doctor-"));
  try {
    const nodes = Array.from({ length: NODES }, (_, i) => `n${String(i).padStart(2, "0")}`);
    const control = join(t, "control");
    mkdirSync(join(control, "journals"), { recursive: true });
    writeFileSync(join(control, "rmtabsync.cluster"), `${JSON.stringify({ cluster: "bench", format: 1, created: new Date().toISOString() })}\n`);
    const nfsConf = "[nfsd]\nscope=nfs.bench\nlease-time=90\n[mountd]\nport=20048\n[statd]\nport=32765\noutgoing-port=32766\n[lockd]\nport=32768\nudp-port=32768\n";
    writeFileSync(join(t, "nfs.conf"), nfsConf);
    const exportsYaml = Array.from({ length: EXPORTS }, (_, i) => `  - name: e${i}\n    path: /srv/e${i}\n`).join("");
    const mountinfo = Array.from({ length: EXPORTS }, (_, i) => `${200 + i} 29 147:${100 + i} / /srv/e${i} rw,relatime - ext4 /dev/drbd${100 + i} rw`).join("\n");
    for (const n of nodes) {
      mkdirSync(join(t, "state", n), { recursive: true });
      writeFileSync(
        join(t, `${n}.yaml`),
        `cluster: bench\ncontrolDir: ${control}\ncontrolDirIsMountpoint: false\nstateDir: ${join(t, "state", n)}\nnodes: [${nodes.join(", ")}]\nexports:\n${exportsYaml}system:\n  nfsConf: ${join(t, "nfs.conf")}\n  nfsConfDir: ${join(t, "none")}\n  exports: ${join(t, "none")}\n  exportsDir: ${join(t, "none")}\n  procExports: ${join(t, "none")}\n  nfsdClients: ${join(t, "none")}\n  nfsdLeaseTime: ${join(t, "none")}\n  nfsdGraceTime: ${join(t, "none")}\n  mountinfo: ${join(t, "mountinfo")}\n  nfsServerEnabled: ${join(t, "none")}\n`,
      );
    }
    writeFileSync(join(t, "mountinfo"), "29 1 254:1 / / rw - ext4 /dev/vda1 rw\n");
    const cfg0 = loadConfig(join(t, `${nodes[0]}.yaml`));
    const conf = parseNfsConf(nfsConf, "/etc/nfs.conf", emptyNfsConf());
    const now = Date.now();
    // Each node exports the exports with index % NODES == its index; all share one fsid per export.
    nodes.forEach((n, ni) => {
      const etab = Array.from({ length: EXPORTS }, (_, i) => i)
        .filter((i) => i % NODES === ni)
        .map((i) => `/srv/e${i}\t10.0.0.0/8(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,mountpoint,fsid=${1000 + i})`)
        .join("\n");
      writeFileSync(join(t, "state", n, "etab"), `${etab}\n`);
      const facts = buildFacts({
        hostname: n,
        exports: cfg0.exports,
        etab: { file: "etab", text: etab },
        procExports: { file: "content", reason: "absent", missing: true },
        mountinfo: { file: "mountinfo", text: `29 1 254:1 / / rw - ext4 /dev/vda1 rw\n${mountinfo}\n` },
        blkid: new Map(Array.from({ length: EXPORTS }, (_, i) => [`/dev/drbd${100 + i}`, { DEVNAME: `/dev/drbd${100 + i}`, UUID: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}` }])),
        nfsConf: conf,
        nfsConfRead: { file: "/etc/nfs.conf", text: nfsConf },
        leaseTime: { file: "lease", text: "90" },
        graceTime: { file: "grace", text: "90" },
        fhKey: null,
        nfsServerEnabled: known(false, "bench"),
        exportsFile: known([], "bench"),
        nfsdStates: [],
        rmtabMalformed: known([], "bench"),
        nfsdScopeSupport: known(true, "bench"),
        nfsdVersions: { file: "versions", text: "-2 +3 +4 +4.1 +4.2\n" },
        nfsdThreads: { file: "threads", text: "8\n" },
        previous: undefined,
        nowMs: now,
      });
      const own = OwnJournal.open(join(control, "journals", `${n}.sqlite`), { cluster: "bench", node: n, create: true, now: new Date(now) });
      own.publishFacts(facts, FACTS_FORMAT, now);
      own.close();
    });
    const cibFile = join(t, "cib.xml");
    writeFileSync(cibFile, cibXml(EXPORTS, nodes));
    const verify = spawnSync("crm_verify", ["--xml-file", cibFile], { encoding: "utf8" });
    process.stderr.write(`crm_verify on the ${EXPORTS}-export CIB: exit ${verify.status ?? verify.error?.message}\n`);

    // cold CLI runs
    const cli: number[] = [];
    const rss: number[] = [];
    let status = -1;
    let findings = -1;
    for (let r = 0; r < REPS; r++) {
      const start = process.hrtime.bigint();
      const p = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, CLI, "-c", join(t, `${nodes[0]}.yaml`), "-n", nodes[0]!, "doctor", "--cib", cibFile, "--json"], {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      });
      cli.push(Number(process.hrtime.bigint() - start) / 1e6);
      status = p.status ?? -1;
      rss.push(Number(p.stderr.trim().split("\n").pop()));
      findings = (JSON.parse(p.stdout) as { findings: unknown[] }).findings.length;
    }

    // the pure part: facts already read, CIB already parsed
    const inputs = readNodeInputs(cfg0, nodes[0]!, Date.now(), () => {});
    const cibStart = process.hrtime.bigint();
    const cib = parseCib(readFileSync(cibFile, "utf8"));
    const parseMs = Number(process.hrtime.bigint() - cibStart) / 1e6;
    const pure: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const s = process.hrtime.bigint();
      runChecks(CHECKS, { exports: cfg0.exports, nodes: inputs, self: nodes[0]!, nowMs: Date.now(), maxFactsAgeMs: 3_600_000, cib, cibReason: "" });
      pure.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const res = {
      bench: "doctor",
      nodes: NODES,
      exports: EXPORTS,
      cibPrimitives: EXPORTS * 6,
      reps: REPS,
      exitCode: status,
      findings,
      cliMedianMs: Math.round(median(cli)),
      cliPeakRssMiB: Math.round(median(rss) / 1024),
      cibParseMs: Math.round(parseMs),
      checksMedianMs: Math.round(median(pure)),
    };
    process.stdout.write(
      `doctor, ${NODES} nodes x ${EXPORTS} exports, CIB of ${EXPORTS * 6} primitives (median of ${REPS}):\n` +
        `  cold CLI 'doctor --cib --json': ${res.cliMedianMs} ms, peak RSS ${res.cliPeakRssMiB} MiB (exit ${status}, ${findings} findings)\n` +
        `  CIB parse ${res.cibParseMs} ms; checks alone ${res.checksMedianMs} ms\n${JSON.stringify(res)}\n`,
    );
  } finally {
    if (process.env.BENCH_KEEP !== "1") rmSync(t, { recursive: true, force: true });
    else process.stderr.write(`kept ${t}\n`);
  }
}

main();
