/**
 * Embedded mode's tokens: `<dataDir>/auth/tokens.json` (owner-only), written
 * atomically under a lock file so that two `draas tokens` commands (or one
 * and the server) never lose each other's change.
 *
 * The server re-reads the file when its modification time or size changes
 * (one stat per verification, at most every `recheckMs`, default 1 s), so a
 * `draas tokens revoke` in another process takes effect within that bound.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { directoryMode, fileMode, removeFile, writeFileAtomic } from '../store/atomic-file.js';
import type { Role } from '../http/operations.js';
import { checkRole, checkTokenName, findToken, hashToken, newToken, parseTokenRecord, tokenInfo, TokenStoreError, type TokenIdentity, type TokenInfo, type TokenRecord, type TokenStore } from './tokens.js';

const LOCK_WAIT_MS = 5_000;
/** A lock older than this is left by a crashed command: taken over. */
const STALE_LOCK_MS = 30_000;

export interface FileTokenStoreOptions {
  /** How often a verification checks the file for changes at most (default 1000 ms). */
  recheckMs?: number;
  now?: () => number;
}

export class FileTokenStore implements TokenStore {
  readonly file: string;
  private readonly lockFile: string;
  private readonly recheckMs: number;
  private readonly now: () => number;
  private cache: { records: TokenRecord[]; stamp: string; checkedAt: number } | undefined;

  constructor(dataDir: string, options: FileTokenStoreOptions = {}) {
    const directory = path.join(dataDir, 'auth');
    this.file = path.join(directory, 'tokens.json');
    this.lockFile = path.join(directory, 'tokens.lock');
    this.recheckMs = options.recheckMs ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  async add(name: string, role: Role): Promise<{ token: string; info: TokenInfo }> {
    checkTokenName(name);
    checkRole(role);
    return this.locked(async (records) => {
      if (records.some((record) => record.name === name)) throw new TokenStoreError(`a token named "${name}" exists; revoke it first or choose another name`);
      const token = newToken();
      const record: TokenRecord = { name, role, hash: hashToken(token), createdAt: new Date(this.now()).toISOString() };
      return { records: [...records, record], result: { token, info: tokenInfo(record) } };
    });
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.read()).records.map(tokenInfo);
  }

  async revoke(name: string): Promise<void> {
    await this.locked(async (records) => {
      if (!records.some((record) => record.name === name)) throw new TokenStoreError(`no token named ${JSON.stringify(name)}`);
      return { records: records.filter((record) => record.name !== name), result: undefined };
    });
  }

  async verify(token: string): Promise<TokenIdentity | undefined> {
    const at = this.now();
    if (this.cache === undefined || at - this.cache.checkedAt >= this.recheckMs) {
      const stamp = await this.stamp();
      if (this.cache === undefined || stamp !== this.cache.stamp) this.cache = { ...(await this.read()), checkedAt: at };
      else this.cache.checkedAt = at;
    }
    const found = findToken(this.cache.records, token);
    return found && { name: found.name, role: found.role };
  }

  async close(): Promise<void> {}

  /** mtime and size: what changes when another process rewrites the file. */
  private async stamp(): Promise<string> {
    try {
      const stat = await fs.stat(this.file);
      return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
      throw error;
    }
  }

  private async read(): Promise<{ records: TokenRecord[]; stamp: string }> {
    const stamp = await this.stamp();
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], stamp };
      throw error;
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw new TokenStoreError(`${this.file} is not JSON; fix or remove it`);
    }
    const listed = typeof document === 'object' && document !== null && Array.isArray((document as { tokens?: unknown }).tokens) ? (document as { tokens: unknown[] }).tokens : undefined;
    if (listed === undefined) throw new TokenStoreError(`${this.file} has no "tokens" list; fix or remove it`);
    return { records: listed.map(parseTokenRecord).filter((record): record is TokenRecord => record !== undefined), stamp };
  }

  /** Runs a read-modify-write of the file under the lock. */
  private async locked<T>(change: (records: TokenRecord[]) => Promise<{ records: TokenRecord[]; result: T }>): Promise<T> {
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: directoryMode });
    await this.lock();
    try {
      const { records, result } = await change((await this.read()).records);
      await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, tokens: records }, null, 2)}\n`, { durable: true });
      this.cache = undefined;
      return result;
    } finally {
      await removeFile(this.lockFile);
    }
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const handle = await fs.open(this.lockFile, 'wx', fileMode);
        await handle.close();
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const stat = await fs.stat(this.lockFile).catch(() => undefined);
      if (stat !== undefined && Date.now() - stat.mtimeMs > STALE_LOCK_MS) {
        await removeFile(this.lockFile);
        continue;
      }
      if (Date.now() > deadline) throw new TokenStoreError(`${this.lockFile} is held by another command; try again (remove it if no draas tokens command runs)`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
