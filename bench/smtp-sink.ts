/** The SMTP sink for the benchmark: smtp-server accepting everything, counting messages. */
import { SMTPServer } from 'smtp-server';

let received = 0;
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  maxClients: 1000,
  onData(stream, _session, callback) {
    stream.on('data', () => {});
    stream.on('end', () => {
      received++;
      callback();
    });
  },
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = (
    server as unknown as { server: { address(): { port: number } } }
  ).server.address();
  process.send?.({ type: 'ready', port: address.port });
});
setInterval(() => process.send?.({ type: 'count', received }), 200).unref();
process.on('SIGTERM', () => server.close(() => process.exit(0)));
