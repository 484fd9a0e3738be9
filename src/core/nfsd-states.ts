// /proc/fs/nfsd/clients/<id>/states: one NFSv4 state per line
// (fs/nfsd/nfs4state.c states_show), e.g.
//   - 0x00000001c1a2...: { type: open, access: rw, deny: --, superblock: "fd:10:13649", filename: "/x", owner: "open id:..." }
//   - 0x...: { type: lock, superblock: "fd:10:13649", filename: "/x", owner: "lock id:..." }
//   - 0x...: { type: deleg, access: r, superblock: "fd:10:13649", filename: "/x" }
// superblock is "%02x:%02x:%ld": major and minor in hex, then the inode. Pure.

export interface NfsdState {
  readonly type: string;
  /** Device as "major:minor" in decimal. */
  readonly device: string;
}

export function parseNfsdStates(text: string): NfsdState[] {
  const out: NfsdState[] = [];
  for (const line of text.split("\n")) {
    const t = /\{\s*type:\s*([a-z_-]+)/.exec(line);
    const sb = /superblock:\s*"([0-9a-fA-F]+):([0-9a-fA-F]+):\d+"/.exec(line);
    if (!t || !sb) continue;
    out.push({ type: t[1]!, device: `${parseInt(sb[1]!, 16)}:${parseInt(sb[2]!, 16)}` });
  }
  return out;
}
