import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { DeliveryError } from '@herald/core';
import ipaddr from 'ipaddr.js';

/**
 * Server-side request forgery guard for webhook targets. A webhook URL is
 * chosen by an API client, so unless WEBHOOK_ALLOW_PRIVATE is set we only
 * connect to public unicast addresses. The check is made on the addresses a
 * name resolves to when the connection is made (see createGuardedLookup), not
 * on the name, so `localhost`, internal names and DNS rebinding are caught.
 */

/**
 * The ipaddr.js range of an address, with IPv4 inside IPv6 (::ffff:a.b.c.d,
 * NAT64 64:ff9b::a.b.c.d) judged by the IPv4 address it carries. `unicast`
 * means public; anything else is refused.
 */
export function addressRange(address: string): string {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[(.*)\]$/, '$1'));
  } catch {
    return 'invalid';
  }
  if (parsed.kind() === 'ipv4') return parsed.range();
  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  if (range === 'ipv4Mapped') return v6.toIPv4Address().range();
  const parts = v6.parts;
  // NAT64 well-known prefix (RFC 6052): the last 32 bits are the IPv4 target.
  if (range === 'rfc6052' && parts[2] === 0) {
    return ipaddr.fromByteArray(v6.toByteArray().slice(12)).range();
  }
  // ::/96 other than :: and ::1 is the deprecated IPv4-compatible form (::7f00:1 = ::127.0.0.1).
  if (range === 'unicast' && parts.slice(0, 6).every((p) => p === 0)) return 'ipv4Compatible';
  return range;
}

/** True for public unicast addresses, the only ones a guarded webhook may reach. */
export function isPublicAddress(address: string): boolean {
  return addressRange(address) === 'unicast';
}

function refused(reason: string): DeliveryError {
  return new DeliveryError('target_refused', `webhook target refused: ${reason}`);
}

/**
 * Throws target_refused unless every address is public. (Addresses go in the
 * error only as their range: the target is the recipient's address.)
 */
export function assertPublicAddresses(addresses: readonly string[]): void {
  if (addresses.length === 0) throw refused('the name resolved to no address');
  for (const address of addresses) {
    const range = addressRange(address);
    if (range !== 'unicast') throw refused(`it resolves to a ${range} address`);
  }
}

export interface WebhookTargetPolicy {
  /** Allow private, loopback and link-local targets (development and tests only). */
  allowPrivate: boolean;
}

/**
 * Checks what can be checked before connecting: the scheme, credentials in
 * the URL, and literal IP hosts (Node's net.connect does not call `lookup`
 * for an IP literal, so the guarded lookup never sees those). Names are
 * checked later, by createGuardedLookup, on the addresses they resolve to.
 */
export function checkWebhookTarget(target: string | URL, policy: WebhookTargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(target);
  } catch (err) {
    throw new DeliveryError('invalid_address', 'webhook URL is not a valid URL', { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw refused(`scheme ${url.protocol} is not http or https`);
  }
  if (url.username !== '' || url.password !== '') {
    throw refused('URLs with credentials are not allowed');
  }
  if (!policy.allowPrivate) {
    // WHATWG URL parsing normalises 2130706433, 0x7f.1 and friends to dotted IPv4.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0) assertPublicAddresses([host]);
  }
  return url;
}

/**
 * A `lookup` for net.connect (through the http Agent) that resolves every
 * address of the name and fails the connection unless all of them are
 * public. The socket connects only to addresses this function returned, so
 * what was checked is what is connected to.
 */
export function createGuardedLookup(): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      try {
        assertPublicAddresses(addresses.map((a) => a.address));
      } catch (refusal) {
        return callback(refusal as DeliveryError, '');
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
