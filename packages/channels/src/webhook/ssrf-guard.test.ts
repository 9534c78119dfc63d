import type { LookupAddress } from 'node:dns';
import net from 'node:net';
import { DeliveryError } from '@herald/core';
import {
  addressRange,
  assertPublicAddresses,
  checkWebhookTarget,
  createGuardedLookup,
  isPublicAddress,
} from './ssrf-guard';

const refusal = (fn: () => unknown): DeliveryError | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as DeliveryError;
  }
};

describe('addressRange / isPublicAddress', () => {
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '2606:4700::1111',
    '2001:4860:4860::8888',
    '64:ff9b::808:808', // NAT64 of 8.8.8.8
    '::ffff:8.8.8.8',
  ])('%s is public', (address) => {
    expect(addressRange(address)).toBe('unicast');
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['64:ff9b::7f00:1', 'loopback'], // NAT64 of 127.0.0.1
    ['64:ff9b:1::a00:1', 'rfc6052'], // local-use NAT64 prefix
    ['::7f00:1', 'ipv4Compatible'], // deprecated IPv4-compatible ::127.0.0.1
    ['2002:7f00:1::1', '6to4'],
    ['localhost', 'invalid'],
  ])('%s is refused (%s)', (address, range) => {
    expect(addressRange(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });
});

describe('assertPublicAddresses', () => {
  it('passes when every address is public', () => {
    expect(() => assertPublicAddresses(['8.8.8.8', '2606:4700::1111'])).not.toThrow();
  });

  it('refuses a name if any of its addresses is not public (DNS rebinding)', () => {
    const err = refusal(() => assertPublicAddresses(['8.8.8.8', '127.0.0.1']));
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err?.code).toBe('target_refused');
    expect(err?.permanent).toBe(true);
    expect(err?.message).toMatch(/loopback/);
    expect(refusal(() => assertPublicAddresses([]))?.code).toBe('target_refused');
  });
});

describe('checkWebhookTarget', () => {
  const guarded = { allowPrivate: false };
  const open = { allowPrivate: true };

  it.each([
    'http://127.0.0.1:8080/x',
    'http://2130706433/', // 127.0.0.1 as one number
    'http://0x7f.0.0.1/',
    'http://[::1]:8080/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://[::127.0.0.1]/x',
    'http://10.0.0.1/x',
    'http://169.254.169.254/latest/meta-data',
    'http://0.0.0.0:8080/',
    'https://[fd00::1]/',
  ])('refuses the private literal %s', (url) => {
    expect(refusal(() => checkWebhookTarget(url, guarded))?.code).toBe('target_refused');
    expect(() => checkWebhookTarget(url, open)).not.toThrow();
  });

  it.each([
    'ftp://example.com/x',
    'file:///etc/passwd',
    'gopher://example.com/',
    'https://user:pass@example.com/x',
    'https://user@example.com/x',
  ])('refuses %s even when private targets are allowed', (url) => {
    expect(refusal(() => checkWebhookTarget(url, guarded))?.code).toBe('target_refused');
    expect(refusal(() => checkWebhookTarget(url, open))?.code).toBe('target_refused');
  });

  it('lets public literals and names through (names are checked when resolved)', () => {
    expect(checkWebhookTarget('https://8.8.8.8/hook', guarded).hostname).toBe('8.8.8.8');
    expect(checkWebhookTarget('https://hooks.example.com/a', guarded).hostname).toBe(
      'hooks.example.com',
    );
  });

  it('calls an unparseable URL an invalid address', () => {
    expect(refusal(() => checkWebhookTarget('not a url', guarded))?.code).toBe('invalid_address');
  });
});

describe('createGuardedLookup', () => {
  const lookup = createGuardedLookup();
  const run = (hostname: string, all: boolean) =>
    new Promise<{ err: Error | null; address: string | LookupAddress[] }>((resolve) =>
      lookup(hostname, { all }, (err, address) => resolve({ err, address })),
    );

  it.each([false, true])('refuses localhost, resolved by the system (all: %p)', async (all) => {
    const { err } = await run('localhost', all);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).code).toBe('target_refused');
  });

  it('refuses a private literal handed to it', async () => {
    const { err } = await run('10.0.0.1', true);
    expect((err as DeliveryError).code).toBe('target_refused');
  });
});

describe('why literal IPs are checked before connecting', () => {
  let server: net.Server;
  let port: number;

  beforeAll(async () => {
    server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const connectCountingLookups = (host: string) =>
    new Promise<number>((resolve) => {
      let calls = 0;
      const socket = net.connect({
        host,
        port,
        lookup: (hostname, options, callback) => {
          calls++;
          callback(null, options.all ? [{ address: '127.0.0.1', family: 4 }] : '127.0.0.1', 4);
        },
      });
      socket.on('connect', () => socket.destroy());
      socket.on('error', () => {});
      socket.on('close', () => resolve(calls));
    });

  it('net.connect does not call lookup for an IP literal, only for a name', async () => {
    expect(await connectCountingLookups('127.0.0.1')).toBe(0);
    expect(await connectCountingLookups('localhost')).toBe(1);
  });
});
