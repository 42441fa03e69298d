/*
 * `ncn-sandbox probe`: tries every layer on its own, each in a throw-away
 * child, and prints one JSON line per layer:
 *   {"layer":"landlock-net","available":true,"detail":"Landlock ABI 7"}
 */
#include "shim.h"

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

struct outcome {
  struct failure f;
  char detail[160];
};

typedef int (*check_fn)(const struct config *cfg, struct outcome *o);

static int enter(const struct config *cfg, struct outcome *o) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (geteuid() == 0 || uid == 0) {
    if (drop_to_uid((uid_t)cfg->uid, (gid_t)cfg->gid, &o->f) != 0) return -1;
    uid = (uid_t)cfg->uid;
    gid = (gid_t)cfg->gid;
  }
  return enter_user_namespace(uid, gid, &o->f);
}

static int check_uid(const struct config *cfg, struct outcome *o) {
  if (geteuid() != 0 && getuid() != 0) {
    snprintf(o->detail, sizeof o->detail, "agent already runs as unprivileged uid %u", (unsigned)getuid());
    return 0;
  }
  if (drop_to_uid((uid_t)cfg->uid, (gid_t)cfg->gid, &o->f) != 0) return -1;
  snprintf(o->detail, sizeof o->detail, "root drops to uid %llu before unsharing", cfg->uid);
  return 0;
}

static int check_userns(const struct config *cfg, struct outcome *o) {
  if (enter(cfg, o) != 0) return -1;
  snprintf(o->detail, sizeof o->detail, "program runs as uid %d inside", SANDBOX_INNER_ID);
  return 0;
}

static int check_ns(const struct config *cfg, struct outcome *o, int flag, int step) {
  if (enter(cfg, o) != 0) return -1;
  if (unshare(flag) != 0) {
    o->f.step = step;
    o->f.err = errno;
    return -1;
  }
  snprintf(o->detail, sizeof o->detail, "%s works inside the sandbox's user namespace", step_name(step));
  return 0;
}

static int check_mountns(const struct config *c, struct outcome *o) { return check_ns(c, o, CLONE_NEWNS, STEP_MOUNTNS); }
static int check_pidns(const struct config *c, struct outcome *o) { return check_ns(c, o, CLONE_NEWPID, STEP_PIDNS); }
static int check_netns(const struct config *c, struct outcome *o) { return check_ns(c, o, CLONE_NEWNET, STEP_NETNS); }
static int check_ipcns(const struct config *c, struct outcome *o) { return check_ns(c, o, CLONE_NEWIPC, STEP_IPCNS); }
static int check_utsns(const struct config *c, struct outcome *o) { return check_ns(c, o, CLONE_NEWUTS, STEP_UTSNS); }
static int check_cgroupns(const struct config *c, struct outcome *o) {
  return check_ns(c, o, CLONE_NEWCGROUP, STEP_CGROUPNS);
}

static int check_fs(const struct config *cfg, struct outcome *o) {
  if (enter(cfg, o) != 0) return -1;
  if (unshare(CLONE_NEWNS) != 0 || unshare(CLONE_NEWPID) != 0) {
    o->f.step = STEP_MOUNTNS;
    o->f.err = errno;
    return -1;
  }
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t child = fork();
  if (child == 0) {
    struct config c = *cfg;
    c.disk_bytes = 1 << 20;
    struct failure f = {0};
    int rc = fs_setup(&c, &f);
    (void)write_all(p[1], &f, sizeof f);
    _exit(rc == 0 ? 0 : 1);
  }
  close(p[1]);
  struct failure f = {0};
  ssize_t n = read(p[0], &f, sizeof f);
  int status = 0;
  waitpid(child, &status, 0);
  if (n != (ssize_t)sizeof f || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    o->f = f.step ? f : (struct failure){STEP_FORK, ECHILD};
    return -1;
  }
  snprintf(o->detail, sizeof o->detail, "fresh /proc, tmpfs /work, read-only system paths");
  return 0;
}

static int check_landlock(const struct config *cfg, struct outcome *o, unsigned int layer, int need,
                          int step) {
  (void)cfg;
  int abi = landlock_abi();
  if (abi < need) {
    o->f.step = step;
    o->f.err = abi < 0 ? -abi : EOPNOTSUPP;
    snprintf(o->detail, sizeof o->detail, "needs Landlock ABI %d, kernel has %d", need, abi < 0 ? 0 : abi);
    return -1;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || landlock_apply(layer, &o->f) != 0) return -1;
  snprintf(o->detail, sizeof o->detail, "Landlock ABI %d", abi);
  return 0;
}

