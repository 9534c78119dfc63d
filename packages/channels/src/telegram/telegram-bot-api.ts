import http from 'node:http';
import https from 'node:https';
import { classifyTelegramTransportError, type TelegramReply } from './classify-telegram-error';

export interface TelegramBotApiOptions {
  /** e.g. https://api.telegram.org; a path prefix (behind a proxy) is kept. */
  apiUrl: string;
  botToken: string;
  /** Deadline for one call: connect, send, and the whole answer. */
  timeoutMs: number;
  /** Keep-alive connections to the API (default 50). */
  connections?: number;
  /** An agent the caller owns (and closes); by default the client keeps its own pool. */
  agent?: http.Agent;
}

export interface BotApiAnswer {
  status: number;
  /** undefined when the body is not Bot API JSON (a proxy's error page, say). */
  reply: TelegramReply | undefined;
}

/** A Bot API reply is small; anything bigger is not one. */
const MAX_ANSWER_BYTES = 1024 * 1024;

export interface TelegramBotApi {
  /**
   * POSTs JSON to `/bot<token>/<method>`. Resolves with any HTTP answer;
   * rejects with a classified DeliveryError when there is none (timeout,
   * refused, reset). No message it produces contains the token.
   */
  call(method: string, params: Record<string, unknown>): Promise<BotApiAnswer>;
  close(): Promise<void>;
}

function errorWithCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function parseReply(body: string): TelegramReply | undefined {
  try {
    const value: unknown = JSON.parse(body);
    if (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as TelegramReply).ok === 'boolean'
    ) {
      return value as TelegramReply;
    }
  } catch {
    // not JSON: the caller classifies a missing reply
  }
  return undefined;
}

/**
 * The HTTP side of the Bot API: one keep-alive connection pool per client
 * (node:http's Agent), JSON in and out, a deadline per call. Built on
 * node:http rather than undici: undici 8 requires Node >= 22.19 and fails to
 * load on Node 20, which Herald supports.
 */
export function createTelegramBotApi(options: TelegramBotApiOptions): TelegramBotApi {
  const base = new URL(options.apiUrl);
  const transport = base.protocol === 'https:' ? https : http;
  const ownAgent = options.agent === undefined;
  const agent =
    options.agent ??
    new transport.Agent({
      keepAlive: true,
      maxSockets: options.connections ?? 50,
      scheduling: 'lifo',
    });
  const pathPrefix = base.pathname.replace(/\/+$/, '');
  const token = options.botToken;
  const redact = (text: string) => (token ? text.split(token).join('<bot-token>') : text);

  function call(method: string, params: Record<string, unknown>): Promise<BotApiAnswer> {
    const body = Buffer.from(JSON.stringify(params));
    return new Promise<BotApiAnswer>((resolve, reject) => {
      let req: http.ClientRequest;
      try {
        req = transport.request({
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port,
          path: `${pathPrefix}/bot${token}/${method}`,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            accept: 'application/json',
          },
        });
      } catch (err) {
        // Node refuses the request line itself, e.g. a token with characters a path cannot hold.
        return reject(classifyTelegramTransportError(method, err, redact));
      }
      const deadline = setTimeout(
        () => req.destroy(errorWithCode(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT')),
        options.timeoutMs,
      );
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        finish();
      };
      const fail = (err: unknown) =>
        settle(() => reject(classifyTelegramTransportError(method, err, redact)));

      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
          else
            req.destroy(errorWithCode('answer larger than any Bot API reply', 'ERESPONSETOOLARGE'));
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(errorWithCode('connection closed mid-answer', 'ECONNRESET'));
        });
        res.on('end', () => {
          const reply = parseReply(Buffer.concat(chunks).toString('utf8'));
          settle(() => resolve({ status: res.statusCode ?? 0, reply }));
        });
      });
      req.end(body);
    });
  }

  return {
    call,
    async close() {
      if (ownAgent) agent.destroy();
    },
  };
}
