/**
 * Escape suite: hostile programs, each asserting the specific containment that
 * stops it. Every program runs inside the outer guard (escape-guard.ts): its own
 * cgroup with pids and memory ceilings, and a pid namespace per run, so the
 * suite stays harmless even if the sandbox were broken. Network probes aim only
 * at listeners this file starts on loopback; file probes only at canaries it
 * creates; nothing here writes to a system file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdir, readFile, readlink } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import type { Socket, TCPSocketListener, UnixSocketListener, udp } from "bun";
import {
  PythonSandboxError,
  TaskFailedError,
  TaskMemoryError,
  TaskOutputTooLargeError,
  TaskTimeoutError,
} from "./errors.ts";
import { CANARY_FDS, createOuterGuard, type OuterGuard } from "./escape-guard.ts";
import type { PythonResult } from "./interpret-run.ts";
import { DEFAULT_MAXIMA } from "./limits.ts";
import { runPythonTask, type ShimLauncher } from "./run-python-task.ts";
import type { TaskLimits } from "./schemas.ts";
import { buildShim } from "./shim-build.ts";
import { TEST_SHIM_CACHE } from "./test-support.ts";

const PRELUDE = `
import ctypes, errno, json, os, platform, signal, socket, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def name(e):
    return errno.errorcode.get(e, str(e))
def attempt(fn, *args, **kw):
    try:
        fn(*args, **kw)
        return "ok"
    except OSError as e:
        return name(e.errno) if e.errno and e.errno > 0 else type(e).__name__
def raw(ret):
    return "ok" if ret != -1 else name(ctypes.get_errno())
NR = {
    "x86_64": dict(clone=56, clone3=435, bpf=321, io_uring_setup=425, keyctl=250, perf_event_open=298,
                   userfaultfd=323, kexec_load=246, init_module=175, fsopen=430, getpid=39),
    "aarch64": dict(clone=220, clone3=435, bpf=280, io_uring_setup=425, keyctl=219, perf_event_open=241,
                    userfaultfd=282, kexec_load=104, init_module=105, fsopen=430, getpid=172),
}[platform.machine()]
INPUT = json.load(sys.stdin)
def report(obj):
    with open(3, "w") as f:
        json.dump(obj, f)
`;

const HOSTILE_LIMITS: TaskLimits = {
  wallMs: 8000,
  cpuSeconds: 4,
  memoryMb: 128,
  diskMb: 8,
  fileSizeMb: 4,
  processes: 8,
  outputBytes: 64 * 1024,
  resultBytes: 64 * 1024,
};

const GUARD_PIDS = 96;
const GUARD_MEMORY = 768 * 1024 * 1024;
let guard: OuterGuard;
let shimPath: string;
let tcp: TCPSocketListener<undefined>;
let udpSocket: udp.Socket<"buffer">;
let abstractUnix: UnixSocketListener<undefined>;
let pathUnix: UnixSocketListener<undefined>;
const hits = { tcp: 0, udp: 0, abstractUnix: 0, pathUnix: 0 };
const abstractName = `\0ncn-escape-${process.pid}-${Date.now()}`;

const countOpen = (key: "tcp" | "abstractUnix" | "pathUnix") => ({
  open(_socket: Socket<undefined>) {
    hits[key]++;
  },
  data() {},
});

beforeAll(async () => {
  shimPath = await buildShim({ cacheDir: TEST_SHIM_CACHE });
  guard = await createOuterGuard({ pidsMax: GUARD_PIDS, memoryBytes: GUARD_MEMORY });
  tcp = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: countOpen("tcp") });
  udpSocket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data() {
        hits.udp++;
      },
    },
  });
  abstractUnix = Bun.listen({ unix: abstractName, socket: countOpen("abstractUnix") });
  pathUnix = Bun.listen({ unix: join(guard.canary.dir, "agent.sock"), socket: countOpen("pathUnix") });
});

afterAll(async () => {
  tcp?.stop(true);
  udpSocket?.close();
  abstractUnix?.stop(true);
  pathUnix?.stop(true);
  await guard?.dispose();
});

function assertNoSecret(...texts: string[]) {
  for (const text of texts) expect(text).not.toContain(guard.canary.secret);
}

/** Runs a hostile program that is expected to finish; its result is what it observed. */
async function hostile(
  source: string,
  input: unknown = {},
  limits: TaskLimits = {},
  launcher: ShimLauncher = guard.launcher,
): Promise<PythonResult> {
  try {
    const run = await runPythonTask(
      { source: PRELUDE + source, input, limits: { ...HOSTILE_LIMITS, ...limits } },
      DEFAULT_MAXIMA,
      { cacheDir: TEST_SHIM_CACHE, launcher },
    );
    assertNoSecret(run.stdout, run.stderr, JSON.stringify(run.result));
    return run;
  } catch (error) {
    if (error instanceof PythonSandboxError) assertNoSecret(JSON.stringify(error.details));
    throw error;
  }
}

/** Runs a hostile program that is expected to be stopped with a typed error. */
async function stopped(
  source: string,
  input: unknown = {},
  limits: TaskLimits = {},
): Promise<PythonSandboxError> {
  const outcome = await hostile(source, input, limits).then(
    (run) => run,
    (error: unknown) => error,
  );
  if (!(outcome instanceof PythonSandboxError)) {
    throw new Error(`expected a typed sandbox error, got ${JSON.stringify(outcome)}`);
  }
  return outcome;
}

