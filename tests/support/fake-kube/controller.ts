import { randomBytes } from 'node:crypto';
import { encodeTerminationMessage } from '../../../server/runtime/kubernetes/fetch-protocol';
import { APP_CONTAINER, DIGEST_ANNOTATION, INIT_CONTAINER, LABELS } from '../../../server/runtime/kubernetes/names';
import { stableJson, templateHash, type KubeObject, type ObjectStore } from './store';

/** How the pods of one deployment (by `deployment_id` label) behave in the fake cluster. */
export type PodBehaviour =
  | { kind: 'ok'; initMs?: number; readyMs?: number; logs?: string[] }
  /** The init container exits with `exitCode`, writing `message` as its termination message. */
  | { kind: 'init-fails'; exitCode: number; message: string; initMs?: number }
  /** The app prints `logs`, then exits with `exitCode` and goes into CrashLoopBackOff. */
  | { kind: 'crash'; logs: string[]; exitCode?: number; initMs?: number }
  /** The app runs but never passes its readiness probe. */
  | { kind: 'never-ready'; logs?: string[]; initMs?: number };

export interface ControllerOptions {
  tickMs: number;
  /** Delay before the controller observes a new generation (status stays stale meanwhile). */
  observeLagMs: number;
  /** How long one "second" of progressDeadlineSeconds lasts here. */
  secondMs: number;
}

export interface LogLine {
  /** Nanoseconds since the epoch. */
  ns: bigint;
  text: string;
}

interface PodSim {
  ns: string;
  name: string;
  createdAt: number;
  behaviour: PodBehaviour;
  stage: 'init' | 'init-failed' | 'running' | 'ready' | 'crashed';
  readyAt?: number;
}

const BASE_NS = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
/** Wall-clock nanoseconds, strictly increasing: log lines get distinct timestamps. */
let lastNs = 0n;
export function nowNs(): bigint {
  const t = BASE_NS + process.hrtime.bigint();
  lastNs = t > lastNs ? t : lastNs + 1n;
  return lastNs;
}

/**
 * The deployment controller, ReplicaSet controller and kubelet of the fake cluster, in one
 * loop: a ReplicaSet per pod template hash, rolling update honouring the Deployment's
 * maxUnavailable (with 0, old pods go only when new ones are ready) and maxSurge, pod status moved along by the
 * behaviour of its deployment, Deployment status and conditions (including
 * ProgressDeadlineExceeded) as the real controller writes them.
 */
