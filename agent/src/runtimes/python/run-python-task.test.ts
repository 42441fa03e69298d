import { describe, expect, test } from "bun:test";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type PythonSandboxError,
  SandboxInternalError,
  SandboxRefusedError,
  TaskFailedError,
  TaskInputError,
  TaskResultError,
} from "./errors.ts";
import { DEFAULT_MAXIMA } from "./limits.ts";
import { type PythonRuntimeOptions, runPythonTask } from "./run-python-task.ts";
import { SANDBOX_SOURCE_PATH } from "./shim-protocol.ts";
import { TEST_SHIM_CACHE } from "./test-support.ts";

const options: PythonRuntimeOptions = { cacheDir: TEST_SHIM_CACHE };
const run = (task: unknown, opts: PythonRuntimeOptions = options) =>
  runPythonTask(task, DEFAULT_MAXIMA, opts);

async function rejection(promise: Promise<unknown>): Promise<PythonSandboxError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as PythonSandboxError;
}

/** Host pids of sandboxed interpreters still alive (their command line is fixed by the shim). */
async function sandboxedPythons(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.endsWith(`\0${SANDBOX_SOURCE_PATH}\0`)) found.push(pid);
  }
  return found;
}

/** A launcher that makes Landlock look absent (ENOSYS, as on an old kernel) before starting the shim. */
function withoutLandlock(argv: readonly string[]) {
  const script = `
import ctypes, os, struct, sys
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
prog = [(BPF_LD_W_ABS, 0, 0, 0)]
for nr in (444, 445, 446):
    prog += [(BPF_JEQ_K, 0, 1, nr), (BPF_RET_K, 0, 0, 0x00050000 | 38)]
prog += [(BPF_RET_K, 0, 0, 0x7fff0000)]
buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
fprog = struct.pack("HxxxxxxQ", len(prog), ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong]
assert libc.prctl(38, 1, None, 0, 0) == 0
assert libc.prctl(22, 2, fprog, 0, 0) == 0, ctypes.get_errno()
os.execv(sys.argv[1], sys.argv[1:])
`;
  return { argv: ["/usr/bin/python3", "-c", script, ...argv], env: {} };
}