async function settle() {
  await Bun.sleep(50);
}

describe("outer guard", () => {
  test("every run starts as pid 1 of a fresh pid namespace inside the guard's cgroup", async () => {
    const probe = Bun.spawn(
      [...guard.launcher(["/bin/sh", "-c", "echo $$; cat /proc/self/cgroup; sleep 0.3"]).argv],
      { env: { ...guard.launcher([]).env }, stdout: "pipe" },
    );
    await Bun.sleep(100);
    const members = await Promise.all(
      guard.cgroupDirs.map(async (d) => (await Bun.file(join(d, "cgroup.procs")).text()).trim().split("\n")),
    );
    const out = await new Response(probe.stdout).text();
    await probe.exited;
    expect(out.split("\n")[0]).toBe("1");
    for (const d of guard.cgroupDirs) expect(out).toContain(d.split("/").pop() ?? "?");
    for (const pids of members) expect(pids).toContain(String(probe.pid));
  });

  // These two run hostile code straight in the guard, with no sandbox at all:
  // they show the suite would stay contained even if the sandbox were broken.
  test("the guard alone caps a fork bomb at its pids ceiling", async () => {
    const bomb = `import os, time
n = 0
while True:
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
    except OSError as e:
        print(n, e.errno, flush=True)
        break`;
    const proc = Bun.spawn([...guard.launcher(["/usr/bin/python3", "-S", "-c", bomb]).argv], {
      env: { ...guard.launcher([]).env },
      stdout: "pipe",
    });
    const [count, errno] = (await new Response(proc.stdout).text()).trim().split(" ").map(Number);
    await proc.exited;
    expect(errno).toBe(11); // EAGAIN from pids.max
    expect(count).toBeGreaterThan(10);
    expect(count).toBeLessThan(GUARD_PIDS);
  });

  test("the guard alone stops a memory bomb at its memory ceiling", async () => {
    const bomb = `chunks = []
for _ in range(64):
    chunks.append(b"x" * (32 << 20))
print("allocated", len(chunks) * 32, "MiB", flush=True)`;
    const proc = Bun.spawn([...guard.launcher(["/usr/bin/python3", "-S", "-c", bomb]).argv], {
      env: { ...guard.launcher([]).env },
      stdout: "pipe",
    });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).not.toBe(0);
    expect(out).not.toContain("allocated");
  });
});

describe("network", () => {
  test("TCP to a loopback listener: socket() refused by seccomp, nothing arrives", async () => {
    const { result } = await hostile(
      `report({"socket": attempt(socket.socket, socket.AF_INET, socket.SOCK_STREAM),
               "connect": attempt(socket.create_connection, ("127.0.0.1", INPUT["port"]), 1)})`,
      { port: tcp.port },
    );
    expect(result).toEqual({ socket: "EPERM", connect: "EPERM" });
    await settle();
    expect(hits.tcp).toBe(0);
  });

  test("UDP to a loopback listener: refused, no datagram arrives", async () => {
    const { result } = await hostile(
      `def send():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"escape", ("127.0.0.1", INPUT["port"]))
report({"udp": attempt(send)})`,
      { port: udpSocket.port },
    );
    expect(result).toEqual({ udp: "EPERM" });
    await settle();
    expect(hits.udp).toBe(0);
  });

  test("raw, packet and netlink sockets are refused; unix sockets still work", async () => {
    const { result } = await hostile(`
report({
  "raw": attempt(socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
  "packet": attempt(socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0),
  "netlink": attempt(socket.socket, socket.AF_NETLINK, socket.SOCK_RAW, 0),
  "unix": attempt(socket.socket, socket.AF_UNIX, socket.SOCK_STREAM),
  "pair": attempt(socket.socketpair),
})`);
    expect(result).toEqual({ raw: "EPERM", packet: "EPERM", netlink: "EPERM", unix: "ok", pair: "ok" });
  });

  test("IPv6 sockets are refused", async () => {
    const { result } = await hostile(`
report({"tcp6": attempt(socket.socket, socket.AF_INET6, socket.SOCK_STREAM),
        "udp6": attempt(socket.socket, socket.AF_INET6, socket.SOCK_DGRAM)})`);
    expect(result).toEqual({ tcp6: "EPERM", udp6: "EPERM" });
  });

  test("DNS: no resolver configured, a query to the test's UDP 'server' never leaves", async () => {
    const { result } = await hostile(
      `query = bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")
def ask():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(query, ("127.0.0.1", INPUT["port"]))
report({"resolvConf": os.path.exists("/etc/resolv.conf"), "query": attempt(ask)})`,
      { port: udpSocket.port },
    );
    expect(result).toEqual({ resolvConf: false, query: "EPERM" });
    await settle();
    expect(hits.udp).toBe(0);
  });

  test("the network namespace holds only a loopback interface", async () => {
    const { result } = await hostile(`
lines = open("/proc/self/net/dev").read().splitlines()[2:]
report({"interfaces": sorted(l.split(":")[0].strip() for l in lines)})`);
    expect(result).toEqual({ interfaces: ["lo"] });
  });

  test("the host's abstract unix socket is unreachable", async () => {
    const { result } = await hostile(
      `s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
report({"connect": attempt(s.connect, "\\0" + INPUT["name"])})`,
      { name: abstractName.slice(1) },
    );
    // Separate network namespace: the name does not exist there (Landlock scoping would say EPERM).
    expect(["ECONNREFUSED", "EPERM"]).toContain((result as { connect: string }).connect);
    await settle();
    expect(hits.abstractUnix).toBe(0);
  });

  test("a host unix socket file is not in view", async () => {
    const { result } = await hostile(
      `s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
report({"connect": attempt(s.connect, INPUT["path"])})`,
      { path: join(guard.canary.dir, "agent.sock") },
    );
    expect(result).toEqual({ connect: "ENOENT" });
    await settle();
    expect(hits.pathUnix).toBe(0);
  });
});

