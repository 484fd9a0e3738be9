// Where each client+path stands in a list of rmtab entries. Pure.
//
// A Map keyed by entryKey(client, path) holds two new strings and a slot for
// every entry: about 10 MB at 100k entries, all of it long-lived. This table
// holds no strings (2 MB at 100k, outside V8's heap): its slots are positions
// in the list, found by a hash of client and path, and the entries
// themselves are compared on a match.

/** The fields an entry is indexed by. */
interface Keyed {
  readonly client: string;
  readonly path: string;
}

export class EntryIndex {
  /** Open addressing, linear probing: the position + 1 of an entry (0: a free slot). */
  private slots = new Int32Array(1024);
  /** The hash of each slot's entry (compared before the strings, and kept for growing). */
  private hashes = new Int32Array(1024);
  private count = 0;

  /**
   * `entries`: the list the positions point into. The index only reads it;
   * the caller may replace an entry by one of the same client and path.
   */
  constructor(private readonly entries: readonly Keyed[]) {}

  /** An index of every entry of `entries`, each client+path once (the first when one stands twice). */
  static of(entries: readonly Keyed[]): EntryIndex {
    const index = new EntryIndex(entries);
    for (let i = 0; i < entries.length; i++) if (index.get(entries[i]!.client, entries[i]!.path) === undefined) index.add(i);
    return index;
  }

  get size(): number {
    return this.count;
  }

  /** The position of client+path in the list, or undefined. */
  get(client: string, path: string): number | undefined {
    const h = entryHash(client, path);
    const mask = this.slots.length - 1;
    for (let s = h & mask; this.slots[s] !== 0; s = (s + 1) & mask) {
      if (this.hashes[s] !== h) continue;
      const at = this.slots[s]! - 1;
      const e = this.entries[at]!;
      if (e.client === client && e.path === path) return at;
    }
    return undefined;
  }

  /** Indexes the entry at position `at` (the caller checked that its client+path is not indexed yet). */
  add(at: number): void {
    // at most half full: a probe stays short
    if (2 * (this.count + 1) > this.slots.length) this.grow();
    const e = this.entries[at]!;
    this.place(at + 1, entryHash(e.client, e.path));
    this.count++;
  }

  private place(slot: number, h: number): void {
    const mask = this.slots.length - 1;
    let s = h & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = slot;
    this.hashes[s] = h;
  }

  private grow(): void {
    const { slots, hashes } = this;
    this.slots = new Int32Array(slots.length * 2);
    this.hashes = new Int32Array(slots.length * 2);
    for (let s = 0; s < slots.length; s++) if (slots[s] !== 0) this.place(slots[s]!, hashes[s]!);
  }
}

/** FNV-1a of client, "\n" and path (UTF-16 code units): the hash of entryKey(client, path). */
function entryHash(client: string, path: string): number {
  return fnv1a(path, fnv1a("\n", fnv1a(client)));
}

/** FNV-1a (32 bits) of a string's UTF-16 code units, continuing from `h`. */
export function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}
