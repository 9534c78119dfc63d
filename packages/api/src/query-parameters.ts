/**
 * The query's parameters, without a nameless one (`?=x` or `?&`): there is no
 * parameter to name in an error, and nothing a strict schema should refuse.
 */
export function namedParameters(query: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([name]) => name !== ''));
}
