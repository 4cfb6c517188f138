/**
 * The deployment artefacts in deploy/ checked statically against what the
 * server reads (no container engine or cluster runs here): they parse, every
 * HERALD_* name is a config key, the values validate, ports and probe paths are
 * real (probed on a live node), and the shutdown timings fit inside the grace
 * periods. docs/deploy.md says what was and was not run.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, copyFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadConfig, ConfigError, configDefaults } from '../../src/config/load.js';
import { CONFIG_KEY_NAMES, envName, EXTRA_ENV } from '../../src/config/names.js';
import { CONFIG_ERROR_EXIT } from '../../src/cli/serve.js';
import type { HeraldNode } from '../../src/node.js';
import { startNode } from '../helpers/harness.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const KNOWN_ENV = new Set([...CONFIG_KEY_NAMES.map(envName), ...EXTRA_ENV]);
const defaults = configDefaults();
const GOOD = { HERALD_JWT_SECRET: 'deploy-test-secret-0123456789', HERALD_API_KEY: 'deploy-test-key-0123456789' };

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let node: HeraldNode | undefined;
after(async () => {
  await node?.close();
});
/** Status of GET path on a live node: probes must point to real endpoints. */
async function statusOf(path: string): Promise<number> {
  node ??= await startNode();
  return (await fetch(`${node.url}${path}`)).status;
}

/** Every HERALD_* name is one the server reads, and the values validate as the server would. */
function checkEnv(env: Record<string, string>, where: string): ReturnType<typeof loadConfig> {
  for (const name of Object.keys(env)) assert.ok(!name.startsWith('HERALD_') || KNOWN_ENV.has(name), `${where}: ${name} is not a config variable`);
  const herald = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('HERALD_')));
  return loadConfig({ env: herald });
}

// ---------------------------------------------------------------- Dockerfile

