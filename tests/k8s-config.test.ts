// The base ConfigMap and the Secret example against the configuration code:
// every documented variable has a home, and the ConfigMap's values are exactly
// the defaults the services apply when a variable is unset.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  CHANNELS,
  loadChannelWorkerConfig,
  loadEmailConfig,
  loadGatewayConfig,
  loadPushConfig,
  loadSchedulerConfig,
  loadTelegramConfig,
  loadWebhookConfig,
} from '@herald/core';
import { readResources, type Mapping } from './kustomize-lite';

const ROOT = path.resolve(__dirname, '..');
const BASE = path.join(ROOT, 'k8s', 'base');
const JWT = { JWT_SECRET: 'x'.repeat(32) };

describe('the base ConfigMap and Secret example', () => {
  const [configMap] = readResources(path.join(BASE, 'configmap.yaml'));
  const [secret] = readResources(path.join(BASE, 'secret.example.yaml'));
  const config = configMap!.data as Record<string, string>;
  const secretKeys = Object.keys(secret!.stringData as Mapping);

  it('holds every non-secret variable at exactly the default the code applies', () => {
    expect(loadGatewayConfig({ ...JWT, ...config })).toEqual(loadGatewayConfig(JWT));
    expect(loadSchedulerConfig(config)).toEqual(loadSchedulerConfig({}));
    for (const channel of CHANNELS) {
      expect(loadChannelWorkerConfig(channel, config)).toEqual(
        loadChannelWorkerConfig(channel, {}),
      );
    }
    expect(loadEmailConfig(config)).toEqual(loadEmailConfig({}));
    expect(loadTelegramConfig(config)).toEqual(loadTelegramConfig({}));
    expect(loadPushConfig(config)).toEqual(loadPushConfig({}));
    expect(loadWebhookConfig(config)).toEqual(loadWebhookConfig({}));
  });

  it('leaves per-service ports to the Deployments and secrets to the Secret', () => {
    expect(Object.keys(config)).not.toContain('PORT');
    expect(Object.keys(config)).not.toContain('METRICS_PORT');
    expect(secretKeys.filter((k) => k in config)).toEqual([]);
    expect(secret!.metadata.name).toBe('herald-secrets');
  });

  it('covers every variable the README documents, and only those (plus KEDA’s address)', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'));
    const table = section.slice(0, section.indexOf('\n## ', 1));
    const documented = new Set(
      table
        .split('\n')
        .filter((line) => line.startsWith('| `'))
        .flatMap((line) =>
          [...line.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!),
        ),
    );
    expect(documented.size).toBeGreaterThan(20);
    const perDeployment = ['PORT', 'METRICS_PORT'];
    const kedaOnly = ['REDIS_ADDRESS', 'REDIS_PASSWORD'];
    const provided = new Set([...Object.keys(config), ...secretKeys, ...perDeployment]);
    expect([...documented].filter((v) => !provided.has(v))).toEqual([]);
    expect([...provided].filter((v) => !documented.has(v) && !kedaOnly.includes(v))).toEqual([]);
  });
});
