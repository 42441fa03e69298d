import { keccak256, stringToHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

/**
 * The first 20 accounts of "test test ... junk", the mnemonic anvil and hardhat fund
 * (written out: deriving them costs ~0.5 s of PBKDF2 at every start; a test re-derives them).
 */
export const ANVIL_ADDRESSES: readonly string[] = [
  "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
  "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
  "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
  "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
  "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
  "0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc",
  "0x976ea74026e726554db657fa54763abd0c3a0aa9",
  "0x14dc79964da2c08b23698b3d3cc7ca32193d9955",
  "0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f",
  "0xa0ee7a142d267c1f36714e4a8f75612f20a79720",
  "0xbcd4042de499d14e55001ccbb24a551f3b954096",
  "0x71be63f3384f5fb98995898a86b02fb2426c5788",
  "0xfabb0ac9d68b0b445fb7357272ff202c5651694a",
  "0x1cbd3b2770909d4e10f157cabc84c7264073c9ec",
  "0xdf3e18d64bc6a983f673ab319ccae4f1a57c7097",
  "0xcd3b766ccdd6ae721141f452c550ca635964ce71",
  "0x2546bcd3c84621e976d8185a91a922ae77ecec30",
  "0xbda5747bfd65f08deb54cb465eb87d40e51b197e",
  "0xdd2fd4581271e230360230f9337d5c0430bf44c0",
  "0x8626f6940e2eb28930efb4cef49b2d1f2c9c1199",
];
/** Accounts checked per role of the devnet's keys: devnets start a handful of each. */
const DEV_ACCOUNTS = 16;

/** Labels of the single devnet and test keys (`devKey(label)`). */
const NAMED_DEV_KEYS = [
  "gateway",
  "client",
  "client-2",
  "subnet-owner",
  "deployer",
  "alice",
  "bob",
  "outsider",
  "escrow-agent",
  "escrow-client",
  "escrow-gateway",
];

function devAddress(label: string): string {
  return privateKeyToAccount(keccak256(stringToHex(`ncn-dev:${label}`))).address.toLowerCase();
}

let published: Set<string> | undefined;

/**
 * Addresses of keys anyone can derive: anvil's default accounts and the devnet's
 * `keccak256("ncn-dev:<label>")` keys (`contracts/ts/local-chain.ts`). An agent using one
 * against a real gateway signs receipts anyone could forge or redirect. Built on first use.
 */
function publishedAddresses(): Set<string> {
  if (published) return published;
  const set = new Set<string>(ANVIL_ADDRESSES);
  for (let i = 0; i < DEV_ACCOUNTS; i++) {
    for (const label of [`agent-${i}`, `validator-${i}`, `node-${i}`, `newcomer-${i}`])
      set.add(devAddress(label));
  }
  for (const label of NAMED_DEV_KEYS) set.add(devAddress(label));
  published = set;
  return set;
}

/**
 * Whether `address` belongs to a published development key (see `publishedAddresses`).
 *
 * @example isPublishedDevKey(privateKeyToAccount(devKey("agent-0")).address) // true
 */
export function isPublishedDevKey(address: string): boolean {
  return publishedAddresses().has(address.toLowerCase());
}

/**
 * Whether a URL points at this machine (`localhost`, 127.0.0.0/8, ::1), after the URL
 * parser's normalisation (`0x7f.1` is 127.0.0.1). A published development key is only ever
 * acceptable against a chain or gateway there.
 */
export function isLoopbackUrl(url: string): boolean {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return false;
  }
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
