import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SERVICE_NODE_FLAGS } from './node-flags';
import type { ServiceSpec } from './supervisor';

/** Every directory under services/ with a src/main.ts is a service. */
export function discoverServices(root: string): ServiceSpec[] {
  const dir = path.join(root, 'services');
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(dir, e.name, 'src', 'main.ts')))
    .map((e) => e.name)
    .sort((a, b) => (a === 'gateway' ? -1 : b === 'gateway' ? 1 : a.localeCompare(b)))
    .map((name) => ({
      name,
      command: process.execPath,
      args: [...SERVICE_NODE_FLAGS, '--import', tsx, path.join(dir, name, 'src', 'main.ts')],
      cwd: root,
    }));
}
