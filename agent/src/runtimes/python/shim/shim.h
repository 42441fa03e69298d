/*
 * ncn-sandbox shim: runs one untrusted Python program inside layered Linux
 * isolation. Spawned as a helper process by the agent; see main.c for the
 * process layout and the wire format.
 */
#ifndef NCN_SHIM_H
#define NCN_SHIM_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Optional layers: the agent says which ones it requires; a required layer the
 * kernel cannot provide aborts the run before any untrusted code starts. */
#define LAYER_LANDLOCK_FS 0x1u
#define LAYER_LANDLOCK_NET 0x2u
#define LAYER_LANDLOCK_SCOPE 0x4u
#define LAYER_SECCOMP 0x8u
#define LAYER_ALL_OPTIONAL 0xfu

/* Steps of the set-up; a failure names the step and the layer it belongs to. */
enum step {
  STEP_ARGS = 1,
  STEP_STDIN,
  STEP_PIPES,
  STEP_UID_DROP,
  STEP_USERNS,
  STEP_UID_MAP,
  STEP_MOUNTNS,
  STEP_PIDNS,
  STEP_NETNS,
  STEP_IPCNS,
  STEP_UTSNS,
  STEP_CGROUPNS,
  STEP_FORK,
  STEP_INIT,
  STEP_SESSION,
  STEP_MOUNT_PRIVATE,
  STEP_ROOT_TMPFS,
  STEP_BIND,
  STEP_PROC,
  STEP_WORK_TMPFS,
  STEP_DEV,
  STEP_ETC,
  STEP_SWITCH_ROOT,
  STEP_ROOT_RO,
  STEP_SOURCE,
  STEP_FDS,
  STEP_RLIMIT,
  STEP_CAPS,
  STEP_NNP,
  STEP_LANDLOCK_ABI,
  STEP_LANDLOCK_FS,
  STEP_LANDLOCK_NET,
  STEP_LANDLOCK_SCOPE,
  STEP_LANDLOCK_RESTRICT,
  STEP_SECCOMP,
  STEP_EXEC,
  STEP_COUNT
};

const char *step_name(int step);
const char *step_layer(int step);

/* Limits and identity for one run, all parsed from argv by main.c. */
struct config {
  unsigned long long memory_bytes; /* RLIMIT_AS */
  unsigned long long cpu_seconds;  /* RLIMIT_CPU soft; hard is +1 */
  unsigned long long wall_ms;      /* supervisor kills the namespace after this */
  unsigned long long nofile;       /* RLIMIT_NOFILE */
  unsigned long long nproc;        /* RLIMIT_NPROC, counted inside the user namespace */
  unsigned long long fsize_bytes;  /* RLIMIT_FSIZE */
  unsigned long long disk_bytes;   /* size of the /work tmpfs */
  unsigned long long output_bytes; /* cap for stdout and for stderr, each */
  unsigned long long result_bytes; /* cap for the result descriptor */
  unsigned long long max_source;   /* sanity caps for what arrives on stdin */
  unsigned long long max_input;
  unsigned long long uid;          /* unprivileged uid to drop to when started as root */
  unsigned long long gid;
  unsigned int layers;             /* LAYER_* bits that are required */
  char **exec_argv;                /* program and its arguments, after "--" */
};

/* A failure: which step, and the errno it saw (0 if none). The worker sends
 * one on the control pipe when a step fails; exec closes the pipe otherwise. */
struct failure {
  int step;
  int err;
};

/* Inner uid/gid of the sandboxed program inside its user namespace. */
#define SANDBOX_INNER_ID 1000

/* Paths inside the sandbox. */
#define WORK_DIR "/work"
#define SOURCE_PATH "/work/main.py"

/* fs.c: build the sandbox's root (runs in the worker, inside the new namespaces). */
int fs_setup(const struct config *cfg, struct failure *f);
int fs_write_source(const char *src, size_t len, struct failure *f);

/* landlock.c */
int landlock_abi(void);
int landlock_apply(unsigned int layers, struct failure *f);

/* seccomp.c */
int seccomp_apply(struct failure *f);

/* main.c helpers shared with probe.c */
int drop_to_uid(uid_t uid, gid_t gid, struct failure *f);
int enter_user_namespace(uid_t outer_uid, gid_t outer_gid, struct failure *f);
int drop_capabilities(struct failure *f);
int apply_rlimits(const struct config *cfg, struct failure *f);
int write_all(int fd, const void *buf, size_t len);

/* probe.c: `ncn-sandbox probe` for the doctor. */
int probe_main(const struct config *cfg);

#endif
