#define _GNU_SOURCE
#include "CBerthSys.h"
#include <sched.h>
#include <spawn.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdio.h>
#include <errno.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <net/route.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/openat2.h>

int berth_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int berth_setns(int fd, int nstype) { return setns(fd, nstype); }
int berth_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int berth_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int berth_recv_fd(int sock, char *buf, size_t buflen, ssize_t *received) {
    struct iovec iov = { .iov_base = buf, .iov_len = buflen };
    union { char space[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    msg.msg_control = ctl.space; msg.msg_controllen = sizeof ctl.space;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (received) *received = n;
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd; memcpy(&fd, CMSG_DATA(c), sizeof fd); return fd;
        }
    }
    return -1;
}

ssize_t berth_lgetxattr(const char *p, const char *n, void *v, size_t s) { return lgetxattr(p, n, v, s); }
int berth_lsetxattr(const char *p, const char *n, const void *v, size_t s, int f) { return lsetxattr(p, n, v, s, f); }
ssize_t berth_llistxattr(const char *p, char *l, size_t s) { return llistxattr(p, l, s); }
int berth_lremovexattr(const char *p, const char *n) { return lremovexattr(p, n); }
uint64_t berth_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }
unsigned int berth_major(uint64_t d) { return major(d); }
unsigned int berth_minor(uint64_t d) { return minor(d); }

int berth_openat2(int dirfd, const char *path, int flags, int mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)flags; how.mode = (uint64_t)mode; how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int berth_spawn_addchdir(posix_spawn_file_actions_t *fa, const char *path) { return posix_spawn_file_actions_addchdir_np(fa, path); }
int berth_fsetxattr(int fd, const char *n, const void *v, size_t s, int f) { return fsetxattr(fd, n, v, s, f); }
ssize_t berth_fgetxattr(int fd, const char *n, void *v, size_t s) { return fgetxattr(fd, n, v, s); }
int berth_spawn_addclosefrom(posix_spawn_file_actions_t *fa, int from) { return posix_spawn_file_actions_addclosefrom_np(fa, from); }

int berth_x32_abi_available(void) {
#if defined(__x86_64__)
    /* getpid with the x32 bit: ENOSYS when the kernel has no x32 ABI. */
    long r = syscall(0x40000000 | SYS_getpid);
    return r < 0 ? 0 : 1;
#else
    return 0;
#endif
}

int berth_malloc_trim(void) { return malloc_trim(0); }
int berth_malloc_arena_max(int n) { return mallopt(M_ARENA_MAX, n); }

/* The calling thread enters the network namespace at nspath; *self keeps the one it left.
 * Returns 0 or -errno (nothing changed then). */
static int enter_netns(const char *nspath, int *self) {
    *self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (*self < 0) return -errno;
    int target = open(nspath, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(*self); return -e; }
    int rc = setns(target, CLONE_NEWNET);
    int e = errno;
    close(target);
    if (rc != 0) { close(*self); return -e; }
    return 0;
}

/* Back to the namespace enter_netns left; a thread left elsewhere would be a disaster. */
static void leave_netns(int self) {
    if (setns(self, CLONE_NEWNET) != 0) abort();
    close(self);
}

/* A socket bound to addr:port (host order) inside the network namespace at nspath: the calling
 * thread enters that namespace for the socket(2) and bind(2) and comes straight back. The socket
 * keeps its namespace. Returns the descriptor or -errno. */
int berth_socket_in_netns(const char *nspath, uint32_t addr, uint16_t port, int stream) {
    int self;
    int entered = enter_netns(nspath, &self);
    if (entered != 0) return entered;
    int fd = socket(AF_INET, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(addr);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || (stream && listen(fd, 128) != 0)) {
            err = errno; close(fd); fd = -1;
        }
    }
    leave_netns(self);
    return fd >= 0 ? fd : -err;
}

/* A new network namespace kept by a bind mount at path (an existing empty file), with its
 * loopback up: the calling thread unshares, mounts its namespace, brings lo up and goes back to
 * the namespace it came from. Returns 0 or -errno. */
int berth_create_netns(const char *path) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -errno;
    if (unshare(CLONE_NEWNET) != 0) { int e = errno; close(self); return -e; }
    int err = 0;
    if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) != 0) err = errno;
    if (!err) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0) err = errno;
        else {
            struct ifreq ifr;
            memset(&ifr, 0, sizeof ifr);
            strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
            if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) err = errno;
            else {
                ifr.ifr_flags |= IFF_UP;
                if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) err = errno;
            }
            close(s);
        }
        if (err) umount2(path, MNT_DETACH);
    }
    if (setns(self, CLONE_NEWNET) != 0) abort();
    close(self);
    return -err;
}