static int check_ll_fs(const struct config *c, struct outcome *o) {
  return check_landlock(c, o, LAYER_LANDLOCK_FS, 1, STEP_LANDLOCK_FS);
}
static int check_ll_net(const struct config *c, struct outcome *o) {
  return check_landlock(c, o, LAYER_LANDLOCK_NET, 4, STEP_LANDLOCK_NET);
}
static int check_ll_scope(const struct config *c, struct outcome *o) {
  return check_landlock(c, o, LAYER_LANDLOCK_SCOPE, 6, STEP_LANDLOCK_SCOPE);
}

static int check_seccomp(const struct config *cfg, struct outcome *o) {
  (void)cfg;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_apply(&o->f) != 0) return -1;
  /* Both calls succeed for an ordinary process; the filter must refuse them. */
  long traced = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
  int traced_errno = errno;
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  int sock_errno = errno;
  if (traced != -1 || traced_errno != EPERM || sock != -1 || sock_errno != EPERM) {
    o->f.step = STEP_SECCOMP;
    o->f.err = EINVAL;
    snprintf(o->detail, sizeof o->detail, "filter installed but did not refuse ptrace and AF_INET");
    return -1;
  }
  snprintf(o->detail, sizeof o->detail, "filter refuses ptrace, non-unix sockets, mount, unshare, bpf, ...");
  return 0;
}

static int check_rlimits(const struct config *cfg, struct outcome *o) {
  struct config c = *cfg;
  c.memory_bytes = 1ULL << 30;
  c.cpu_seconds = 10;
  c.nofile = 64;
  c.nproc = 64;
  c.fsize_bytes = 1 << 20;
  if (apply_rlimits(&c, &o->f) != 0) return -1;
  snprintf(o->detail, sizeof o->detail, "address space, CPU, open files, file size, processes, core");
  return 0;
}

static int check_caps(const struct config *cfg, struct outcome *o) {
  if (enter(cfg, o) != 0 || drop_capabilities(&o->f) != 0) return -1;
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0 || data[0].effective || data[0].permitted || data[1].effective ||
      data[1].permitted) {
    o->f.step = STEP_CAPS;
    o->f.err = EPERM;
    return -1;
  }
  snprintf(o->detail, sizeof o->detail, "all capability sets empty, securebits locked");
  return 0;
}

static int check_nnp(const struct config *cfg, struct outcome *o) {
  (void)cfg;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
    o->f.step = STEP_NNP;
    o->f.err = errno ? errno : EPERM;
    return -1;
  }
  snprintf(o->detail, sizeof o->detail, "set before Landlock and seccomp; setuid bits are ignored");
  return 0;
}

static void print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

int probe_main(const struct config *cfg) {
  static const struct {
    const char *layer;
    check_fn fn;
  } checks[] = {
      {"unprivileged-uid", check_uid},  {"user-namespace", check_userns},
      {"mount-namespace", check_mountns}, {"pid-namespace", check_pidns},
      {"network-namespace", check_netns}, {"ipc-namespace", check_ipcns},
      {"uts-namespace", check_utsns},    {"cgroup-namespace", check_cgroupns},
      {"filesystem", check_fs},          {"landlock-fs", check_ll_fs},
      {"landlock-net", check_ll_net},    {"landlock-scope", check_ll_scope},
      {"seccomp", check_seccomp},        {"rlimits", check_rlimits},
      {"capabilities", check_caps},      {"no-new-privs", check_nnp},
  };
  for (size_t k = 0; k < sizeof checks / sizeof checks[0]; k++) {
    int p[2];
    struct outcome o;
    memset(&o, 0, sizeof o);
    if (pipe(p) != 0) return 1;
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      close(p[0]);
      struct outcome mine;
      memset(&mine, 0, sizeof mine);
      int rc = checks[k].fn(cfg, &mine);
      if (rc != 0 && mine.f.step == 0) mine.f.step = STEP_INIT;
      (void)write_all(p[1], &mine, sizeof mine);
      _exit(rc == 0 ? 0 : 1);
    }
    close(p[1]);
    ssize_t n = read(p[0], &o, sizeof o);
    close(p[0]);
    int status = 0;
    waitpid(child, &status, 0);
    int ok = n == (ssize_t)sizeof o && WIFEXITED(status) && WEXITSTATUS(status) == 0 && o.f.step == 0;
    o.detail[sizeof o.detail - 1] = '\0';
    char reason[256];
    if (ok)
      snprintf(reason, sizeof reason, "%s", o.detail);
    else if (n != (ssize_t)sizeof o)
      snprintf(reason, sizeof reason, "probe process died (status %d)", status);
    else
      snprintf(reason, sizeof reason, "%s failed: %s%s%s", step_name(o.f.step),
               o.f.err ? strerror(o.f.err) : "not available", o.detail[0] ? "; " : "", o.detail);
    printf("{\"layer\":");
    print_json_string(checks[k].layer);
    printf(",\"available\":%s,\"detail\":", ok ? "true" : "false");
    print_json_string(reason);
    printf("}\n");
  }
  fflush(stdout);
  return 0;
}
