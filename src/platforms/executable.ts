import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';

/** The executable cannot be run: missing, a directory, or without execute permission. */
export class ExecutableError extends Error {
  readonly executable: string;
  readonly reason: 'not-found' | 'not-executable';
  constructor(reason: 'not-found' | 'not-executable', executable: string, message: string) {
    super(message);
    this.name = 'ExecutableError';
    this.reason = reason;
    this.executable = executable;
  }
}

/**
 * The absolute path of `executable`, checked before anything is spawned so a
 * failure can name it. A name with a path separator is resolved against
 * `cwd` (not the child's working directory); a bare name is looked up on
 * `searchPath`: the worker's own PATH, never one an instance supplies (its
 * environment must not choose which program runs).
 */
export async function resolveExecutable(executable: string, searchPath: string | undefined, cwd = process.cwd()): Promise<string> {
  if (executable === '') throw new ExecutableError('not-found', executable, 'executable not found: (empty name)');
  if (executable.includes('/') || executable.includes(path.sep)) {
    const absolute = path.resolve(cwd, executable);
    const problem = await checkRunnable(absolute);
    if (problem === 'not-found') throw new ExecutableError('not-found', absolute, `executable not found: ${absolute}`);
    if (problem === 'not-executable') throw new ExecutableError('not-executable', absolute, `executable is not runnable (permission denied or not a file): ${absolute}`);
    return absolute;
  }
  let denied: string | undefined;
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.resolve(cwd, dir, executable);
    const problem = await checkRunnable(candidate);
    if (problem === undefined) return candidate;
    if (problem === 'not-executable') denied ??= candidate;
  }
  if (denied) throw new ExecutableError('not-executable', denied, `executable is not runnable (permission denied or not a file): ${denied}`);
  throw new ExecutableError('not-found', executable, `executable not found: ${executable} (not on PATH)`);
}

async function checkRunnable(file: string): Promise<'not-found' | 'not-executable' | undefined> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return 'not-executable';
    await access(file, constants.X_OK);
    return undefined;
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'not-found' : 'not-executable';
  }
}
