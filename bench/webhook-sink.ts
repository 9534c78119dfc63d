/**
 * The webhook sink for the benchmark: answers 200 to every POST; reports
 * transactional arrivals (paths under /tx/) over IPC. It stands for receivers
 * that live elsewhere, so it does as little as an HTTP server can: the body
 * is discarded unread (Node drains it before the next request on the
 * connection) and the answer is written in one go.
 */
import http from 'node:http';

const ANSWER_HEADERS = { 'content-type': 'application/json', 'content-length': '2' };

const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, ANSWER_HEADERS).end('{}');
  if (req.url?.startsWith('/tx/')) process.send?.({ type: 'tx', path: req.url, at: Date.now() });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.send?.({
    type: 'ready',
    port: typeof address === 'object' && address ? address.port : 0,
  });
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
