/**
 * What the Deployment and pods of an instance say about its workload:
 * starting, ready, or failed with the Kubernetes reason (and the exit code
 * when there is one). Pure: a function of the objects the informers hold, so
 * that a relist after a lost watch gives the same answer as the missed
 * events would have.
 */
import { constants as osConstants } from 'node:os';
import type { V1ContainerStatus, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { kubernetesAnnotations, serverContainerName } from './kubernetes-objects.js';

/** Waiting reasons after which the container will not become ready without a change (image, config, mounts). */
const fatalWaitingReasons = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'PreStartHookError',
]);

/** How a pod's server died or why it cannot start. */
export interface PodFailure {
  /** The Kubernetes reason: `CrashLoopBackOff`, `OOMKilled`, `Error`, `ErrImagePull`, `Evicted`, … */
  reason: string;
  message?: string;
  exitCode: number | null;
  signal: string | null;
  /** The pod the failure was seen on. */
  pod: string;
  /** The container restarted since (its log of interest is the previous one). */
  restarted: boolean;
  oomKilled: boolean;
  /** The container's restart count when the failure was seen. */
  restartCount: number;
  /** Whose log tells the failure: the current container (terminated now) or the previous one (the failure is its last state). */
  logOf: 'current' | 'previous';
}

export type StartAssessment =
  | { state: 'starting'; /** What the pod waits for, for a timeout message. */ waiting?: string }
  | { state: 'ready'; pod: string }
  | { state: 'failed'; failure: PodFailure | DeploymentFailure };

export interface DeploymentFailure {
  reason: string;
  message?: string;
  exitCode: null;
  signal: null;
  pod?: undefined;
  restarted: false;
  oomKilled: false;
  restartCount?: undefined;
  logOf?: undefined;
}

/** The generation a pod (template) was rendered for; undefined when the annotation is missing or unreadable. */
export function podGeneration(pod: V1Pod): number | undefined {
  const value = Number(pod.metadata?.annotations?.[kubernetesAnnotations.generation]);
  return Number.isInteger(value) ? value : undefined;
}

/** The start a pod (template) was rendered for (see `kubernetesAnnotations.start`). */
export function podStart(pod: V1Pod): string | undefined {
  return pod.metadata?.annotations?.[kubernetesAnnotations.start];
}

/**
 * Pods that are (or will be) the server of the start `startId`: not being
 * deleted, of that start's template. A pod of an earlier start (of the same
 * generation too, e.g. one that crashed) never counts.
 */
export function currentPods(pods: readonly V1Pod[], startId: string): V1Pod[] {
  return pods
    .filter((pod) => !pod.metadata?.deletionTimestamp && podStart(pod) === startId)
    .sort((a, b) => creationTime(b) - creationTime(a));
}

function creationTime(pod: V1Pod): number {
  const created = pod.metadata?.creationTimestamp;
  if (created === undefined) return 0;
  return created instanceof Date ? created.getTime() : Date.parse(String(created));
}

export function serverStatus(pod: V1Pod): V1ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((status) => status.name === serverContainerName);
}

export function podReady(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') === true;
}

/** The failure a pod shows, if any: a fatal waiting reason, a terminated or restarted container, or a failed pod. */
export function podFailure(pod: V1Pod): PodFailure | undefined {
  const name = pod.metadata?.name ?? '';
  const status = serverStatus(pod);
  const restartCount = status?.restartCount ?? 0;
  const restarted = restartCount > 0;
  const terminated = status?.state?.terminated;
  if (terminated) return terminatedFailure(name, terminated, restarted, restartCount, 'current');
  const last = status?.lastState?.terminated;
  const waiting = status?.state?.waiting;
  if (waiting?.reason && fatalWaitingReasons.has(waiting.reason)) {
    // CrashLoopBackOff: the exit that caused it is the last state's.
    const exit = last ? terminatedFailure(name, last, restarted, restartCount, 'previous') : undefined;
    return {
      reason: waiting.reason,
      ...(waiting.message ? { message: waiting.message } : exit?.message ? { message: exit.message } : {}),
      exitCode: exit?.exitCode ?? null,
      signal: exit?.signal ?? null,
      pod: name,
      restarted,
      oomKilled: exit?.oomKilled ?? false,
      restartCount,
      logOf: last ? 'previous' : 'current',
    };
  }
  // Restarted behind our back and running again: the server died once already.
  if (last && restarted) return terminatedFailure(name, last, true, restartCount, 'previous');
  if (pod.status?.phase === 'Failed') {
    return { reason: pod.status.reason ?? 'Failed', ...(pod.status.message ? { message: pod.status.message } : {}), exitCode: null, signal: null, pod: name, restarted, oomKilled: false, restartCount, logOf: 'current' };
  }
  return undefined;
}

function terminatedFailure(
  pod: string,
  terminated: { exitCode: number; signal?: number; reason?: string; message?: string },
  restarted: boolean,
  restartCount: number,
  logOf: 'current' | 'previous',
): PodFailure {
  const exitCode = typeof terminated.exitCode === 'number' ? terminated.exitCode : null;
  const signalNumber = terminated.signal ?? (exitCode !== null && exitCode > 128 ? exitCode - 128 : undefined);
  const reason = terminated.reason ?? (exitCode === 0 ? 'Completed' : 'Error');
  return {
    reason,
    ...(terminated.message ? { message: terminated.message } : {}),
    exitCode,
    signal: signalNumber === undefined ? null : signalName(signalNumber),
    pod,
    restarted,
    oomKilled: reason === 'OOMKilled',
    restartCount,
    logOf,
  };
}

