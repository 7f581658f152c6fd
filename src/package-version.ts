/**
 * The version of the installed package, read from its package.json at run
 * time: `../package.json` from this module is the package root both from
 * `dist/` (installed, or built) and from `src/` (run through tsx).
 */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  if (typeof manifest !== 'object' || manifest === null || !('version' in manifest) || typeof manifest.version !== 'string') {
    throw new Error('package.json of draas has no version');
  }
  return manifest.version;
}
