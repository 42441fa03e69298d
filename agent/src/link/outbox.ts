import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { ResultBatchFrame, ResultFrame, SubnetId } from "@ncn/protocol";
import { type Logger, silentLogger } from "@ncn/runtime/logger";
import * as v from "valibot";

const SingleEntry = v.object({
  subnet: SubnetId,
  storedAt: v.number(),
  frame: ResultFrame,
});
/** One result with its own signed receipt, waiting for an `ack`. */
export type OutboxEntry = v.InferOutput<typeof SingleEntry>;

const BatchEntry = v.object({
  subnet: SubnetId,
  storedAt: v.number(),
  frame: ResultBatchFrame,
});
/** A `results` frame (many results under one batch signature), waiting for an `acks`. */
export type OutboxBatchEntry = v.InferOutput<typeof BatchEntry>;

const StoredEntry = v.union([SingleEntry, BatchEntry]);
type StoredEntry = OutboxEntry | OutboxBatchEntry;

/** One line of the journal: a stored entry, or the acknowledgement of one. */
const JournalLine = v.union([
  v.object({ put: StoredEntry }),
  v.object({ ack: v.string() }),
  v.object({ acks: v.string() }),
]);
type JournalLine = { put: StoredEntry } | { ack: string } | { acks: string };

const JOURNAL = "journal.ndjson";
/** Journal lines before a rewrite is considered, and dead lines per live entry that trigger it. */
const COMPACT_MIN_LINES = 1024;
const COMPACT_RATIO = 8;

function isSingle(e: StoredEntry): e is OutboxEntry {
  return e.frame.type === "result";
}

/**
 * Finished results waiting for the gateway's acknowledgement, so a result survives a lost
 * connection and a restart of the agent. Entries (a single result, or a whole `results`
 * batch) and their acknowledgements are appended as JSON lines to one journal in the data
 * folder: a store is one `write` on an open file, a few microseconds, where a file per
 * entry (write, then rename) took a few hundred. Like the file per entry it replaces, a
 * line is in the kernel once `put` returns (it survives the agent crashing) and is not
 * fsynced. The journal is rewritten with only the live entries at open and whenever
 * acknowledged lines dominate it. One-file-per-entry outboxes of earlier versions are
 * taken over at open.
 */
export class Outbox {
  readonly dir: string;
  readonly #singles = new Map<string, OutboxEntry>();
  readonly #batches = new Map<string, OutboxBatchEntry>();
  /** Task id -> the entry holding its result, whichever kind. */
  readonly #byTask = new Map<string, StoredEntry>();
  /** Size of each live entry's journal line: what it costs in memory and on disk. */
  readonly #sizes = new WeakMap<StoredEntry, number>();
  #bytes = 0;
  readonly #log: Logger;
  #fd: number | undefined;
  #lines = 0;

  private constructor(dir: string, log: Logger) {
    this.dir = dir;
    this.#log = log;
  }

