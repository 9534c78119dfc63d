import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TELEGRAM_TEXT_LIMIT, telegramTextLength } from '@herald/channels';
import { waitFor } from './wait-for';

/** How the fake answers sendMessage for one chat. */
export type TelegramBehaviour =
  /** Accept and record the message (the default). */
  | { kind: 'ok' }
  /** 429 with parameters.retry_after for the first `times` requests, then ok; always when `times` is absent. */
  | { kind: 'rate_limit'; retryAfterSeconds: number; times?: number }
  /** 403 "Forbidden: bot was blocked by the user". */
  | { kind: 'blocked' }
  /** 400 "Bad Request: chat not found". */
  | { kind: 'chat_not_found' }
  /** 400 with parameters.migrate_to_chat_id: the group became supergroup `to`. */
  | { kind: 'migrate'; to: string | number }
  /** 500 for the first `times` requests, then ok; always when `times` is absent. */
  | { kind: 'server_error'; times?: number }
  /** Accept, but answer after `ms` (the message is recorded when the answer goes out). */
  | { kind: 'slow'; ms: number }
  /** 400 with this description, e.g. "Bad Request: message is too long". */
  | { kind: 'bad_request'; description: string }
  /** An HTML error page with this status, as a proxy in front of the API would send. */
  | { kind: 'not_json'; status: number };

export interface ReceivedTelegramMessage {
  chatId: string;
  text: string;
  parseMode: string | undefined;
  /** The message_id the fake answered with (unique across chats). */
  messageId: number;
  disableWebPagePreview: boolean;
  /** Epoch ms when the message was accepted. */
  at: number;
}

interface TelegramError {
  status: number;
  description: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

const PARSE_MODES = new Set(['MarkdownV2', 'HTML', 'Markdown']);
const HTML_TAGS = new Set(
  'b strong i em u ins s strike del span tg-spoiler a code pre blockquote tg-emoji'.split(' '),
);
const HTML_TAG = /<\/?([a-z][a-z-]*)\b[^>]*>/iy;

/** Index of the next unescaped `delimiter` at or after `from`, or text.length. */
function closing(text: string, from: number, delimiter: string): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text.startsWith(delimiter, i)) return i;
  }
  return text.length;
}

/**
 * The check behind Telegram's most common MarkdownV2 refusal: a reserved
 * character that no markup uses, left unescaped outside code and link URLs.
 * (Telegram checks far more; this catches text that was not escaped.)
 */
function markdownV2Problem(text: string): string | undefined {
  let lineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') i += 1;
    else if (text.startsWith('```', i)) i = closing(text, i + 3, '```') + 2;
    else if (c === '`') i = closing(text, i + 1, '`');
    else if (c === ']' && text[i + 1] === '(') i = closing(text, i + 2, ')');
    else if (
      '#+-={}.()'.includes(c) ||
      (c === '!' && text[i + 1] !== '[') ||
      (c === '>' && !lineStart)
    ) {
      return `Character '${c}' is reserved and must be escaped with the preceding '\\'`;
    }
    lineStart = c === '\n' || (lineStart && c === '*');
  }
  return undefined;
}

/** Telegram's HTML refusal for a `<` that does not open or close a supported tag. */
function htmlProblem(text: string): string | undefined {
  for (let i = text.indexOf('<'); i !== -1; i = text.indexOf('<', i + 1)) {
    HTML_TAG.lastIndex = i;
    const name = HTML_TAG.exec(text)?.[1]?.toLowerCase();
    if (name === undefined || !HTML_TAGS.has(name)) {
      const offset = Buffer.byteLength(text.slice(0, i));
      return `Unsupported start tag "${name ?? ''}" at byte offset ${offset}`;
    }
  }
  return undefined;
}

