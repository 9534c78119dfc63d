import type { Response } from 'express';

/**
 * Writes a JSON answer straight to the socket. For the ingest routes, which
 * answer thousands of times a second: express's res.json() also resolves a
 * MIME type, rewrites the charset and checks request freshness each time,
 * none of which a fresh 202 needs.
 */
export function sendJson(
  res: Response,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(json)),
  });
  res.end(json);
}
