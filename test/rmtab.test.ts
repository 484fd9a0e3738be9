import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { clientProblem, entryProblem, formatLine, MAX_COUNT, MAX_FIELD_BYTES, MAX_LINE_BYTES, parseCount, parseRmtab, pathProblem, serializeRmtab, serializeRmtabBytes, type RmtabEntry } from "../src/core/rmtab.js";

describe("rmtab parse and serialize", () => {
  it("round-trips canonical lines byte for byte", () => {
    const text = "10.0.0.21:/srv/vm0:0x00000001\n10.0.0.22:/srv/vm0/images:0x0000002a\n";
    const p = parseRmtab(text);
    expect(p.entries).toEqual([
      { client: "10.0.0.21", path: "/srv/vm0", count: 1 },
      { client: "10.0.0.22", path: "/srv/vm0/images", count: 42 },
    ]);
    expect(p.canonical).toBe(true);
    expect(serializeRmtab(p.entries)).toBe(text);
  });

  it("stores IPv6 colons as ';' and reads them back", () => {
    const p = parseRmtab("2001;db8;;5:/srv/vm0:0x00000003\n;;1:/srv/vm1:0x00000001\n");
    expect(p.entries.map((e) => e.client)).toEqual(["2001:db8::5", "::1"]);
    expect(formatLine({ client: "2001:db8::5", path: "/srv/vm0", count: 3 })).toBe("2001;db8;;5:/srv/vm0:0x00000003\n");
    expect(formatLine({ client: "::ffff:10.1.2.3", path: "/x", count: 1 })).toBe(";;ffff;10.1.2.3:/x:0x00000001\n");
  });

  it("reads counts in any base strtol(…, 0) accepts and writes them canonically", () => {
    expect(parseCount("0x1F")).toBe(31);
    expect(parseCount("017")).toBe(15);
    expect(parseCount("12")).toBe(12);
    expect(parseCount("0")).toBe(0);
    expect(parseCount("1x")).toBeUndefined();
    expect(parseCount("")).toBeUndefined();
    const p = parseRmtab("a:/p:12\nb:/p:017\nc:/p:0XfF\nd:/p\n");
    expect(p.entries.map((e) => e.count)).toEqual([12, 15, 255, 1]);
    expect(p.canonical).toBe(false);
    expect(serializeRmtab(p.entries)).toBe("a:/p:0x0000000c\nb:/p:0x0000000f\nc:/p:0x000000ff\nd:/p:0x00000001\n");
  });

  it("keeps spaces in paths and subdirectory paths as they are", () => {
    const p = parseRmtab("10.0.0.1:/srv/vm0/my images/a b:0x00000001\n");
    expect(p.entries[0]!.path).toBe("/srv/vm0/my images/a b");
  });

  it("quarantines a client address with a leading, trailing or inner space; mountd's own lines have none", () => {
    const p = parseRmtab(" 10.0.0.100:/srv/vm0:0x00000001\n10.0.0.101 :/srv/vm0:0x00000001\n10.0.0.1 02:/srv/vm0:0x00000001\n10.0.0.7:/srv/vm0:0x00000001\n");
    expect(p.entries.map((e) => e.client)).toEqual(["10.0.0.7"]);
    expect(p.malformed.map((m) => m.line)).toEqual([1, 2, 3]);
    expect(p.malformed[0]!.problem).toBe(`client address " 10.0.0.100" contains white space (mountd never writes that)`);
    expect(parseRmtab("\t10.0.0.100:/srv/vm0:0x00000001\n").malformed).toHaveLength(1);
    expect(entryProblem({ client: " 10.0.0.100", path: "/srv/vm0", count: 1 })).toMatch(/white space/);
    for (const client of ["10.0.0.100", "2001:db8::5", "::ffff:10.1.2.3", "client.example.com"])
      expect(parseRmtab(formatLine({ client, path: "/srv/vm0/my images", count: 1 })).malformed).toEqual([]);
  });

  it("reports malformed lines with their line numbers and keeps the lines after them", () => {
    const text = [
      "10.0.0.1:/srv/vm0:0x00000001",
      "garbage-without-colon",
      "",
      "10.0.0.2:/srv/a:b:0x00000001",
      "10.0.0.3:/srv/vm0:0x00000000",
      ":/srv/vm0:0x00000001",
      "10.0.0.4::0x00000001",
      "10.0.0.5:/srv/vm0:0x00000002",
    ].join("\n") + "\n";
    const p = parseRmtab(text);
    expect(p.entries.map((e) => e.client)).toEqual(["10.0.0.1", "10.0.0.5"]);
    expect(p.malformed.map((m) => m.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(p.malformed[0]!.problem).toMatch(/no ':'/);
    expect(p.malformed[1]!.problem).toMatch(/empty line/);
    expect(p.malformed[2]!.problem).toMatch(/not a number/);
    expect(p.malformed[3]!.problem).toMatch(/count 0/);
    expect(p.malformed[0]!.text).toBe("garbage-without-colon");
    expect(Buffer.from(p.malformed[0]!.bytes).toString()).toBe("garbage-without-colon");
  });

  it("enforces mountd's 2046-byte line and 1024-byte field limits", () => {
    const host = "h".repeat(1000);
    const path = "/" + "p".repeat(MAX_FIELD_BYTES - 1);
    // 1000 + 1 + 1024 + 1 + 19 + newline = 2046 bytes: what fgets(buf, 2047) reads whole
    const atLimit = `${host}:${path}:0x${"0".repeat(16)}1\n`;
    expect(Buffer.byteLength(atLimit)).toBe(MAX_LINE_BYTES);
    expect(parseRmtab(atLimit).entries).toEqual([{ client: host, path, count: 1 }]);
    const overLimit = `${host}:${path}:0x${"0".repeat(17)}1\n`;
    expect(Buffer.byteLength(overLimit)).toBe(MAX_LINE_BYTES + 1);
    const p = parseRmtab(overLimit + "10.0.0.1:/srv/vm0:0x00000001\n");
    expect(p.entries).toEqual([{ client: "10.0.0.1", path: "/srv/vm0", count: 1 }]);
    expect(p.malformed[0]).toMatchObject({ line: 1, problem: expect.stringMatching(/longer than 2046 bytes/) });
    expect(parseRmtab(`10.0.0.1:${path}x:0x00000001\n`).malformed[0]!.problem).toMatch(/path longer than 1024/);
    expect(parseRmtab(`${"h".repeat(1025)}:/p:0x00000001\n`).malformed[0]!.problem).toMatch(/client address longer/);
  });

  it("merges duplicate client+path lines by summing counts and reports them", () => {
    const p = parseRmtab("a:/p:0x00000001\nb:/p:0x00000001\na:/p:0x00000002\n");
    expect(p.entries).toEqual([
      { client: "a", path: "/p", count: 3 },
      { client: "b", path: "/p", count: 1 },
    ]);
    expect(p.duplicates).toEqual([3]);
    expect(p.canonical).toBe(false);
  });

  it("quarantines non-UTF-8 lines keeping their exact bytes", () => {
    const raw = Buffer.concat([Buffer.from("10.0.0.1:/srv/"), Buffer.from([0xff, 0xfe]), Buffer.from(":0x00000001\n")]);
    const p = parseRmtab(raw);
    expect(p.entries).toHaveLength(0);
    expect(Buffer.from(p.malformed[0]!.bytes)).toEqual(raw.subarray(0, raw.length - 1));
  });

  it("reads a last line without newline", () => {
    expect(parseRmtab("a:/p:0x00000001").entries).toHaveLength(1);
  });
});

describe("rmtab properties", () => {
  const host = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/),
  );
  const path = fc
    .array(fc.stringMatching(/^[A-Za-z0-9 ._-]{1,12}$/).filter((c) => c !== "." && c !== ".."), { minLength: 1, maxLength: 6 })
    .map((parts) => `/${parts.join("/")}`);
  const entry = fc.record({ client: host, path, count: fc.integer({ min: 1, max: 0x7fffffff }) });

  it("parse never throws on arbitrary bytes and every line is either an entry or reported", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const p = parseRmtab(Buffer.from(bytes));
        const lines = Buffer.from(bytes).toString("latin1").split("\n");
        const lineCount = lines[lines.length - 1] === "" ? lines.length - 1 : lines.length;
        expect(p.entries.length + p.malformed.length + p.duplicates.length).toBe(lineCount);
      }),
      { numRuns: 500 },
    );
  });

  it("parse never throws on line-shaped text", () => {
    const piece = fc.oneof(host, path, fc.constantFrom(":", ";", "0x", "\n", "0x0000000a", "017", " "));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const p = parseRmtab(pieces.join(""));
        // a file found canonical is what its entries serialize to (reconcile writes it back as it is)
        if (p.canonical) expect(serializeRmtab(p.entries)).toBe(pieces.join(""));
        // whatever parsed is writable and reads back the same
        const again = parseRmtab(serializeRmtab(p.entries));
        expect(again.entries).toEqual(p.entries);
        expect(again.malformed).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it("an all-ASCII file (read as one string) parses as the line-by-line decode of any other file does", () => {
    const piece = fc.oneof(host, path, fc.constantFrom(":", ";", "0x", "\n", "\n", "0x0000000a", "017", " ", "\0", "x".repeat(2100)));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const text = pieces.join("");
        const fast = parseRmtab(Buffer.from(text, "latin1"));
        // one non-ASCII line at the end sends the whole file down the line-by-line path
        const slow = parseRmtab(Buffer.concat([Buffer.from(text.endsWith("\n") || text === "" ? text : `${text}\n`, "latin1"), Buffer.from([0xff, 0x0a])]));
        expect(slow.entries).toEqual(fast.entries);
        expect(slow.duplicates).toEqual(fast.duplicates);
        expect(slow.malformed.slice(0, -1)).toEqual(fast.malformed);
        expect(slow.malformed.at(-1)?.problem).toBe("not valid UTF-8");
      }),
      { numRuns: 1000, seed: 20261130 },
    );
  });

  it("canonical output is a fixed point", () => {
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => `${e.client}\n${e.path}`, maxLength: 50 }), (entries) => {
        const once = serializeRmtab(entries);
        const p = parseRmtab(once);
        expect(p.entries).toEqual(entries);
        expect(p.canonical).toBe(true);
        expect(serializeRmtab(p.entries)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });
  it("the bytes written are the UTF-8 of the canonical text, across the chunks they are encoded in", () => {
    const long = (i: number) => ({ client: `10.0.${i >> 8}.${i & 255}`, path: `/srv/vm0/\u00e9t\u00e9/\u{1f600}/${"x".repeat(i % 700)}`, count: i + 1 });
    const many = Array.from({ length: 3000 }, (_, i) => long(i));
    expect(serializeRmtabBytes(many).equals(Buffer.from(serializeRmtab(many), "utf8"))).toBe(true);
    expect(serializeRmtabBytes([]).length).toBe(0);
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 50 }), (entries) => {
        expect(serializeRmtabBytes(entries).equals(Buffer.from(serializeRmtab(entries), "utf8"))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
  it("the quick tests of the usual client, path and entry accept only what the full rules accept", () => {
    // the rules, written out as the full checks state them
    const bytes = (x: string) => Buffer.byteLength(x, "utf8");
    const clientOk = (c: string) => c !== "" && bytes(c) <= MAX_FIELD_BYTES && !/\s/.test(c) && !/[\x00-\x1f\x7f]/.test(c) && !c.includes(";");
    const pathOk = (p: string) =>
      p !== "" && bytes(p) <= MAX_FIELD_BYTES && !/[\x00-\x1f\x7f]/.test(p) && !p.includes(":") && p.startsWith("/") && !p.split("/").some((c) => c === "." || c === "..");
    const entryOk = (e: RmtabEntry) =>
      clientOk(e.client) && pathOk(e.path) && Number.isInteger(e.count) && e.count >= 1 && e.count <= MAX_COUNT && bytes(formatLine(e)) <= MAX_LINE_BYTES;
    // characters at every edge of the quick test's classes, and fields about the length limits
    const ch = fc.constantFrom(" ", "!", "9", ":", ";", "<", "~", "\x7f", "\x1f", "\t", "/", ".", "é", "\u00a0", "a", "0");
    const field = fc.oneof(
      fc.array(ch, { maxLength: 8 }).map((a) => a.join("")),
      fc.array(ch, { maxLength: 8 }).map((a) => `/${a.join("")}`),
      fc.constantFrom("/.", "/..", "/a/./b", "/a/../b", "/...", "/a/.", "/a/..b", "/./", "."),
      fc.integer({ min: 1020, max: 1030 }).chain((n) => fc.constantFrom("a", "é", "/").map((c) => (c === "/" ? `/${"a".repeat(n - 1)}` : c.repeat(n)))),
    );
    const count = fc.oneof(fc.integer({ min: -2, max: 3 }), fc.constantFrom(MAX_COUNT, MAX_COUNT + 1, 1.5, Number.NaN));
    fc.assert(
      fc.property(field, field, count, (client, path, n) => {
        const e = { client, path, count: n };
        expect(clientProblem(client) === undefined).toBe(clientOk(client));
        expect(pathProblem(path) === undefined).toBe(pathOk(path));
        expect(entryProblem(e) === undefined).toBe(entryOk(e));
      }),
      { numRuns: 5000, seed: 20261130 },
    );
  });
});