/** Exit status of deploy/healthcheck.mjs with HERALD_PORT=port. */
function healthcheck(port: string): Promise<number | null> {
  const child = spawn(process.execPath, [join(root, 'deploy/healthcheck.mjs')], { env: { ...process.env, HERALD_PORT: port }, stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

interface Instr {
  op: string;
  args: string;
}
function dockerfile(): { stages: { from: string; name?: string; instrs: Instr[] }[]; args: Record<string, string> } {
  const lines = read('deploy/Dockerfile').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages: { from: string; name?: string; instrs: Instr[] }[] = [];
  const args: Record<string, string> = {};
  for (const l of lines) {
    const [op, ...rest] = l.split(/\s+/);
    const instr = { op: op!.toUpperCase(), args: rest.join(' ') };
    if (instr.op === 'ARG' && stages.length === 0) {
      const [k, v] = instr.args.split('=');
      args[k!] = v ?? '';
    } else if (instr.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instr.args)!;
      const from = m[1]!.replace(/^\$\{(\w+)\}$/, (_s, k: string) => args[k] ?? '');
      stages.push({ from, ...(m[2] ? { name: m[2] } : {}), instrs: [] });
    } else stages.at(-1)!.instrs.push(instr);
  }
  return { stages, args };
}

test('Dockerfile: multi-stage on node:20-slim, non-root, npm ci --omit=dev, tini, HEALTHCHECK, HERALD_HOST=0.0.0.0', async () => {
  const { stages } = dockerfile();
  assert.ok(stages.length >= 2, 'multi-stage');
  for (const s of stages) assert.equal(s.from, 'node:20-slim');
  const final = stages.at(-1)!;
  const all = (op: string): string[] => final.instrs.filter((i) => i.op === op).map((i) => i.args);
  const user = all('USER').at(-1);
  assert.ok(user && !/^(root|0)(:|$)/.test(user), 'runs as a non-root user');
  assert.ok(all('RUN').some((r) => /npm ci\b[^&]*--omit=dev/.test(r)), 'npm ci --omit=dev in the runtime stage');
  assert.ok(!all('RUN').some((r) => /npm (ci|install)\b(?![^&]*--omit=dev)/.test(r)), 'no dev dependencies in the runtime stage');
  const entry = JSON.parse(all('ENTRYPOINT').at(-1)!) as string[];
  assert.deepEqual(entry.slice(0, 2), ['/usr/bin/tini', '--'], 'tini is PID 1 and forwards signals');
  assert.ok(all('RUN').some((r) => /apt-get install[^&]*\btini\b/.test(r)));
  assert.ok(existsSync(join(root, entry.at(-1)!)), `${entry.at(-1)} exists`);
  // ENV: only config variables, valid values, listening on every interface.
  const env: Record<string, string> = {};
  for (const e of all('ENV')) for (const m of e.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  assert.equal(env.HERALD_HOST, '0.0.0.0');
  const c = checkEnv({ ...env, ...GOOD }, 'Dockerfile ENV');
  assert.deepEqual(all('EXPOSE'), [String(c.port)]);
  // HEALTHCHECK runs deploy/healthcheck.mjs, which exits 0 on a live node and 1 elsewhere.
  const hc = all('HEALTHCHECK').at(-1)!;
  const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
  assert.deepEqual(cmd, ['node', 'deploy/healthcheck.mjs']);
  assert.equal(await statusOf('/healthz'), 200);
  // Asynchronously: the node answering lives in this process, a spawnSync would block it.
  assert.equal(await healthcheck(String(node!.port)), 0, 'healthcheck against a live node');
  assert.equal(await healthcheck('1'), 1, 'healthcheck against nothing');
  const linked = { status: await healthcheck('tcp://10.0.0.5:1') };
  assert.equal(linked.status, 1, 'a service-link HERALD_PORT falls back to 8080 (nothing there in this test)');
});

test('Dockerfile: every COPY source exists, every workspace manifest is copied before npm ci, .dockerignore keeps them', () => {
  const { stages } = dockerfile();
  const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
  const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  // .dockerignore semantics used here: `**/x` matches x at any depth, other patterns from the root;
  // a match on a directory excludes everything below it.
  const glob = (pat: string, p: string): boolean => new RegExp('^' + pat.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*') + '(?:/|$)').test(p);
  const ignored = (p: string): boolean =>
    ignore.some((pat) => (pat.startsWith('**/') ? p.split('/').some((_, i, parts) => glob(pat.slice(3), parts.slice(i).join('/'))) : glob(pat, p)));
  for (const s of stages) {
    const copies = s.instrs.filter((i) => i.op === 'COPY').map((i) => i.args.split(/\s+/));
    const firstCi = s.instrs.findIndex((i) => i.op === 'RUN' && /npm ci/.test(i.args));
    const copiedBeforeCi = s.instrs.slice(0, firstCi).filter((i) => i.op === 'COPY').map((i) => i.args.split(/\s+/)[0]);
    for (const w of workspaces) assert.ok(copiedBeforeCi.includes(`${w}/package.json`), `stage ${s.name}: ${w}/package.json before npm ci`);
    for (const parts of copies) {
      const from = parts.find((p) => p.startsWith('--from='));
      const srcs = parts.filter((p) => !p.startsWith('--')).slice(0, -1);
      for (const src of srcs) {
        // --from=build paths are /src/<repo path> (built by `npm run build`, which the test suite runs first).
        const rel = from ? posix.relative('/src', src) : src;
        assert.ok(existsSync(join(root, rel)), `stage ${s.name}: COPY source ${rel} exists`);
        if (!from && rel !== 'packages') assert.ok(!ignored(rel), `${rel} is excluded by .dockerignore`);
      }
    }
  }
  for (const must of ['**/node_modules', '**/dist', '.git']) assert.ok(ignore.includes(must), `.dockerignore has ${must}`);
  assert.ok(!ignored('packages/server/static/admin/index.html') && !ignored('packages/client/scripts/bundle.mjs') && !ignored('deploy/healthcheck.mjs'));
  assert.ok(ignored('packages/server/test/cli/cli.test.ts') && ignored('packages/server/node_modules/x'));
});

// ---------------------------------------------------------------- Compose

test('compose: Redis with AOF, two Herald nodes, Prometheus with the alert rules, Grafana with the dashboard', () => {
  const dir = 'deploy/compose';
  const compose = parseYaml(read(`${dir}/compose.yaml`), { merge: true }) as Doc;
  const svc = compose.services as Record<string, Doc>;
  assert.deepEqual(Object.keys(svc).sort(), ['grafana', 'herald-1', 'herald-2', 'prometheus', 'redis']);
  const redisCmd = (svc.redis!.command as string[]).join(' ');
  assert.match(redisCmd, /--appendonly yes/);
  assert.match(redisCmd, /--appendfsync (everysec|always)/);
  const volumeSources = (s: Doc): string[] => ((s.volumes ?? []) as string[]).map((v) => v.split(':')[0]!).filter((v) => v.startsWith('.'));
  for (const [name, s] of Object.entries(svc)) {
    for (const src of volumeSources(s)) assert.ok(existsSync(join(root, dir, src)), `${name}: ${src} exists`);
  }
  const nodes = ['herald-1', 'herald-2'].map((n) => svc[n]!);
  const ids = new Set<string>();
  for (const s of nodes) {
    assert.ok(existsSync(join(root, dir, s.build.context, s.build.dockerfile)), 'build context and Dockerfile');
    // Substitute the required ${VAR:?…} secrets, then validate what the server would read.
    const env = Object.fromEntries(Object.entries(s.environment as Record<string, string>).map(([k, v]) => [k, String(v).replace(/\$\{(\w+):\?[^}]*\}/g, (_m, n: string) => (GOOD as Record<string, string>)[n] ?? 'x'.repeat(20))]));
    const c = checkEnv(env, 'compose');
    assert.equal(c.engine, 'redis');
    assert.equal(new URL(c.redisUrl).hostname, 'redis', 'the Redis URL names the redis service');
    ids.add(c.nodeId!);
    assert.ok((s.ports as string[]).every((p) => p.endsWith(`:${c.port}`)), 'published ports map to HERALD_PORT');
    const grace = Number(/^(\d+)s$/.exec(s.stop_grace_period as string)![1]);
    assert.ok(grace * 1000 >= c.shutdownTimeoutMs + 2000, 'stop_grace_period covers the drain');
    assert.ok(c.drainWindowMs < c.shutdownTimeoutMs);
    assert.ok(s.ulimits.nofile.soft >= 65536);
  }
  assert.equal(ids.size, 2, 'distinct node ids');

  // Prometheus: scrapes both nodes on their real port and path, job "herald" (the alert rules use it).
  const prom = parseYaml(read(`${dir}/prometheus.yml`)) as Doc;
  const job = (prom.scrape_configs as Doc[]).find((j) => j.job_name === 'herald')!;
  assert.ok(job, 'job herald');
  assert.match(read('ops/prometheus/herald-alerts.yml'), /job="herald"/);
  assert.equal(job.metrics_path, '/metrics');
  assert.deepEqual((job.static_configs[0].targets as string[]).sort(), ['herald-1:8080', 'herald-2:8080']);
  const mounts = (svc.prometheus!.volumes as string[]).map((v) => v.split(':'));
  const rulesMount = mounts.find(([src]) => src!.endsWith('ops/prometheus/herald-alerts.yml'))!;
  const configMount = mounts.find(([src]) => src === './prometheus.yml')!;
  for (const rule of prom.rule_files as string[]) assert.equal(posix.join(posix.dirname(configMount[1]!), rule), rulesMount[1], 'rule file path as mounted');

  // Grafana: the data source is the prometheus service; the dashboard folder is the mounted ops/grafana.
  const ds = parseYaml(read(`${dir}/grafana/provisioning/datasources/prometheus.yaml`)) as Doc;
  assert.equal(new URL(ds.datasources[0].url as string).host, 'prometheus:9090');
  assert.equal(ds.datasources[0].isDefault, true);
  const dash = parseYaml(read(`${dir}/grafana/provisioning/dashboards/herald.yaml`)) as Doc;
  const gmounts = (svc.grafana!.volumes as string[]).map((v) => v.split(':'));
  assert.equal(gmounts.find(([src]) => src === '../../ops/grafana')![1], dash.providers[0].options.path);
  assert.equal(gmounts.find(([src]) => src === './grafana/provisioning')![1], '/etc/grafana/provisioning');
  assert.ok(existsSync(join(root, 'ops/grafana/herald-dashboard.json')));
});

test('compose: promtool check config accepts prometheus.yml with the alert rules beside it (when promtool is installed)', (t) => {
  if (spawnSync('promtool', ['--version']).status !== 0) {
    if (process.env.CI === 'true') assert.fail('promtool missing in CI (scripts/test-prereqs.sh installs it)');
    t.skip('promtool not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'herald-prom-'));
  copyFileSync(join(root, 'deploy/compose/prometheus.yml'), join(dir, 'prometheus.yml'));
  copyFileSync(join(root, 'ops/prometheus/herald-alerts.yml'), join(dir, basename('herald-alerts.yml')));
  const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

// ---------------------------------------------------------------- Kubernetes

function k8sDocs(): Doc[] {
  const kust = parseYaml(read('deploy/kubernetes/kustomization.yaml')) as Doc;
  return (kust.resources as string[]).flatMap((f) =>
    parseAllDocuments(read(`deploy/kubernetes/${f}`)).map((d) => {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors.map(String).join('; ')}`);
      return d.toJS() as Doc;
    }),
  );
}

test('kubernetes: probes on real endpoints, no service links, grace period covers preStop + drain, keys from a Secret', async () => {
  const docs = k8sDocs();
  const kind = (k: string): Doc => docs.find((d) => d.kind === k)!;
  const dep = kind('Deployment');
  const secret = kind('Secret');
  const pod = dep.spec.template.spec as Doc;
  assert.equal(pod.enableServiceLinks, false);
  const c = (pod.containers as Doc[])[0]!;
  const ports = new Map((c.ports as Doc[]).map((p) => [p.name as string, p.containerPort as number]));
  // Env: literal values plus secret references, resolved to something valid, then loaded as the server would.
  const env: Record<string, string> = {};
  for (const e of c.env as Doc[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef as Doc;
      assert.equal(ref.name, secret.metadata.name, `${e.name} references the Secret`);
      assert.ok(ref.key in secret.stringData, `${e.name}: key ${ref.key} exists in the Secret`);
      env[e.name] = (GOOD as Record<string, string>)[e.name] ?? String(secret.stringData[ref.key]);
    } else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = 'herald-7d9f8b6c5d-x2x9q';
    else assert.fail(`${e.name}: unexpected env source`);
  }
  assert.ok(env.HERALD_JWT_SECRET && env.HERALD_API_KEY && env.HERALD_REDIS_URL, 'keys and Redis URL come from the Secret');
  const cfg = checkEnv(env, 'Deployment');
  assert.equal(cfg.engine, 'redis', 'several replicas need the redis engine');
  assert.equal(cfg.host, '0.0.0.0');
  // The Secret's placeholders must not start a node: too short, refused naming the key (exit 2).
  for (const k of ['HERALD_JWT_SECRET', 'HERALD_API_KEY']) {
    assert.throws(() => loadConfig({ env: { [k]: String(secret.stringData[k]) } }), (e: unknown) => e instanceof ConfigError, `${k} placeholder refused`);
  }
  // Probes: readiness /readyz, liveness /healthz, on the port the server listens on, answering 200 on a live node.
  for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
    const get = c[probe].httpGet as Doc;
    assert.equal(get.path, path, probe);
    assert.equal(ports.get(get.port) ?? get.port, cfg.port, `${probe} port`);
    assert.equal(await statusOf(path), 200, `${path} answers on a live node`);
  }
  // Timing: Kubernetes sends SIGTERM after preStop; the node drains within shutdownTimeoutMs and exits 2 s later at most.
  const preStop = c.lifecycle.preStop.exec.command as string[];
  assert.equal(preStop[0], 'sleep');
  const preStopSec = Number(preStop[1]);
  assert.ok(pod.terminationGracePeriodSeconds >= preStopSec + cfg.shutdownTimeoutMs / 1000 + 2, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < ${preStopSec} + ${cfg.shutdownTimeoutMs / 1000} + 2`);
  assert.ok(cfg.drainWindowMs < cfg.shutdownTimeoutMs);
  assert.ok(pod.securityContext.runAsNonRoot);
  // Selectors: Deployment, Service and PodDisruptionBudget agree with the pod labels.
  const labels = dep.spec.template.metadata.labels as Record<string, string>;
  const matches = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v);
  assert.ok(matches(dep.spec.selector.matchLabels));
  const svc = kind('Service');
  assert.ok(matches(svc.spec.selector));
  assert.ok((svc.spec.ports as Doc[]).every((p) => ports.has(p.targetPort) || p.targetPort === cfg.port), 'Service targets the container port');
  const pdb = kind('PodDisruptionBudget');
  assert.ok(matches(pdb.spec.selector.matchLabels));
  assert.ok(pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined);
  assert.ok(dep.spec.replicas > (pdb.spec.minAvailable ?? 0), 'the budget allows evictions');
  const kust = parseYaml(read('deploy/kubernetes/kustomization.yaml')) as Doc;
  assert.ok((kust.images as Doc[]).some((i) => i.name === c.image), 'the kustomization sets the image');
});

test('kubernetes: kubectl kustomize renders the manifests (when kubectl is installed)', (t) => {
  if (spawnSync('kubectl', ['version', '--client']).status !== 0) {
    t.skip('kubectl not installed');
    return;
  }
  const r = spawnSync('kubectl', ['kustomize', join(root, 'deploy/kubernetes')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as Doc).kind as string).sort();
  assert.deepEqual(kinds, ['Deployment', 'PodDisruptionBudget', 'Secret', 'Service']);
});

// ---------------------------------------------------------------- systemd

function unitFile(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (!l || l.startsWith('#') || l.startsWith(';')) continue;
    const s = /^\[(\w+)\]$/.exec(l);
    if (s) {
      section = s[1]!;
      out[section] = {};
      continue;
    }
    const i = l.indexOf('=');
    (out[section]![l.slice(0, i)] ??= []).push(l.slice(i + 1));
  }
  return out;
}

test('systemd: LimitNOFILE above maxConnections, stop timeout covers the drain, config errors are not restarted', () => {
  const unit = unitFile(read('deploy/systemd/herald.service'));
  const svc = unit.Service!;
  assert.ok(unit.Unit && unit.Install, 'sections');
  const nofile = Number(svc.LimitNOFILE![0]);
  assert.ok(nofile >= (defaults.maxConnections as number) + 1024, `LimitNOFILE ${nofile}`);
  assert.match(svc.ExecStart![0]!, /\/packages\/server\/bin\/herald\.js serve$/);
  assert.ok(existsSync(join(root, 'packages/server/bin/herald.js')));
  assert.deepEqual(svc.RestartPreventExitStatus, [String(CONFIG_ERROR_EXIT)]);
  const envText = read('deploy/systemd/herald.env.example');
  const env = Object.fromEntries(envText.split('\n').filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.throws(() => checkEnv(env, 'herald.env.example'), (e: unknown) => e instanceof ConfigError, 'placeholders refused');
  const cfg = checkEnv({ ...env, ...GOOD }, 'herald.env.example');
  assert.ok(Number(svc.TimeoutStopSec![0]) >= cfg.shutdownTimeoutMs / 1000 + 2, 'TimeoutStopSec covers the drain');
  assert.equal(svc.KillSignal![0], 'SIGTERM');
  assert.ok(svc.User && svc.User[0] !== 'root', 'non-root');
  assert.equal(dirname(svc.EnvironmentFile![0]!), '/etc/herald');
});