describe("honest programs", () => {
  test("stdlib modules import", async () => {
    const modules = [
      "json",
      "re",
      "math",
      "hashlib",
      "decimal",
      "fractions",
      "datetime",
      "collections",
      "itertools",
      "functools",
      "statistics",
      "random",
      "heapq",
      "bisect",
      "dataclasses",
      "typing",
      "enum",
      "zlib",
      "base64",
      "csv",
      "io",
      "textwrap",
      "unicodedata",
      "struct",
      "array",
      "pathlib",
      "tempfile",
      "threading",
      "subprocess",
      "multiprocessing",
      "sqlite3",
      "xml.etree.ElementTree",
      "urllib.parse",
      "email",
      "uuid",
      "zoneinfo",
      "string",
      "copy",
      "pickle",
      "gzip",
      "bz2",
      "lzma",
    ];
    const { result } = await run({
      source: `import importlib, json, sys
failed = {}
for m in json.load(sys.stdin):
    try:
        importlib.import_module(m)
    except Exception as e:
        failed[m] = repr(e)
json.dump(failed, open(3, "w"))`,
      input: modules,
    });
    expect(result).toEqual({});
  });

  test("JSON goes in on stdin and comes back on descriptor 3", async () => {
    const input = {
      text: "héllo wörld ✓ 日本",
      numbers: [1, 2.5, -3e10],
      nested: { a: [null, true, false] },
    };
    const out = await run({
      source: `import json, os, sys
data = json.load(sys.stdin)
data["reversed"] = data["text"][::-1]
data["sum"] = sum(data["numbers"])
print("stdout ✓")
print("warning ✓", file=sys.stderr)
with open(int(os.environ["NCN_RESULT_FD"]), "w") as f:
    json.dump(data, f, ensure_ascii=False)`,
      input,
    });
    expect(out.result).toEqual({ ...input, reversed: "本日 ✓ dlröw olléh", sum: 1 + 2.5 - 3e10 });
    expect(out.stdout).toBe("stdout ✓\n");
    expect(out.stderr).toBe("warning ✓\n");
    expect(out.exitCode).toBe(0);
    expect(out.usage.peakMemoryKb).toBeGreaterThan(1000);
  });

  test("a program that writes no result gets null", async () => {
    const out = await run({ source: "print(6 * 7)" });
    expect(out.result).toBeNull();
    expect(out.stdout).toBe("42\n");
  });

  test("files, directories, temp files and local modules in the work dir", async () => {
    const { result } = await run({
      source: `import json, os, pathlib, sys, tempfile
os.makedirs("data/sub")
pathlib.Path("data/sub/a.txt").write_text("alpha")
os.rename("data/sub/a.txt", "data/b.txt")
with tempfile.TemporaryDirectory() as d:
    pathlib.Path(d, "t").write_text("temp")
    tmp_ok = pathlib.Path(d, "t").read_text() == "temp"
pathlib.Path("helper.py").write_text("def twice(x):\\n    return 2 * x\\n")
import helper
json.dump({"cwd": os.getcwd(), "files": sorted(str(p) for p in pathlib.Path(".").rglob("*.txt")),
           "b": pathlib.Path("data/b.txt").read_text(), "tmp": tmp_ok, "twice": helper.twice(21)}, open(3, "w"))`,
    });
    expect(result).toEqual({ cwd: "/work", files: ["data/b.txt"], b: "alpha", tmp: true, twice: 42 });
  });

  test("threads, subprocesses and a process pool", async () => {
    const { result } = await run({
      source: `import json, subprocess, threading
from multiprocessing import Pool
box = []
threads = [threading.Thread(target=lambda i=i: box.append(i * i)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
echo = subprocess.run(["/usr/bin/echo", "hi"], capture_output=True, text=True).stdout
with Pool(2) as pool:
    squares = pool.map(abs, [-1, -2, -3])
json.dump({"threads": sorted(box), "echo": echo, "pool": squares}, open(3, "w"))`,
    });
    expect(result).toEqual({ threads: [0, 1, 4, 9], echo: "hi\n", pool: [1, 2, 3] });
  });

  test("a multi-second computation within its limits", async () => {
    // Runs until 1.5 s of CPU time have passed, however fast the machine is, and checks
    // the arithmetic of what it did in that time.
    const out = await run({
      source: `import json, sys, time
seconds = json.load(sys.stdin)
start = time.monotonic()
cpu_start = time.process_time()
n = 0
total = 0
while time.process_time() - cpu_start < seconds:
    for i in range(n, n + 100_000):
        total += i * i
    n += 100_000
json.dump({"n": n, "sum": str(total), "seconds": time.monotonic() - start}, open(3, "w"))`,
      input: 1.5,
      limits: { wallMs: 30_000, cpuSeconds: 20 },
    });
    const result = out.result as { n: number; sum: string; seconds: number };
    const N = BigInt(result.n);
    expect(result.n).toBeGreaterThan(0);
    expect(result.sum).toBe(String(((N - 1n) * N * (2n * N - 1n)) / 6n));
    expect(result.seconds).toBeGreaterThanOrEqual(1.5);
    expect(out.usage.cpuMs).toBeGreaterThanOrEqual(1500);
  }, 40_000);

  test("tasks run in parallel without interfering", async () => {
    const outs = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        run({
          source: `import json, os, sys
n = json.load(sys.stdin)
open("mine.txt", "w").write(str(n))
json.dump({"n": n, "files": sorted(os.listdir(".")), "content": open("mine.txt").read()}, open(3, "w"))`,
          input: n,
        }),
      ),
    );
    expect(outs.map((o) => o.result)).toEqual(
      [1, 2, 3, 4].map((n) => ({ n, files: ["main.py", "mine.txt"], content: String(n) })),
    );
  });
});

describe("failures are typed", () => {
  test("a non-zero exit carries its status and stderr", async () => {
    const error = await rejection(
      run({ source: "import sys\nprint('bad things', file=sys.stderr)\nsys.exit(3)" }),
    );
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error.code).toBe("task_failed");
    expect((error as TaskFailedError).exitCode).toBe(3);
    expect(error.details?.stderrTail).toBe("bad things\n");
  });

  test("an exception is a failed task with its traceback", async () => {
    const error = await rejection(run({ source: "raise ValueError('nope')" }));
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(String(error.details?.stderrTail)).toContain("ValueError: nope");
  });

  test("a result that is not JSON is an invalid result", async () => {
    const error = await rejection(run({ source: "open(3, 'w').write('{not json')" }));
    expect(error).toBeInstanceOf(TaskResultError);
    expect(error.code).toBe("invalid_result");
  });

  test("a shim that cannot be started is an internal error", async () => {
    const notExecutable = join(tmpdir(), `ncn-not-a-shim-${process.pid}`);
    await writeFile(notExecutable, "", { mode: 0o644 });
    try {
      const error = await rejection(run({ source: "pass" }, { ...options, shimPath: notExecutable }));
      expect(error).toBeInstanceOf(SandboxInternalError);
      expect(error.message).toBe("could not start the sandbox shim");
    } finally {
      await rm(notExecutable, { force: true });
    }
  });

  test("aborting kills the sandbox and rejects with the reason", async () => {
    const controller = new AbortController();
    const started = performance.now();
    const pending = run({ source: "import time\ntime.sleep(30)" }, { ...options, signal: controller.signal });
    setTimeout(() => controller.abort(new Error("cancelled by test")), 300);
    const error = await pending.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe("cancelled by test");
    expect(performance.now() - started).toBeLessThan(3000);
    // Killing the shim took its namespace (init has a parent-death signal) and the program with it.
    await Bun.sleep(200);
    expect(await sandboxedPythons()).toEqual([]);
  });
});

