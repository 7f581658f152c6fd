import { readFile, readdir, readlink } from 'node:fs/promises';

/**
 * Whether the TCP listener on `port` belongs to process `pid` or a member of
 * its process group (a wrapper script's child) — Linux: the socket inodes
 * among `/proc/<pid>/fd` against the LISTEN entries of `/proc/net/tcp` and
 * `/proc/net/tcp6`. Undefined when it cannot be told (no /proc). Lets a start
 * tell its own server's `/health` from another program's that happens to
 * answer on the same port.
 */
export async function listenerOwnedBy(pid: number, port: number): Promise<boolean | undefined> {
  // Read side by side (a start waits for this after its /health answered); a failure to read the pid's descriptors is kept for below.
  const [listeners, own] = await Promise.all([listeningInodes(port), socketInodes(pid).catch(() => undefined)]);
  // Nothing visible listens there (another network namespace?): cannot tell.
  if (listeners === undefined || listeners.size === 0) return undefined;
  if (own === undefined) return undefined;
  if (intersects(own, listeners)) return true;
  for (const member of await groupMembers(pid)) {
    if (member === pid) continue;
    try {
      if (intersects(await socketInodes(member), listeners)) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

/** Inodes of the sockets listening on `port`, or undefined without /proc/net. */
async function listeningInodes(port: number): Promise<Set<string> | undefined> {
  const inodes = new Set<string>();
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let readAny = false;
  const texts = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((table) => readFile(table, 'utf8').catch(() => undefined)));
  for (const text of texts) {
    if (text === undefined) continue;
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const [, local, , state, , , , , , inode] = fields;
      if (state === '0A' && local?.endsWith(portHex) && inode !== undefined) inodes.add(inode);
    }
  }
  return readAny ? inodes : undefined;
}

function intersects(a: Set<string>, b: Set<string>): boolean {
  for (const value of a) if (b.has(value)) return true;
  return false;
}

/** Pids whose process group is `pgid` (field 5 of /proc/<pid>/stat). */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return members;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[5 - 3]) === pgid) members.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

async function socketInodes(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  const dir = `/proc/${pid}/fd`;
  // All descriptors at once rather than one readlink after the other.
  const targets = await Promise.all((await readdir(dir)).map((fd) => readlink(`${dir}/${fd}`).catch(() => '')));
  for (const target of targets) {
    // '' when the descriptor closed meanwhile.
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1]) inodes.add(match[1]);
  }
  return inodes;
}
