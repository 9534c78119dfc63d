// `prisma generate` never runs the schema engine, but the CLI insists that one
// exists. Point it at any file so it does not try to download one (offline).
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= __filename;
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
env.CHECKPOINT_DISABLE = '1';
execFileSync(
  process.execPath,
  [
    require.resolve('prisma/build/index.js'),
    'generate',
    '--config',
    path.join(__dirname, '..', 'prisma.config.ts'),
  ],
  { stdio: 'inherit', env, cwd: path.join(__dirname, '..') },
);
