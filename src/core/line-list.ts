// The lines a report lists (added, not recorded): a takeover has 100k of
// them, and text output names 20 and counts the rest per export. So a list
// is made of parts, each an array or a count with a way to read its lines,
// and a part is read only when it is listed (--json lists every line).

/** A run of lines: read by items(), counted without reading them when byExport is given. */
export interface ListPart<T> {
  readonly length: number;
  /** Its lines per export (what byExport() adds up); without it the lines are read to count them. */
  readonly byExport?: ReadonlyMap<string, number>;
  items(): Iterable<T>;
}

export class LineList<T extends { readonly export: string | null }> implements Iterable<T> {
  readonly length: number;

  constructor(private readonly parts: readonly ListPart<T>[]) {
    this.length = parts.reduce((n, p) => n + p.length, 0);
  }

  static of<T extends { readonly export: string | null }>(items: readonly T[]): LineList<T> {
    return new LineList(items.length === 0 ? [] : [{ length: items.length, items: () => items }]);
  }

  /** This list, then the lines of `more`. */
  concat(...more: (LineList<T> | readonly T[])[]): LineList<T> {
    const parts = [...this.parts];
    for (const m of more) parts.push(...(m instanceof LineList ? m.parts : m.length > 0 ? [{ length: m.length, items: () => m }] : []));
    return new LineList(parts);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const p of this.parts) yield* p.items();
  }

  map<U>(f: (x: T) => U): U[] {
    const out: U[] = [];
    for (const x of this) out.push(f(x));
    return out;
  }

  filter(f: (x: T) => boolean): T[] {
    const out: T[] = [];
    for (const x of this) if (f(x)) out.push(x);
    return out;
  }

  /** How many lines of each export ("" for none). */
  byExport(): Map<string, number> {
    const per = new Map<string, number>();
    const add = (e: string, n: number) => per.set(e, (per.get(e) ?? 0) + n);
    for (const p of this.parts) {
      if (p.byExport) for (const [e, n] of p.byExport) add(e, n);
      else for (const x of p.items()) add(x.export ?? "", 1);
    }
    return per;
  }

  toJSON(): T[] {
    return [...this];
  }
}
