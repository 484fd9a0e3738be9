// Parses CIB XML into the Cib model of ./cib.ts. Kept apart so that the XML
// parser loads only when a CIB is read. Pure.
import { XMLParser } from "fast-xml-parser";
import type { Cib, CibGroup, CibPrimitive } from "./cib.js";

type X = Record<string, unknown>;

function arr(v: unknown): X[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is X => typeof x === "object" && x !== null);
}

function attr(x: X, name: string): string | undefined {
  const v = x[`@_${name}`];
  return v === undefined ? undefined : String(v);
}

function nvpairs(x: X, set: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of arr(x[set])) for (const nv of arr(s.nvpair)) {
    const n = attr(nv, "name");
    const v = attr(nv, "value");
    if (n !== undefined && v !== undefined) out[n] = v;
  }
  return out;
}

export class CibError extends Error {}

/** Parses CIB XML (as `cibadmin -Q` prints it or a saved file). */
export function parseCib(xml: string): Cib {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseAttributeValue: false, parseTagValue: false });
  let doc: X;
  try {
    doc = parser.parse(xml, true) as X;
  } catch (err) {
    throw new CibError(`not well-formed XML: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
  const cib = arr(doc.cib)[0];
  const conf = cib ? arr(cib.configuration)[0] : undefined;
  if (!conf) throw new CibError("no <cib><configuration> element");
  const resources = arr(conf.resources)[0] ?? {};
  const constraints = arr(conf.constraints)[0] ?? {};

  const primitives = new Map<string, CibPrimitive>();
  const groups = new Map<string, CibGroup>();
  const expand = new Map<string, string[]>();

  const addPrimitive = (p: X, group: string | null): string | undefined => {
    const id = attr(p, "id");
    if (!id) return undefined;
    const cls = attr(p, "class") ?? "";
    const provider = attr(p, "provider");
    const type = attr(p, "type") ?? "";
    const ops = arr(arr(p.operations)[0]?.op).map((o) => ({ name: attr(o, "name") ?? "", interval: attr(o, "interval") ?? null, timeout: attr(o, "timeout") ?? null }));
    primitives.set(id, { id, agent: [cls, provider, type].filter((s) => s !== undefined && s !== "").join(":"), type, params: nvpairs(p, "instance_attributes"), ops, group });
    expand.set(id, [id]);
    return id;
  };
  const addGroup = (g: X): string[] => {
    const id = attr(g, "id");
    const members = arr(g.primitive).map((p) => addPrimitive(p, id ?? null)).filter((x): x is string => x !== undefined);
    if (id) {
      groups.set(id, { id, members });
      expand.set(id, members);
    }
    return members;
  };
  const addWrapped = (c: X) => {
    const id = attr(c, "id");
    const inner = [...arr(c.primitive).map((p) => addPrimitive(p, null)).filter((x): x is string => x !== undefined), ...arr(c.group).flatMap(addGroup)];
    if (id) expand.set(id, inner);
  };
  for (const p of arr(resources.primitive)) addPrimitive(p, null);
  for (const g of arr(resources.group)) addGroup(g);
  for (const c of [...arr(resources.clone), ...arr(resources.master), ...arr(resources.bundle)]) addWrapped(c);

  const after = new Map<string, Set<string>>();
  const before = new Map<string, Set<string>>();
  const edge = (first: readonly string[], then: readonly string[]) => {
    for (const t of then) {
      let s = after.get(t);
      if (!s) after.set(t, (s = new Set()));
      for (const f of first) {
        if (f === t) continue;
        s.add(f);
        let b = before.get(f);
        if (!b) before.set(f, (b = new Set()));
        b.add(t);
      }
    }
  };
  const ex = (id: string | undefined) => (id === undefined ? [] : (expand.get(id) ?? []));
  for (const g of groups.values()) for (let i = 1; i < g.members.length; i++) edge([g.members[i - 1]!], [g.members[i]!]);

  const mandatory = (c: X) => {
    const kind = attr(c, "kind");
    if (kind !== undefined) return kind === "Mandatory";
    const score = attr(c, "score");
    return score === undefined || score === "INFINITY" || score === "+INFINITY" || Number(score) > 0;
  };
  // Only orders about starting count: "then" starts after "first" started (or was promoted).
  const startOrder = (o: X) => ["start", undefined].includes(attr(o, "then-action")) && ["start", "promote", undefined].includes(attr(o, "first-action"));
  for (const o of arr(constraints.rsc_order)) {
    if (!mandatory(o) || !startOrder(o)) continue;
    const sets = arr(o.resource_set);
    if (sets.length === 0) {
      edge(ex(attr(o, "first")), ex(attr(o, "then")));
      continue;
    }
    let prev: string[] | null = null;
    for (const s of sets) {
      const members = arr(s.resource_ref).map((r) => attr(r, "id"));
      const prims = members.map(ex);
      const sequential = attr(s, "sequential") !== "false";
      if (sequential) for (let i = 1; i < prims.length; i++) edge(prims[i - 1]!, prims[i]!);
      // require-all=false: "then" waits for any one member, so no single member is guaranteed first.
      const requireAll = attr(s, "require-all") !== "false";
      const all = prims.flat();
      if (prev !== null) edge(prev, sequential ? (prims[0] ?? []) : all);
      prev = requireAll ? (sequential ? (prims[prims.length - 1] ?? []) : all) : [];
    }
  }

  const colocated = new Map<string, Set<string>>();
  const tie = (a: readonly string[], b: readonly string[]) => {
    for (const x of a)
      for (const y of b) {
        if (x === y) continue;
        if (!colocated.has(x)) colocated.set(x, new Set());
        if (!colocated.has(y)) colocated.set(y, new Set());
        colocated.get(x)!.add(y);
        colocated.get(y)!.add(x);
      }
  };
  for (const c of arr(constraints.rsc_colocation)) {
    const sets = arr(c.resource_set);
    if (sets.length === 0) tie(ex(attr(c, "rsc")), ex(attr(c, "with-rsc")));
    else {
      const all = sets.flatMap((s) => arr(s.resource_ref).flatMap((r) => ex(attr(r, "id"))));
      tie(all, all);
    }
  }

  const opDefaults = arr(conf.op_defaults)[0];
  const opDefaultTimeout = opDefaults ? (nvpairs(opDefaults, "meta_attributes").timeout ?? null) : null;
  return { primitives, groups, expand, after, before, colocated, opDefaultTimeout };
}