  /** Opens the outbox and loads what a previous run left; unreadable entries are set aside. */
  static async open(dir: string, log: Logger = silentLogger): Promise<Outbox> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const box = new Outbox(dir, log.child({ component: "agent:outbox" }));
    // Earlier versions: one JSON file per entry.
    const legacy: string[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith(".json")) continue;
      const path = join(dir, name);
      try {
        const entry = v.parse(StoredEntry, await Bun.file(path).json());
        box.#index(entry, JSON.stringify({ put: entry }).length + 1);
        legacy.push(path);
      } catch (e) {
        await rename(path, `${path}.corrupt`).catch(() => {});
        box.#log.warn("unreadable outbox entry set aside", { path, error: e });
      }
    }
    const journal = join(dir, JOURNAL);
    if (existsSync(journal)) {
      const bad: string[] = [];
      for (const line of (await Bun.file(journal).text()).split("\n")) {
        if (line === "") continue;
        let parsed: JournalLine;
        try {
          parsed = v.parse(JournalLine, JSON.parse(line));
        } catch {
          bad.push(line);
          continue;
        }
        if ("put" in parsed) box.#index(parsed.put, line.length + 1);
        else if ("ack" in parsed) box.#forgetSingle(parsed.ack);
        else box.#forgetBatch(parsed.acks);
      }
      if (bad.length > 0) {
        const path = join(dir, `${JOURNAL}.corrupt`);
        writeFileSync(path, `${bad.join("\n")}\n`, { mode: 0o600 });
        box.#log.warn("unreadable outbox journal lines set aside", { path, lines: bad.length });
      }
    }
    box.#compact();
    for (const path of legacy) rmSync(path, { force: true });
    return box;
  }

  /** Results waiting for an acknowledgement (each result of a batch counts). */
  get size(): number {
    return this.#byTask.size;
  }

  /** Bytes of the results waiting for an acknowledgement (their journal lines). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The stored single result of a task (not one inside a batch). */
  get(taskId: string): OutboxEntry | undefined {
    return this.#singles.get(taskId);
  }

  /** The frame holding a task's result, a `result` or the `results` batch it is part of. */
  frameOf(taskId: string): ResultFrame | ResultBatchFrame | undefined {
    return this.#byTask.get(taskId)?.frame;
  }

  /** Task ids waiting for an ack, optionally only those of one subnet, oldest first. */
  pending(subnet?: string): string[] {
    return this.#sorted(subnet).flatMap((e) =>
      isSingle(e) ? [e.frame.taskId] : e.frame.items.map((i) => i.taskId),
    );
  }

  /** Frames waiting for an ack (each batch once), optionally of one subnet, oldest first. */
  frames(subnet?: string): (ResultFrame | ResultBatchFrame)[] {
    return this.#sorted(subnet).map((e) => e.frame);
  }

  /** Stores a result durably before it is sent. */
  async put(subnet: string, frame: ResultFrame): Promise<void> {
    this.#store({ subnet: subnet as SubnetId, storedAt: Date.now(), frame });
  }

  /** Stores a `results` batch durably before it is sent. */
  async putBatch(subnet: string, frame: ResultBatchFrame): Promise<void> {
    this.#store({ subnet: subnet as SubnetId, storedAt: Date.now(), frame });
  }

  /** The gateway has the result: forget it. Returns false for an unknown id. */
  async ack(taskId: string): Promise<boolean> {
    if (!this.#forgetSingle(taskId)) return false;
    this.#append({ ack: taskId });
    return true;
  }

  /** The gateway has a whole batch (named by its root): forget it. False when unknown. */
  async ackBatch(receiptsRoot: string): Promise<boolean> {
    if (!this.#forgetBatch(receiptsRoot)) return false;
    this.#append({ acks: receiptsRoot.toLowerCase() });
    return true;
  }

  /** Closes the journal file (reopened if anything is stored later). */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #store(entry: StoredEntry): void {
    const size = this.#append({ put: entry });
    this.#index(entry, size);
  }

  /** Appends a line to the journal; returns its size in bytes. */
  #append(line: JournalLine): number {
    // A result finished after `close` (a task outliving the agent's drain) still lands.
    this.#fd ??= openSync(join(this.dir, JOURNAL), "a", 0o600);
    const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
    writeAll(this.#fd, bytes);
    this.#lines++;
    const live = this.#singles.size + this.#batches.size;
    if (this.#lines >= COMPACT_MIN_LINES && this.#lines > COMPACT_RATIO * Math.max(1, live)) this.#compact();
    return bytes.length;
  }

  /** Rewrites the journal with the live entries only (written aside, then renamed over it). */
  #compact(): void {
    const path = join(this.dir, JOURNAL);
    const tmp = `${path}.${process.pid}.tmp`;
    const entries = this.#sorted(undefined);
    const fd = openSync(tmp, "w", 0o600);
    try {
      for (const e of entries) writeAll(fd, Buffer.from(`${JSON.stringify({ put: e })}\n`));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.close();
    this.#fd = openSync(path, "a", 0o600);
    this.#lines = entries.length;
  }

  #index(entry: StoredEntry, size: number): void {
    const replaced = isSingle(entry)
      ? this.#singles.get(entry.frame.taskId)
      : this.#batches.get(entry.frame.receiptsRoot.toLowerCase());
    if (replaced) this.#bytes -= this.#sizes.get(replaced) ?? 0;
    this.#sizes.set(entry, size);
    this.#bytes += size;
    if (isSingle(entry)) {
      this.#singles.set(entry.frame.taskId, entry);
      this.#byTask.set(entry.frame.taskId, entry);
    } else {
      this.#batches.set(entry.frame.receiptsRoot.toLowerCase(), entry);
      for (const item of entry.frame.items) this.#byTask.set(item.taskId, entry);
    }
  }

  #forgetSingle(taskId: string): boolean {
    const entry = this.#singles.get(taskId);
    if (!entry) return false;
    this.#singles.delete(taskId);
    this.#bytes -= this.#sizes.get(entry) ?? 0;
    if (this.#byTask.get(taskId) === entry) this.#byTask.delete(taskId);
    return true;
  }

  #forgetBatch(receiptsRoot: string): boolean {
    const key = receiptsRoot.toLowerCase();
    const entry = this.#batches.get(key);
    if (!entry) return false;
    this.#batches.delete(key);
    this.#bytes -= this.#sizes.get(entry) ?? 0;
    for (const item of entry.frame.items) {
      if (this.#byTask.get(item.taskId) === entry) this.#byTask.delete(item.taskId);
    }
    return true;
  }

  #sorted(subnet: string | undefined): StoredEntry[] {
    return [...this.#singles.values(), ...this.#batches.values()]
      .filter((e) => subnet === undefined || e.subnet === subnet)
      .sort((a, b) => a.storedAt - b.storedAt);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}