/* Inside the network namespace at nspath: gives ifname the IPv4 address addr/prefix (host
 * order), brings it up, and when gateway is not 0 routes the default through it. Old ioctls,
 * in process: cheaper than running `ip` there. Returns 0 or -errno. */
int berth_netns_configure(const char *nspath, const char *ifname, uint32_t addr, int prefix, uint32_t gateway) {
    int self;
    int entered = enter_netns(nspath, &self);
    if (entered != 0) return entered;
    int err = 0;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) err = errno;
    else {
        struct ifreq ifr;
        struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
        memset(&ifr, 0, sizeof ifr);
        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(addr);
        if (ioctl(s, SIOCSIFADDR, &ifr) != 0) err = errno;
        if (!err) {
            sin->sin_addr.s_addr = htonl(prefix == 0 ? 0 : 0xffffffffu << (32 - prefix));
            if (ioctl(s, SIOCSIFNETMASK, &ifr) != 0) err = errno;
        }
        if (!err) {
            memset(&ifr.ifr_addr, 0, sizeof ifr.ifr_addr);
            if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) err = errno;
            else {
                ifr.ifr_flags |= IFF_UP;
                if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) err = errno;
            }
        }
        if (!err && gateway != 0) {
            struct rtentry rt;
            memset(&rt, 0, sizeof rt);
            struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst;
            struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
            struct sockaddr_in *mask = (struct sockaddr_in *)&rt.rt_genmask;
            dst->sin_family = AF_INET; gw->sin_family = AF_INET; mask->sin_family = AF_INET;
            gw->sin_addr.s_addr = htonl(gateway);
            rt.rt_flags = RTF_UP | RTF_GATEWAY;
            rt.rt_dev = (char *)ifname;
            if (ioctl(s, SIOCADDRT, &rt) != 0) err = errno;
        }
        close(s);
    }
    leave_netns(self);
    return -err;
}

/* The kernel's struct in6_ifreq (linux/ipv6.h, which clashes with netinet/in.h). */
struct berth_in6_ifreq { struct in6_addr addr; uint32_t prefixlen; int ifindex; };

/* An IPv6 address (without duplicate address detection, so it is usable at once) and, when
 * gateway is not NULL, the IPv6 default route on ifname inside the namespace at nspath. The
 * interface is up already (berth_netns_configure). Returns 0 or -errno. */
int berth_netns_configure6(const char *nspath, const char *ifname, const uint8_t *addr, int prefix, const uint8_t *gateway) {
    int self;
    int entered = enter_netns(nspath, &self);
    if (entered != 0) return entered;
    int err = 0;
    /* /proc/sys/net follows the opener's namespace: this thread's, now. */
    char path[128];
    if (strlen(ifname) >= IFNAMSIZ) err = EINVAL;
    else {
        snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/accept_dad", ifname);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) { if (write(fd, "0", 1) != 1) err = errno; close(fd); }
        else err = errno;
    }
    int s = err ? -1 : socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (!err && s < 0) err = errno;
    if (!err) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        if (ioctl(s, SIOCGIFINDEX, &ifr) != 0) err = errno;
        int index = ifr.ifr_ifindex;
        if (!err) {
            struct berth_in6_ifreq req;
            memset(&req, 0, sizeof req);
            memcpy(&req.addr, addr, 16);
            req.prefixlen = (uint32_t)prefix;
            req.ifindex = index;
            if (ioctl(s, SIOCSIFADDR, &req) != 0) err = errno;
        }
        if (!err && gateway != NULL) {
            struct in6_rtmsg rt;
            memset(&rt, 0, sizeof rt);
            memcpy(&rt.rtmsg_gateway, gateway, 16);
            rt.rtmsg_flags = RTF_UP | RTF_GATEWAY;
            rt.rtmsg_metric = 1;
            rt.rtmsg_ifindex = index;
            if (ioctl(s, SIOCADDRT, &rt) != 0) err = errno;
        }
    }
    if (s >= 0) close(s);
    leave_netns(self);
    return -err;
}

/* copy_file_range(2) between two descriptors at their offsets (glibc declares it only with
 * _GNU_SOURCE, which Swift's Glibc module does not see). */
long berth_copy_file_range(int in, int out, size_t len) {
    return (long)copy_file_range(in, NULL, out, NULL, len, 0);
}