function parseParams(req: IncomingMessage, raw: string): Record<string, unknown> | undefined {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json')) {
    try {
      const value: unknown = JSON.parse(raw);
      return typeof value === 'object' && value !== null
        ? (value as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
  const query = new URL(req.url ?? '/', 'http://fake').searchParams;
  const form = type.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(raw) : [];
  return Object.fromEntries([...query, ...form]);
}

/**
 * A real HTTP server on 127.0.0.1 and a random port that speaks the Bot API
 * like api.telegram.org for `getMe` and `sendMessage`: what the Telegram
 * worker talks to in tests and in the benchmark. Checks the bot token,
 * records every accepted message and answers per chat as scripted.
 */
export class FakeTelegramApi {
  readonly token: string;
  readonly received: ReceivedTelegramMessage[] = [];
  port = 0;
  /** Every request, including refused ones and other methods. */
  requestCount = 0;
  /** TCP connections accepted: shows whether a client pools its connections. */
  connectionCount = 0;
  private server: http.Server | undefined;
  private readonly counts = new Map<string, number>();
  private readonly behaviours = new Map<string, { behaviour: TelegramBehaviour; used: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private storm: TelegramError | undefined;
  private nextMessageId = 1;

  constructor(options: { token?: string } = {}) {
    this.token = options.token ?? `123456:TEST-${randomBytes(12).toString('base64url')}`;
  }

  /** The apiUrl to give the provider. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  behave(chatId: string | number, behaviour: TelegramBehaviour): void {
    this.behaviours.set(String(chatId), { behaviour, used: 0 });
  }

  /** Every request answers `status` (a Telegram-shaped error) until called with undefined. */
  failAll(status: number | undefined, options: { retryAfterSeconds?: number } = {}): void {
    if (status === undefined) {
      this.storm = undefined;
      return;
    }
    const reason = http.STATUS_CODES[status] ?? 'Error';
    this.storm =
      status === 429
        ? {
            status,
            description: `Too Many Requests: retry after ${options.retryAfterSeconds ?? 1}`,
            parameters: { retry_after: options.retryAfterSeconds ?? 1 },
          }
        : { status, description: reason };
  }

  /** sendMessage requests for a chat, including refused ones. */
  requests(chatId: string | number): number {
    return this.counts.get(String(chatId)) ?? 0;
  }

  messagesTo(chatId: string | number): ReceivedTelegramMessage[] {
    return this.received.filter((m) => m.chatId === String(chatId));
  }

  waitForMessages(
    chatId: string | number,
    count = 1,
    timeoutMs = 10_000,
  ): Promise<ReceivedTelegramMessage[]> {
    return waitFor(
      () => {
        const messages = this.messagesTo(chatId);
        return messages.length >= count ? messages : undefined;
      },
      { timeoutMs, what: `${count} Telegram message(s) to chat ${chatId}` },
    );
  }

  async start(): Promise<this> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', () => {
      this.connectionCount += 1;
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.answer(req, res, Buffer.concat(chunks).toString('utf8')));
  }

  private answer(req: IncomingMessage, res: ServerResponse, raw: string): void {
    this.requestCount += 1;
    const path = (req.url ?? '/').split('?')[0]!;
    const route = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(path);
    if (!route) return this.fail(res, { status: 404, description: 'Not Found' });
    if (decodeURIComponent(route[1]!) !== this.token) {
      return this.fail(res, { status: 401, description: 'Unauthorized' });
    }
    const method = route[2]!.toLowerCase();
    if (method === 'getme') {
      return this.ok(res, {
        id: Number(this.token.split(':')[0]),
        is_bot: true,
        first_name: 'Herald Test Bot',
        username: 'herald_test_bot',
      });
    }
    if (method !== 'sendmessage') return this.fail(res, { status: 404, description: 'Not Found' });
    const params = parseParams(req, raw);
    if (params === undefined) {
      return this.fail(res, { status: 400, description: "Bad Request: can't parse JSON" });
    }
    const chatId =
      typeof params.chat_id === 'string' || typeof params.chat_id === 'number'
        ? String(params.chat_id)
        : '';
    if (chatId === '')
      return this.fail(res, { status: 400, description: 'Bad Request: chat_id is empty' });
    this.counts.set(chatId, this.requests(chatId) + 1);
    if (this.storm) return this.fail(res, this.storm);
    const refusal = this.scripted(chatId);
    if (refusal?.notJson !== undefined) {
      res.writeHead(refusal.notJson, { 'content-type': 'text/html' });
      return void res.end(`<html><body><h1>${refusal.notJson}</h1></body></html>`);
    }
    if (refusal?.error) return this.fail(res, refusal.error);
    const text = typeof params.text === 'string' ? params.text : '';
    const parseMode = typeof params.parse_mode === 'string' ? params.parse_mode : undefined;
    const invalid = this.checkText(text, parseMode);
    if (invalid) return this.fail(res, { status: 400, description: `Bad Request: ${invalid}` });
    const accept = () => {
      const message: ReceivedTelegramMessage = {
        chatId,
        text,
        parseMode,
        messageId: this.nextMessageId++,
        disableWebPagePreview: params.disable_web_page_preview === true,
        at: Date.now(),
      };
      this.received.push(message);
      this.ok(res, {
        message_id: message.messageId,
        date: Math.floor(message.at / 1000),
        chat: { id: Number(chatId) || chatId, type: 'private' },
        text,
      });
    };
    const behaviour = this.behaviours.get(chatId)?.behaviour;
    if (behaviour?.kind !== 'slow') return accept();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      accept();
    }, behaviour.ms);
    this.timers.add(timer);
  }

  /** The scripted refusal for this request, if any. */
  private scripted(chatId: string): { error?: TelegramError; notJson?: number } | undefined {
    const entry = this.behaviours.get(chatId);
    if (!entry) return undefined;
    const b = entry.behaviour;
    const limited = (times: number | undefined) => times === undefined || entry.used++ < times;
    switch (b.kind) {
      case 'rate_limit':
        if (!limited(b.times)) return undefined;
        return {
          error: {
            status: 429,
            description: `Too Many Requests: retry after ${b.retryAfterSeconds}`,
            parameters: { retry_after: b.retryAfterSeconds },
          },
        };
      case 'server_error':
        if (!limited(b.times)) return undefined;
        return { error: { status: 500, description: 'Internal Server Error' } };
      case 'blocked':
        return { error: { status: 403, description: 'Forbidden: bot was blocked by the user' } };
      case 'chat_not_found':
        return { error: { status: 400, description: 'Bad Request: chat not found' } };
      case 'migrate':
        return {
          error: {
            status: 400,
            description: 'Bad Request: group chat was upgraded to a supergroup chat',
            parameters: { migrate_to_chat_id: Number(b.to) },
          },
        };
      case 'bad_request':
        return { error: { status: 400, description: b.description } };
      case 'not_json':
        return { notJson: b.status };
      default:
        return undefined;
    }
  }

  private checkText(text: string, parseMode: string | undefined): string | undefined {
    if (parseMode !== undefined && !PARSE_MODES.has(parseMode)) return 'unsupported parse_mode';
    if (text.trim() === '') return 'message text is empty';
    const problem =
      parseMode === 'MarkdownV2'
        ? markdownV2Problem(text)
        : parseMode === 'HTML'
          ? htmlProblem(text)
          : undefined;
    if (problem) return `can't parse entities: ${problem}`;
    const mode = parseMode === 'MarkdownV2' || parseMode === 'HTML' ? parseMode : undefined;
    if (telegramTextLength(text, mode) > TELEGRAM_TEXT_LIMIT) return 'message is too long';
    return undefined;
  }

  private ok(res: ServerResponse, result: unknown): void {
    this.json(res, 200, { ok: true, result });
  }

  private fail(res: ServerResponse, error: TelegramError): void {
    this.json(res, error.status, {
      ok: false,
      error_code: error.status,
      description: error.description,
      ...(error.parameters ? { parameters: error.parameters } : {}),
    });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}
