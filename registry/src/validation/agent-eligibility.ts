import { DEFAULT_MIN_REPUTATION } from "../constants.ts";
import type { RecordIndex, SubnetRecord } from "../records/record-index.ts";
import type { ReputationBook } from "../reputation/reputation-book.ts";
import { refuse } from "./refuse.ts";

/**
 * Throws a typed refusal unless `agent` may serve `model` in `subnet` now: its record is
 * known and alive, it lists the subnet and the model, and its score reaches the subnet's
 * minimum reputation.
 */
export function assertAgentEligible(
  index: RecordIndex,
  reputation: ReputationBook,
  agent: string,
  subnet: SubnetRecord,
  model: string,
  now: number,
): void {
  const entry = index.get("agent", agent);
  if (!entry)
    throw refuse("NOT_FOUND", "agent_unknown", `agent ${agent} is not registered`, { field: "agent" });
  const record = entry.record;
  if (index.aliveUntil(record) <= now) {
    throw refuse("VALIDATION_REFUSED", "agent_offline", `agent ${agent} has not sent a heartbeat in time`, {
      field: "agent",
    });
  }
  if (!record.body.subnets.includes(subnet.body.id)) {
    throw refuse(
      "VALIDATION_REFUSED",
      "agent_not_in_subnet",
      `agent ${agent} does not serve ${subnet.body.id}`,
      {
        field: "agent",
      },
    );
  }
  if (!record.body.models.some((m) => m === model)) {
    throw refuse("VALIDATION_REFUSED", "agent_lacks_model", `agent ${agent} does not serve model ${model}`, {
      field: "agent",
    });
  }
  const min = subnet.body.minReputation ?? DEFAULT_MIN_REPUTATION;
  const score = reputation.get(agent).score;
  if (score < min) {
    throw refuse(
      "VALIDATION_REFUSED",
      "agent_reputation",
      `agent ${agent} has score ${score}, below ${min}`,
      {
        field: "agent",
        score,
        min,
      },
    );
  }
}
