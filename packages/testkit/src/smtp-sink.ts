import type { AddressInfo } from 'node:net';
import PostalMime from 'postal-mime';

type Email = Awaited<ReturnType<typeof PostalMime.parse>>;
import { SMTPServer } from 'smtp-server';
import { waitFor } from './wait-for';

/** How the sink answers RCPT TO for one address. */
export type SmtpBehaviour =
  | { kind: 'accept' }
  /** Permanent rejection, e.g. 550 mailbox unavailable. */
  | { kind: 'reject'; code: number; message?: string }
  /** Temporary failure (4xx) for the first `times` attempts, then accept. */
  | { kind: 'defer'; code: number; times: number; message?: string }
  /** Accept, but only after `ms` (a slow server: keeps deliveries in flight). */
  | { kind: 'slow'; ms: number };

export interface ReceivedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  parsed: Email;
  raw: string;
  /** First value of a header, by case-insensitive name. */
  header(name: string): string | undefined;
}

function received(
  envelopeFrom: string,
  envelopeTo: string[],
  parsed: Email,
  raw: string,
): ReceivedMail {
  return {
    envelopeFrom,
    envelopeTo,
    parsed,
    raw,
    header: (name) => parsed.headers.find((h) => h.key === name.toLowerCase())?.value,
  };
}

/**
 * A real SMTP server (smtp-server) on a random local port: what the email
 * worker talks to in tests and in the benchmark. Records every accepted
 * message and answers per address as scripted.
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  /** RCPT TO attempts per address, including refused ones. */
  readonly attempts = new Map<string, number>();
  /** AUTH attempts, including refused ones (only with the `auth` option). */
  authAttempts = 0;
  /**
   * With the `auth` option: whether the right credentials are accepted. While
   * false every login is refused with 535, as a server whose account was
   * disabled or whose password was rotated answers.
   */
  acceptLogins = true;
  private readonly behaviours = new Map<string, SmtpBehaviour>();
  private server: SMTPServer | undefined;
  port = 0;

  constructor(
    private readonly options: {
      parse?: boolean;
      /** Require AUTH (PLAIN or LOGIN, without TLS) with these credentials. */
      auth?: { user: string; pass: string };
    } = {},
  ) {}

  /** The SMTP_URL to give the worker, with the credentials when the sink requires them. */
  get url(): string {
    const auth = this.options.auth;
    const userinfo = auth
      ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@`
      : '';
    return `smtp://${userinfo}127.0.0.1:${this.port}`;
  }

  behave(address: string, behaviour: SmtpBehaviour): void {
    this.behaviours.set(address.toLowerCase(), behaviour);
  }

  async start(): Promise<this> {
    const auth = this.options.auth;
    this.server = new SMTPServer({
      authOptional: !auth,
      disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      // Plain-text AUTH on a local test socket: there is no TLS to protect it with.
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth: (credentials, _session, callback) => {
        this.authAttempts += 1;
        if (
          auth &&
          this.acceptLogins &&
          credentials.username === auth.user &&
          credentials.password === auth.pass
        ) {
          return callback(null, { user: credentials.username });
        }
        const err = new Error('Authentication credentials invalid') as Error & {
          responseCode: number;
        };
        err.responseCode = 535;
        callback(err);
      },
      logger: false,
      size: 10 * 1024 * 1024,
      onRcptTo: (address, _session, callback) => {
        const to = address.address.toLowerCase();
        const n = (this.attempts.get(to) ?? 0) + 1;
        this.attempts.set(to, n);
        const b = this.behaviours.get(to) ?? { kind: 'accept' };
        if (b.kind === 'reject' || (b.kind === 'defer' && n <= b.times)) {
          const err = new Error(
            b.message ?? (b.kind === 'reject' ? 'Mailbox unavailable' : 'Try again later'),
          ) as Error & {
            responseCode: number;
          };
          err.responseCode = b.code;
          return callback(err);
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const slow = session.envelope.rcptTo
          .map((r) => this.behaviours.get(r.address.toLowerCase()))
          .find((b): b is Extract<SmtpBehaviour, { kind: 'slow' }> => b?.kind === 'slow');
        if (slow) {
          const done = callback;
          callback = ((err?: Error | null) =>
            setTimeout(() => done(err), slow.ms)) as typeof callback;
        }
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const envelopeTo = session.envelope.rcptTo.map((r) => r.address);
          if (this.options.parse === false) {
            this.received.push(
              received(
                envelopeFrom,
                envelopeTo,
                { headers: [], headerLines: [], attachments: [] },
                '',
              ),
            );
            return callback();
          }
          PostalMime.parse(raw).then(
            (parsed) => {
              this.received.push(received(envelopeFrom, envelopeTo, parsed, raw.toString('utf8')));
              callback();
            },
            (err: Error) => callback(err),
          );
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.server.on('error', () => {});
    this.port = (
      this.server as unknown as { server: { address(): AddressInfo } }
    ).server.address().port;
    return this;
  }

  mailTo(address: string): ReceivedMail[] {
    return this.received.filter((m) =>
      m.envelopeTo.some((t) => t.toLowerCase() === address.toLowerCase()),
    );
  }

  waitForMail(address: string, count = 1, timeoutMs = 10_000): Promise<ReceivedMail[]> {
    return waitFor(
      () => (this.mailTo(address).length >= count ? this.mailTo(address) : undefined),
      {
        timeoutMs,
        what: `${count} mail(s) to ${address}`,
      },
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
