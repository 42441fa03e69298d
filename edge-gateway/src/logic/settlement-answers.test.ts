import { describe, expect, test } from "bun:test";
import { judgeAnswers, type SettlementAnswer } from "./settlement-answers.ts";

const [A, B, C] = ["http://a", "http://b", "http://c"] as const;
const all = { threshold: 2, validators: [A, B, C], available: new Set([A, B, C]) };

const signed = (url: string, n: number): SettlementAnswer => ({
  url,
  kind: "signed",
  validator: `0x${n.toString(16).padStart(40, "0")}`,
  signature: `0x${n.toString(16).padStart(130, "0")}`,
});
const refused = (url: string, code: string, reason?: string, field?: string): SettlementAnswer => ({
  url,
  kind: "refused",
  code,
  reason,
  field,
  message: "refused",
});
const down = (url: string): SettlementAnswer => ({ url, kind: "unavailable", message: "connection refused" });

describe("judgeAnswers", () => {
  test("a quorum of distinct validators settles, signatures ordered by validator", () => {
    const v = judgeAnswers(
      [
        signed(B, 2),
        signed(A, 1),
        refused(C, "VALIDATION_REFUSED", "receipt_not_attested", "receiptDigests[4]"),
      ],
      [],
      all,
    );
    expect(v.next).toBe("settle");
    expect(v.signatures.map((s) => s.url)).toEqual([A, B]);
  });

  test("the refusal's field names the receipt a validator never attested: the batch is split by it", () => {
    const v = judgeAnswers(
      [signed(A, 1), refused(B, "VALIDATION_REFUSED", "receipt_not_attested", "receiptDigests[7]"), down(C)],
      [],
      { ...all, available: new Set([A, B]) },
    );
    expect(v.missing).toEqual([{ url: B, index: 7 }]);
    expect(v.next).toBe("abandon");
  });

  test("a refusal naming every receipt it did not attest marks them all at once", () => {
    const all3 = {
      ...refused(B, "VALIDATION_REFUSED", "receipt_not_attested", "receiptDigests[2]"),
      unattested: [2, 5, 9],
    } as SettlementAnswer;
    const v = judgeAnswers([signed(A, 1), all3, down(C)], [], { ...all, available: new Set([A, B]) });
    expect(v.missing).toEqual([
      { url: B, index: 2 },
      { url: B, index: 5 },
      { url: B, index: 9 },
    ]);
  });

  test("signatures from an earlier round count; a validator busy with a passing reason is waited for", () => {
    const earlier = [
      { url: A, validator: `0x${"1".padStart(40, "0")}` as const, signature: "0x01" as const },
    ];
    const v = judgeAnswers(
      [refused(B, "CONFLICT", "receipt_claimed", "receiptDigests[0]"), down(C)],
      earlier,
      all,
    );
    expect(v.next).toBe("retry");
    expect(v.missing).toEqual([]);
    const done = judgeAnswers([signed(B, 2)], earlier, all);
    expect(done.next).toBe("settle");
    expect(done.signatures).toHaveLength(2);
  });

  test("voucher and session refusals are told apart from whole-batch ones", () => {
    const v = judgeAnswers(
      [
        refused(A, "PAYMENT_REQUIRED", "voucher_signer_mismatch", "sessions[1].voucherSignature"),
        refused(B, "PAYMENT_EXPIRED", "session_closed", "sessions[0].sessionId"),
        refused(C, "VALIDATION_REFUSED", "payout_total_mismatch", "payouts"),
      ],
      [],
      all,
    );
    expect(v.sessions).toEqual([
      { url: A, index: 1, reason: "voucher_signer_mismatch", voucher: true },
      { url: B, index: 0, reason: "session_closed", voucher: false },
    ]);
    expect(v.whole).toEqual([{ url: C, reason: "payout_total_mismatch" }]);
    expect(v.next).toBe("abandon");
  });

  test("a refusal of the caller (its token or address) is waited out, not blamed on the batch", () => {
    const v = judgeAnswers(
      [signed(A, 1), refused(B, "FORBIDDEN", "gateway_not_caller", "gateway"), refused(C, "UNAUTHORIZED")],
      [],
      all,
    );
    expect(v.next).toBe("retry");
    expect(v.whole).toEqual([]);
  });

  test("one validator answering is not enough, whatever it says", () => {
    const v = judgeAnswers([signed(A, 1), down(B), down(C)], [], { ...all, available: new Set([A]) });
    expect(v.next).toBe("abandon");
    expect(v.signatures).toHaveLength(1);
  });
});
