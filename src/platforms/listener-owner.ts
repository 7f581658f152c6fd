import { closeSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';

/**
 * Whether the TCP listener on `port` belongs to process `pid` or a member of
 * its process group (a wrapper script's child) — Linux: the socket inodes
 * among `/proc/<pid>/fd` against the LISTEN entries of `/proc/net/tcp` and
 * `/proc/net/tcp6`. Undefined when it cannot be told (no /proc). Lets a start
 * tell its own server's `/health` from another program's that happens to
 * answer on the same port.
 *
 * A start waits for this after its /health answered, so it is read the
 * cheap way. The kernel makes a table as it is read, listening sockets first,
 * then every bucket of the established hash (hundreds of thousands: ~1 ms of
 * CPU per table, far more on a busy host); so the tables are read a few KiB
 * at a time and the reading stops once the server's own listener is seen
 * (usually in the first read). Synchronously: /proc is no disk, and through
 * the thread pool each open, read and readlink cost a hop of the event loop.
 * Only the rare search of the process group stays asynchronous.
 */
export async function listenerOwnedBy(pid: number, port: number): Promise<boolean | undefined> {
  const own = socketInodes(pid);
  const listeners = new Set<string>();
  let readAny = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const found = readListeners(table, port, own);
    if (found === undefined) continue;
    readAny = true;
    if (found.own) return true;
    for (const inode of found.listeners) listeners.add(inode);
  }
  // Nothing visible listens there (another network namespace?): cannot tell.
  if (!readAny || listeners.size === 0) return undefined;
  if (own === undefined) return undefined;
  for (const member of await groupMembers(pid)) {
    if (member === pid) continue;
    const inodes = socketInodes(member);
    if (inodes !== undefined && intersects(inodes, listeners)) return true;
  }
  return false;
}

const CHUNK_BYTES = 4096;

/**
 * The inodes of the sockets listening on `port` in one `/proc/net/tcp*`
 * table, read up to the first of `own`'s (then `own` is true) or to the end.
 * Undefined when the table cannot be read.
 */
function readListeners(table: string, port: number, own: Set<string> | undefined): { listeners: Set<string>; own: boolean } | undefined {
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let fd: number;
  try {
    fd = openSync(table, 'r');
  } catch {
    return undefined;
  }
  const listeners = new Set<string>();
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let rest = '';
    let header = true;
    for (;;) {
      const length = readSync(fd, buffer, 0, CHUNK_BYTES, null);
      const lines = (rest + buffer.toString('latin1', 0, length)).split('\n');
      // The last piece may be a line cut by the read (or '' after the final newline).
      rest = length === 0 ? '' : (lines.pop() ?? '');
      for (const line of lines) {
        if (header) {
          header = false;
          continue;
        }
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
        const fields = line.trim().split(/\s+/);
        if (fields.length < 10) continue;
        const [, local, , state, , , , , , inode] = fields;
        if (state !== '0A' || !local?.endsWith(portHex) || inode === undefined) continue;
        listeners.add(inode);
        if (own?.has(inode)) return { listeners, own: true };
      }
      if (length === 0) return { listeners, own: false };
    }
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
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

/** The inodes of the sockets among the process's descriptors; undefined when they cannot be read (gone, not ours). */
function socketInodes(pid: number): Set<string> | undefined {
  const dir = `/proc/${pid}/fd`;
  let descriptors: string[];
  try {
    descriptors = readdirSync(dir);
  } catch {
    return undefined;
  }
  const inodes = new Set<string>();
  for (const fd of descriptors) {
    let target: string;
    try {
      target = readlinkSync(`${dir}/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1]) inodes.add(match[1]);
  }
  return inodes;
}
