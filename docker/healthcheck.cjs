#!/usr/bin/env node
// Container health check for every Herald service (the image's HEALTHCHECK).
//
//   node docker/healthcheck.cjs                      probe the service running here
//   node docker/healthcheck.cjs http://127.0.0.1:9101/healthz   probe this URL
//   node docker/healthcheck.cjs --print-port         print the port it would probe
//
// With no URL it finds which service this container runs (HERALD_SERVICE, or
// else the process whose command line holds services/<name>/src/main.ts, as
// docker/entrypoint.sh starts it) and probes GET /healthz on the port that
// service's configuration uses: PORT for the gateway, METRICS_PORT for workers
// and the scheduler, each falling back to the default in packages/core/src/config
// (an empty value counts as unset there too). tests/deployment-files.test.ts
// checks these defaults against the code. A container running a one-shot
// command (migrate, token) has nothing to probe and counts as healthy.
//
// Plain Node, no dependencies, so a probe costs one small process.
'use strict';
const fs = require('node:fs');
const http = require('node:http');

const DEFAULT_PORTS = {
  gateway: 3000,
  'worker-email': 9101,
  'worker-telegram': 9102,
  'worker-push': 9103,
  'worker-webhook': 9104,
  scheduler: 9105,
};
const TIMEOUT_MS = 4000;

function runningService(env) {
  if (env.HERALD_SERVICE) return env.HERALD_SERVICE;
  let pids = [];
  try {
    pids = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  for (const pid of pids.sort((a, b) => Number(a) - Number(b))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const match = /(?:^|[\0/])services\/([^/\0]+)\/src\/main\.ts(?:\0|$)/.exec(cmdline);
      if (match) return match[1];
    } catch {
      // The process ended while we looked, or is not ours to read.
    }
  }
  return undefined;
}

function portFor(service, env) {
  const known = Object.hasOwn(DEFAULT_PORTS, service);
  const variable = service === 'gateway' ? 'PORT' : 'METRICS_PORT';
  // A service newer than this table has no default here: take whichever port it was given.
  const configured = env[variable] || (known ? '' : env.PORT);
  const port = configured ? Number(configured) : known ? DEFAULT_PORTS[service] : undefined;
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

function probe(url) {
  const request = http.get(url, { timeout: TIMEOUT_MS }, (response) => {
    response.resume();
    if (response.statusCode === 200) process.exit(0);
    console.error(`healthcheck: ${url} answered ${response.statusCode}`);
    process.exit(1);
  });
  request.on('timeout', () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
  request.on('error', (err) => {
    console.error(`healthcheck: ${url}: ${err.message}`);
    process.exit(1);
  });
}

function main(args, env) {
  const explicit = args.find((arg) => /^https?:\/\//.test(arg));
  if (explicit) return probe(explicit);
  const service = runningService(env);
  if (!service) {
    if (args.includes('--print-port')) process.exit(1);
    console.log('healthcheck: no Herald service runs here (one-shot command); nothing to probe');
    process.exit(0);
  }
  const port = portFor(service, env);
  if (port === undefined) {
    console.error(`healthcheck: cannot tell the port of ${service}; set PORT or METRICS_PORT`);
    process.exit(1);
  }
  if (args.includes('--print-port')) {
    console.log(port);
    process.exit(0);
  }
  probe(`http://127.0.0.1:${port}/healthz`);
}

main(process.argv.slice(2), process.env);
