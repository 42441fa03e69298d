/*
 * ncn-sandbox shim.
 *
 *   ncn-sandbox run   --memory B --cpu S --wall MS --nofile N --nproc N --fsize B
 *                     --disk B --output B --result B --max-source B --max-input B
 *                     --uid N --gid N --layers MASK -- /usr/bin/python3 ARGS...
 *   ncn-sandbox probe --uid N --gid N --layers MASK
 *
 * run reads "<source bytes> <input bytes>\n" followed by the source and the
 * JSON input on stdin, and writes one JSON report line to stdout followed by
 * the captured stdout, stderr and result bytes (their lengths are in the line).
 *
 * Process layout (both children are forked by the supervisor, back to back):
 *   supervisor (this process, outside the new pid namespace; drops root,
 *     enters the new user/mount/net/ipc/uts/cgroup namespaces, then only
 *     reads pipes, waits for the program and enforces the wall clock and
 *     the output caps; killing init kills everything in the namespace)
 *   -> init (pid 1 of the new pid namespace: holds it open, reaps orphans,
 *      runs nothing; pid 1 ignores default-action signals, so the program
 *      must not be pid 1)
 *   -> worker (pid 2: new session, new root, source, rlimits, capabilities,
 *      no_new_privs, Landlock, seccomp, then exec of the program)
 *
 * Descriptors seen by the program: 0 = input JSON (sealed memfd), 1 = stdout,
 * 2 = stderr, 3 = result (write JSON here), nothing else.
 */
#include "shim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

static const char *const STEP_NAMES[STEP_COUNT] = {
    [STEP_ARGS] = "args",
    [STEP_STDIN] = "stdin",
    [STEP_PIPES] = "pipes",
    [STEP_UID_DROP] = "uid-drop",
    [STEP_USERNS] = "unshare-user",
    [STEP_UID_MAP] = "uid-map",
    [STEP_MOUNTNS] = "unshare-mount",
    [STEP_PIDNS] = "unshare-pid",
    [STEP_NETNS] = "unshare-net",
    [STEP_IPCNS] = "unshare-ipc",
    [STEP_UTSNS] = "unshare-uts",
    [STEP_CGROUPNS] = "unshare-cgroup",
    [STEP_FORK] = "fork",
    [STEP_INIT] = "init",
    [STEP_SESSION] = "session",
    [STEP_MOUNT_PRIVATE] = "mount-private",
    [STEP_ROOT_TMPFS] = "root-tmpfs",
    [STEP_BIND] = "bind-system-paths",
    [STEP_PROC] = "mount-proc",
    [STEP_WORK_TMPFS] = "work-tmpfs",
    [STEP_DEV] = "dev",
    [STEP_ETC] = "etc",
    [STEP_SWITCH_ROOT] = "switch-root",
    [STEP_ROOT_RO] = "root-read-only",
    [STEP_SOURCE] = "write-source",
    [STEP_FDS] = "descriptors",
    [STEP_RLIMIT] = "rlimits",
    [STEP_CAPS] = "capabilities",
    [STEP_NNP] = "no-new-privs",
    [STEP_LANDLOCK_ABI] = "landlock-abi",
    [STEP_LANDLOCK_FS] = "landlock-fs",
    [STEP_LANDLOCK_NET] = "landlock-net",
    [STEP_LANDLOCK_SCOPE] = "landlock-scope",
    [STEP_LANDLOCK_RESTRICT] = "landlock-restrict",
    [STEP_SECCOMP] = "seccomp",
    [STEP_EXEC] = "exec",
};