describe("files", () => {
  test("/etc/shadow does not exist and /etc/passwd is the sandbox's own", async () => {
    const { result } = await hostile(`
report({"shadow": attempt(open, "/etc/shadow"), "gshadow": attempt(open, "/etc/gshadow"),
        "passwd": open("/etc/passwd").read(), "etc": sorted(os.listdir("/etc"))})`);
    expect(result).toMatchObject({
      shadow: "ENOENT",
      gshadow: "ENOENT",
      passwd: "sandbox:x:1000:1000:sandbox:/work:/usr/sbin/nologin\n",
    });
    const etc = (result as { etc: string[] }).etc;
    expect(etc.filter((f) => !["ld.so.cache", "localtime"].includes(f))).toEqual([
      "group",
      "hosts",
      "nsswitch.conf",
      "passwd",
    ]);
  });

  test("/root, /home, /var, /run, /sys and /boot are not there", async () => {
    const { result } = await hostile(`
report({p: attempt(os.listdir, p) for p in ["/root", "/home", "/var", "/run", "/sys", "/boot", "/mnt", "/opt"]})`);
    for (const outcome of Object.values(result as Record<string, string>)) expect(outcome).toBe("ENOENT");
  });

  test("listing /, /root, /home, /var/lib and the agent's folder shows nothing of the host", async () => {
    const paths = ["/", "/root", "/home", "/var/lib", process.cwd(), import.meta.dir, guard.canary.dir];
    const { result } = await hostile(
      `seen, walked = {}, []
for p in INPUT["paths"]:
    seen[p] = attempt(os.listdir, p)
    if seen[p] == "ok":
        seen[p] = sorted(os.listdir(p))
    for top, dirs, files in os.walk(p):
        walked.extend(os.path.join(top, n) for n in dirs + files)
print(json.dumps(seen))
report({"seen": seen, "walked": walked})`,
      { paths },
    );
    // "/" is the sandbox's own tmpfs root, and Landlock handles READ_DIR with no
    // rule on "/", so even that cannot be listed; the rest is not in view at all.
    expect(result).toEqual({
      seen: Object.fromEntries(paths.map((p) => [p, p === "/" ? "EACCES" : "ENOENT"])),
      walked: [],
    });
  });

  test("/proc/1/root, /proc/1/cwd and the parent's root lead nowhere", async () => {
    const { result } = await hostile(
      `report({"list": attempt(os.listdir, "/proc/1/root"), "link": attempt(os.readlink, "/proc/1/root"),
        "passwd": attempt(open, "/proc/1/root/etc/passwd"), "canary": attempt(open, "/proc/1/root" + INPUT["file"]),
        "cwd": attempt(os.listdir, "/proc/1/cwd"), "fd": attempt(os.listdir, "/proc/1/fd"),
        "parent": attempt(os.listdir, f"/proc/{os.getppid()}/root")})`,
      { file: guard.canary.file },
    );
    // init is invisible to the program (hidepid), and the parent has no pid here.
    expect(result).toEqual({
      list: "ENOENT",
      link: "ENOENT",
      passwd: "ENOENT",
      canary: "ENOENT",
      cwd: "ENOENT",
      fd: "ENOENT",
      parent: "ENOENT",
    });
  });

  test("the host's mounts are detached: every sandbox process, supervisor and init too, sees only the new root", async () => {
    // Seen from the host: the program waits (a SIGUSR1 handler installed) while the test
    // reads the mount table of every process in the sandbox's user namespace, then releases it.
    const ownUserNs = await readlink("/proc/self/ns/user");
    const running = hostile(`released = []
signal.signal(signal.SIGUSR1, lambda *_: released.append(True))
deadline = time.monotonic() + 6
while not released and time.monotonic() < deadline:
    time.sleep(0.01)
report({"released": bool(released)})`);
    const procsFile = join(guard.cgroupDirs[0] ?? "", "cgroup.procs");
    const text = (path: string) => readFile(path, "utf8").catch(() => "");
    const views = new Map<string, string[]>();
    let program: string | undefined;
    const giveUp = performance.now() + 5000;
    while (program === undefined && performance.now() < giveUp) {
      await Bun.sleep(10);
      for (const pid of (await text(procsFile)).split("\n").filter((l) => l !== "")) {
        const userNs = await readlink(`/proc/${pid}/ns/user`).catch(() => ownUserNs);
        const cmdline = await text(`/proc/${pid}/cmdline`);
        const caught = BigInt(
          `0x${/SigCgt:\s*([0-9a-f]+)/.exec(await text(`/proc/${pid}/status`))?.[1] ?? "0"}`,
        );
        const ready = (caught & (1n << BigInt(constants.signals.SIGUSR1 - 1))) !== 0n;
        if (userNs !== ownUserNs && cmdline.startsWith("/usr/bin/python3") && ready) program = pid;
      }
    }
    expect(program).toBeDefined();
    for (const pid of (await text(procsFile)).split("\n").filter((l) => l !== "")) {
      if ((await readlink(`/proc/${pid}/ns/user`).catch(() => ownUserNs)) === ownUserNs) continue;
      const mounts = (await text(`/proc/${pid}/mountinfo`)).split("\n").filter((l) => l !== "");
      views.set(
        pid,
        mounts.map((l) => `${l.split(" ")[4]} ${l.split(" - ")[1]?.split(" ")[0]}`),
      );
    }
    process.kill(Number(program), "SIGUSR1");
    expect((await running).result).toEqual({ released: true });

    // Only the sandbox's own mounts: its tmpfs root, /dev and its five nodes, /proc,
    // /work, and the read-only binds of system paths (their host filesystem type).
    const sandboxMount = (point: string) =>
      ["/", "/dev", "/proc", "/work"].includes(point) ||
      /^\/dev\/(null|zero|full|random|urandom)$/.test(point) ||
      /^\/(etc|usr|bin|sbin|lib\w*)(\/|$)/.test(point);
    // Supervisor, init and the program.
    expect(views.size).toBe(3);
    for (const [pid, view] of views) {
      expect(`${pid}: ${view.filter((m) => m.startsWith("/ ")).join(", ")}`).toBe(`${pid}: / tmpfs`);
      expect(`${pid}: ${view.filter((m) => !sandboxMount(m.split(" ")[0] ?? "")).join(", ")}`).toBe(
        `${pid}: `,
      );
      expect(view).toEqual(expect.arrayContaining(["/proc proc", "/work tmpfs"]));
    }
  }, 15_000);

  test("the agent's files (source tree, shim, its cache) are not there", async () => {
    const paths = [
      import.meta.dir,
      shimPath,
      TEST_SHIM_CACHE,
      process.cwd(),
      join(import.meta.dir, "escape.test.ts"),
    ];
    const { result } = await hostile(`report({p: attempt(os.stat, p) for p in INPUT["paths"]})`, { paths });
    expect(Object.values(result as Record<string, string>)).toEqual(paths.map(() => "ENOENT"));
  });

  test("the canary secret file outside the work dir cannot be read", async () => {
    const { result } = await hostile(
      `report({"file": attempt(open, INPUT["file"]), "dir": attempt(os.listdir, INPUT["dir"])})`,
      { file: guard.canary.file, dir: guard.canary.dir },
    );
    expect(result).toEqual({ file: "ENOENT", dir: "ENOENT" });
  });

  test("the host's /proc is replaced: own pids only, no sys/kcore/kallsyms, init hidden", async () => {
    const { result } = await hostile(`
report({"entries": sorted(os.listdir("/proc")), "me": str(os.getpid()), "ppid": os.getppid(),
        "init": attempt(open, "/proc/1/environ"), "sysrq": attempt(os.stat, "/proc/sysrq-trigger"),
        "kcore": attempt(os.stat, "/proc/kcore"), "sys": attempt(os.listdir, "/proc/sys")})`);
    const r = result as { entries: string[]; me: string; ppid: number };
    expect(r.entries).toEqual([r.me, "self", "thread-self"].sort());
    // The program's parent is the supervisor, outside the namespace: it has no pid here.
    expect(r.ppid).toBe(0);
    expect(result).toMatchObject({ init: "ENOENT", sysrq: "ENOENT", kcore: "ENOENT", sys: "ENOENT" });
  });

  test("writes outside the work dir fail: no host directory in view, system files read-only", async () => {
    // Opening an existing file for writing without O_TRUNC changes nothing even if it succeeded.
    const { result } = await hostile(
      `report({"drop": attempt(open, os.path.join(INPUT["drop"], "escaped.txt"), "w"),
        "passwd": attempt(os.open, "/etc/passwd", os.O_WRONLY),
        "usr": attempt(os.open, "/usr/lib/os-release", os.O_WRONLY),
        "cache": attempt(os.open, "/etc/ld.so.cache", os.O_WRONLY),
        "work": attempt(open, "inside.txt", "w"),
        "mounts": {l.split()[4]: l.split()[5].split(",") for l in open("/proc/self/mountinfo")}})`,
      { drop: guard.canary.dropDir },
    );
    // /etc/passwd belongs to the sandbox user, so only the read-only mount stops it;
    // root-owned system files are refused by permissions (and Landlock) first.
    const { mounts, ...opens } = result as { mounts: Record<string, string[]> };
    expect(opens).toEqual({ drop: "ENOENT", passwd: "EROFS", usr: "EACCES", cache: "EACCES", work: "ok" });
    for (const point of ["/", "/usr", "/etc/ld.so.cache", "/dev"]) expect(mounts[point]).toContain("ro");
    expect(mounts["/usr"]).toContain("nosuid");
    expect(mounts["/work"]).toEqual(expect.arrayContaining(["rw", "nosuid", "nodev", "noexec"]));
    expect(await readdir(guard.canary.dropDir)).toEqual([]);
  });

  test("symlink tricks lead nowhere", async () => {
    const { result } = await hostile(
      `os.symlink(INPUT["file"], "to-canary")
os.symlink("/proc/1/root/etc/shadow", "via-init")
os.symlink("../../../../../../../etc/shadow", "dotdot")
os.symlink("/proc/self/cwd/../../../root", "via-cwd")
report({"canary": attempt(open, "to-canary"), "init": attempt(open, "via-init"),
        "dotdot": attempt(open, "dotdot"), "cwd": attempt(os.listdir, "via-cwd"),
        "selfRoot": [os.readlink("/proc/self/root"), attempt(os.listdir, "/proc/self/root")]})`,
      { file: guard.canary.file },
    );
    expect(result).toEqual({
      canary: "ENOENT",
      init: "ENOENT",
      dotdot: "ENOENT",
      cwd: "ENOENT",
      // The program's own root is the sandbox's, which Landlock does not let it list.
      selfRoot: ["/", "EACCES"],
    });
  });

  test("hard links out of the work dir fail (other mount, Landlock refer)", async () => {
    const { result } = await hostile(
      `report({"passwd": attempt(os.link, "/etc/passwd", "p"), "python": attempt(os.link, "/usr/bin/python3", "py"),
        "canary": attempt(os.link, INPUT["file"], "c"), "proc": attempt(os.link, "/proc/self/status", "s")})`,
      { file: guard.canary.file },
    );
    expect(result).toEqual({ passwd: "EXDEV", python: "EXDEV", canary: "ENOENT", proc: "EXDEV" });
  });

  test("a binary dropped in the work dir cannot run; smuggled native code stays confined", async () => {
    const loader = process.arch === "arm64" ? "/lib/ld-linux-aarch64.so.1" : "/lib64/ld-linux-x86-64.so.2";
    const { result } = await hostile(
      `import shutil
shutil.copy("/usr/bin/cat", "cat"); os.chmod("cat", 0o755)
via_loader = subprocess.run([INPUT["loader"], "./cat", "/proc/self/status"], capture_output=True, text=True)
fd = os.memfd_create("cat", 0)
os.write(fd, open("/usr/bin/cat", "rb").read())
status = subprocess.run([f"/proc/self/fd/{fd}", "/proc/self/status"], pass_fds=[fd], capture_output=True, text=True).stdout
fields = dict(l.split(":\\t", 1) for l in status.splitlines() if ":\\t" in l)
report({"exec": attempt(subprocess.run, ["./cat", "/etc/hosts"]),
        "loader": [via_loader.returncode, "failed to map segment" in via_loader.stderr],
        "memfd": {k: fields[k].split()[0] for k in ["Uid", "NoNewPrivs", "Seccomp", "CapEff"]}})`,
      { loader },
    );
    expect(result).toEqual({
      exec: "EACCES",
      loader: [127, true],
      memfd: { Uid: "1000", NoNewPrivs: "1", Seccomp: "2", CapEff: "0000000000000000" },
    });
  });
});

