/**
 * How node runs every Herald service, wherever it is launched: `pnpm start`
 * (services.ts), the container (docker/entrypoint.sh, tested to agree) and
 * `pnpm bench`.
 *
 * A larger young generation: the services allocate quickly and briefly (job
 * payloads, requests, status rows), and with the default 16 MiB semi-spaces
 * scavenges ran often enough to take a sixth of a busy worker's CPU. 64 MiB
 * cut a webhook worker's CPU per delivery by about 7 % for up to 128 MiB more
 * memory, well inside the containers' limits.
 *
 * It is that size from the start rather than grown into under load (and
 * shrunk again after quiet spells): in ten paired runs of the gateway at
 * 1,000 single sends/s, the single-send p99 was lower with it in nine
 * (median 18 ms against 25 ms).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = [
  '--enable-source-maps',
  '--min-semi-space-size=64',
  '--max-semi-space-size=64',
];