static const char *const STEP_LAYERS[STEP_COUNT] = {
    [STEP_ARGS] = "shim",
    [STEP_STDIN] = "shim",
    [STEP_PIPES] = "shim",
    [STEP_UID_DROP] = "unprivileged-uid",
    [STEP_USERNS] = "user-namespace",
    [STEP_UID_MAP] = "user-namespace",
    [STEP_MOUNTNS] = "mount-namespace",
    [STEP_PIDNS] = "pid-namespace",
    [STEP_NETNS] = "network-namespace",
    [STEP_IPCNS] = "ipc-namespace",
    [STEP_UTSNS] = "uts-namespace",
    [STEP_CGROUPNS] = "cgroup-namespace",
    [STEP_FORK] = "pid-namespace",
    [STEP_INIT] = "pid-namespace",
    [STEP_SESSION] = "pid-namespace",
    [STEP_MOUNT_PRIVATE] = "filesystem",
    [STEP_ROOT_TMPFS] = "filesystem",
    [STEP_BIND] = "filesystem",
    [STEP_PROC] = "filesystem",
    [STEP_WORK_TMPFS] = "filesystem",
    [STEP_DEV] = "filesystem",
    [STEP_ETC] = "filesystem",
    [STEP_SWITCH_ROOT] = "filesystem",
    [STEP_ROOT_RO] = "filesystem",
    [STEP_SOURCE] = "filesystem",
    [STEP_FDS] = "shim",
    [STEP_RLIMIT] = "rlimits",
    [STEP_CAPS] = "capabilities",
    [STEP_NNP] = "no-new-privs",
    [STEP_LANDLOCK_ABI] = "landlock-fs",
    [STEP_LANDLOCK_FS] = "landlock-fs",
    [STEP_LANDLOCK_NET] = "landlock-net",
    [STEP_LANDLOCK_SCOPE] = "landlock-scope",
    [STEP_LANDLOCK_RESTRICT] = "landlock-fs",
    [STEP_SECCOMP] = "seccomp",
    [STEP_EXEC] = "python",
};

const char *step_name(int step) {
  return step > 0 && step < STEP_COUNT && STEP_NAMES[step] ? STEP_NAMES[step] : "unknown";
}

const char *step_layer(int step) {
  return step > 0 && step < STEP_COUNT && STEP_LAYERS[step] ? STEP_LAYERS[step] : "shim";
}

