/**
 * A platform's SDK (dockerode; later @kubernetes/client-node) is loaded only
 * when that platform is used: its driver module is imported on demand, so a
 * process-only control plane neither loads nor needs it. The SDKs are
 * optional dependencies of the package: installed by default, left out by
 * `npm install --omit=optional` (or by an install that failed to build
 * them). A platform whose SDK is missing fails with the package to install.
 */
import type { PlatformType } from './driver.js';

export class MissingPlatformSdkError extends Error {
  override name = 'MissingPlatformSdkError';

  constructor(
    readonly platform: PlatformType,
    readonly packageName: string,
    options?: ErrorOptions,
  ) {
    super(
      `the ${platform} platform needs the package "${packageName}", which is not installed ` +
        `(an optional dependency of draas: --omit=optional or a failed install leaves it out); run "npm install ${packageName}"`,
      options,
    );
  }
}

/** Whether `error` is Node's failure to find the package itself (not a file inside it, not a package it needs). */
function isMissingPackage(error: unknown, packageName: string): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error) || error.code !== 'ERR_MODULE_NOT_FOUND') return false;
  // "Cannot find package 'dockerode' imported from /…/dist/platforms/docker.js"
  return error instanceof Error && error.message.includes(`package '${packageName}'`);
}

/**
 * Runs `load` — an `import()` of the platform's driver module, which imports
 * `packageName` — and turns "package not found" into a
 * `MissingPlatformSdkError`. The import stays a literal in the caller, so its
 * types are those of the module.
 */
export async function loadPlatformModule<T>(platform: PlatformType, packageName: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissingPackage(error, packageName)) throw new MissingPlatformSdkError(platform, packageName, { cause: error });
    throw error;
  }
}
