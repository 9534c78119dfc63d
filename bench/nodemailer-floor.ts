/**
 * The email figure's reference: nodemailer alone, pooled SMTP to the same
 * sink, the same message shape and as many connections and messages in
 * flight as the Herald worker uses — no queue, no database, no Herald. What
 * this reaches on the machine bounds what any nodemailer-based worker can.
 */
import nodemailer from 'nodemailer';

const count = Number(process.env.COUNT);
const connections = Number(process.env.CONNECTIONS);
const transport = nodemailer.createTransport({
  url: process.env.SMTP_URL,
  pool: true,
  maxConnections: connections,
  maxMessages: 1000,
  maxRequeues: 1,
});

const send = (i: number) =>
  transport.sendMail({
    from: 'Herald <herald@localhost>',
    to: `user${i}@example.test`,
    subject: 'Your receipt',
    text: 'Thanks for your order.',
    html: '<p>Thanks for your <b>order</b>.</p>',
    messageId: `<floor-${i}@localhost>`,
    headers: { 'X-Herald-Delivery-Id': `floor-${i}` },
  });

async function main() {
  // Warm-up: connections opened, code compiled.
  await Promise.all(Array.from({ length: connections }, (_, i) => send(i)));
  process.send?.({ type: 'warm' });
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < count) await send(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  transport.close();
  process.send?.({ type: 'done', seconds, count });
}
void main();