static int fail(struct failure *f, int step, int err) {
  f->step = step;
  f->err = err;
  return -1;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_exact(int fd, char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = read(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) {
      errno = EPIPE;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = write_all(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int parse_u64(const char *s, unsigned long long *out) {
  if (!s || !*s) return -1;
  unsigned long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    if (v > (~0ULL - 9) / 10) return -1;
    v = v * 10 + (unsigned long long)(*p - '0');
  }
  *out = v;
  return 0;
}

/* Closes every descriptor from `first` up. Kernels before 5.9 lack close_range:
 * then the open ones are listed in /proc/self/fd, or, without /proc, every
 * number up to the descriptor limit is closed. */
static void close_from(unsigned int first) {
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
  DIR *dir = opendir("/proc/self/fd");
  if (dir) {
    int own = dirfd(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
      unsigned long long fd;
      if (parse_u64(entry->d_name, &fd) == 0 && fd >= first && fd != (unsigned long long)own) close((int)fd);
    }
    closedir(dir);
    return;
  }
  struct rlimit rl;
  rlim_t last = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY ? rl.rlim_max : 1u << 20;
  if (last > 1u << 20) last = 1u << 20;
  for (rlim_t fd = first; fd < last; fd++) close((int)fd);
}

/* ---- identity and privileges ------------------------------------------ */

int drop_to_uid(uid_t uid, gid_t gid, struct failure *f) {
  if (uid == 0 || gid == 0) return fail(f, STEP_UID_DROP, EINVAL);
  if (setgroups(0, NULL) != 0) return fail(f, STEP_UID_DROP, errno);
  if (setresgid(gid, gid, gid) != 0) return fail(f, STEP_UID_DROP, errno);
  if (setresuid(uid, uid, uid) != 0) return fail(f, STEP_UID_DROP, errno);
  uid_t r, e, s;
  if (getresuid(&r, &e, &s) != 0 || r == 0 || e == 0 || s == 0) return fail(f, STEP_UID_DROP, EPERM);
  /* setuid() made us non-dumpable, which makes /proc/self/uid_map root-owned. */
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return fail(f, STEP_UID_DROP, errno);
  return 0;
}

int enter_user_namespace(uid_t outer_uid, gid_t outer_gid, struct failure *f) {
  if (unshare(CLONE_NEWUSER) != 0) return fail(f, STEP_USERNS, errno);
  char map[64];
  if (write_file("/proc/self/setgroups", "deny") != 0) return fail(f, STEP_UID_MAP, errno);
  snprintf(map, sizeof map, "%d %u 1\n", SANDBOX_INNER_ID, (unsigned)outer_uid);
  if (write_file("/proc/self/uid_map", map) != 0) return fail(f, STEP_UID_MAP, errno);
  snprintf(map, sizeof map, "%d %u 1\n", SANDBOX_INNER_ID, (unsigned)outer_gid);
  if (write_file("/proc/self/gid_map", map) != 0) return fail(f, STEP_UID_MAP, errno);
  return 0;
}

/* Empties the bounding and ambient sets, locks the securebits so no uid
 * transition can give capabilities back, then clears every set. */
int drop_capabilities(struct failure *f) {
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break; /* past the last cap */
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return fail(f, STEP_CAPS, errno);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return fail(f, STEP_CAPS, errno);
  unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                       SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                       SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return fail(f, STEP_CAPS, errno);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) != 0) return fail(f, STEP_CAPS, errno);
  return 0;
}

/* ---- argument parsing ---------------------------------------------------- */

struct option_slot {
  const char *name;
  unsigned long long *value;
  int seen;
};

static int parse_args(int argc, char **argv, struct config *cfg, int want_exec) {
  unsigned long long layers = LAYER_ALL_OPTIONAL;
  struct option_slot slots[] = {
      {"--memory", &cfg->memory_bytes, 0}, {"--cpu", &cfg->cpu_seconds, 0},
      {"--wall", &cfg->wall_ms, 0},        {"--nofile", &cfg->nofile, 0},
      {"--nproc", &cfg->nproc, 0},         {"--fsize", &cfg->fsize_bytes, 0},
      {"--disk", &cfg->disk_bytes, 0},     {"--output", &cfg->output_bytes, 0},
      {"--result", &cfg->result_bytes, 0}, {"--max-source", &cfg->max_source, 0},
      {"--max-input", &cfg->max_input, 0}, {"--uid", &cfg->uid, 0},
      {"--gid", &cfg->gid, 0},             {"--layers", &layers, 0},
  };
  const size_t nslots = sizeof slots / sizeof slots[0];
  int i = 2;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    size_t k = 0;
    for (; k < nslots; k++)
      if (strcmp(argv[i], slots[k].name) == 0) break;
    if (k == nslots || i + 1 >= argc || parse_u64(argv[i + 1], slots[k].value) != 0) return -1;
    slots[k].seen = 1;
    i++;
  }
  if (layers & ~(unsigned long long)LAYER_ALL_OPTIONAL) return -1;
  cfg->layers = (unsigned int)layers;
  if (want_exec) {
    for (size_t k = 0; k < nslots; k++)
      if (!slots[k].seen && slots[k].value != &layers) return -1;
    if (i >= argc || argv[i][0] != '/') return -1;
    cfg->exec_argv = &argv[i];
    if (cfg->memory_bytes == 0 || cfg->cpu_seconds == 0 || cfg->wall_ms == 0 || cfg->nofile < 5 ||
        cfg->nproc < 3 || cfg->disk_bytes == 0)
      return -1;
  }
  if (cfg->uid == 0 || cfg->gid == 0 || cfg->uid > 0xfffffffeULL || cfg->gid > 0xfffffffeULL) return -1;
  return 0;
}

/* ---- the report ------------------------------------------------------------ */

