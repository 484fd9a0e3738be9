// order-rmtabsync: rmtabsync must have rewritten rmtab before exportfs
// publishes the export, or mountd answers from a stale rmtab.
import { cibExports, related, startsBefore } from "../cib.js";
import type { Check, Finding } from "../doctor.js";
import { exportForDir } from "./util.js";

export const orderRmtabsync: Check = {
  id: "order-rmtabsync",
  cib: "required",
  run(input) {
    const cib = input.cib!;
    const findings: Finding[] = [];
    for (const c of cibExports(cib)) {
      const mine = [...related(cib, c.id)].filter((id) => cib.primitives.get(id)?.type === "rmtabsync");
      for (const r of mine.sort()) {
        if (startsBefore(cib, r, c.id)) continue;
        const ex = c.directories.map((d) => exportForDir(input.exports, d)).find((x) => x !== undefined);
        const group = cib.primitives.get(c.id)?.group;
        findings.push({
          check: "order-rmtabsync",
          severity: "warning",
          export: ex?.name ?? null,
          nodes: [],
          evidence: `rmtabsync resource ${r} does not start before ${c.id}`,
          why: "mountd may answer showmount and UMNT from an rmtab that lacks the clients of the export it just took over",
          fix: group && cib.primitives.get(r)?.group === group ? `pcs resource group add ${group} ${r} --before ${c.id}` : `pcs constraint order start ${r} then start ${c.id}`,
        });
      }
    }
    return { findings };
  },
};
