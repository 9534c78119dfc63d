/**
 * The single-send figure's reference: express 5 alone on the same machine, a
 * JSON body parsed and a 202 JSON answer, nothing else. What this reaches
 * bounds what any express gateway can.
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(express.json({ limit: '1mb' }));
app.post('/v1/notifications', (req, res) => {
  res.status(202).json({
    id: '0192a7e0-0000-7000-8000-000000000001',
    status: 'queued',
    deliveries: [
      { id: '0192a7e0-0000-7000-8000-000000000002', channel: 'webhook', status: 'queued' },
    ],
    echo: typeof req.body === 'object' ? Object.keys(req.body as object).length : 0,
  });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({
    type: 'ready',
    port: typeof address === 'object' && address ? address.port : 0,
  });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
