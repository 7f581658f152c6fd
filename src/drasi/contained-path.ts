import path from 'node:path';

/**
 * The rule for file-system paths in a config: they must stay inside the
 * instance's working directory, which the server runs in (a process's
 * `<data dir>/instances/<id>/`, a container's `/app`).
 *
 * A path is accepted only when it is written out literally as a relative,
 * `/`-separated path below the working directory: no absolute path, no `..`
 * segment (even one that would come back: a symlink on the way could lead
 * elsewhere), no `~`, no backslash, no control characters (NUL ends a path
 * early in C), no `${VAR}` reference (the environment would decide where it
 * points), not the working directory itself, and not one of the files DRaaS
 * keeps there itself (`INSTANCE_DIR_ENTRIES`).
 */

/**
 * What DRaaS keeps in an instance's working directory, as first path segments:
 * the process driver's `config.yaml`, `workload.json` and `server.log` (with
 * their rotations and temporary files, which start with the same name), and
 * the Docker image's `config/` directory that holds the config file.
 */
export const INSTANCE_DIR_ENTRIES = ['config.yaml', 'workload.json', 'server.log', 'config'] as const;

/** Why `value` is not a path inside the working directory; undefined when it is one. */
export function containedPathProblem(value: string): string | undefined {
  if (value === '') return 'must not be empty';
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'must not contain control characters (NUL, newline, ...)';
  if (value.includes('\\')) return 'must not contain a backslash; separate directories with "/"';
  if (value.includes('${')) return "must not contain a ${VAR} reference: the environment would decide where it points";
  if (value.startsWith('/')) return "must be relative to the instance's working directory, not absolute";
  if (value.startsWith('~')) return 'must not start with "~"';
  if (value.split('/').includes('..')) return `must not contain ".." (it must stay inside the instance's working directory)`;
  const normal = path.posix.normalize(value);
  if (normal === '.' || normal === './') return "must name something inside the instance's working directory, not the directory itself";
  const first = normal.split('/')[0] ?? '';
  const reserved = INSTANCE_DIR_ENTRIES.find((entry) => (entry === 'config' ? first === entry : first.startsWith(entry)));
  if (reserved !== undefined) return `must not name "${first}": DRaaS keeps its own ${reserved} there`;
  return undefined;
}
