#ifndef CBERTHSYS_H
#define CBERTHSYS_H
/* The system calls and macros Swift's Glibc module does not import.
   Each wrapper returns what the call returns; errno is left for the caller. */
#include <sys/types.h>
#include <stdint.h>

int berth_set_child_subreaper(void);
int berth_setns(int fd, int nstype);
int berth_pipe2(int fds[2], int flags);
int berth_pidfd_open(pid_t pid);
/* Receives one file descriptor passed with SCM_RIGHTS; returns it, or -1. */
int berth_recv_fd(int sock, char *buf, size_t buflen, ssize_t *received);
ssize_t berth_lgetxattr(const char *path, const char *name, void *value, size_t size);
int berth_lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags);
ssize_t berth_llistxattr(const char *path, char *list, size_t size);
int berth_lremovexattr(const char *path, const char *name);
int berth_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
ssize_t berth_fgetxattr(int fd, const char *name, void *value, size_t size);
uint64_t berth_makedev(unsigned int major, unsigned int minor);
unsigned int berth_major(uint64_t dev);
unsigned int berth_minor(uint64_t dev);
/* openat2(2) with RESOLVE_* flags: path resolution confined to dirfd. */
int berth_create_netns(const char *path);
int berth_netns_configure(const char *nspath, const char *ifname, uint32_t addr, int prefix, uint32_t gateway);
long berth_copy_file_range(int in, int out, size_t len);
int berth_netns_configure6(const char *nspath, const char *ifname, const uint8_t *addr, int prefix, const uint8_t *gateway);
int berth_socket_in_netns(const char *nspath, uint32_t addr, uint16_t port, int stream);
int berth_openat2(int dirfd, const char *path, int flags, int mode, uint64_t resolve);
#include <spawn.h>
int berth_spawn_addchdir(posix_spawn_file_actions_t *fa, const char *path);
/* Closes every descriptor from `from` up in the child (glibc 2.34+). */
int berth_spawn_addclosefrom(posix_spawn_file_actions_t *fa, int from);
/* glibc's malloc: give free heap pages back to the kernel; cap the number of arenas. */
int berth_malloc_trim(void);
int berth_malloc_arena_max(int n);
/* 1 when the kernel runs x32-ABI syscalls (CONFIG_X86_X32_ABI), else 0. */
int berth_x32_abi_available(void);
#define BERTH_O_PATH 010000000
#define BERTH_AT_EMPTY_PATH 0x1000
#define BERTH_RESOLVE_IN_ROOT 0x10
#define BERTH_RESOLVE_NO_MAGICLINKS 0x02
#define BERTH_RESOLVE_NO_SYMLINKS 0x04
#define BERTH_RESOLVE_BENEATH 0x08
#endif
