/*
 * Landlock: read-only (and executable) system paths, read-write only in
 * /work, no TCP bind or connect, and (ABI 6) no signals or abstract unix
 * sockets that leave the sandbox's Landlock domain.
 *
 * Distribution headers often stop at ABI 1-2, so every constant and struct
 * of the ABI is defined here.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

/* ABI 1 */
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
/* ABI 2, 3, 5 */
#define LL_FS_REFER (1ULL << 13)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
/* ABI 4 */
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
/* ABI 6 */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct ll_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

int landlock_abi(void) {
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
  return abi < 0 ? -errno : (int)abi;
}

/* Every right the ABI knows is handled, READ_DIR included: a directory that
 * no rule below names cannot be listed, even if the mount view were wrong. */
static uint64_t handled_fs_for(int abi) {
  uint64_t fs = LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_REMOVE_DIR |
                LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK |
                LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM;
  if (abi >= 2) fs |= LL_FS_REFER;
  if (abi >= 3) fs |= LL_FS_TRUNCATE;
  if (abi >= 5) fs |= LL_FS_IOCTL_DEV;
  return fs;
}

/* Adds one rule; a path that does not exist here is skipped (the filesystem
 * layer decides what exists inside the sandbox). */
static int allow(int ruleset, const char *path, uint64_t access, uint64_t handled) {
  int fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ENOENT || errno == ELOOP ? 0 : -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return -1;
  }
  /* File rules may only carry file rights. */
  if (!S_ISDIR(st.st_mode)) access &= LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE;
  struct ll_path_beneath_attr rule = {.allowed_access = access & handled, .parent_fd = fd};
  int rc = rule.allowed_access
               ? (int)syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0)
               : 0;
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

int landlock_apply(unsigned int layers, struct failure *f) {
  int abi = landlock_abi();
  int want_fs = (layers & LAYER_LANDLOCK_FS) != 0;
  int want_net = (layers & LAYER_LANDLOCK_NET) != 0;
  int want_scope = (layers & LAYER_LANDLOCK_SCOPE) != 0;
  if (abi < 1) {
    if (want_fs || want_net || want_scope) {
      f->step = want_fs ? STEP_LANDLOCK_FS : want_net ? STEP_LANDLOCK_NET : STEP_LANDLOCK_SCOPE;
      f->err = abi < 0 ? -abi : EOPNOTSUPP;
      return -1;
    }
    return 0;
  }
  if (want_net && abi < 4) {
    f->step = STEP_LANDLOCK_NET;
    f->err = EOPNOTSUPP;
    return -1;
  }
  if (want_scope && abi < 6) {
    f->step = STEP_LANDLOCK_SCOPE;
    f->err = EOPNOTSUPP;
    return -1;
  }

  /* Whatever the kernel offers is applied, required or not. */
  struct ll_ruleset_attr attr = {
      .handled_access_fs = handled_fs_for(abi),
      .handled_access_net = abi >= 4 ? (LL_NET_BIND_TCP | LL_NET_CONNECT_TCP) : 0,
      .scoped = abi >= 6 ? (LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL) : 0,
  };
  size_t attr_size = abi >= 6 ? sizeof attr : abi >= 4 ? 16 : 8;
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
  if (ruleset < 0) {
    f->step = STEP_LANDLOCK_FS;
    f->err = errno;
    return -1;
  }

  const uint64_t handled = attr.handled_access_fs;
  const uint64_t read_only = LL_FS_READ_FILE | LL_FS_READ_DIR;
  const uint64_t read_exec = read_only | LL_FS_EXECUTE;
  const uint64_t device_rw = LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_TRUNCATE;
  const uint64_t work = handled & ~(LL_FS_EXECUTE | LL_FS_MAKE_CHAR | LL_FS_MAKE_BLOCK | LL_FS_IOCTL_DEV);
  static const char *const system_dirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
  static const char *const rw_devices[] = {"/dev/null", "/dev/zero", "/dev/full"};
  static const char *const ro_devices[] = {"/dev/random", "/dev/urandom"};
  /* Rules reach everything beneath their path, so "/" gets no rule at all: a
   * grant there would make every directory listable. Only the named system
   * directories, /dev (its few nodes) and /work can be listed. */
  int rc = allow(ruleset, "/dev", LL_FS_READ_DIR, handled);
  for (size_t k = 0; rc == 0 && k < sizeof system_dirs / sizeof system_dirs[0]; k++)
    rc = allow(ruleset, system_dirs[k], read_exec, handled);
  if (rc == 0) rc = allow(ruleset, "/etc", read_only, handled);
  if (rc == 0) rc = allow(ruleset, "/proc", read_only, handled);
  for (size_t k = 0; rc == 0 && k < sizeof rw_devices / sizeof rw_devices[0]; k++)
    rc = allow(ruleset, rw_devices[k], device_rw, handled);
  for (size_t k = 0; rc == 0 && k < sizeof ro_devices / sizeof ro_devices[0]; k++)
    rc = allow(ruleset, ro_devices[k], LL_FS_READ_FILE, handled);
  if (rc == 0) rc = allow(ruleset, WORK_DIR, work, handled);
  if (rc != 0) {
    f->step = STEP_LANDLOCK_FS;
    f->err = errno;
    close(ruleset);
    return -1;
  }
  if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
    f->step = STEP_LANDLOCK_RESTRICT;
    f->err = errno;
    close(ruleset);
    return -1;
  }
  close(ruleset);
  return 0;
}
