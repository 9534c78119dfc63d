/**
 * Escaping for Telegram's two markup modes, so text shows literally.
 * Shared with the templates package, which escapes variables the same way.
 */

/**
 * Every character MarkdownV2 reserves outside code and links, plus the
 * backslash itself (core.telegram.org/bots/api#markdownv2-style). Escaping
 * all of them is always valid: any character from 1 to 126 may be escaped.
 */
const MARKDOWN_V2_SPECIAL = /[_*[\]()~`>#+\-=|{}.!\\]/g;

/** Plain text → MarkdownV2 that Telegram displays exactly as the input. */
export function escapeMarkdownV2(text: string): string {
  return text.replace(MARKDOWN_V2_SPECIAL, '\\$&');
}

const HTML_ENTITY: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
};

/**
 * Plain text → Telegram HTML that displays exactly as the input. Telegram
 * requires &, < and > to be entities; `"` becomes &quot; (which Telegram
 * supports) so the result is also safe inside an attribute such as href.
 */
export function escapeTelegramHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => HTML_ENTITY[c] ?? c);
}