describe("bad input is refused before anything runs", () => {
  test("source bytes that are not UTF-8", async () => {
    const error = await rejection(run({ source: new Uint8Array([0x70, 0x72, 0xff, 0xfe, 0x0a]) }));
    expect(error).toBeInstanceOf(TaskInputError);
    expect(error.code).toBe("source_not_utf8");
  });

  test("source text with an unpaired surrogate", async () => {
    const error = await rejection(run({ source: "print('\ud800')" }));
    expect(error.code).toBe("source_not_utf8");
  });

  test("input larger than the operator allows", async () => {
    const error = await rejection(
      runPythonTask(
        { source: "pass", input: "x".repeat(2048) },
        { ...DEFAULT_MAXIMA, inputBytes: 1024 },
        options,
      ),
    );
    expect(error.code).toBe("input_too_large");
    expect(error.details).toMatchObject({ maximum: 1024 });
  });

  test("source larger than the operator allows", async () => {
    const error = await rejection(
      runPythonTask({ source: `# ${"x".repeat(4096)}` }, { ...DEFAULT_MAXIMA, sourceBytes: 1024 }, options),
    );
    expect(error.code).toBe("source_too_large");
  });

  test("limits above the operator's maxima", async () => {
    const error = await rejection(run({ source: "pass", limits: { memoryMb: DEFAULT_MAXIMA.memoryMb + 1 } }));
    expect(error).toBeInstanceOf(TaskInputError);
    expect(error.code).toBe("limit_above_maximum");
    expect(error.details).toEqual({
      limit: "memoryMb",
      requested: DEFAULT_MAXIMA.memoryMb + 1,
      maximum: DEFAULT_MAXIMA.memoryMb,
    });
  });

  test("malformed tasks: unknown fields, wrong types, out-of-range limits", async () => {
    for (const task of [
      {},
      { source: 42 },
      { source: "pass", extra: true },
      { source: "pass", limits: { wallMs: 5 } },
      { source: "pass", limits: { memoryMb: 1.5 } },
      { source: "pass", limits: { bogus: 1 } },
    ]) {
      const error = await rejection(run(task));
      expect(`${JSON.stringify(task)} -> ${error.code}`).toBe(`${JSON.stringify(task)} -> invalid_task`);
    }
  });

  test("input that is not JSON", async () => {
    const error = await rejection(run({ source: "pass", input: { n: 10n } }));
    expect(error.code).toBe("invalid_input");
  });
});

describe("missing layers", () => {
  test("a kernel without Landlock is refused while Landlock is required", async () => {
    const error = await rejection(
      run({ source: "print('must not run')" }, { ...options, launcher: withoutLandlock }),
    );
    expect(error).toBeInstanceOf(SandboxRefusedError);
    expect((error as SandboxRefusedError).layer).toBe("landlock-fs");
    expect(error.details).toMatchObject({ reason: "Function not implemented" });
  });

  test("the operator may run without Landlock; every other layer still holds", async () => {
    const { result } = await run(
      {
        source: `import json, socket
status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)
try:
    socket.socket(socket.AF_INET)
    net = "ok"
except OSError as e:
    net = e.errno
json.dump({"seccomp": status["Seccomp"].strip(), "uid": status["Uid"].split()[0], "net": net}, open(3, "w"))`,
      },
      { ...options, launcher: withoutLandlock, requiredLayers: ["seccomp"] },
    );
    expect(result).toEqual({ seccomp: "2", uid: "1000", net: 1 });
  });

  test("a missing interpreter is a refusal, not a task failure", async () => {
    const error = await rejection(run({ source: "pass" }, { ...options, python: "/usr/bin/python-missing" }));
    expect(error).toBeInstanceOf(SandboxRefusedError);
    expect(error.details).toMatchObject({
      layer: "python",
      step: "exec",
      reason: "No such file or directory",
    });
  });
});
