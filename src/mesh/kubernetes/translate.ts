/**
 * Kubernetes manifests → a mesh file (docs/kubernetes.md). An `apps/v1` Deployment is a
 * service's replicas (its pod template's first container is the command, through the image
 * map); the `v1` Service that selects its pods names the service and exposes its port, its
 * targetPort is the port the app listens on. A Service with several ports registers each as a
 * service of its own, `<service>-<port name>` ({@link portServiceName}), every replica for each. Probes become the health check, and
 * terminationGracePeriodSeconds the drain. Every field that has no meaning here is listed
 * once as a warning; problems (a missing image mapping, a Service that selects nothing…) are
 * all collected, each at its file and line.
 */
import { COMMAND_ANNOTATION, BUILD_ANNOTATION, annotationCommand, missingImageHint, type ImageMap } from './image-map.js';
import { lineIn, type SourceDocument, type SourceProblem } from './documents.js';

type Path = ReadonlyArray<string | number>;
type Fields = Record<string, unknown>;

export interface Translation {
  /** A mesh file's contents (before validation), services in the order of their Deployments. */
  readonly mesh: { services: Record<string, Fields> };
  readonly warnings: SourceProblem[];
  readonly problems: SourceProblem[];
}

const asFields = (v: unknown): Fields | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Fields : undefined);
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const asNumber = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** `spec.template.spec.containers[0].image`. */
function dotted(path: Path): string {
  return path.reduce<string>((out, s) => (typeof s === 'number' ? `${out}[${s}]` : out === '' ? s : `${out}.${s}`), '');
}

function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',') || '(none)';
}

function stringMap(v: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(asFields(v) ?? {}).map(([k, val]) => [k, String(val)]));
}

class Collector {
  readonly warnings: SourceProblem[] = [];
  readonly problems: SourceProblem[] = [];

  warn(source: SourceDocument, path: Path, message: string): void {
    this.warnings.push({ file: source.file, line: lineIn(source, path), message: `${dotted(path)}: ${message}` });
  }

  fail(source: SourceDocument, path: Path, message: string): void {
    this.problems.push({ file: source.file, line: lineIn(source, path), message });
  }

  /** Warn about every key of `value` not in `known`. */
  unsupported(source: SourceDocument, path: Path, value: unknown, known: readonly string[]): void {
    for (const key of Object.keys(asFields(value) ?? {})) {
      if (!known.includes(key)) this.warn(source, [...path, key], 'not supported by trellis up: ignored');
    }
  }
}

