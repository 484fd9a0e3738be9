// Which filesystem a control directory is, and which one this node was
// initialised on. A control volume that is not mounted leaves the plain
// directory underneath, possibly holding an old copy with a marker of its
// own: writing there loses the change for the cluster. `init` records the
// volume's identity (marker id, device, filesystem UUID, mount point or not)
// in <stateDir>/rmtabsync.volume, outside the control volume; every command
// that writes checks the volume against it.
import { chmodSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { errorMessage, RefusedError } from "../errors.js";
import { writeFileAtomic } from "./files.js";

/** What the filesystem under a control directory is now. */
export interface VolumeIdentity {
  /** Device of the filesystem, "major:minor". */
  readonly dev: string;
  /** Filesystem UUID, when /dev/disk/by-uuid names the device. */
  readonly uuid?: string;
  /** The directory is a mount point (its own filesystem, or listed as one in mountinfo). */
  readonly mountpoint: boolean;
}

/** What `init` saw of one control directory. */
export interface VolumeRecord extends VolumeIdentity {
  /** Id of the marker (rmtabsync.cluster) init found or wrote there. */
  readonly markerId: string;
  readonly recorded: string;
}

function devString(dev: bigint): string {
  // Linux's encoding of dev_t (glibc gnu_dev_major/minor)
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** Undoes mountinfo's octal escapes (`\040` for a space). */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function listedInMountinfo(dir: string, mountinfo: string): boolean {
  let text: string;
  try {
    text = readFileSync(mountinfo, "utf8");
  } catch {
    return false;
  }
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    /* compared as given */
  }
  return text.split("\n").some((l) => {
    const mp = l.split(" ")[4];
    return mp !== undefined && unescapeMountinfo(mp) === real;
  });
}

function uuidOf(dev: bigint): string | undefined {
  const byUuid = "/dev/disk/by-uuid";
  let names: string[];
  try {
    names = readdirSync(byUuid);
  } catch {
    return undefined;
  }
  for (const n of names) {
    try {
      if (statSync(join(byUuid, n), { bigint: true }).rdev === dev) return n;
    } catch {
      /* a dangling link */
    }
  }
  return undefined;
}

/** The identity of the filesystem `dir` is on; throws when `dir` cannot be examined. */
export function volumeIdentity(dir: string, mountinfo: string): VolumeIdentity {
  const st = statSync(dir, { bigint: true });
  const parent = statSync(dirname(dir), { bigint: true });
  const mountpoint = st.dev !== parent.dev || st.ino === parent.ino || listedInMountinfo(dir, mountinfo);
  const uuid = uuidOf(st.dev);
  return { dev: devString(st.dev), ...(uuid ? { uuid } : {}), mountpoint };
}

/** Same filesystem: by UUID when both sides know it, else by device number. */
export function sameFilesystem(a: VolumeIdentity, b: VolumeIdentity): boolean {
  if (a.uuid !== undefined && b.uuid !== undefined) return a.uuid === b.uuid;
  return a.dev === b.dev;
}

export function describeVolume(v: VolumeIdentity): string {
  return `${v.uuid ? `filesystem UUID ${v.uuid}, ` : ""}device ${v.dev}, ${v.mountpoint ? "a mount point" : "not a mount point"}`;
}

export function volumeRecordFile(stateDir: string): string {
  return join(stateDir, "rmtabsync.volume");
}

/** Every control directory's record, by path. */
function readAll(stateDir: string): Record<string, VolumeRecord> {
  const file = volumeRecordFile(stateDir);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new RefusedError(`cannot read ${file}: ${errorMessage(err)}`);
  }
  try {
    const h = JSON.parse(text) as { version?: unknown; volumes?: unknown };
    if (h.version !== 1 || h.volumes === null || typeof h.volumes !== "object") throw new Error("expected version 1 and volumes");
    const out: Record<string, VolumeRecord> = {};
    for (const [dir, v] of Object.entries(h.volumes as Record<string, Record<string, unknown>>)) {
      if (typeof v.markerId !== "string" || typeof v.dev !== "string" || typeof v.mountpoint !== "boolean")
        throw new Error(`entry ${dir} lacks markerId, dev or mountpoint`);
      out[dir] = {
        markerId: v.markerId,
        dev: v.dev,
        ...(typeof v.uuid === "string" ? { uuid: v.uuid } : {}),
        mountpoint: v.mountpoint,
        recorded: String(v.recorded ?? ""),
      };
    }
    return out;
  } catch (err) {
    throw new RefusedError(`${file} is unreadable (${errorMessage(err)}): run 'rmtabsync init' with the control volume mounted to record it again`);
  }
}

/** What init recorded of `controlDir` on this node, if anything. */
export function readVolumeRecord(stateDir: string, controlDir: string): VolumeRecord | undefined {
  return readAll(stateDir)[controlDir];
}

export function writeVolumeRecord(stateDir: string, controlDir: string, rec: VolumeRecord): void {
  const all = readAll(stateDir);
  all[controlDir] = rec;
  const file = volumeRecordFile(stateDir);
  writeFileAtomic(file, `${JSON.stringify({ version: 1, volumes: all }, null, 2)}\n`);
  chmodSync(file, 0o600);
}
