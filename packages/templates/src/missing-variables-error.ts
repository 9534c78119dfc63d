/**
 * The data lacks variables the template uses: nothing is rendered rather
 * than a message with holes. `variables` are root names, sorted.
 */
export class MissingVariablesError extends Error {
  readonly variables: readonly string[];

  constructor(variables: readonly string[], context = 'the template') {
    const sorted = [...variables].sort();
    super(`missing variables for ${context}: ${sorted.join(', ')}`);
    this.name = 'MissingVariablesError';
    this.variables = sorted;
  }
}
