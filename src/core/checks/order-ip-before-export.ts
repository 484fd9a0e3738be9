// order-ip-before-export: the service IP can come up before the export
// exists; the client's first request then gets ESTALE, which mountd caches.
import { cibExports, related, startsBefore, type Cib } from "../cib.js";
import type { Check, Finding } from "../doctor.js";
import { exportForDir } from "./util.js";

function bracketed(cib: Cib, exportfs: string, ip: string): boolean {
  const ipAddr = cib.primitives.get(ip)?.params.ip;
  const ports = [...cib.primitives.values()].filter((p) => p.type === "portblock" && (ipAddr === undefined || p.params.ip === undefined || p.params.ip === ipAddr));
  const blocks = ports.filter((p) => p.params.action === "block");
  const unblocks = ports.filter((p) => p.params.action === "unblock");
  return blocks.some((b) => startsBefore(cib, b.id, ip)) && unblocks.some((u) => startsBefore(cib, exportfs, u.id));
}

export const orderIpBeforeExport: Check = {
  id: "order-ip-before-export",
  cib: "required",
  run(input) {
    const cib = input.cib!;
    const findings: Finding[] = [];
    for (const c of cibExports(cib)) {
      const ips = [...related(cib, c.id)].filter((id) => /^IPaddr2?$/.test(cib.primitives.get(id)?.type ?? ""));
      for (const ip of ips.sort()) {
        if (startsBefore(cib, c.id, ip) || bracketed(cib, c.id, ip)) continue;
        const ex = c.directories.map((d) => exportForDir(input.exports, d)).find((x) => x !== undefined);
        const group = cib.primitives.get(c.id)?.group;
        findings.push({
          check: "order-ip-before-export",
          severity: "critical",
          export: ex?.name ?? null,
          nodes: [],
          evidence: `${ip} (ip ${cib.primitives.get(ip)?.params.ip ?? "?"}) can start before ${c.id} (${c.directories.join(" ")})${group ? ` in group ${group}` : ""}, and no portblock block/unblock pair brackets it`,
          why: "a request that arrives before the export exists gets ESTALE, and mountd caches that answer until 'exportfs -f'",
          fix:
            group && cib.primitives.get(ip)?.group === group
              ? `pcs resource group add ${group} ${ip} --after ${c.id}`
              : `pcs constraint order start ${c.id} then start ${ip}`,
        });
      }
    }
    return { findings };
  },
};
