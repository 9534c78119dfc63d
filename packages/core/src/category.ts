import { z } from 'zod';

/**
 * A preference category ("marketing", "billing.receipts"): what recipients
 * opt out of, and what unsubscribe links and pages name. Kept to a plain
 * token so it is safe wherever it is shown.
 */
export const categorySchema = z
  .string()
  .regex(/^[\w.-]{1,64}$/, 'a category: 1 to 64 letters, digits, _ . or -');