/** Why a pod is not running yet (unschedulable, pulling, creating), for messages. */
export function podWaiting(pod: V1Pod): string | undefined {
  const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
  if (scheduled?.status === 'False') return `${scheduled.reason ?? 'Unschedulable'}${scheduled.message ? `: ${scheduled.message}` : ''}`;
  const waiting = serverStatus(pod)?.state?.waiting;
  if (waiting?.reason) return `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
  if (serverStatus(pod)?.state?.running && !podReady(pod)) return 'running, not ready yet (GET /health)';
  return pod.status?.phase ? `pod ${pod.status.phase}` : undefined;
}

/** A Deployment condition that means no pod will come (quota, progress deadline). */
export function deploymentFailure(deployment: V1Deployment): DeploymentFailure | undefined {
  for (const condition of deployment.status?.conditions ?? []) {
    const failed =
      (condition.type === 'ReplicaFailure' && condition.status === 'True') ||
      (condition.type === 'Progressing' && condition.status === 'False' && condition.reason === 'ProgressDeadlineExceeded');
    if (failed) {
      return { reason: condition.reason ?? condition.type, ...(condition.message ? { message: condition.message } : {}), exitCode: null, signal: null, restarted: false, oomKilled: false };
    }
  }
  return undefined;
}

/**
 * Where the start `startId` stands. Ready needs the Deployment
 * controller to have seen the current spec (`observedGeneration >=
 * generation`), a ready replica, and a ready pod of the current template: a
 * pod of the previous run, still terminating, does not count.
 */
export function assessStart(deployment: V1Deployment | undefined, pods: readonly V1Pod[], startId: string): StartAssessment {
  if (!deployment) return { state: 'starting', waiting: 'the Deployment is not visible yet' };
  // The cache may still hold the Deployment as an earlier start left it (with that start's conditions).
  if (deployment.metadata?.annotations?.[kubernetesAnnotations.start] !== startId) return { state: 'starting', waiting: 'the Deployment of this start is not visible yet' };
  const current = currentPods(pods, startId);
  for (const pod of current) {
    const failure = podFailure(pod);
    if (failure) return { state: 'failed', failure };
  }
  const failed = deploymentFailure(deployment);
  if (failed) return { state: 'failed', failure: failed };
  const observed = deployment.status?.observedGeneration ?? 0;
  const wanted = deployment.metadata?.generation ?? 0;
  const readyPod = current.find(podReady);
  if (observed >= wanted && (deployment.status?.readyReplicas ?? 0) >= 1 && readyPod) return { state: 'ready', pod: readyPod.metadata?.name ?? '' };
  const waiting = current.map(podWaiting).find((reason) => reason !== undefined);
  return { state: 'starting', ...(waiting ? { waiting } : observed < wanted ? { waiting: 'the Deployment controller has not seen the new spec yet' } : { waiting: 'no pod yet' }) };
}

/** Where the running workload of the start `startId` stands: a failure (crash, eviction), else whether a pod is ready. */
export function assessRunning(pods: readonly V1Pod[], startId: string): { failure: PodFailure } | { failure?: undefined; ready: boolean; pod?: string } {
  const current = currentPods(pods, startId);
  for (const pod of current) {
    const failure = podFailure(pod);
    if (failure) return { failure };
  }
  const readyPod = current.find(podReady);
  return readyPod ? { ready: true, pod: readyPod.metadata?.name ?? '' } : { ready: false };
}

/** The exit of the server container as last seen on a pod (a stop observes exit code 0 here), if any. */
export function observedExit(pod: V1Pod): { exitCode: number | null; signal: string | null; reason?: string } | undefined {
  const terminated = serverStatus(pod)?.state?.terminated;
  if (!terminated) return undefined;
  const failure = terminatedFailure(pod.metadata?.name ?? '', terminated, false, 0, 'current');
  return { exitCode: failure.exitCode, signal: failure.signal, reason: failure.reason };
}

/** `CrashLoopBackOff (exit code 1): back-off restarting failed container` and the like. */
export function describeFailure(failure: PodFailure | DeploymentFailure): string {
  const exit = failure.signal ? ` (killed by ${failure.signal})` : failure.exitCode !== null ? ` (exit code ${failure.exitCode})` : '';
  return `${failure.reason}${exit}${failure.message ? `: ${failure.message}` : ''}`;
}

function signalName(number: number): string | null {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === number) return name;
  return null;
}

/** What the kubelet's events say that the pod status does not: a volume that cannot be mounted because its ConfigMap, Secret or claim is missing. */
export interface PodEventFacts {
  type?: string;
  reason?: string;
  message?: string;
  involvedObject: { name?: string; uid?: string };
}

/**
 * A mount that cannot succeed without a change (the kubelet keeps the
 * container `ContainerCreating` and retries, reporting `FailedMount`
 * events), or undefined. Transient mount trouble (attach timeouts) is not
 * one: only a referenced object that does not exist.
 */
export function mountFailure(events: readonly PodEventFacts[], pod: { name: string; uid?: string | undefined }): DeploymentFailure | undefined {
  for (const event of events) {
    const about = event.involvedObject;
    if (about.name !== pod.name || (pod.uid !== undefined && about.uid !== undefined && about.uid !== pod.uid)) continue;
    if (event.type !== 'Warning' || event.reason !== 'FailedMount' || !/not found/i.test(event.message ?? '')) continue;
    return { reason: 'FailedMount', ...(event.message ? { message: event.message } : {}), exitCode: null, signal: null, restarted: false, oomKilled: false };
  }
  return undefined;
}
