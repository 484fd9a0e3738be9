// "The shell way": how the ClusterLabs exportfs resource agent
// (resource-agents, heartbeat/exportfs, backup_rmtab/restore_rmtab) carries
// rmtab entries across a failover. Reproduced here only as far as needed to
// time the same commands on the same data:
//
//   backup  (monitor/stop, per export dir):  grep ":$dir:" rmtab > $dir/.rmtab
//   restore (start, per export dir):         sort -u $dir/.rmtab rmtab > $tmpf &&
//                                             install -o root -m 644 $tmpf rmtab; rm -f $tmpf
//
// Differences from the agent, all outside the timed commands' work:
// - /var/lib/nfs/rmtab is $RMTAB (a node's rmtab in the bench's temp dir);
// - the backup file "$dir/.rmtab" lives under $BACKUPS (the export paths in
//   the bench's rmtab do not exist on this machine);
// - ocf_log is replaced by running the `wc -l` its debug message runs;
// - `install -o root` only when running as root.
// The agent runs with LC_ALL=C (ocf-shellfuncs), so the bench does too.

export function shellFunctions(asRoot: boolean): string {
  const owner = asRoot ? "-o root " : "";
  return `
backup_rmtab() {
	local dir=$1
	local rmtab_backup
	rmtab_backup="$BACKUPS$dir/.rmtab"
	if [ -r "$RMTAB" ]; then
		grep ":$dir:" "$RMTAB" > \${rmtab_backup}
	fi
}
restore_rmtab() {
	local dir=$1
	local rmtab_backup
	rmtab_backup="$BACKUPS$dir/.rmtab"
	if [ -r \${rmtab_backup} ]; then
		local tmpf=\`mktemp\`
		sort -u \${rmtab_backup} "$RMTAB" > $tmpf &&
		install ${owner}-m 644 $tmpf "$RMTAB"
		rm -f $tmpf
		: "Restored \`wc -l \${rmtab_backup}\` rmtab entries"
	else
		echo "rmtab backup \${rmtab_backup} not found or not readable." >&2
		exit 1
	fi
}
`;
}

/** A bash script running `fn` once per export directory, like the agent's `forall fn`. */
export function shellScript(asRoot: boolean, fn: "backup_rmtab" | "restore_rmtab", dirs: readonly string[]): string {
  return `${shellFunctions(asRoot)}\nfor d in ${dirs.map((d) => `'${d}'`).join(" ")}; do ${fn} "$d"; done\n`;
}
