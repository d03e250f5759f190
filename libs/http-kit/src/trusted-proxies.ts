/**
 * Whose word on X-Forwarded-For is taken, for `request.ip` (the per-address rate limit keys on it). Every proxy
 * appends the address it saw to the header, so the client's address is `hops` entries from the end, and whatever the
 * client wrote there itself comes before it and is never reached. The nearest proxy (the ALB, the local edge, nginx)
 * must also be the peer of the connection and on a private network: a client that reaches a task directly, from a
 * public address, is taken at its own address whatever headers it sends (Fastify's own hop count trusts any peer).
 * With CloudFront before the ALB, hops is 2.
 */
import { BlockList, isIPv4 } from 'node:net';

const PRIVATE = new BlockList();
PRIVATE.addSubnet('10.0.0.0', 8); // VPCs
PRIVATE.addSubnet('172.16.0.0', 12); // VPCs, Docker networks
PRIVATE.addSubnet('192.168.0.0', 16);
PRIVATE.addSubnet('100.64.0.0', 10); // carrier-grade NAT, also used for VPC secondary ranges
PRIVATE.addSubnet('127.0.0.0', 8);
PRIVATE.addSubnet('169.254.0.0', 16);
PRIVATE.addSubnet('::1', 128, 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6'); // unique local
PRIVATE.addSubnet('fe80::', 10, 'ipv6'); // link local

/** A loopback, private or link-local address (an IPv4 address mapped into IPv6 counts as itself). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped ? mapped[1]! : address;
  try {
    return PRIVATE.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
  } catch {
    return false; // not an address at all
  }
}

/** Fastify's trustProxy function: hop 0 is the connection's peer, hop 1 the last X-Forwarded-For entry, and so on. */
export function trustedProxies(hops: number): (address: string, hop: number) => boolean {
  return (address, hop) => (hop === 0 ? hops > 0 && isPrivateAddress(address) : hop < hops);
}