export class FakeController {
  /** By deployment id, or by `sha256:<digest>` (known before the deployment id is). */
  readonly behaviours = new Map<string, PodBehaviour>();
  readonly sims = new Map<string, PodSim>();
  /** Container logs: `<ns>/<pod>/<container>` -> lines; `:previous` for the crashed instance. */
  readonly logs = new Map<string, LogLine[]>();
  onLog: (key: string, line: LogLine) => void = () => {};
  onPodGone: (ns: string, pod: string) => void = () => {};
  readonly #seenGeneration = new Map<string, { generation: number; at: number }>();
  readonly #progress = new Map<string, { signature: string; at: number }>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly store: ObjectStore,
    readonly opts: ControllerOptions,
  ) {}

  start(): void {
    this.#timer = setInterval(() => this.tick(), this.opts.tickMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  appendLog(ns: string, pod: string, container: string, text: string, previous = false): void {
    const key = `${ns}/${pod}/${container}${previous ? ':previous' : ''}`;
    const line = { ns: nowNs(), text };
    const lines = this.logs.get(key) ?? [];
    lines.push(line);
    this.logs.set(key, lines);
    if (!previous) this.onLog(key, line);
  }

  tick(): void {
    for (const ns of this.#namespaces()) {
      for (const dep of this.store.peek('deployments', ns)) this.#reconcileDeployment(dep);
      for (const pod of this.store.peek('pods', ns)) this.#runPod(pod);
    }
  }

  #namespaces(): Set<string> {
    const out = new Set<string>();
    for (const sim of this.sims.values()) out.add(sim.ns);
    for (const ns of this.knownNamespaces) out.add(ns);
    return out;
  }

  readonly knownNamespaces = new Set<string>();

  deletePod(ns: string, name: string): void {
    try {
      this.store.delete('pods', ns, name);
    } catch {
      // already gone
    }
    this.sims.delete(`${ns}/${name}`);
    this.onPodGone(ns, name);
  }

  /** Cascade of a deleted Deployment: its ReplicaSets and pods. */
  deleteOwned(ns: string, deploymentUid: string): void {
    for (const rs of this.store.peek('replicasets', ns).filter((r) => r.metadata.ownerReferences?.[0]?.uid === deploymentUid)) {
      for (const pod of this.#podsOf(ns, rs)) this.deletePod(ns, pod.metadata.name);
      this.store.delete('replicasets', ns, rs.metadata.name);
    }
  }

  #podsOf(ns: string, rs: KubeObject): KubeObject[] {
    return this.store.peek('pods', ns).filter((p) => p.metadata.ownerReferences?.[0]?.uid === rs.metadata.uid);
  }

  #reconcileDeployment(dep: KubeObject): void {
    const ns = dep.metadata.namespace;
    const key = `${ns}/${dep.metadata.name}`;
    const generation = dep.metadata.generation ?? 1;
    const seen = this.#seenGeneration.get(key);
    if (!seen || seen.generation !== generation) {
      this.#seenGeneration.set(key, { generation, at: Date.now() });
      this.#progress.delete(key);
      return;
    }
    // Until the lag passes, the controller has not seen this generation: status stays stale.
    if (Date.now() - seen.at < this.opts.observeLagMs) return;

    const template = dep.spec.template;
    const hash = templateHash(template);
    const all = this.store.peek('replicasets', ns).filter((r) => r.metadata.ownerReferences?.[0]?.uid === dep.metadata.uid);
    let current = all.find((r) => r.metadata.labels?.['pod-template-hash'] === hash);
    if (!current) {
      current = this.store.put(
        'replicasets',
        ns,
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name: `${dep.metadata.name}-${hash}`,
            labels: { ...template.metadata.labels, 'pod-template-hash': hash },
            ownerReferences: [{ kind: 'Deployment', name: dep.metadata.name, uid: dep.metadata.uid }],
          },
          spec: { replicas: dep.spec.replicas, selector: dep.spec.selector, template },
        },
        { internal: true },
      );
    }
    const want: number = dep.spec.replicas;
    const newPods = this.#podsOf(ns, current);
    for (const extra of newPods.splice(want)) this.deletePod(ns, extra.metadata.name);
    const isReady = (p: KubeObject) => this.sims.get(`${ns}/${p.metadata.name}`)?.stage === 'ready';
    const newReady = newPods.filter(isReady).length;
    const oldPods = all.filter((r) => r !== current && r.metadata.uid !== current?.metadata.uid).flatMap((r) => this.#podsOf(ns, r));
    // The Deployment's maxUnavailable: with 0, keep as many old pods as new ones are missing.
    const keepOld = Math.max(0, want - rollingBound(dep, 'maxUnavailable') - newReady);
    const byReadiness = [...oldPods].sort((a, b) => Number(isReady(a)) - Number(isReady(b)));
    for (const pod of byReadiness.slice(0, Math.max(0, oldPods.length - keepOld))) this.deletePod(ns, pod.metadata.name);
    const remainingOld = oldPods.length - Math.max(0, oldPods.length - keepOld);
    const oldReady = byReadiness.slice(Math.max(0, oldPods.length - keepOld)).filter(isReady).length;
    // And its maxSurge: never more than want + maxSurge pods, old and new together.
    const room = Math.max(0, want + rollingBound(dep, 'maxSurge') - remainingOld - newPods.length);
    for (let i = 0, missing = want - newPods.length; i < Math.min(missing, room); i++) newPods.push(this.#createPod(ns, current));

    const total = newPods.length + remainingOld;
    const available = newReady + oldReady;
    const complete = newPods.length === want && newReady >= want && remainingOld === 0;
    const signature = stableJson([newPods.length, newReady, remainingOld]);
    const progress = this.#progress.get(key);
    if (!progress || progress.signature !== signature) this.#progress.set(key, { signature, at: Date.now() });
    const since = this.#progress.get(key)?.at ?? Date.now();
    const deadlineMs = (dep.spec.progressDeadlineSeconds ?? 600) * this.opts.secondMs;
    const stamp = new Date().toISOString();
    const progressing = complete
      ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${current.metadata.name}" has successfully progressed.` }
      : Date.now() - since > deadlineMs
        ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${current.metadata.name}" has timed out progressing.` }
        : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${current.metadata.name}" is progressing.` };
    const previous = (dep.status?.conditions ?? []) as Array<{ type: string; status: string; reason: string; lastTransitionTime?: string }>;
    const keepTime = (c: { type: string; status: string; reason: string }) => {
      const before = previous.find((p) => p.type === c.type);
      return before && before.status === c.status && before.reason === c.reason ? before.lastTransitionTime : stamp;
    };
    const availableCond = { type: 'Available', status: available >= want ? 'True' : 'False', reason: available >= want ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable' };
    this.store.setStatus('deployments', ns, dep.metadata.name, {
      observedGeneration: generation,
      replicas: total,
      updatedReplicas: newPods.length,
      readyReplicas: available,
      availableReplicas: available,
      ...(total - available > 0 ? { unavailableReplicas: total - available } : {}),
      conditions: [
        { ...availableCond, lastTransitionTime: keepTime(availableCond) },
        { ...progressing, lastTransitionTime: keepTime(progressing) },
      ],
    });
  }

  #createPod(ns: string, rs: KubeObject): KubeObject {
    const name = `${rs.metadata.name}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const template = rs.spec.template;
    const pod = this.store.put(
      'pods',
      ns,
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { ...rs.metadata.labels }, annotations: { ...template.metadata.annotations }, ownerReferences: [{ kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid }] },
        spec: structuredClone(template.spec),
        status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
      },
      { internal: true },
    );
    const deploymentId = template.metadata.labels?.[LABELS.deploymentId] ?? '';
    const digest = template.metadata.annotations?.[DIGEST_ANNOTATION] ?? '';
    const behaviour = this.behaviours.get(deploymentId) ?? this.behaviours.get(digest) ?? { kind: 'ok' };
    this.sims.set(`${ns}/${name}`, { ns, name, createdAt: Date.now(), behaviour, stage: 'init' });
    return pod;
  }

  /** The kubelet: moves one pod's container statuses along its behaviour's timeline. */
  #runPod(pod: KubeObject): void {
    const sim = this.sims.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
    if (!sim) return;
    const b = sim.behaviour;
    const age = Date.now() - sim.createdAt;
    const initMs = b.initMs ?? 20;
    const at = new Date(sim.createdAt).toISOString();
    const initRunning = { name: INIT_CONTAINER, ready: false, restartCount: 0, image: 'aether-nodejs:20-slim', state: { running: { startedAt: at } } };
    const appWaiting = (reason: string) => ({ name: APP_CONTAINER, ready: false, restartCount: 0, image: 'aether-nodejs:20-slim', state: { waiting: { reason } } });
    const status = (init: unknown, app: unknown, phase: string, ready: boolean) =>
      this.store.setStatus('pods', sim.ns, sim.name, {
        phase,
        startTime: at,
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
        initContainerStatuses: [init],
        containerStatuses: [app],
      });

    if (age < initMs) return status(initRunning, appWaiting('PodInitializing'), 'Pending', false);
    if (b.kind === 'init-fails') {
      const failed = { exitCode: b.exitCode, reason: 'Error', message: b.message, startedAt: at, finishedAt: at };
      sim.stage = 'init-failed';
      return status(
        { ...initRunning, restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: failed } },
        appWaiting('PodInitializing'),
        'Pending',
        false,
      );
    }
    const phases = [
      { phase: 'fetch', ms: 7, message: 'fetched 1234 bytes' },
      { phase: 'verify', ms: 1, message: 'sha256 verified' },
      { phase: 'unpack', ms: 4, message: 'unpacked 3 files, 900 bytes' },
    ] as const;
    const initDone = { ...initRunning, state: { terminated: { exitCode: 0, reason: 'Completed', message: encodeTerminationMessage({ ok: true, phases: [...phases] }) } } };
    const running = { name: APP_CONTAINER, ready: false, started: true, restartCount: 0, image: 'aether-nodejs:20-slim', state: { running: { startedAt: new Date().toISOString() } } };
    // The kubelet cannot start a container whose envFrom Secret does not exist.
    const app = (pod.spec.containers ?? []).find((c: { name: string }) => c.name === APP_CONTAINER);
    const missing = (app?.envFrom ?? []).some((f: { secretRef?: { name: string } }) => f.secretRef && !this.store.get('secrets', sim.ns, f.secretRef.name));
    if (missing) return status(initDone, appWaiting('CreateContainerConfigError'), 'Pending', false);
    if (sim.stage === 'init') {
      sim.stage = 'running';
      for (const line of b.logs ?? []) this.appendLog(sim.ns, sim.name, APP_CONTAINER, line, b.kind === 'crash');
    }
    if (b.kind === 'crash') {
      sim.stage = 'crashed';
      const terminated = { exitCode: b.exitCode ?? 1, reason: 'Error', startedAt: at, finishedAt: at };
      return status(initDone, { ...running, started: false, restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated } }, 'Running', false);
    }
    const readyMs = b.kind === 'ok' ? (b.readyMs ?? 20) : Number.POSITIVE_INFINITY;
    if (age >= initMs + readyMs) {
      if (sim.stage !== 'ready') sim.readyAt = Date.now();
      sim.stage = 'ready';
      return status(initDone, { ...running, ready: true }, 'Running', true);
    }
    return status(initDone, running, 'Running', false);
  }
}

/**
 * spec.strategy.rollingUpdate.maxUnavailable or maxSurge as a pod count: a percentage of the
 * replicas, rounded down for maxUnavailable and up for maxSurge, as the real controller does.
 */
function rollingBound(dep: KubeObject, which: 'maxUnavailable' | 'maxSurge'): number {
  const want: number = dep.spec.replicas ?? 1;
  const raw: unknown = dep.spec.strategy?.rollingUpdate?.[which] ?? '25%';
  if (typeof raw === 'number') return raw;
  const pct = /^(\d+)%$/.exec(String(raw));
  if (!pct) return Number(raw);
  const exact = (want * Number(pct[1])) / 100;
  return which === 'maxSurge' ? Math.ceil(exact) : Math.floor(exact);
}
