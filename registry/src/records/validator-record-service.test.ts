import { afterEach, describe, expect, test } from "bun:test";
import { generatePrivateKey } from "viem/accounts";
import { openDatabase } from "../store/database.ts";
import { attestationSigner } from "../validation/attestation-signer.ts";
import { checkRecord } from "./check-record.ts";
import { RecordIndex } from "./record-index.ts";
import { validatorRecordService } from "./validator-record-service.ts";

const dbs: ReturnType<typeof openDatabase>[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

function index(): RecordIndex {
  const db = openDatabase(":memory:");
  dbs.push(db);
  return new RecordIndex(db);
}

const libp2p = { peerId: { toString: () => "12D3KooWtest" } };
const api = { url: "http://127.0.0.1:4747" };

describe("the validator record", () => {
  test("a validator publishes its signed record as its own on start: address, peer id, URL and stake", async () => {
    const signer = attestationSigner(generatePrivateKey());
    const records = index();
    const validatorSet = { stakeOf: async () => 1_000n };
    await validatorRecordService({})({ index: records, signer, validatorSet, libp2p, api }).start();
    const own = records.ownRecords();
    expect(own).toHaveLength(1);
    const record = await checkRecord(own[0]);
    expect(record.kind).toBe("validator");
    expect(record.key).toBe(signer.address);
    const body: unknown = record.body;
    expect(body).toEqual({
      address: signer.address,
      peerId: "12D3KooWtest",
      url: api.url,
      stake: "1000",
    });
  });

  test("a restart signs a newer record, at the public URL when one is set; an unreadable stake is 0", async () => {
    const signer = attestationSigner(generatePrivateKey());
    const records = index();
    const validatorSet = {
      stakeOf: async (): Promise<bigint> => {
        throw new Error("chain down");
      },
    };
    const components = { index: records, signer, validatorSet, libp2p, api };
    await validatorRecordService({})(components).start();
    const first = records.get("validator", signer.address)?.record;
    await validatorRecordService({ publicUrl: "https://validator.example" })(components).start();
    const second = records.get("validator", signer.address)?.record;
    expect(second?.seq).toBeGreaterThan(first?.seq ?? Number.POSITIVE_INFINITY);
    expect(second?.body).toMatchObject({ url: "https://validator.example", stake: "0" });
  });

  test("a node without a validator key publishes nothing", async () => {
    const records = index();
    await validatorRecordService({})({ index: records, libp2p, api }).start();
    expect(records.size).toBe(0);
  });
});
