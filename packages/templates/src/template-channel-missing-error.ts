import type { Channel } from '@herald/core';

/** The template has no content for the channel asked for (in any locale). */
export class TemplateChannelMissingError extends Error {
  constructor(
    readonly channel: Channel,
    readonly available: readonly Channel[],
  ) {
    super(
      `the template has no ${channel} content (it has ${available.join(', ') || 'no channels'})`,
    );
    this.name = 'TemplateChannelMissingError';
  }
}
