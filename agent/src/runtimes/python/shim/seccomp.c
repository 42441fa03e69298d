/*
 * seccomp filter: everything is allowed except what reaches outside the
 * sandbox or widens the kernel's attack surface. Denied calls fail with EPERM
 * (clone3 with ENOSYS, so libc falls back to clone, whose flags we can see).
 */
#include "shim.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NCN_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NCN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "the sandbox filter supports x86_64 and aarch64"
#endif

/* Newer syscalls share one number on every architecture. */
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#define SYS_io_uring_enter 426
#define SYS_io_uring_register 427
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#define SYS_fspick 433
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif
#define NCN_SYS_lsm_set_self_attr 460
#define NCN_SYS_open_tree_attr 467

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#define NS_CLONE_FLAGS                                                                                        \
  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
   CLONE_NEWTIME)

#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define RET_ERRNO(e) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define RET_ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))

static const long DENIED[] = {
    SYS_ptrace,           SYS_process_vm_readv, SYS_process_vm_writev, SYS_mount,
    SYS_umount2,          SYS_pivot_root,       SYS_chroot,            SYS_unshare,
    SYS_setns,            SYS_bpf,              SYS_io_uring_setup,    SYS_io_uring_enter,
    SYS_io_uring_register, SYS_keyctl,          SYS_add_key,           SYS_request_key,
    SYS_perf_event_open,  SYS_userfaultfd,      SYS_kexec_load,        SYS_kexec_file_load,
    SYS_init_module,      SYS_finit_module,     SYS_delete_module,     SYS_reboot,
    SYS_swapon,           SYS_swapoff,          SYS_acct,              SYS_quotactl,
    SYS_quotactl_fd,      SYS_open_by_handle_at, SYS_name_to_handle_at, SYS_move_mount,
    SYS_open_tree,        SYS_fsopen,           SYS_fsconfig,          SYS_fsmount,
    SYS_fspick,           SYS_mount_setattr,    SYS_settimeofday,      SYS_clock_settime,
    SYS_clock_adjtime,    SYS_adjtimex,         SYS_syslog,            SYS_vhangup,
    SYS_sethostname,      SYS_setdomainname,    SYS_kcmp,              SYS_pidfd_getfd,
    SYS_fanotify_init,    SYS_process_madvise,  SYS_move_pages,        SYS_migrate_pages,
    NCN_SYS_lsm_set_self_attr, NCN_SYS_open_tree_attr,
#if defined(__x86_64__)
    SYS_iopl,             SYS_ioperm,           SYS_modify_ldt,        SYS_lookup_dcookie,
    SYS_uselib,           SYS_nfsservctl,       SYS__sysctl,
#endif
};

int seccomp_apply(struct failure *f) {
  enum { MAX = 256 };
  struct sock_filter prog[MAX];
  size_t n = 0;
#define EMIT(insn) prog[n++] = (struct sock_filter)insn

  EMIT(LOAD(offsetof(struct seccomp_data, arch)));
  EMIT(JEQ(NCN_AUDIT_ARCH, 1, 0));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  EMIT(LOAD(offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
  /* The x32 ABI reaches the same kernel through other numbers. */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
  EMIT(RET_ERRNO(EPERM));
#endif
  for (size_t k = 0; k < sizeof DENIED / sizeof DENIED[0]; k++) {
    EMIT(JEQ((unsigned)DENIED[k], 0, 1));
    EMIT(RET_ERRNO(EPERM));
  }
  EMIT(JEQ(SYS_clone3, 0, 1));
  EMIT(RET_ERRNO(ENOSYS));

  /* Only unix-domain sockets; the network namespace has no route out anyway. */
  static const long socket_calls[] = {SYS_socket, SYS_socketpair};
  for (size_t k = 0; k < 2; k++) {
    EMIT(JEQ((unsigned)socket_calls[k], 0, 4));
    EMIT(LOAD(ARG_LO(0)));
    EMIT(JEQ(AF_UNIX, 0, 1));
    EMIT(RET_ALLOW);
    EMIT(RET_ERRNO(EPERM));
  }

  /* No new namespaces through clone either. */
  EMIT(JEQ(SYS_clone, 0, 4));
  EMIT(LOAD(ARG_LO(0)));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_CLONE_FLAGS, 0, 1));
  EMIT(RET_ERRNO(EPERM));
  EMIT(RET_ALLOW);

  /* No pushing keystrokes into a terminal. */
  EMIT(JEQ(SYS_ioctl, 0, 5));
  EMIT(LOAD(ARG_LO(1)));
  EMIT(JEQ(TIOCSTI, 2, 0));
  EMIT(JEQ(TIOCLINUX, 1, 0));
  EMIT(RET_ALLOW);
  EMIT(RET_ERRNO(EPERM));

  /* personality(): query and the default only (no ADDR_NO_RANDOMIZE & co). */
  EMIT(JEQ(SYS_personality, 0, 5));
  EMIT(LOAD(ARG_LO(0)));
  EMIT(JEQ(0, 2, 0));
  EMIT(JEQ(0xffffffffu, 1, 0));
  EMIT(RET_ERRNO(EPERM));
  EMIT(RET_ALLOW);

  EMIT(RET_ALLOW);
#undef EMIT

  struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    f->step = STEP_SECCOMP;
    f->err = errno;
    return -1;
  }
  return 0;
}
