import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

/** A real pino logger whose JSON lines land, parsed, in `lines` (synchronously). */
export function captureLog(level = 'info'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}
