/**
 * The Kubernetes driver's writes of an instance's objects: create or replace
 * (with the current resourceVersion, again when another writer came
 * between), scale, delete and wait until deleted. Idempotent: what exists is
 * replaced, what is gone is not an error.
 */
import type { AppsV1Api, CoreV1Api, V1ConfigMap, V1Deployment, V1PersistentVolumeClaim, V1Service } from '@kubernetes/client-node';
import { claimName, configMapName, deploymentName, serviceName } from './kubernetes-objects.js';
import { EngineUnavailableError } from './engine-guard.js';
import { describeApiError, statusOf } from './kubernetes-watch.js';

/** Attempts of a read-modify-write that met a newer resourceVersion. */
const CONFLICT_RETRIES = 5;

export class InstanceWrites {
  constructor(
    private readonly apps: AppsV1Api,
    private readonly core: CoreV1Api,
  ) {}

  async applyDeployment(deployment: V1Deployment): Promise<V1Deployment> {
    const name = deployment.metadata!.name!;
    const namespace = deployment.metadata!.namespace!;
    return this.createOrReplace(
      () => this.apps.createNamespacedDeployment({ namespace, body: deployment }),
      () => this.apps.readNamespacedDeployment({ name, namespace }),
      (current) => this.apps.replaceNamespacedDeployment({ name, namespace, body: withVersion(deployment, current) }),
    );
  }

  async applyConfigMap(configMap: V1ConfigMap): Promise<V1ConfigMap> {
    const name = configMap.metadata!.name!;
    const namespace = configMap.metadata!.namespace!;
    return this.createOrReplace(
      () => this.core.createNamespacedConfigMap({ namespace, body: configMap }),
      () => this.core.readNamespacedConfigMap({ name, namespace }),
      (current) => this.core.replaceNamespacedConfigMap({ name, namespace, body: withVersion(configMap, current) }),
    );
  }

  async applyService(service: V1Service): Promise<V1Service> {
    const name = service.metadata!.name!;
    const namespace = service.metadata!.namespace!;
    return this.createOrReplace(
      () => this.core.createNamespacedService({ namespace, body: service }),
      () => this.core.readNamespacedService({ name, namespace }),
      (current) => {
        // The cluster IP is the API server's and immutable: carry it over.
        const body = withVersion(service, current);
        body.spec = { ...body.spec, ...(current.spec?.clusterIP ? { clusterIP: current.spec.clusterIP } : {}), ...(current.spec?.clusterIPs ? { clusterIPs: current.spec.clusterIPs } : {}) };
        return this.core.replaceNamespacedService({ name, namespace, body });
      },
    );
  }

  /** A claim is created once and kept across starts (its spec is immutable; its data is the point). */
  async ensureClaim(claim: V1PersistentVolumeClaim): Promise<void> {
    try {
      await this.core.createNamespacedPersistentVolumeClaim({ namespace: claim.metadata!.namespace!, body: claim });
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
  }

  /** Create; when it exists, replace it with the current resourceVersion (again when a writer came between). */
  async createOrReplace<T extends { metadata?: { resourceVersion?: string } }>(create: () => Promise<T>, read: () => Promise<T>, replace: (current: T) => Promise<T>): Promise<T> {
    try {
      return await create();
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
    for (let attempt = 0; ; attempt++) {
      const current = await read();
      try {
        return await replace(current);
      } catch (error) {
        if (statusOf(error) !== 409 || attempt >= CONFLICT_RETRIES) throw error;
      }
    }
  }

  /** Sets the Deployment's replicas (read, modify, replace with its resourceVersion). A missing Deployment has nothing to scale. */
  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let current: V1Deployment;
      try {
        current = await this.apps.readNamespacedDeployment({ name, namespace });
      } catch (error) {
        if (statusOf(error) === 404) return;
        throw error;
      }
      if (current.spec?.replicas === replicas) return;
      current.spec = { ...current.spec!, replicas };
      try {
        await this.apps.replaceNamespacedDeployment({ name, namespace, body: current });
        return;
      } catch (error) {
        if (statusOf(error) === 404) return;
        if (statusOf(error) !== 409 || attempt >= CONFLICT_RETRIES) throw error;
      }
    }
  }

  /**
   * Deletes every object of the instance (the Deployment in the foreground:
   * it goes once its ReplicaSets and pods did; a claim once no pod uses it)
   * and waits until they are gone, at most `timeoutMs`.
   */
  async deleteInstanceObjects(namespace: string, instanceId: string, timeoutMs: number): Promise<void> {
    const objects: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      [
        `Deployment ${deploymentName(instanceId)}`,
        () => this.apps.deleteNamespacedDeployment({ name: deploymentName(instanceId), namespace, propagationPolicy: 'Foreground' }),
        () => this.apps.readNamespacedDeployment({ name: deploymentName(instanceId), namespace }),
      ],
      [
        `Service ${serviceName(instanceId)}`,
        () => this.core.deleteNamespacedService({ name: serviceName(instanceId), namespace }),
        () => this.core.readNamespacedService({ name: serviceName(instanceId), namespace }),
      ],
      [
        `ConfigMap ${configMapName(instanceId)}`,
        () => this.core.deleteNamespacedConfigMap({ name: configMapName(instanceId), namespace }),
        () => this.core.readNamespacedConfigMap({ name: configMapName(instanceId), namespace }),
      ],
      [
        `PersistentVolumeClaim ${claimName(instanceId)}`,
        () => this.core.deleteNamespacedPersistentVolumeClaim({ name: claimName(instanceId), namespace }),
        () => this.core.readNamespacedPersistentVolumeClaim({ name: claimName(instanceId), namespace }),
      ],
    ];
    for (const [what, remove] of objects) {
      try {
        await remove();
      } catch (error) {
        if (error instanceof EngineUnavailableError) throw error;
        if (statusOf(error) !== 404) throw new Error(`could not delete ${what}: ${describeApiError(error)}`);
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (const [what, , read] of objects) {
      while (await exists(read)) {
        if (Date.now() > deadline) throw new Error(`${what} is still there ${timeoutMs} ms after its deletion`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }
}

function withVersion<T extends { metadata?: { resourceVersion?: string } }>(desired: T, current: { metadata?: { resourceVersion?: string } }): T {
  return { ...desired, metadata: { ...desired.metadata, ...(current.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}) } };
}

async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw error;
  }
}