static void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      fprintf(out, "\\u%04x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

static void print_failure(FILE *out, const struct failure *f) {
  fprintf(out, "{\"step\":");
  json_string(out, step_name(f->step));
  fprintf(out, ",\"layer\":");
  json_string(out, step_layer(f->step));
  fprintf(out, ",\"errno\":%d,\"message\":", f->err);
  json_string(out, f->err ? strerror(f->err) : "not available");
  fputc('}', out);
}

static int report_failure_only(const struct failure *f) {
  printf("{\"failure\":");
  print_failure(stdout, f);
  printf(",\"timedOut\":false,\"overflow\":null,\"exitCode\":null,\"signal\":null,\"cpuUserUs\":0,"
         "\"cpuSysUs\":0,\"maxRssKb\":0,\"wallUs\":0,\"stdoutBytes\":0,\"stderrBytes\":0,\"resultBytes\":0}\n");
  fflush(stdout);
  return 0;
}

/* ---- the request on stdin ---------------------------------------------------- */

static int read_request(const struct config *cfg, char **blob, size_t *src_len, size_t *in_len,
                        struct failure *f) {
  char header[48];
  size_t n = 0;
  for (;;) {
    if (n + 1 >= sizeof header) return fail(f, STEP_STDIN, EINVAL);
    ssize_t r = read(0, header + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return fail(f, STEP_STDIN, r < 0 ? errno : EPIPE);
    if (header[n] == '\n') break;
    n++;
  }
  header[n] = '\0';
  char *space = strchr(header, ' ');
  if (!space) return fail(f, STEP_STDIN, EINVAL);
  *space = '\0';
  unsigned long long s, i;
  if (parse_u64(header, &s) != 0 || parse_u64(space + 1, &i) != 0) return fail(f, STEP_STDIN, EINVAL);
  if (s > cfg->max_source || i > cfg->max_input) return fail(f, STEP_STDIN, EFBIG);
  *blob = malloc((size_t)(s + i + 1));
  if (!*blob) return fail(f, STEP_STDIN, ENOMEM);
  if (read_exact(0, *blob, (size_t)(s + i)) != 0) return fail(f, STEP_STDIN, errno);
  *src_len = (size_t)s;
  *in_len = (size_t)i;
  return 0;
}

static int make_input_fd(const char *data, size_t len, struct failure *f) {
  int fd = (int)syscall(SYS_memfd_create, "ncn-input", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return fail(f, STEP_PIPES, errno);
  if (write_all(fd, data, len) != 0) return fail(f, STEP_PIPES, errno);
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    return fail(f, STEP_PIPES, errno);
  if (lseek(fd, 0, SEEK_SET) != 0) return fail(f, STEP_PIPES, errno);
  return fd;
}

/* ---- worker: the last steps before exec ------------------------------------------ */

struct child_fds {
  int input;
  int out;
  int err;
  int res;
  int ctl;
};

static void send_failure(int ctl, const struct failure *f) {
  (void)write_all(ctl, f, sizeof *f);
}

static int set_limit(int resource, rlim_t soft, rlim_t hard, struct failure *f) {
  struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
  if (setrlimit(resource, &rl) != 0) return fail(f, STEP_RLIMIT, errno);
  return 0;
}

int apply_rlimits(const struct config *cfg, struct failure *f) {
  if (set_limit(RLIMIT_AS, cfg->memory_bytes, cfg->memory_bytes, f) ||
      set_limit(RLIMIT_CPU, cfg->cpu_seconds, cfg->cpu_seconds + 1, f) ||
      set_limit(RLIMIT_NOFILE, cfg->nofile, cfg->nofile, f) ||
      set_limit(RLIMIT_NPROC, cfg->nproc, cfg->nproc, f) ||
      set_limit(RLIMIT_FSIZE, cfg->fsize_bytes, cfg->fsize_bytes, f) || set_limit(RLIMIT_CORE, 0, 0, f) ||
      set_limit(RLIMIT_MEMLOCK, 0, 0, f) || set_limit(RLIMIT_MSGQUEUE, 0, 0, f) ||
      set_limit(RLIMIT_NICE, 0, 0, f) || set_limit(RLIMIT_RTPRIO, 0, 0, f))
    return -1;
  return 0;
}

static char *const SANDBOX_ENV[] = {
    "PATH=/usr/bin:/bin", "HOME=" WORK_DIR, "TMPDIR=/tmp", "LANG=C.UTF-8", "NCN_RESULT_FD=3", NULL,
};

static void worker_main(const struct config *cfg, const char *src, size_t src_len, struct child_fds fds) {
  struct failure f = {0};
  /* Descriptors first, so that a failure can still be reported: lift the five
   * out of the way, then place them at 0..4 (4 = control, closed by exec). */
  int moved[5] = {fds.input, fds.out, fds.err, fds.res, fds.ctl};
  for (int k = 0; k < 5; k++) {
    moved[k] = fcntl(moved[k], F_DUPFD_CLOEXEC, 16);
    if (moved[k] < 0) {
      fail(&f, STEP_FDS, errno);
      send_failure(fds.ctl, &f);
      _exit(127);
    }
  }
  for (int k = 0; k < 4; k++) {
    if (dup2(moved[k], k) != k) {
      fail(&f, STEP_FDS, errno);
      send_failure(moved[4], &f);
      _exit(127);
    }
  }
  if (dup3(moved[4], 4, O_CLOEXEC) != 4) _exit(127);
  close_from(5);
  const int ctl = 4;

  /* Signal state is inherited across exec: give the program the defaults. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);

  /* Own session and process group, inside the namespace: kill(0) and
   * killpg() reach only the program's own processes. */
  if (setsid() < 0) {
    fail(&f, STEP_SESSION, errno);
    goto failed;
  }
  if (sethostname("sandbox", 7) != 0) {
    fail(&f, STEP_UTSNS, errno);
    goto failed;
  }
  if (fs_setup(cfg, &f) != 0 || fs_write_source(src, src_len, &f) != 0) goto failed;
  if (apply_rlimits(cfg, &f) != 0 || drop_capabilities(&f) != 0) goto failed;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fail(&f, STEP_NNP, errno);
    goto failed;
  }
  if (landlock_apply(cfg->layers, &f) != 0) goto failed;
  if (seccomp_apply(&f) != 0) {
    if (cfg->layers & LAYER_SECCOMP) goto failed;
  }
  /* Last sweep: whatever the set-up may have opened is gone too. The program
   * gets 0-3 only; the control pipe (4) is close-on-exec. */
  close_from(5);
  execve(cfg->exec_argv[0], cfg->exec_argv, SANDBOX_ENV);
  fail(&f, STEP_EXEC, errno);
failed:
  send_failure(ctl, &f);
  _exit(127);
}

/* ---- init: pid 1 of the sandbox's pid namespace ------------------------------------ */

/* Holds the namespace open and reaps orphans; owns nothing and runs nothing.
 * The supervisor kills it when the program is done (or out of time), and
 * the kernel then kills everything else in the namespace. */
static void init_main(void) {
  struct failure f = {0};
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  (void)setsid();
  close_from(0);
  (void)drop_capabilities(&f);
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_SETMASK, &chld, NULL);
  for (;;) {
    while (waitpid(-1, NULL, __WALL | WNOHANG) > 0) {
    }
    (void)sigwaitinfo(&chld, NULL);
  }
}

/* ---- supervisor ----------------------------------------------------------------- */

struct stream {
  int fd;
  char *buf;
  size_t len;
  size_t cap;
  size_t limit;
  int eof;
  int over;
};

/* Reads what is available; returns 1 when the stream went over its limit now. */
static int pump(struct stream *s) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      s->eof = 1;
      return 0;
    }
    if (n == 0) {
      s->eof = 1;
      return 0;
    }
    if (s->over) continue;
    if (s->len + (size_t)n > s->limit) {
      s->over = 1;
      return 1;
    }
    if (s->len + (size_t)n > s->cap) {
      size_t cap = s->cap ? s->cap : 65536;
      while (cap < s->len + (size_t)n) cap *= 2;
      if (cap > s->limit) cap = s->limit;
      char *nb = realloc(s->buf, cap);
      if (!nb) {
        s->over = 1;
        return 1;
      }
      s->buf = nb;
      s->cap = cap;
    }
    memcpy(s->buf + s->len, chunk, (size_t)n);
    s->len += (size_t)n;
  }
}

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int run_main(struct config *cfg) {
  struct failure f = {0};
  char *blob = NULL;
  size_t src_len = 0, in_len = 0;
  if (read_request(cfg, &blob, &src_len, &in_len, &f) != 0) return report_failure_only(&f);

  uid_t outer_uid = getuid();
  gid_t outer_gid = getgid();
  if (geteuid() == 0 || outer_uid == 0) {
    if (drop_to_uid((uid_t)cfg->uid, (gid_t)cfg->gid, &f) != 0) return report_failure_only(&f);
    outer_uid = (uid_t)cfg->uid;
    outer_gid = (gid_t)cfg->gid;
  }
  if (enter_user_namespace(outer_uid, outer_gid, &f) != 0) return report_failure_only(&f);
  static const struct {
    int flag;
    int step;
  } spaces[] = {
      {CLONE_NEWNS, STEP_MOUNTNS},  {CLONE_NEWPID, STEP_PIDNS},         {CLONE_NEWNET, STEP_NETNS},
      {CLONE_NEWIPC, STEP_IPCNS},   {CLONE_NEWUTS, STEP_UTSNS},         {CLONE_NEWCGROUP, STEP_CGROUPNS},
  };
  int all = 0;
  for (size_t k = 0; k < sizeof spaces / sizeof spaces[0]; k++) all |= spaces[k].flag;
  if (unshare(all) != 0) {
    /* One at a time, only to name the namespace the kernel refuses. */
    int err = errno;
    for (size_t k = 0; k < sizeof spaces / sizeof spaces[0]; k++)
      if (unshare(spaces[k].flag) != 0) {
        fail(&f, spaces[k].step, errno);
        return report_failure_only(&f);
      }
    fail(&f, STEP_MOUNTNS, err);
    return report_failure_only(&f);
  }

  /* The worker's pivot_root moves every root and cwd that is the old root to
   * the new one: standing at "/", the supervisor and init keep nothing of the
   * host's mounts alive once the worker detaches them. */
  if (chdir("/") != 0) {
    fail(&f, STEP_MOUNTNS, errno);
    return report_failure_only(&f);
  }

  /* SIGCHLD arrives on a descriptor; children restore their own mask. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    fail(&f, STEP_PIPES, errno);
    return report_failure_only(&f);
  }

  /* The first child is pid 1 of the new pid namespace. */
  pid_t init = fork();
  if (init < 0) {
    fail(&f, STEP_INIT, errno);
    return report_failure_only(&f);
  }
  if (init == 0) init_main();

  int out[2], err[2], res[2], ctl[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(res, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC)) {
    kill(init, SIGKILL);
    fail(&f, STEP_PIPES, errno);
    return report_failure_only(&f);
  }
  int input = make_input_fd(blob + src_len, in_len, &f);
  if (input < 0) {
    kill(init, SIGKILL);
    return report_failure_only(&f);
  }

  /* The program: pid 2 in the namespace, our own child, so its status and
   * resource usage come straight from wait4(). */
  long long started = now_us();
  pid_t worker = fork();
  if (worker < 0) {
    kill(init, SIGKILL);
    fail(&f, STEP_FORK, errno);
    return report_failure_only(&f);
  }
  if (worker == 0) {
    struct child_fds fds = {.input = input, .out = out[1], .err = err[1], .res = res[1], .ctl = ctl[1]};
    worker_main(cfg, blob, src_len, fds);
  }
  close(out[1]);
  close(err[1]);
  close(res[1]);
  close(ctl[1]);
  close(input);
  free(blob);
  (void)drop_capabilities(&f);
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  memset(&f, 0, sizeof f);

  struct stream streams[4] = {
      {.fd = out[0], .limit = cfg->output_bytes},
      {.fd = err[0], .limit = cfg->output_bytes},
      {.fd = res[0], .limit = cfg->result_bytes},
      {.fd = ctl[0], .limit = sizeof(struct failure) * 8},
  };
  static const char *const STREAM_NAMES[3] = {"stdout", "stderr", "result"};
  for (int k = 0; k < 4; k++) fcntl(streams[k].fd, F_SETFL, O_NONBLOCK);

  pid_t parent = getppid();
  long long deadline = started + (long long)cfg->wall_ms * 1000LL;
  int killed = 0, timed_out = 0, exited = 0, status = 0;
  long long wall = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  const char *overflow = NULL;
  for (;;) {
    struct pollfd pfds[5];
    int map[5], n = 0;
    for (int k = 0; k < 4; k++)
      if (!streams[k].eof) {
        pfds[n].fd = streams[k].fd;
        pfds[n].events = POLLIN;
        map[n++] = k;
      }
    if (!exited) {
      pfds[n].fd = sigfd;
      pfds[n].events = POLLIN;
      map[n++] = 4;
    }
    if (n == 0) break;
    long long left = deadline - now_us();
    if (left <= 0 && !killed) {
      kill(init, SIGKILL);
      killed = timed_out = 1;
    }
    int wait_ms = killed ? 250 : (int)((left + 999) / 1000);
    if (wait_ms > 250) wait_ms = 250;
    if (poll(pfds, (nfds_t)n, wait_ms) < 0 && errno != EINTR) break;
    for (int k = 0; k < n; k++) {
      if (!pfds[k].revents) continue;
      if (map[k] == 4) {
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) > 0) {
        }
        if (wait4(worker, &status, WNOHANG | __WALL, &ru) == worker) {
          exited = 1;
          wall = now_us() - started;
          /* Whatever the program left behind dies with its namespace. */
          if (!killed) kill(init, SIGKILL);
          killed = 1;
        }
        continue;
      }
      struct stream *s = &streams[map[k]];
      if (pump(s) && !killed) {
        kill(init, SIGKILL);
        killed = 1;
        if (map[k] < 3) overflow = STREAM_NAMES[map[k]];
      }
    }
    /* Nobody left to read the report: take the sandbox down with us. */
    if (getppid() != parent) {
      kill(init, SIGKILL);
      _exit(1);
    }
  }
  (void)waitpid(init, NULL, WNOHANG);

  if (streams[3].len >= sizeof f) memcpy(&f, streams[3].buf, sizeof f);

  printf("{\"failure\":");
  if (f.step)
    print_failure(stdout, &f);
  else
    printf("null");
  printf(",\"timedOut\":%s,\"overflow\":", timed_out ? "true" : "false");
  if (overflow)
    json_string(stdout, overflow);
  else
    printf("null");
  if (exited && WIFEXITED(status))
    printf(",\"exitCode\":%d,\"signal\":null", WEXITSTATUS(status));
  else if (exited && WIFSIGNALED(status))
    printf(",\"exitCode\":null,\"signal\":%d", WTERMSIG(status));
  else
    printf(",\"exitCode\":null,\"signal\":null");
  printf(",\"cpuUserUs\":%lld,\"cpuSysUs\":%lld,\"maxRssKb\":%ld,\"wallUs\":%lld",
         (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
         (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss, wall);
  printf(",\"stdoutBytes\":%zu,\"stderrBytes\":%zu,\"resultBytes\":%zu}\n", streams[0].len, streams[1].len,
         streams[2].len);
  fflush(stdout);
  for (int k = 0; k < 3; k++)
    if (streams[k].len && write_all(1, streams[k].buf, streams[k].len) != 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  /* Nothing the agent had open may reach the sandbox. */
  close_from(3);
  signal(SIGPIPE, SIG_IGN);
  (void)setsid();

  struct config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (argc >= 2 && strcmp(argv[1], "run") == 0) {
    if (parse_args(argc, argv, &cfg, 1) != 0) {
      struct failure f = {.step = STEP_ARGS, .err = EINVAL};
      report_failure_only(&f);
      return 2;
    }
    return run_main(&cfg);
  }
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) {
    cfg.uid = cfg.gid = 65534;
    if (parse_args(argc, argv, &cfg, 0) != 0) return 2;
    return probe_main(&cfg);
  }
  fprintf(stderr, "usage: %s run OPTIONS -- PROGRAM ARGS... | probe OPTIONS\n", argv[0]);
  return 2;
}
