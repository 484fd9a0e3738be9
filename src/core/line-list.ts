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
  /**
   * A part not read unless asked (length, byExport and items read it):
   * text output gives this line about it instead of its lines.
   */
  readonly summary?: string;
}

export class LineList<T extends { readonly export: string | null }> implements Iterable<T> {
  constructor(private readonly parts: readonly ListPart<T>[]) {}

  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }

  /** No line, without reading a summarised part (which counts as some, though it may turn out to have none). */
  get empty(): boolean {
    return this.parts.every((p) => p.summary === undefined && p.length === 0);
  }

  /** The parts text output lists line by line (see ListPart.summary). */
  listed(): LineList<T> {
    return this.parts.some((p) => p.summary !== undefined) ? new LineList(this.parts.filter((p) => p.summary === undefined)) : this;
  }

  /** What text output says instead of the lines of the other parts. */
  summaries(): string[] {
    return this.parts.flatMap((p) => (p.summary === undefined ? [] : [p.summary]));
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