const METADATA_FIELDS = ['name', 'labels', 'annotations', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields'];

function checkMetadata(c: Collector, source: SourceDocument, path: Path, metadata: unknown): void {
  c.unsupported(source, path, metadata, METADATA_FIELDS);
  const namespace = asString(asFields(metadata)?.['namespace']);
  if (namespace !== undefined && namespace !== 'default') c.warn(source, [...path, 'namespace'], `namespace ${JSON.stringify(namespace)} is ignored: trellis up runs one mesh, without namespaces`);
}

interface Deployment {
  readonly source: SourceDocument;
  readonly name: string;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly fields: Fields;
}

interface Service {
  readonly source: SourceDocument;
  readonly name: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly Fields[];
}

const SPEC = ['spec'];
const TEMPLATE = ['spec', 'template'];
const POD = ['spec', 'template', 'spec'];

function readDeployment(c: Collector, source: SourceDocument, fields: Fields): Deployment | undefined {
  const name = asString(asFields(fields['metadata'])?.['name']);
  if (name === undefined) { c.fail(source, ['metadata'], 'Deployment without metadata.name'); return undefined; }
  checkMetadata(c, source, ['metadata'], fields['metadata']);
  const spec = asFields(fields['spec']) ?? {};
  c.unsupported(source, SPEC, spec, ['replicas', 'selector', 'template']);
  const template = asFields(spec['template']) ?? {};
  c.unsupported(source, TEMPLATE, template, ['metadata', 'spec']);
  checkMetadata(c, source, [...TEMPLATE, 'metadata'], template['metadata']);
  const podLabels = stringMap(asFields(template['metadata'])?.['labels']);
  const selector = asFields(spec['selector']);
  c.unsupported(source, [...SPEC, 'selector'], selector, ['matchLabels']);
  const matchLabels = stringMap(selector?.['matchLabels']);
  const mismatch = Object.entries(matchLabels).filter(([k, v]) => podLabels[k] !== v);
  if (mismatch.length > 0) {
    c.fail(source, [...SPEC, 'selector', 'matchLabels'], `Deployment ${name}: spec.selector.matchLabels ${labelText(matchLabels)} does not match the pod template's labels ${labelText(podLabels)} (Kubernetes refuses it too): make them the same`);
  }
  return { source, name, podLabels, fields };
}

/** A Service port as `80 → 8080` or `metrics 9090 → 9090`. */
function portText(port: Fields | undefined): string {
  const name = asString(port?.['name']);
  return `${name === undefined ? '' : `${name} `}${String(port?.['port'])} → ${String(port?.['targetPort'] ?? port?.['port'])}`;
}

/** The containers' ports, by name or number, for messages: `http (8080), 9090`. */
function containerPortsText(container: Fields | undefined): string {
  return asList(container?.['ports']).map((p) => {
    const port = asFields(p);
    const name = asString(port?.['name']);
    return name === undefined ? String(port?.['containerPort']) : `${name} (${String(port?.['containerPort'])})`;
  }).join(', ') || 'none';
}

function readService(c: Collector, source: SourceDocument, fields: Fields): Service | undefined {
  const name = asString(asFields(fields['metadata'])?.['name']);
  if (name === undefined) { c.fail(source, ['metadata'], 'Service without metadata.name'); return undefined; }
  checkMetadata(c, source, ['metadata'], fields['metadata']);
  const spec = asFields(fields['spec']) ?? {};
  c.unsupported(source, SPEC, spec, ['selector', 'ports', 'type']);
  const type = asString(spec['type']);
  if (type !== undefined && !['ClusterIP', 'NodePort', 'LoadBalancer'].includes(type)) c.warn(source, [...SPEC, 'type'], `type ${type} is not supported: the Service is exposed on 127.0.0.1 like any other`);
  const selector = stringMap(spec['selector']);
  if (Object.keys(selector).length === 0) c.fail(source, SPEC, `Service ${name} has no spec.selector: trellis up needs it to find the Deployment whose pods it serves`);
  const ports = asList(spec['ports']).map(asFields).filter((p): p is Fields => p !== undefined);
  ports.forEach((port, i) => {
    const path = [...SPEC, 'ports', i];
    c.unsupported(source, path, port, ['port', 'targetPort', 'name', 'protocol', 'appProtocol']);
    const protocol = asString(port['protocol']) ?? 'TCP';
    if (protocol !== 'TCP') c.fail(source, [...path, 'protocol'], `Service ${name}: protocol ${protocol} is not supported (TCP only)`);
    if (ports.length > 1 && asString(port['name']) === undefined) {
      c.fail(source, path, `Service ${name} has ${ports.length} ports, and each needs a name (Kubernetes requires it too): trellis up registers each as service ${name}-<name>, e.g. name: http`);
    }
  });
  return { source, name, selector, ports };
}

/**
 * The service name of each port of a Service: the Service's own name for a single port, and
 * `<service>-<port name>` for each port of a multi-port one (Consul registers a service per
 * port the same way, e.g. web and web-admin; Kubernetes names them _<port name>._tcp.<service> in DNS SRV records).
 */
export function portServiceName(service: { readonly name: string; readonly ports: readonly Fields[] }, index: number): string {
  if (service.ports.length <= 1) return service.name;
  return `${service.name}-${asString(service.ports[index]?.['name']) ?? String(index)}`;
}

/** The command of a pod's first container: its own command/args, else an annotation, else the image map. */
function commandOf(c: Collector, d: Deployment, container: Fields, images: ImageMap): { command?: string[]; build?: string[] } {
  const path = [...POD, 'containers', 0];
  const own = asList(container['command']).map(String);
  const args = container['args'] === undefined ? undefined : asList(container['args']).map(String);
  if (own.length > 0) return { command: [...own, ...(args ?? [])] };
  const annotations = { ...stringMap(asFields(d.fields['metadata'])?.['annotations']), ...stringMap(asFields(asFields(asFields(d.fields['spec'])?.['template'])?.['metadata'])?.['annotations']) };
  const image = asString(container['image']);
  const fromAnnotation = annotations[COMMAND_ANNOTATION];
  const buildAnnotation = annotations[BUILD_ANNOTATION];
  let command: readonly string[] | undefined;
  let build: readonly string[] | undefined;
  if (fromAnnotation !== undefined) {
    command = annotationCommand(fromAnnotation);
    if (command === undefined) c.fail(d.source, [...TEMPLATE, 'metadata', 'annotations'], `${COMMAND_ANNOTATION} must be a command such as "./my-app --flag" or a JSON list ["./my-app", "--flag"]`);
    if (buildAnnotation !== undefined) build = annotationCommand(buildAnnotation);
  } else if (image !== undefined && images.images.has(image)) {
    const entry = images.images.get(image);
    command = entry?.command;
    build = entry?.build;
  } else {
    const what = image === undefined ? 'a container without an image' : `image ${JSON.stringify(image)}`;
    const guess = asString(container['name']) ?? d.name;
    c.fail(d.source, image === undefined ? path : [...path, 'image'],
      `Deployment ${d.name}: no local command for ${what} — trellis up runs each container as a local command; ${missingImageHint(images, image ?? guess, guess)}`);
    return {};
  }
  if (command === undefined) return {};
  const [program = '', ...rest] = command;
  return { command: [program, ...(args ?? rest)], ...(build === undefined ? {} : { build: [...build] }) };
}

function namedPort(container: Fields, name: string): number | undefined {
  for (const p of asList(container['ports'])) {
    const port = asFields(p);
    if (port?.['name'] === name) return asNumber(port['containerPort']);
  }
  return undefined;
}

/** One probe → { http, interval[, failureThreshold] }, warning about what it cannot mean here. */
function probeOf(c: Collector, d: Deployment, container: Fields, key: string, appPort: number | undefined): Fields | undefined {
  const probe = asFields(container[key]);
  if (probe === undefined) return undefined;
  const path = [...POD, 'containers', 0, key];
  const liveness = key === 'livenessProbe';
  c.unsupported(d.source, path, probe, ['httpGet', 'tcpSocket', 'periodSeconds', ...(liveness ? ['failureThreshold'] : [])]);
  const fields: Fields = {};
  const period = asNumber(probe['periodSeconds']);
  if (period !== undefined) fields['interval'] = `${period}s`;
  const threshold = asNumber(probe['failureThreshold']);
  if (liveness && threshold !== undefined) fields['failureThreshold'] = threshold;
  const http = asFields(probe['httpGet']);
  const tcp = asFields(probe['tcpSocket']);
  const check = http ?? tcp;
  if (http !== undefined) {
    c.unsupported(d.source, [...path, 'httpGet'], http, ['path', 'port', 'scheme']);
    if (asString(http['scheme']) === 'HTTPS') c.warn(d.source, [...path, 'httpGet', 'scheme'], 'HTTPS probes are not supported: the check is plain HTTP');
    fields['http'] = asString(http['path']) ?? '/';
  } else if (tcp !== undefined) {
    c.unsupported(d.source, [...path, 'tcpSocket'], tcp, ['port']);
  }
  const raw = check?.['port'];
  const port = typeof raw === 'string' ? namedPort(container, raw) : asNumber(raw);
  if (raw !== undefined && port !== appPort) {
    c.warn(d.source, [...path, http === undefined ? 'tcpSocket' : 'httpGet', 'port'], `probes on a port other than the app's (${appPort ?? '$PORT'}) are not supported: the app's port is checked`);
  }
  return fields;
}

/** readinessProbe → health (out of rotation while failing); livenessProbe → liveness (restarted), and health when there is no readinessProbe. */
function probesOf(c: Collector, d: Deployment, container: Fields, appPort: number | undefined): { health?: Fields; liveness?: Fields } {
  if (container['startupProbe'] !== undefined) c.warn(d.source, [...POD, 'containers', 0, 'startupProbe'], 'not supported by trellis up: the replica is ready when its readiness check passes');
  const readiness = probeOf(c, d, container, 'readinessProbe', appPort);
  const liveness = probeOf(c, d, container, 'livenessProbe', appPort);
  const { failureThreshold: _threshold, ...asHealth } = liveness ?? {};
  const health = readiness ?? (liveness === undefined ? undefined : asHealth);
  return { ...(health === undefined ? {} : { health }), ...(liveness === undefined ? {} : { liveness }) };
}

function envOf(c: Collector, d: Deployment, container: Fields): Record<string, string> | undefined {
  const base = [...POD, 'containers', 0];
  if (container['envFrom'] !== undefined) c.warn(d.source, [...base, 'envFrom'], 'not supported by trellis up: ignored (list the variables under env)');
  const env: Record<string, string> = {};
  asList(container['env']).forEach((raw, i) => {
    const entry = asFields(raw);
    const name = asString(entry?.['name']);
    if (entry === undefined || name === undefined) return;
    if (entry['valueFrom'] !== undefined) { c.warn(d.source, [...base, 'env', i, 'valueFrom'], `${name}: valueFrom is not supported by trellis up: the variable is left out`); return; }
    env[name] = entry['value'] === undefined ? '' : String(entry['value']);
  });
  return Object.keys(env).length === 0 ? undefined : env;
}

const PROTOCOLS: Readonly<Record<string, string>> = { http: 'http', 'kubernetes.io/h2c': 'http2', http2: 'http2', h2c: 'http2', grpc: 'grpc', tcp: 'tcp' };

function serviceOf(c: Collector, d: Deployment, service: Service | undefined, images: ImageMap): Fields | undefined {
  const pod = asFields(asFields(asFields(d.fields['spec'])?.['template'])?.['spec']) ?? {};
  c.unsupported(d.source, POD, pod, ['containers', 'terminationGracePeriodSeconds', 'restartPolicy']);
  const containers = asList(pod['containers']).map(asFields);
  const container = containers[0];
  if (container === undefined) { c.fail(d.source, POD, `Deployment ${d.name} has no containers`); return undefined; }
  containers.slice(1).forEach((other, i) => c.warn(d.source, [...POD, 'containers', i + 1],
    `container ${String(other?.['name'])} (image ${String(other?.['image'])}, ports: ${containerPortsText(other)}) is not started: trellis up runs one process per replica, the pod's first container (${String(container['name'])}); run ${String(other?.['name'])} as a Deployment of its own`));
  const base = [...POD, 'containers', 0];
  c.unsupported(d.source, base, container, ['name', 'image', 'command', 'args', 'env', 'envFrom', 'ports', 'readinessProbe', 'livenessProbe', 'startupProbe']);
  asList(container['ports']).forEach((p, i) => c.unsupported(d.source, [...base, 'ports', i], p, ['containerPort', 'name', 'protocol']));

  const { command, build } = commandOf(c, d, container, images);
  const exposed = service?.ports[0];
  const targetOf = (port: Fields | undefined): number | undefined => {
    const raw = port?.['targetPort'] ?? port?.['port'];
    return typeof raw === 'string' && !/^\d+$/.test(raw) ? namedPort(container, raw) : asNumber(Number(raw));
  };
  let targetPort = targetOf(exposed);
  const declares = (other: Fields, port: number): boolean => asList(other['ports']).some((p) => asNumber(asFields(p)?.['containerPort']) === port);
  service?.ports.forEach((port, i) => {
    const raw = port['targetPort'] ?? port['port'];
    const number = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
    if (number !== undefined) {
      // A port only a container that does not run declares: registering it would be a lie.
      const owner = declares(container, number) ? undefined : containers.slice(1).find((other) => other !== undefined && declares(other, number));
      if (owner !== undefined) {
        c.fail(service.source, [...SPEC, 'ports', i, 'targetPort'], `Service ${service.name}: targetPort ${number} is a port of container ${String(owner['name'])}, which trellis up does not start (it runs the pod's first container, ${String(container['name'])}): put that container first, or give it a Deployment and Service of its own`);
      }
      return;
    }
    if (typeof raw !== 'string' || namedPort(container, raw) !== undefined) return;
    const owner = containers.slice(1).find((other) => other !== undefined && namedPort(other, raw) !== undefined);
    c.fail(service.source, [...SPEC, 'ports', i, 'targetPort'], owner === undefined
      ? `Service ${service.name}: targetPort ${JSON.stringify(raw)} names no port of Deployment ${d.name}'s container ${String(container['name'])} (ports: ${containerPortsText(container)})`
      : `Service ${service.name}: targetPort ${JSON.stringify(raw)} is a port of container ${String(owner['name'])}, which trellis up does not start (it runs the pod's first container, ${String(container['name'])}): put that container first, or give it a Deployment and Service of its own`);
  });
  if (service === undefined) {
    const declared = asList(container['ports']).map(asFields);
    targetPort = asNumber(declared[0]?.['containerPort']);
    declared.slice(1).forEach((port, i) => c.warn(d.source, [...base, 'ports', i + 1],
      `no Service selects Deployment ${d.name}: its app port is the first containerPort (${String(targetPort)}); ${String(port?.['containerPort'])} is not reachable from outside a replica`));
  }
  const { health, liveness } = probesOf(c, d, container, targetPort);
  const env = envOf(c, d, container);
  const grace = asNumber(pod['terminationGracePeriodSeconds']);
  const restartPolicy = asString(pod['restartPolicy']);
  const replicas = asFields(d.fields['spec'])?.['replicas'];
  const protocolOf = (port: Fields | undefined, i: number): string | undefined => {
    const known = PROTOCOLS[asString(port?.['appProtocol'])?.toLowerCase() ?? ''];
    if (port?.['appProtocol'] !== undefined && known === undefined && service !== undefined) {
      c.warn(service.source, [...SPEC, 'ports', i, 'appProtocol'], `appProtocol ${String(port['appProtocol'])} is not known to trellis up: the service is treated as http`);
    }
    return known;
  };
  const protocol = protocolOf(exposed, 0);
  // A multi-port Service: every other port is registered too, as a service of its own.
  const ports = (service?.ports ?? []).slice(1).flatMap((port, at) => {
    const i = at + 1;
    const target = targetOf(port);
    if (target === undefined || service === undefined) return [];
    const speaks = protocolOf(port, i);
    return [{
      service: portServiceName(service, i), targetPort: target,
      ...(port['port'] === undefined ? {} : { port: port['port'] }),
      ...(speaks === undefined ? {} : { protocol: speaks }),
    }];
  });
  return {
    replicas: replicas ?? 1,
    ...(command === undefined ? { command: ['(no command)'] } : { command }),
    ...(build === undefined ? {} : { build }),
    ...(targetPort === undefined ? {} : { targetPort }),
    ...(exposed?.['port'] === undefined ? {} : { port: exposed['port'] }),
    ...(ports.length === 0 ? {} : { ports }),
    ...(protocol === undefined ? {} : { protocol }),
    ...(health === undefined ? {} : { health }),
    ...(liveness === undefined ? {} : { liveness }),
    ...(env === undefined ? {} : { env }),
    ...(grace === undefined ? {} : { stopGrace: `${grace}s` }),
    ...(restartPolicy === undefined ? {} : { restart: restartPolicy === 'OnFailure' ? 'on-failure' : restartPolicy === 'Never' ? 'never' : 'always' }),
    ...(Object.keys(d.podLabels).length === 0 ? {} : { metadata: d.podLabels }),
  };
}

/** Whether a document looks like a Kubernetes object (it has apiVersion and kind). */
export function isKubernetesObject(value: unknown): boolean {
  const fields = asFields(value);
  return fields !== undefined && typeof fields['kind'] === 'string' && typeof fields['apiVersion'] === 'string';
}

export function translateManifests(documents: readonly SourceDocument[], images: ImageMap): Translation {
  const c = new Collector();
  const deployments: Deployment[] = [];
  const services: Service[] = [];
  for (const source of documents) {
    const fields = asFields(source.value);
    if (fields === undefined || !isKubernetesObject(fields)) { c.fail(source, [], 'not a Kubernetes object (apiVersion and kind are required)'); continue; }
    const kind = String(fields['kind']);
    const apiVersion = String(fields['apiVersion']);
    c.unsupported(source, [], fields, ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    if (kind === 'Deployment' && apiVersion === 'apps/v1') {
      const d = readDeployment(c, source, fields);
      if (d !== undefined) deployments.push(d);
    } else if (kind === 'Service' && apiVersion === 'v1') {
      const s = readService(c, source, fields);
      if (s !== undefined) services.push(s);
    } else if (kind === 'Deployment' || kind === 'Service') {
      c.fail(source, ['apiVersion'], `${kind} ${apiVersion} is not supported: use apiVersion: ${kind === 'Deployment' ? 'apps/v1' : 'v1'}`);
    } else {
      c.warn(source, ['kind'], `${apiVersion} ${kind} is not supported by trellis up (only apps/v1 Deployment and v1 Service): ignored`);
    }
  }
  const serviceOfDeployment = new Map<Deployment, Service>();
  for (const s of services) {
    const selected = deployments.filter((d) => Object.entries(s.selector).every(([k, v]) => d.podLabels[k] === v));
    if (selected.length === 0 && Object.keys(s.selector).length > 0) {
      const known = deployments.map((d) => `${d.name} (${labelText(d.podLabels)})`).join(', ') || 'none';
      c.fail(s.source, [...SPEC, 'selector'], `Service ${s.name} selects ${labelText(s.selector)}, but no Deployment's pod template has these labels (Deployments: ${known})`);
    } else if (selected.length > 1) {
      c.fail(s.source, [...SPEC, 'selector'], `Service ${s.name} selects the pods of ${selected.map((d) => d.name).join(' and ')}: trellis up runs one Deployment per Service; give each its own labels`);
    }
    const [d] = selected;
    if (selected.length !== 1 || d === undefined) continue;
    const other = serviceOfDeployment.get(d);
    if (other !== undefined) c.fail(s.source, [...SPEC, 'selector'], `Deployment ${d.name} is already served by Service ${other.name}: trellis up gives a Deployment one Service`);
    else serviceOfDeployment.set(d, s);
  }
  const mesh: Record<string, Fields> = {};
  for (const d of deployments) {
    const s = serviceOfDeployment.get(d);
    const name = s === undefined ? d.name : portServiceName(s, 0);
    if (mesh[name] !== undefined) { c.fail(d.source, ['metadata', 'name'], `two services would be called ${name}: rename the Deployment or the Service`); continue; }
    const translated = serviceOf(c, d, s, images);
    if (translated !== undefined) mesh[name] = translated;
  }
  if (deployments.length === 0) c.problems.push({ file: documents[0]?.file ?? '-', line: 1, message: 'no apps/v1 Deployment in these manifests: trellis up runs the replicas of Deployments' });
  return { mesh: { services: mesh }, warnings: c.warnings, problems: c.problems };
}