describe("resources", () => {
  test("a fork bomb stops at the process limit and dies with the sandbox", async () => {
    const started = performance.now();
    const { result } = await hostile(`
created, err = 0, None
for _ in range(10000):
    try:
        pid = os.fork()
    except OSError as e:
        err = name(e.errno)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    created += 1
report({"created": created, "err": err})`);
    const r = result as { created: number; err: string };
    expect(r.err).toBe("EAGAIN");
    expect(r.created).toBeGreaterThan(0);
    expect(r.created).toBeLessThanOrEqual(HOSTILE_LIMITS.processes ?? 0);
    // The sleeping children did not hold the run open: they died with the namespace.
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("a memory bomb stops at the address-space limit", async () => {
    const { result } = await hostile(`
chunks, err = [], None
try:
    while True:
        chunks.append(b"\\x01" * (8 << 20))
except MemoryError:
    err = "MemoryError"
total = sum(len(c) for c in chunks)
chunks.clear()
report({"mib": total >> 20, "err": err})`);
    const r = result as { mib: number; err: string };
    expect(r.err).toBe("MemoryError");
    expect(r.mib).toBeGreaterThan(32);
    expect(r.mib).toBeLessThan(HOSTILE_LIMITS.memoryMb ?? 0);
  });

  test("an unhandled memory bomb is a typed memory error", async () => {
    const error = await stopped("x = bytearray(1 << 36)");
    expect(error).toBeInstanceOf(TaskMemoryError);
    expect(error.code).toBe("task_memory");
  });

  test("filling the disk stops at the file-size limit and the tmpfs size", async () => {
    const { result } = await hostile(`
seen, total, files = set(), 0, []
while total < (64 << 20):
    path = f"fill-{len(files)}"
    files.append(path)
    try:
        with open(path, "wb") as f:
            while total < (64 << 20):
                f.write(b"\\0" * (1 << 20))
                f.flush()
                total += 1 << 20
    except OSError as e:
        seen.add(name(e.errno))
        if e.errno == errno.ENOSPC:
            break
sizes = [os.path.getsize(p) for p in files]
for p in files:
    os.remove(p)
report({"errors": sorted(seen), "mib": sum(sizes) >> 20, "largest": max(sizes) >> 20})`);
    const r = result as { errors: string[]; mib: number; largest: number };
    expect(r.errors).toEqual(["EFBIG", "ENOSPC"]);
    expect(r.largest).toBeLessThanOrEqual(HOSTILE_LIMITS.fileSizeMb ?? 0);
    expect(r.mib).toBeLessThanOrEqual(HOSTILE_LIMITS.diskMb ?? 0);
  });

  test("a CPU spin is stopped by the CPU limit", async () => {
    const error = await stopped("while True:\n    pass", {}, { cpuSeconds: 1 });
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect((error as TaskTimeoutError).kind).toBe("cpu");
    // SIGXCPU came from the CPU limit long before the wall clock would have acted.
    expect(error.details?.signal).toBe(24);
    expect(error.details?.cpuMs).toBeGreaterThan(500);
    expect(error.details?.wallMs).toBeLessThan(HOSTILE_LIMITS.wallMs ?? 0);
  });

  test("sleeping past the wall clock kills the whole sandbox on time", async () => {
    const started = performance.now();
    const error = await stopped("time.sleep(60)", {}, { wallMs: 800 });
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect((error as TaskTimeoutError).kind).toBe("wall");
    expect(performance.now() - started).toBeLessThan(4000);
  });

  test("a daemonised grandchild dies with the program", async () => {
    const started = performance.now();
    const run = await hostile(`
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(5)
        os.write(1, b"outlived the sandbox\\n")
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
print("main done", flush=True)
report({"ok": True})`);
    expect(run.stdout).toBe("main done\n");
    // Well before the grandchild would have woken up.
    expect(performance.now() - started).toBeLessThan(4500);
  });

  test("flooding stdout is cut at the output cap", async () => {
    const error = await stopped(
      `while True:\n    sys.stdout.write("x" * 65536)`,
      {},
      { outputBytes: 64 * 1024 },
    );
    expect(error).toBeInstanceOf(TaskOutputTooLargeError);
    expect((error as TaskOutputTooLargeError).stream).toBe("stdout");
  });

  test("flooding the result descriptor is cut at the result cap", async () => {
    const error = await stopped(`with open(3, "w") as f:\n    while True:\n        f.write("[" * 65536)`);
    expect(error).toBeInstanceOf(TaskOutputTooLargeError);
    expect((error as TaskOutputTooLargeError).stream).toBe("result");
  });
});

describe("kernel surface", () => {
  test("ptrace is refused, even PTRACE_TRACEME", async () => {
    const { result } = await hostile(`
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
report({"traceme": raw(libc.ptrace(0, 0, None, None)), "attachInit": raw(libc.ptrace(16, 1, None, None)),
        "vmRead": raw(libc.process_vm_readv(1, None, 0, None, 0, 0))})`);
    expect(result).toEqual({ traceme: "EPERM", attachInit: "EPERM", vmRead: "EPERM" });
  });

  test("mount, the new mount API and chroot are refused", async () => {
    const { result } = await hostile(`
report({"mount": raw(libc.mount(b"none", b"/work", b"tmpfs", 0, None)),
        "umount": raw(libc.umount2(b"/proc", 2)),
        "fsopen": raw(libc.syscall(NR["fsopen"], b"tmpfs", 0)),
        "chroot": attempt(os.chroot, "/work")})`);
    expect(result).toEqual({ mount: "EPERM", umount: "EPERM", fsopen: "EPERM", chroot: "EPERM" });
  });

  test("unshare, setns and namespace flags on clone are refused; plain fork works", async () => {
    const { result } = await hostile(`
CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000
child = libc.syscall(NR["clone"], CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)
if child == 0:
    os._exit(0)
clone_result = raw(child)
pid = os.fork()
if pid == 0:
    os._exit(7)
_, status = os.waitpid(pid, 0)
report({"userns": raw(libc.unshare(CLONE_NEWUSER)), "netns": raw(libc.unshare(CLONE_NEWNET)),
        "mountns": raw(libc.unshare(CLONE_NEWNS)),
        "setns": raw(libc.setns(os.open("/proc/self/ns/net", os.O_RDONLY), 0)),
        "clone": clone_result, "clone3": raw(libc.syscall(NR["clone3"], None, 0)),
        "fork": os.WEXITSTATUS(status)})`);
    expect(result).toEqual({
      userns: "EPERM",
      netns: "EPERM",
      mountns: "EPERM",
      setns: "EPERM",
      clone: "EPERM",
      clone3: "ENOSYS",
      fork: 7,
    });
  });

  test("setuid binaries run without privilege", async () => {
    // The setuid program is kept alive by a full stdout pipe while its credentials are read.
    const { result } = await hostile(`
import fcntl, stat
binary = next(p for p in ["/usr/bin/su", "/usr/bin/mount", "/usr/bin/passwd"]
              if os.path.exists(p) and os.stat(p).st_mode & stat.S_ISUID)
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)
os.set_blocking(w, False)
try:
    while True:
        os.write(w, b"x" * 4096)
except BlockingIOError:
    pass
os.set_blocking(w, True)
p = subprocess.Popen([binary, "--help"], stdout=w, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
fields = {}
for _ in range(500):
    try:
        text = open(f"/proc/{p.pid}/status").read()
    except FileNotFoundError:
        text = ""
    fields = dict(l.split(":\\t", 1) for l in text.splitlines() if ":\\t" in l)
    if fields.get("Name") == os.path.basename(binary):
        break
    time.sleep(0.01)
p.kill()
p.wait()
report({"setuidBit": True, "name": fields.get("Name"), "uid": fields.get("Uid", "").split(),
        "capEff": fields.get("CapEff"), "noNewPrivs": fields.get("NoNewPrivs")})`);
    expect(result).toMatchObject({
      setuidBit: true,
      uid: ["1000", "1000", "1000", "1000"],
      capEff: "0000000000000000",
      noNewPrivs: "1",
    });
  });

  test("kill(-1) reaches only the sandbox's own processes", async () => {
    // Same host uid as the shim's supervisor: without the pid namespace (and Landlock's
    // signal scope) this would kill the supervisor and no report would come back.
    const { result } = await hostile(`
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
time.sleep(0.05)
outcome = attempt(os.kill, -1, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
report({"kill": outcome, "child": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None})`);
    expect(result).toEqual({ kill: "ok", child: 9 });
  });

  test("signals to init and to guessed outside pids are refused; the parent has no pid", async () => {
    const { result } = await hostile(`
me = os.getpid()
reachable = [p for p in range(1, 2000) if p != me and attempt(os.kill, p, 0) != "ESRCH"]
report({"ppid": os.getppid(), "killInit": attempt(os.kill, 1, signal.SIGKILL),
        "termInit": attempt(os.kill, 1, signal.SIGTERM), "reachable": reachable})`);
    // The parent (the supervisor) has no pid in the namespace; pid 1 is init, outside
    // the program's Landlock domain; nothing else exists.
    expect(result).toEqual({ ppid: 0, killInit: "EPERM", termInit: "EPERM", reachable: [1] });
  });

  test("a process-group kill stays inside the sandbox", async () => {
    const error = await stopped(`
pid = os.fork()
if pid == 0:
    os.kill(0, signal.SIGKILL)
    os._exit(0)
os.waitpid(pid, 0)
time.sleep(5)`);
    // The program's own group died; the shim outside it still reported.
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).signal).toBe(9);
  });

  test("/dev holds only null, zero, full, random and urandom", async () => {
    const { result } = await hostile(`
def write_full():
    with open("/dev/full", "wb", buffering=0) as f:
        f.write(b"x")
with open("/dev/null", "wb") as f:
    f.write(b"x")
report({"dev": sorted(os.listdir("/dev")), "full": attempt(write_full),
        "random": len(open("/dev/urandom", "rb").read(16)),
        "absent": {p: attempt(open, p, "rb") for p in ["/dev/sda", "/dev/vda", "/dev/mem", "/dev/kmsg", "/dev/tty", "/dev/console", "/dev/net/tun"]}})`);
    const r = result as { dev: string[]; full: string; random: number; absent: Record<string, string> };
    expect(r.dev).toEqual([
      "fd",
      "full",
      "null",
      "random",
      "shm",
      "stderr",
      "stdin",
      "stdout",
      "urandom",
      "zero",
    ]);
    expect(r.full).toBe("ENOSPC");
    expect(r.random).toBe(16);
    for (const outcome of Object.values(r.absent)) expect(outcome).toBe("ENOENT");
  });

  test("the agent's environment does not reach the program", async () => {
    // Control: the guard really hands the secret to the shim's environment.
    const control = Bun.spawn([...guard.launcher(["/usr/bin/env"]).argv], {
      env: { ...guard.launcher([]).env },
      stdout: "pipe",
    });
    expect(await new Response(control.stdout).text()).toContain(guard.canary.secret);
    await control.exited;

    const { result } = await hostile(
      `
found = []
for pid in os.listdir("/proc"):
    for part in ("environ", "cmdline"):
        try:
            if INPUT["secret"].encode() in open(f"/proc/{pid}/{part}", "rb").read():
                found.append(f"{pid}/{part}")
        except OSError:
            pass
report({"env": dict(os.environ), "found": found})`,
      { secret: guard.canary.secret.split("").reverse().join("") },
    );
    // The program is given the secret reversed so its own input cannot match itself.
    expect(result).toEqual({
      env: { HOME: "/work", LANG: "C.UTF-8", NCN_RESULT_FD: "3", PATH: "/usr/bin:/bin", TMPDIR: "/tmp" },
      found: [],
    });
  });

  test("descriptors the shim inherits (file, socket, pipe) are closed: the program has 0-3 only", async () => {
    // Control: each launch really inherits the three canaries, each with the secret in it.
    const before = guard.socketConnections();
    const { file, socket, pipe } = CANARY_FDS;
    const control = Bun.spawn(
      [
        ...guard.launcher(["/bin/sh", "-c", `cat <&${file}; head -n 1 <&${socket}; head -n 1 <&${pipe}`])
          .argv,
      ],
      { env: { ...guard.launcher([]).env }, stdout: "pipe" },
    );
    const controlOut = await new Response(control.stdout).text();
    await control.exited;
    expect(controlOut.split("\n").filter((l) => l !== "")).toEqual([
      guard.canary.secret,
      guard.canary.secret,
      guard.canary.secret,
    ]);
    expect(guard.socketConnections()).toBe(before + 1);

    const { result } = await hostile(
      `
# The listing holds one descriptor of its own while it reads, gone afterwards.
listed = sorted(int(n) for n in os.listdir("/proc/self/fd"))
names = [fd for fd in listed if attempt(os.fstat, fd) == "ok"]
def read_fd(fd):
    os.set_blocking(fd, False)
    return os.read(fd, 4096).decode(errors="replace")
report({"fds": names, "listed": len(listed), "probed": [fd for fd in range(4096) if attempt(os.fstat, fd) == "ok"],
        "links": {str(fd): os.readlink(f"/proc/self/fd/{fd}") for fd in names},
        "byNumber": {str(fd): attempt(read_fd, fd) for fd in INPUT["canaries"]},
        "byProc": {str(fd): attempt(open, f"/proc/self/fd/{fd}") for fd in INPUT["canaries"]},
        "dup": {str(fd): attempt(os.dup, fd) for fd in INPUT["canaries"]}})`,
      { canaries: Object.values(CANARY_FDS) },
    );
    // The shim connected to the canary listener again: the socket was there to inherit.
    expect(guard.socketConnections()).toBe(before + 2);
    const r = result as {
      fds: number[];
      listed: number;
      probed: number[];
      links: Record<string, string>;
      byNumber: Record<string, string>;
      byProc: Record<string, string>;
      dup: Record<string, string>;
    };
    expect(r.fds).toEqual([0, 1, 2, 3]);
    expect(r.listed).toBe(5);
    expect(r.probed).toEqual([0, 1, 2, 3]);
    // 0 is the sealed input, 1-2 the output pipes, 3 the result channel (a pipe to the supervisor).
    expect(r.links["0"]?.startsWith("/memfd:ncn-input")).toBe(true);
    for (const fd of ["1", "2", "3"]) expect(r.links[fd]).toMatch(/^pipe:\[\d+\]$/);
    const closed = Object.fromEntries(Object.values(CANARY_FDS).map((fd) => [String(fd), "EBADF"]));
    expect(r.byNumber).toEqual(closed);
    expect(r.dup).toEqual(closed);
    expect(r.byProc).toEqual(Object.fromEntries(Object.keys(closed).map((fd) => [fd, "ENOENT"])));
  });

  test("without close_range (kernels before 5.9) the fallback still closes every inherited descriptor", async () => {
    // The shim starts under a seccomp filter that answers close_range with ENOSYS, as an
    // old kernel would; the program inherits it and checks that it is really there.
    const withoutCloseRange = `import ctypes, os, struct, sys
NR_CLOSE_RANGE, ENOSYS = 436, 38
code = [(0x20, 0, 0, 0), (0x15, 0, 1, NR_CLOSE_RANGE), (0x06, 0, 0, 0x00050000 | ENOSYS), (0x06, 0, 0, 0x7fff0000)]
program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *c) for c in code))
fprog = struct.pack("HxxxxxxQ", len(code), ctypes.addressof(program))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0, ctypes.get_errno()
os.execv(sys.argv[1], sys.argv[1:])`;
    const launcher: ShimLauncher = (argv) =>
      guard.launcher(["/usr/bin/python3", "-S", "-c", withoutCloseRange, ...argv]);
    const { result } = await hostile(
      `CLOSE_RANGE = 436
names = sorted(int(n) for n in os.listdir("/proc/self/fd"))
report({"closeRange": raw(libc.syscall(CLOSE_RANGE, 1000, 1000, 0)),
        "fds": [fd for fd in names if attempt(os.fstat, fd) == "ok"],
        "canaries": {str(fd): attempt(os.fstat, fd) for fd in INPUT["canaries"]}})`,
      { canaries: Object.values(CANARY_FDS) },
      {},
      launcher,
    );
    expect(result).toEqual({
      closeRange: "ENOSYS",
      fds: [0, 1, 2, 3],
      canaries: Object.fromEntries(Object.values(CANARY_FDS).map((fd) => [String(fd), "EBADF"])),
    });
  });

  test("the clock cannot be set or slewed", async () => {
    // Setting the clock to the value just read: harmless even if it were allowed.
    const { result } = await hostile(`
class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]
ts = timespec()
libc.clock_gettime(0, ctypes.byref(ts))
tv = timeval(ts.tv_sec, ts.tv_nsec // 1000)
timex = ctypes.create_string_buffer(512)
report({"clock_settime": raw(libc.clock_settime(0, ctypes.byref(ts))),
        "settimeofday": raw(libc.settimeofday(ctypes.byref(tv), None)),
        "adjtimex": raw(libc.adjtimex(timex)),
        "timens": raw(libc.unshare(0x80)),
        "monotonic": time.monotonic() > 0})`);
    expect(result).toEqual({
      clock_settime: "EPERM",
      settimeofday: "EPERM",
      adjtimex: "EPERM",
      timens: "EPERM",
      monotonic: true,
    });
  });

  test("bpf, io_uring, keyctl, perf, userfaultfd, kexec, modules and x32 calls are refused", async () => {
    // Arguments are invalid on purpose: were the filter missing, each call would fail harmlessly.
    const { result } = await hostile(`
r = {
  "bpf": raw(libc.syscall(NR["bpf"], -1, None, 0)),
  "io_uring": raw(libc.syscall(NR["io_uring_setup"], 0, None)),
  "keyctl": raw(libc.syscall(NR["keyctl"], -1, 0, 0, 0, 0)),
  "perf": raw(libc.syscall(NR["perf_event_open"], None, 0, -1, -1, 0)),
  "userfaultfd": raw(libc.syscall(NR["userfaultfd"], -1)),
  "kexec": raw(libc.syscall(NR["kexec_load"], 0, 0, None, -1)),
  "module": raw(libc.syscall(NR["init_module"], None, 0, b"")),
}
if platform.machine() == "x86_64":
    r["x32"] = raw(libc.syscall(0x40000000 | NR["getpid"]))
report(r)`);
    for (const [call, outcome] of Object.entries(result as Record<string, string>)) {
      expect(`${call}: ${outcome}`).toBe(`${call}: EPERM`);
    }
  });

  test("hostname is the sandbox's own and the kernel log is closed", async () => {
    // sethostname is asked for the name it already has: harmless even if it were allowed.
    const { result } = await hostile(`
current = os.uname().nodename.encode()
buf = ctypes.create_string_buffer(4096)
report({"hostname": os.uname().nodename, "sethostname": raw(libc.sethostname(current, len(current))),
        "dmesg": raw(libc.klogctl(3, buf, 4096))})`);
    expect(result).toEqual({ hostname: "sandbox", sethostname: "EPERM", dmesg: "EPERM" });
  });
});
