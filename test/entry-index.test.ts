// EntryIndex (src/core/entry-index.ts): where each client+path stands in a
// list of rmtab entries, answered as a Map keyed by entryKey would.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EntryIndex } from "../src/core/entry-index.js";
import { entryKey } from "../src/core/rmtab.js";

/** The first position of each key, as a Map (what the index replaces). */
function firstPositions(entries: readonly { client: string; path: string }[]): Map<string, number> {
  const m = new Map<string, number>();
  entries.forEach((e, i) => {
    const k = entryKey(e.client, e.path);
    if (!m.has(k)) m.set(k, i);
  });
  return m;
}

describe("EntryIndex", () => {
  const pair = fc.record({
    client: fc.constantFrom("10.0.0.1", "10.0.0.2", "fe80::1", "host-a", "", "a\nb"),
    path: fc.constantFrom("/srv/a", "/srv/a/x", "/srv/b", "/", "b\n/srv/a", "/srv/\u00e9"),
  });

  it("finds the first position of every client+path and nothing else (property)", () => {
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 40 }), fc.array(pair, { maxLength: 20 }), (entries, probes) => {
        const index = EntryIndex.of(entries);
        const want = firstPositions(entries);
        expect(index.size).toBe(want.size);
        for (const p of [...entries, ...probes]) expect(index.get(p.client, p.path)).toBe(want.get(entryKey(p.client, p.path)));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps its answers as it grows past its first table (thousands of entries, duplicates among them)", () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => ({ client: `10.${i % 7}.${(i >> 3) & 255}.${i & 255}`, path: `/srv/vm${i % 13}` }));
    const index = EntryIndex.of(entries);
    const want = firstPositions(entries);
    expect(index.size).toBe(want.size);
    for (const e of entries) expect(index.get(e.client, e.path)).toBe(want.get(entryKey(e.client, e.path)));
    expect(index.get("10.0.0.0", "/srv/none")).toBeUndefined();
  });

  it("reads the list it was given: an entry replaced by one of the same client and path is found at its place", () => {
    const entries = [
      { client: "a", path: "/p", count: 1 },
      { client: "b", path: "/p", count: 1 },
    ];
    const index = EntryIndex.of(entries);
    entries[1] = { client: "b", path: "/p", count: 7 };
    expect(index.get("b", "/p")).toBe(1);
  });
});
