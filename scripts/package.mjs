// Builds the Debian package dist/rmtabsync_<version>_<arch>.deb with dpkg-deb:
// the bundled CLI, its native modules, the systemd units, the OCF agent, an
// example configuration, the man page, copyright and changelog.
// Run after `npm run build` (npm run package does both).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const version = pkg.version;
const arch = execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8" }).trim();
const nodeMajor = Number(process.versions.node.split(".")[0]);
const out = join(ROOT, "dist", `rmtabsync_${version}_${arch}.deb`);
const stage = join(ROOT, "dist", "deb");
const LIB = "usr/lib/rmtabsync";
const DOC = "usr/share/doc/rmtabsync";

function fail(msg) {
  console.error(`package: ${msg}`);
  process.exit(1);
}

if (!existsSync(join(ROOT, "dist/cli.js"))) fail("dist/cli.js is missing: run 'npm run build' first");
rmSync(stage, { recursive: true, force: true });

function put(rel, content, mode = 0o644) {
  const file = join(stage, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

function copy(from, rel, mode = 0o644) {
  put(rel, readFileSync(join(ROOT, from)), mode);
}

// The CLI: one bundled CommonJS file, started by cli.js with the V8 code cache made at build
// time (src/start.ts); a wrapper in /usr/bin runs it with Debian's node (another node's V8
// refuses the cache: the bundle is then compiled as usual).
// run by the wrapper, so no #! line (lintian: script-not-executable)
put(`${LIB}/cli.js`, readFileSync(join(ROOT, "dist/cli.js"), "utf8").replace(/^#!.*\n/, ""));
copy("dist/rmtabsync.js", `${LIB}/rmtabsync.js`);
if (existsSync(join(ROOT, "dist/rmtabsync.cache"))) copy("dist/rmtabsync.cache", `${LIB}/rmtabsync.cache`);
put(`${LIB}/package.json`, `${JSON.stringify({ type: "commonjs" })}\n`);
put("usr/bin/rmtabsync", `#!/bin/sh\nexec /usr/bin/node /${LIB}/cli.js "$@"\n`, 0o755);
// The mountd ha-callout (a POSIX sh script: mountd waits for it on every MNT/UMNT).
for (const candidate of ["deploy/mountd-callout"]) {
  if (existsSync(join(ROOT, candidate))) {
    copy(candidate, `${LIB}/mountd-callout`, 0o755);
    break;
  }
}

// Native modules and the JS that loads them: exactly what node_modules holds at run time.
const MODULES = {
  // (their license texts go into the copyright file)
  "better-sqlite3": ["package.json", "lib", "build/Release/better_sqlite3.node"],
  bindings: ["package.json", "bindings.js"],
  "file-uri-to-path": ["package.json", "index.js"],
  "os-lock": ["package.json", "index.js", "build/Release/addon.node"],
};
for (const [name, entries] of Object.entries(MODULES)) {
  for (const entry of entries) {
    const src = join(ROOT, "node_modules", name, entry);
    if (!existsSync(src)) fail(`${src} is missing: run 'npm ci' (native modules must be built)`);
    const dest = join(stage, LIB, "node_modules", name, entry);
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(src, dest, { recursive: true });
  }
}
// cp keeps the build's modes; shared objects and JS are 0644 (set again below).
const natives = [`${LIB}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`, `${LIB}/node_modules/os-lock/build/Release/addon.node`];
for (const n of natives) execFileSync("strip", ["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", join(stage, n)]);

// systemd units, OCF agent, man page, examples.
for (const unit of readdirSync(join(ROOT, "deploy/systemd"))) copy(`deploy/systemd/${unit}`, `lib/systemd/system/${unit}`);
copy("deploy/ocf/rmtabsync", "usr/lib/ocf/resource.d/rmtabsync/rmtabsync", 0o755);
// the man page and bash completion come from the CLI's own definitions
const cli = (...args) => execFileSync(process.execPath, [join(ROOT, "dist/cli.js"), ...args], { encoding: "utf8" });
const man = cli("man");
if (man !== readFileSync(join(ROOT, "deploy/man/rmtabsync.8"), "utf8")) fail("deploy/man/rmtabsync.8 differs from 'rmtabsync man': run 'npm run man' and commit it");
put("usr/share/man/man8/rmtabsync.8.gz", gzipSync(man, { level: 9 }));
put("usr/share/bash-completion/completions/rmtabsync", cli("completion", "bash"));
copy("deploy/config.example.yaml", `${DOC}/examples/config.yaml`);
copy("deploy/config.groups.example.yaml", `${DOC}/examples/config.groups.yaml`);
for (const f of readdirSync(join(ROOT, "deploy/pacemaker"))) copy(`deploy/pacemaker/${f}`, `${DOC}/examples/pacemaker/${f}`);
put(`${DOC}/README.md.gz`, gzipSync(readFileSync(join(ROOT, "README.md")), { level: 9 }));

// copyright: our MIT license plus every bundled and shipped npm package's own.
function licenseOf(dir) {
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? readFileSync(join(dir, file), "utf8") : "";
  const holder = (/^\s*Copyright.*$/im.exec(text)?.[0] ?? `Copyright ${typeof meta.author === "string" ? meta.author : (meta.author?.name ?? meta.name + " authors")}`).trim();
  return { name: meta.name, version: meta.version, license: meta.license, holder: holder.replace(/^Copyright\s*(\(c\)\s*)?/i, "") };
}
const map = JSON.parse(readFileSync(join(ROOT, "dist/rmtabsync.js.map"), "utf8"));
const bundled = [...new Set(map.sources.map((s) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)?.[1]).filter(Boolean))].sort();
const bundledInfo = bundled.map((n) => licenseOf(join(ROOT, "node_modules", n)));
const shipped = Object.keys(MODULES).map((n) => licenseOf(join(ROOT, "node_modules", n)));
for (const m of [...bundledInfo, ...shipped])
  if (!["MIT", "ISC", "Apache-2.0"].includes(m.license)) fail(`${m.name} is licensed ${m.license}: add its license text to the copyright file`);
const MIT = readFileSync(join(ROOT, "deploy/debian/MIT"), "utf8").trimEnd().split("\n").map((l) => (l === "" ? " ." : ` ${l}`)).join("\n");
const ISC = readFileSync(join(ROOT, "deploy/debian/ISC"), "utf8").trimEnd().split("\n").map((l) => (l === "" ? " ." : ` ${l}`)).join("\n");
let copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rmtabsync
Comment: /${LIB}/rmtabsync.js is a bundle (esbuild) of rmtabsync and these npm
 packages: ${bundledInfo.map((m) => `${m.name} ${m.version} (${m.license})`).join(", ")}.
 Their copyright holders are listed below.

Files: *
Copyright: 2026 the rmtabsync authors
License: MIT
`;
for (const m of bundledInfo)
  copyright += `\nFiles: ${LIB}/rmtabsync.js\nCopyright: ${m.holder}\nLicense: ${m.license}\nComment: ${m.name} ${m.version}, bundled\n`;
for (const m of shipped) copyright += `\nFiles: ${LIB}/node_modules/${m.name}/*\nCopyright: ${m.holder}\nLicense: ${m.license}\n`;
copyright += `\nFiles: ${LIB}/node_modules/better-sqlite3/build/Release/better_sqlite3.node
Copyright: Joshua Wise; SQLite: none (public domain)
License: MIT and public-domain

License: public-domain
 The SQLite library compiled into better_sqlite3.node is in the public domain:
 its authors disclaim copyright to its source code.

License: MIT
${MIT}

License: ISC
${ISC}

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License.
 .
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in the file /usr/share/common-licenses/Apache-2.0.
`;
put(`${DOC}/copyright`, copyright);

// changelog (a native package: changelog.gz)
put(`${DOC}/changelog.gz`, gzipSync(readFileSync(join(ROOT, "deploy/debian/changelog")), { level: 9 }));

// Maintainer scripts: reload systemd so it sees the units; enable nothing
// (choose the daemon or the path+timer pair, see README).
const reload = `if [ -d /run/systemd/system ]; then\n\tsystemctl --system daemon-reload >/dev/null || true\nfi\n`;
put("DEBIAN/postinst", `#!/bin/sh\nset -e\nif [ "$1" = "configure" ]; then\n${reload}fi\n`, 0o755);
put(
  "DEBIAN/prerm",
  `#!/bin/sh\nset -e\nif [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then\n\tdeb-systemd-invoke stop rmtabsync.service rmtabsync-record.path rmtabsync-reconcile.timer >/dev/null || true\nfi\n`,
  0o755,
);
put("DEBIAN/postrm", `#!/bin/sh\nset -e\nif [ "$1" = "remove" ] || [ "$1" = "purge" ]; then\n${reload}fi\n`, 0o755);

// md5sums and control
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}
const files = walk(stage).filter((f) => !relative(stage, f).startsWith("DEBIAN/"));
put("DEBIAN/md5sums", files.map((f) => `${createHash("md5").update(readFileSync(f)).digest("hex")}  ${relative(stage, f)}`).sort().join("\n") + "\n");
const sizeKb = Math.ceil(files.reduce((n, f) => n + statSync(f).size, 0) / 1024);
put(
  "DEBIAN/control",
  `Package: rmtabsync
Version: ${version}
Architecture: ${arch}
Maintainer: rmtabsync maintainers <rmtabsync@example.org>
Installed-Size: ${sizeKb}
Depends: nodejs (>= 20.19), nodejs (<< ${nodeMajor + 1}), libc6
Recommends: nfs-kernel-server
Suggests: pacemaker, resource-agents, drbd-utils
Section: admin
Priority: optional
Description: keeps rpc.mountd's rmtab right across an active/active NFS cluster
 In a Pacemaker/DRBD NFS cluster whose exports move between nodes, rmtabsync
 journals each node's rmtab changes on a replicated control volume and
 rewrites rmtab from all journals, so that after a failover showmount -a
 lists the export's NFSv3 clients and mount counts keep working.
 .
 This package ships the rmtabsync command, a daemon (rmtabsync.service) or a
 daemon-less path/timer pair, and a Pacemaker resource agent
 (ocf:rmtabsync:rmtabsync). Its native modules are built for Node.js ${nodeMajor}.
`,
);
for (const d of walkDirs(stage)) chmodSync(d, 0o755);
const EXECUTABLE = new Set(["usr/bin/rmtabsync", `${LIB}/mountd-callout`, "usr/lib/ocf/resource.d/rmtabsync/rmtabsync", "DEBIAN/postinst", "DEBIAN/prerm", "DEBIAN/postrm"]);
for (const f of walk(stage)) chmodSync(f, EXECUTABLE.has(relative(stage, f)) ? 0o755 : 0o644);
function walkDirs(dir) {
  return [dir, ...readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => walkDirs(join(dir, e.name)))];
}
execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", stage, out], { stdio: ["ignore", "ignore", "inherit"] });
console.log(out);
