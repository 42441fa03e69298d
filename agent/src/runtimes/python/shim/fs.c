/*
 * The sandbox's filesystem: a fresh read-only tmpfs root holding read-only,
 * nosuid binds of the system directories Python needs, a minimal /etc and /dev,
 * a fresh /proc that shows only the sandbox's own processes, and a private,
 * size-limited, noexec tmpfs at /work (also reached as /tmp). Nothing else of
 * the host is reachable: no /root, /home, /var, /run, /sys, no agent files.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif

struct ncn_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

/* Staging point for the new root; it lives only in our private mount namespace. */
#define STAGE "/tmp"

static int fail(struct failure *f, int step, int err) {
  f->step = step;
  f->err = err;
  return -1;
}

/* Clones src (recursively), sets the attributes on every mount of the clone,
 * and attaches it at dst: one step for "read-only, nosuid, nodev, everywhere". */
static int bind_with(const char *src, const char *dst, uint64_t attrs) {
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd < 0) return -1;
  struct ncn_mount_attr attr = {.attr_set = attrs};
  int rc = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
  if (rc == 0) rc = (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int touch(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

static int write_new(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -1;
  int rc = write_all(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

/* Mirrors a top-level system path: a symlink stays a symlink (merged /usr),
 * a directory becomes a read-only bind; a missing one is skipped. */
static int mirror_top(const char *name, int required) {
  char host[64], stage[64], target[256];
  snprintf(host, sizeof host, "/%s", name);
  snprintf(stage, sizeof stage, STAGE "/%s", name);
  struct stat st;
  if (lstat(host, &st) != 0) return (errno == ENOENT && !required) ? 0 : -1;
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlink(host, target, sizeof target - 1);
    if (n < 0) return -1;
    target[n] = '\0';
    return symlink(target, stage);
  }
  if (!S_ISDIR(st.st_mode)) return 0;
  if (mkdir(stage, 0755) != 0) return -1;
  return bind_with(host, stage, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

static int setup_etc(void) {
  if (mkdir(STAGE "/etc", 0755) != 0) return -1;
  if (write_new(STAGE "/etc/passwd", "sandbox:x:1000:1000:sandbox:/work:/usr/sbin/nologin\n") != 0 ||
      write_new(STAGE "/etc/group", "sandbox:x:1000:\n") != 0 ||
      write_new(STAGE "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n") != 0 ||
      write_new(STAGE "/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n") != 0)
    return -1;
  /* Optional read-only files: the loader cache (faster start) and the zone. */
  static const char *const optional[] = {"/etc/ld.so.cache", "/etc/localtime"};
  for (size_t k = 0; k < sizeof optional / sizeof optional[0]; k++) {
    char stage[64];
    snprintf(stage, sizeof stage, STAGE "%s", optional[k]);
    if (access(optional[k], R_OK) != 0) continue;
    if (touch(stage) != 0 ||
        bind_with(optional[k], stage, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) != 0)
      return -1;
  }
  return 0;
}

static int setup_dev(void) {
  if (mkdir(STAGE "/dev", 0755) != 0) return -1;
  if (mount("tmpfs", STAGE "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=16k,nr_inodes=32,mode=0755") != 0)
    return -1;
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom"};
  for (size_t k = 0; k < sizeof nodes / sizeof nodes[0]; k++) {
    char host[32], stage[64];
    snprintf(host, sizeof host, "/dev/%s", nodes[k]);
    snprintf(stage, sizeof stage, STAGE "/dev/%s", nodes[k]);
    if (touch(stage) != 0 || bind_with(host, stage, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC) != 0) return -1;
  }
  if (symlink("/proc/self/fd", STAGE "/dev/fd") != 0 || symlink("/proc/self/fd/0", STAGE "/dev/stdin") != 0 ||
      symlink("/proc/self/fd/1", STAGE "/dev/stdout") != 0 ||
      symlink("/proc/self/fd/2", STAGE "/dev/stderr") != 0 || symlink("/tmp", STAGE "/dev/shm") != 0)
    return -1;
  return mount(NULL, STAGE "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL);
}

int fs_setup(const struct config *cfg, struct failure *f) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail(f, STEP_MOUNT_PRIVATE, errno);
  if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,nr_inodes=64,mode=0755") != 0)
    return fail(f, STEP_ROOT_TMPFS, errno);

  if (mirror_top("usr", 1) != 0) return fail(f, STEP_BIND, errno);
  static const char *const tops[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
  for (size_t k = 0; k < sizeof tops / sizeof tops[0]; k++)
    if (mirror_top(tops[k], 0) != 0) return fail(f, STEP_BIND, errno);

  if (setup_etc() != 0) return fail(f, STEP_ETC, errno);
  if (setup_dev() != 0) return fail(f, STEP_DEV, errno);

  /* subset=pid: only process directories, no /proc/sys, /proc/kcore & co;
   * hidepid=invisible: processes we may not inspect (init) are not listed. */
  if (mkdir(STAGE "/proc", 0555) != 0 ||
      mount("proc", STAGE "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid,hidepid=invisible") != 0)
    return fail(f, STEP_PROC, errno);

  char opts[96];
  unsigned long long inodes = cfg->disk_bytes / 4096 + 64;
  if (inodes > 65536) inodes = 65536;
  snprintf(opts, sizeof opts, "size=%llu,nr_inodes=%llu,mode=0700", cfg->disk_bytes, inodes);
  if (mkdir(STAGE "/work", 0700) != 0 ||
      mount("tmpfs", STAGE "/work", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) != 0)
    return fail(f, STEP_WORK_TMPFS, errno);
  if (symlink(WORK_DIR, STAGE "/tmp") != 0) return fail(f, STEP_WORK_TMPFS, errno);

  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching
   * it leaves the mount namespace holding only the new root, so no path,
   * descriptor or /proc/<pid>/root leads back to the host's mounts. */
  if (chdir(STAGE) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 ||
      chdir("/") != 0)
    return fail(f, STEP_SWITCH_ROOT, errno);
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
    return fail(f, STEP_ROOT_RO, errno);
  if (chdir(WORK_DIR) != 0) return fail(f, STEP_WORK_TMPFS, errno);
  return 0;
}

int fs_write_source(const char *src, size_t len, struct failure *f) {
  int fd = open(SOURCE_PATH, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return fail(f, STEP_SOURCE, errno);
  int rc = write_all(fd, src, len);
  int saved = errno;
  close(fd);
  if (rc != 0) return fail(f, STEP_SOURCE, saved);
  return 0;
}
