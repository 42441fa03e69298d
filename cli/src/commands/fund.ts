import { createNcnClient, transferTokens } from "@ncn/contracts/actions";
import { BaseError } from "@ncn/protocol";
import { defineCommand } from "citty";
import { createTestClient, formatEther, getAddress, http, parseEther } from "viem";
import { getBalance, setBalance } from "viem/actions";
import { loadDevnetFile } from "../devnet-file.ts";
import { fail, output } from "../output.ts";
import { parseNcn } from "./key.ts";

/** Ether for gas and, with --ncn, tokens from the devnet's client: what a new key needs to try things. */
export const fundCommand = defineCommand({
  meta: {
    name: "fund",
    description:
      "Devnet only: give an address ether for gas (an agent withdrawing its earnings, a client of your own) and, with --ncn, NCN",
  },
  args: {
    address: { type: "positional", description: "0x-prefixed address to fund", required: true },
    eth: { type: "string", description: "ether to add (default 1)" },
    ncn: { type: "string", description: "NCN to send from the devnet's client (default 0)" },
    json: { type: "boolean", description: "Print JSON" },
  },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      let to: `0x${string}`;
      try {
        to = getAddress(String(args.address));
      } catch {
        throw new BaseError(
          "INVALID_INPUT",
          `address must be a 0x-prefixed 20-byte address, got ${args.address}`,
        );
      }
      const eth = args.eth === undefined ? parseEther("1") : parseEth(String(args.eth));
      const ncn = args.ncn === undefined ? 0n : parseNcn(String(args.ncn), "--ncn");
      const file = loadDevnetFile();
      const host = new URL(file.chain.rpcUrl).hostname;
      if (host !== "127.0.0.1" && host !== "localhost") {
        throw new BaseError(
          "FORBIDDEN",
          `the devnet's chain is ${file.chain.rpcUrl}: only a local devnet chain can be funded`,
        );
      }
      const test = createTestClient({ mode: "anvil", transport: http(file.chain.rpcUrl) });
      const before = await getBalance(test, { address: to });
      if (eth > 0n) await setBalance(test, { address: to, value: before + eth });
      if (ncn > 0n) {
        const client = createNcnClient({
          rpcUrl: file.chain.rpcUrl,
          chainId: file.chain.chainId,
          account: file.client.privateKey as `0x${string}`,
        });
        await transferTokens(client, { token: file.chain.contracts.token }, { to, amount: ncn });
      }
      const balance = await getBalance(test, { address: to });
      output(
        json,
        { address: to, eth: balance.toString(), ncnSent: ncn.toString() },
        () =>
          `${to} now holds ${formatEther(balance)} ETH${ncn > 0n ? `; sent ${formatEther(ncn)} NCN` : ""}`,
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

function parseEth(text: string): bigint {
  if (!/^\d+(\.\d{1,18})?$/.test(text)) {
    throw new BaseError("INVALID_INPUT", "--eth must be an amount of ether such as 1 or 0.5");
  }
  const wei = parseEther(text);
  if (wei > parseEther("1000")) throw new BaseError("INVALID_INPUT", "--eth is at most 1000");
  return wei;
}
