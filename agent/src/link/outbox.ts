import { mkdirSync } from "node:fs";
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { ResultFrame, SubnetId } from "@ncn/protocol";
import * as v from "valibot";
import { type Logger, silentLogger } from "../log/logger.ts";

const OutboxEntry = v.object({
  subnet: SubnetId,
  storedAt: v.number(),
  frame: ResultFrame,
});
export type OutboxEntry = v.InferOutput<typeof OutboxEntry>;

function fileName(taskId: string): string {
  // Task ids may contain "." and ":"; hex keeps every id a safe, distinct file name.
  return `${Buffer.from(taskId, "utf8").toString("hex")}.json`;
}

/**
 * Finished results waiting for the gateway's `ack`, one JSON file each in the data
 * folder, so a result survives a lost connection and a restart of the agent.
 */
export class Outbox {
  readonly dir: string;
  readonly #entries = new Map<string, OutboxEntry>();
  readonly #log: Logger;

  private constructor(dir: string, log: Logger) {
    this.dir = dir;
    this.#log = log;
  }

  /** Opens the outbox and loads what a previous run left; unreadable files are set aside. */
  static async open(dir: string, log: Logger = silentLogger): Promise<Outbox> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const box = new Outbox(dir, log.child({ component: "agent:outbox" }));
    for (const name of await readdir(dir)) {
      if (!name.endsWith(".json")) continue;
      const path = join(dir, name);
      try {
        const entry = v.parse(OutboxEntry, await Bun.file(path).json());
        box.#entries.set(entry.frame.taskId, entry);
      } catch (e) {
        await rename(path, `${path}.corrupt`).catch(() => {});
        box.#log.warn("unreadable outbox entry set aside", { path, error: e });
      }
    }
    return box;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(taskId: string): OutboxEntry | undefined {
    return this.#entries.get(taskId);
  }

  /** Task ids waiting for an ack, optionally only those of one subnet, oldest first. */
  pending(subnet?: string): string[] {
    return [...this.#entries.values()]
      .filter((e) => subnet === undefined || e.subnet === subnet)
      .sort((a, b) => a.storedAt - b.storedAt)
      .map((e) => e.frame.taskId);
  }

  /** Stores a result durably (written then renamed) before it is sent. */
  async put(subnet: string, frame: v.InferOutput<typeof ResultFrame>): Promise<void> {
    const entry = v.parse(OutboxEntry, { subnet, storedAt: Date.now(), frame });
    const path = join(this.dir, fileName(frame.taskId));
    const tmp = `${path}.${process.pid}.tmp`;
    await Bun.write(tmp, JSON.stringify(entry));
    await rename(tmp, path);
    this.#entries.set(frame.taskId, entry);
  }

  /** The gateway has the result: forget it. Returns false for an unknown id. */
  async ack(taskId: string): Promise<boolean> {
    if (!this.#entries.delete(taskId)) return false;
    await rm(join(this.dir, fileName(taskId)), { force: true });
    return true;
  }
}
