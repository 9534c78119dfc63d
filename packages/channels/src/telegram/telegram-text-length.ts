import type { TelegramContent } from '@herald/core';

export type TelegramParseMode = NonNullable<TelegramContent['parseMode']>;

/** sendMessage takes 1-4096 characters of text "after entities parsing". */
export const TELEGRAM_TEXT_LIMIT = 4096;

/**
 * The length Telegram holds against TELEGRAM_TEXT_LIMIT: the text as shown,
 * after entity parsing (tags, markup characters, escapes and link URLs do
 * not count), in UTF-16 code units, the unit Telegram measures entities in.
 * A character outside the BMP (most emoji) therefore counts 2.
 *
 * For markup this is a lower bound: what might be markup is not counted, so
 * a message Telegram would take is never refused here; anything that slips
 * through gets Telegram's own 400 "message is too long".
 */
export function telegramTextLength(text: string, parseMode?: TelegramParseMode): number {
  if (parseMode === 'HTML') return htmlLength(text);
  if (parseMode === 'MarkdownV2') return markdownV2Length(text);
  return text.length;
}

/** `&lt;`, `&#128512;`, `&#x1F600;`: each shows as one character (two units if astral). */
const HTML_ENTITY = /&(?:#x([0-9a-f]{1,6})|#(\d{1,7})|[a-z]{2,8});/iy;

function htmlLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<') {
      const end = text.indexOf('>', i);
      if (end !== -1) {
        i = end;
        continue;
      }
    } else if (c === '&') {
      HTML_ENTITY.lastIndex = i;
      const m = HTML_ENTITY.exec(text);
      if (m) {
        const codePoint = m[1] ? parseInt(m[1], 16) : m[2] ? Number(m[2]) : 0;
        n += codePoint > 0xffff ? 2 : 1;
        i += m[0].length - 1;
        continue;
      }
    }
    n += 1;
  }
  return n;
}

/** Index of the next unescaped `delimiter` at or after `from`, or text.length. */
function findClosing(text: string, from: number, delimiter: string): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text.startsWith(delimiter, i)) return i;
  }
  return text.length;
}

/** Characters shown for text[start, end) inside code, where `\x` shows as x. */
function codeLength(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    if (text[i] === '\\') i += 1;
    n += 1;
  }
  return n;
}

function markdownV2Length(text: string): number {
  let n = 0;
  // Only `*` seen since the line began: `>` and `**>` open a block quote there.
  let lineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      n += 1;
      i += 1;
    } else if (text.startsWith('```', i)) {
      // Pre block: the opening line names a language and is not shown.
      const close = findClosing(text, i + 3, '```');
      const newline = text.indexOf('\n', i + 3);
      n += codeLength(text, newline !== -1 && newline < close ? newline + 1 : i + 3, close);
      i = close + 2;
    } else if (c === '`') {
      const close = findClosing(text, i + 1, '`');
      n += codeLength(text, i + 1, close);
      i = close;
    } else if (c === ']' && text[i + 1] === '(') {
      // The URL of a link or custom emoji is not shown.
      i = findClosing(text, i + 2, ')');
    } else if (c === '*' && lineStart) {
      continue;
    } else if (
      c === '*' ||
      c === '_' ||
      c === '~' ||
      c === '|' ||
      c === '[' ||
      (c === '>' && lineStart) ||
      (c === '!' && text[i + 1] === '[')
    ) {
      // Entity delimiters are not shown.
    } else {
      n += 1;
      lineStart = c === '\n';
      continue;
    }
    lineStart = false;
  }
  return n;
}
