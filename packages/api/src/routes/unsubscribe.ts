import express, { Router } from 'express';
import { verifyUnsubscribeToken } from '@herald/core';
import { unsubscribeFromCategory, type Database } from '@herald/db';

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text from a token (signed by us, but its category once came from an API caller) as HTML. */
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>${title}</h1><p>${body}</p></body></html>`;
}

/**
 * One-click unsubscribe (RFC 8058): the link in a campaign email's
 * List-Unsubscribe header, signed, no login. GET (a person clicking) and POST
 * (a mail client's one-click) both turn the category off for the recipient.
 */
export function unsubscribeRoutes(deps: {
  db: Database;
  secret?: string;
  /** The key before a rotation: links in emails already sent must keep working. */
  previousSecret?: string;
}): Router {
  const secrets = [deps.secret, deps.previousSecret].filter((s): s is string => s !== undefined);
  const router = Router();
  const handle: express.RequestHandler = async (req, res) => {
    // The page runs nothing and loads nothing: whatever text got into it stays text.
    res.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
    const token = String(req.params.token);
    const claim = secrets
      .map((secret) => verifyUnsubscribeToken(secret, token))
      .find((c) => c !== undefined);
    if (!claim) {
      res
        .status(404)
        .type('html')
        .send(page('Link not valid', 'This unsubscribe link is not valid.'));
      return;
    }
    const found = await unsubscribeFromCategory(deps.db.pool, claim.recipientId, claim.category);
    // Done or already gone (an erased recipient): either way, no more of these messages.
    res
      .status(200)
      .type('html')
      .send(
        page(
          'Unsubscribed',
          found
            ? `You will no longer receive ${escapeHtml(claim.category)} messages.`
            : 'You will no longer receive these messages.',
        ),
      );
  };
  router.get('/u/:token', handle);
  // One-click POSTs are form-encoded (List-Unsubscribe=One-Click); the body carries nothing we need.
  router.post('/u/:token', express.urlencoded({ extended: false, limit: '1kb' }), handle);
  return router;
}
