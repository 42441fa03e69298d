/**
 * IP address parsing and classification for the model-source policy. Parsing accepts
 * every spelling a resolver or URL parser might hand over (inet_aton's 1-4 part decimal,
 * hex and octal IPv4; compressed IPv6 with an embedded IPv4 tail), so that no spelling of
 * a loopback or private address slips past as "not an IP".
 */

/** The 4 bytes of an IPv4 address in any inet_aton spelling, or null. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length < 1 || parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = Number.parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return null;
    if (!Number.isSafeInteger(value)) return null;
    values.push(value);
  }
  // inet_aton: every part but the last is one byte; the last fills the remaining bytes.
  const last = values.pop() as number;
  if (values.some((x) => x > 255)) return null;
  const lastBytes = 4 - values.length;
  if (last >= 2 ** (8 * lastBytes)) return null;
  const out = new Uint8Array(4);
  values.forEach((x, i) => {
    out[i] = x;
  });
  for (let i = 0; i < lastBytes; i++) out[3 - i] = Math.floor(last / 2 ** (8 * i)) % 256;
  return out;
}

/** The 16 bytes of an IPv6 address (brackets allowed, no zone id), or null. */
export function parseIPv6(text: string): Uint8Array | null {
  let s = text.toLowerCase();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  if (!s.includes(":") || s.includes("%")) return null;
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const items = half.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string;
      if (i === items.length - 1 && item.includes(".")) {
        // A dotted IPv4 tail is strict dotted-quad decimal here, as RFC 4291 writes it.
        if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(item)) return null;
        const v4 = parseIPv4(item);
        if (!v4) return null;
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else {
        if (!/^[0-9a-f]{1,4}$/.test(item)) return null;
        out.push(Number.parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] as string);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

type Cidr = readonly [prefix: readonly number[], bits: number];

/** IPv4 ranges that are not reachable public unicast: the agent never fetches from them. */
const NON_PUBLIC_V4: readonly Cidr[] = [
  [[0], 8], // "this network", 0.0.0.0
  [[10], 8],
  [[100, 64], 10], // carrier-grade NAT
  [[127], 8],
  [[169, 254], 16], // link-local, cloud metadata
  [[172, 16], 12],
  [[192, 0, 0], 24],
  [[192, 0, 2], 24],
  [[192, 88, 99], 24],
  [[192, 168], 16],
  [[198, 18], 15],
  [[198, 51, 100], 24],
  [[203, 0, 113], 24],
  [[224], 4], // multicast
  [[240], 4], // reserved, broadcast
];

const NON_PUBLIC_V6: readonly Cidr[] = [
  [[], 96], // ::, ::1 and the deprecated IPv4-compatible block
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48], // local-use NAT64
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64], // discard-only
  [[0x20, 0x01, 0x00], 23], // IETF protocol assignments, Teredo included
  [[0x20, 0x01, 0x0d, 0xb8], 32], // documentation
  [[0xfc], 7], // unique local
  [[0xfe, 0x80], 10], // link-local
  [[0xfe, 0xc0], 10], // old site-local
  [[0xff], 8], // multicast
];

function inCidr(bytes: Uint8Array, [prefix, bits]: Cidr): boolean {
  for (let i = 0; i * 8 < bits; i++) {
    const take = Math.min(8, bits - i * 8);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[i] as number) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

function isPublicV4(bytes: Uint8Array): boolean {
  return !NON_PUBLIC_V4.some((c) => inCidr(bytes, c));
}

function isPublicV6(bytes: Uint8Array): boolean {
  // Addresses that carry an IPv4 address are judged by that address.
  if (inCidr(bytes, [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96])) return isPublicV4(bytes.subarray(12));
  if (inCidr(bytes, [[0x00, 0x64, 0xff, 0x9b], 96])) return isPublicV4(bytes.subarray(12));
  if (inCidr(bytes, [[0x20, 0x02], 16])) return isPublicV4(bytes.subarray(2, 6));
  return !NON_PUBLIC_V6.some((c) => inCidr(bytes, c));
}

/** An IP literal in any spelling: its family and bytes; null for a host name. */
export function parseIpLiteral(host: string): { family: 4 | 6; bytes: Uint8Array } | null {
  const v6 = parseIPv6(host);
  if (v6) return { family: 6, bytes: v6 };
  const v4 = parseIPv4(host);
  return v4 ? { family: 4, bytes: v4 } : null;
}

/**
 * Is this IP literal a public unicast address? Loopback, private (RFC 1918, 100.64/10,
 * fc00::/7), link-local, unspecified, multicast, reserved and documentation ranges are
 * not, nor IPv4-mapped, NAT64 or 6to4 addresses that embed one of them.
 *
 * @example isPublicAddress("0x7f.1") // false: 127.0.0.1
 */
export function isPublicAddress(address: string): boolean {
  const ip = parseIpLiteral(address);
  if (!ip) return false;
  return ip.family === 4 ? isPublicV4(ip.bytes) : isPublicV6(ip.bytes);
}
