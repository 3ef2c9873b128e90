/*
 * seccomp_join.c - the joining side of the seccomp transport (seccomp.h):
 * the filter a process of the run installs, and the hand-over of its
 * listener.  Small and libc-light, as it runs between fork and exec.
 *
 * The filter sends to the supervisor only what may touch the device:
 *   - ioctl whose command has the driver's magic (0xB8), tested in BPF on
 *     the argument, so no other ioctl leaves the kernel;
 *   - the calls that take a path that can name /dev/mshv or /dev/kvm
 *     (open, openat, openat2, the stat family, statx, access, faccessat,
 *     faccessat2, readlink, readlinkat, the xattr reads);
 *   - fstat, so that a device fd stats as the device.
 * Everything else is allowed in BPF.  A path that is not the device goes
 * on in the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp.h"

#define MSHV_MAGIC 0xB8

static const unsigned path_calls[] = {
	__NR_open,	 __NR_openat,	  __NR_openat2,	 __NR_stat,	 __NR_lstat,
	__NR_newfstatat, __NR_statx,	  __NR_access,	 __NR_faccessat, __NR_faccessat2,
	__NR_readlink,	 __NR_readlinkat, __NR_getxattr, __NR_lgetxattr, __NR_listxattr,
	__NR_llistxattr, __NR_fstat,
};

#define PATH_CALLS (sizeof(path_calls) / sizeof(*path_calls))
/* arch (2), nr, x32, ioctl, the path calls, allow; ioctl's test (3), allow;
 * notify */
#define FILTER_LEN (5 + PATH_CALLS + 1 + 3 + 1 + 1)

static void filter_build(struct sock_filter *f)
{
	unsigned n = 0;
	const unsigned allow = FILTER_LEN - 6, ioctl_test = FILTER_LEN - 5, notify = FILTER_LEN - 1;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	/* Another architecture's calls (an i386 program) are not served. */
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0,
					    (uint8_t)(allow - n - 1));
	n++;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	/* x32 calls (nr | 0x40000000) neither. */
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u,
					    (uint8_t)(allow - n - 1), 0);
	n++;
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl,
					    (uint8_t)(ioctl_test - n - 1), 0);
	n++;
	for (unsigned i = 0; i < PATH_CALLS; i++, n++)
		f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, path_calls[i],
						    (uint8_t)(notify - n - 1), 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	/* ioctl: the command's type byte (the low word of args[1] on a
	 * little-endian machine), as the driver's _IOC_TYPE. */
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, args[1]));
	f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MSHV_MAGIC << 8, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
}

/* Install the filter; its listener, or -errno with *WHAT set. */
static int filter_install(const char **what)
{
	struct sock_filter f[FILTER_LEN];
	filter_build(f);
	struct sock_fprog prog = {.len = FILTER_LEN, .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		*what = "prctl(PR_SET_NO_NEW_PRIVS)";
		return -errno;
	}
	long fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			  &prog);
	if (fd < 0) {
		*what = "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)";
		return -errno;
	}
	return (int)fd;
}

int seccomp_join(const char *join_name, const char **what)
{
	size_t len = strlen(join_name);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (len + 1 > sizeof(addr.sun_path)) {
		*what = "the join socket's name";
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path + 1, join_name, len);
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		*what = "socket";
		return -errno;
	}
	/* Connect first: once the filter is in, this process's own calls wait
	 * for the supervisor, which must be there. */
	if (connect(sock, (struct sockaddr *)&addr,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) != 0) {
		int err = -errno;
		close(sock);
		*what = "connect to the run's supervisor";
		return err;
	}
	int listener = filter_install(what);
	if (listener < 0) {
		close(sock);
		return listener;
	}
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof(control));
	char byte = 'J';
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &listener, sizeof(int));
	int err = 0;
	ssize_t done;
	do
		done = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (done < 0 && errno == EINTR);
	if (done != 1) {
		err = done < 0 ? -errno : -EIO;
		*what = "hand the listener to the run's supervisor";
	} else {
		/* Its word that it serves the listener now. */
		do
			done = recv(sock, &byte, 1, 0);
		while (done < 0 && errno == EINTR);
		if (done != 1 || byte != 'Y') {
			err = done < 0 ? -errno : -EPERM;
			*what = "the run's supervisor refused this process";
		}
	}
	close(sock);
	close(listener);
	return err;
}

int seccomp_probe(const char **what)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		*what = "pipe";
		return -errno;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		*what = "fork";
		return -errno;
	}
	if (pid == 0) {
		const char *step = "";
		int fd = filter_install(&step);
		int report[2] = {fd < 0 ? fd : 0, 0};
		if (fd < 0)
			report[1] = strstr(step, "PR_SET") ? 1 : 2;
		if (write(pipefd[1], report, sizeof(report)) != (ssize_t)sizeof(report))
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	int report[2] = {-EIO, 2};
	ssize_t got = read(pipefd[0], report, sizeof(report));
	close(pipefd[0]);
	waitpid(pid, NULL, 0);
	if (got != (ssize_t)sizeof(report))
		report[0] = -EIO;
	if (report[0])
		*what = report[1] == 1 ? "prctl(PR_SET_NO_NEW_PRIVS)"
				       : "seccomp(SECCOMP_SET_MODE_FILTER, "
					 "SECCOMP_FILTER_FLAG_NEW_LISTENER)";
	return report[0];
}

/* The passthrough's loop, in its own process: never returns. */
static void passthrough_serve(int count)
{
	struct seccomp_notif_sizes sizes;
	if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
		_exit(1);
	union {
		struct seccomp_notif n;
		char buf[512];
	} req;
	if (sizes.seccomp_notif > sizeof(req) ||
	    sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp))
		_exit(1);
	struct pollfd fds[SECCOMP_PASSTHROUGH_MAX];
	for (int i = 0; i < count; i++)
		fds[i] = (struct pollfd){.fd = i, .events = POLLIN};
	for (int live = count; live > 0;) {
		if (poll(fds, (nfds_t)count, -1) < 0)
			continue;
		for (int i = 0; i < count; i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			if (!(fds[i].revents & POLLIN)) { /* no process left under it */
				close(fds[i].fd);
				fds[i].fd = -1;
				live--;
				continue;
			}
			memset(&req, 0, sizeof(req));
			if (ioctl(fds[i].fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0)
				continue;
			/* The device is gone: its calls answer ENODEV, as on a
			 * removed driver; everything else goes on in the kernel
			 * (an open of /dev/mshv finds no node: ENOENT). */
			struct seccomp_notif_resp resp = {.id = req.n.id};
			if (req.n.data.nr == __NR_ioctl)
				resp.error = -ENODEV;
			else
				resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
			ioctl(fds[i].fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
		}
	}
	_exit(0);
}

int seccomp_passthrough(const int *listeners, int count)
{
	if (count <= 0)
		return 0;
	if (count > SECCOMP_PASSTHROUGH_MAX)
		count = SECCOMP_PASSTHROUGH_MAX;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* A process of its own (reparented when this one ends, never
		 * stopped with it), holding the listeners as fds 0..COUNT-1 and
		 * nothing else: no pipe of the caller's stays open in it. */
		if (fork() != 0)
			_exit(0);
		setsid();
		int moved[SECCOMP_PASSTHROUGH_MAX];
		for (int i = 0; i < count; i++)
			moved[i] = fcntl(listeners[i], F_DUPFD_CLOEXEC, 1024);
		for (int i = 0; i < count; i++) {
			if (moved[i] < 0 || dup2(moved[i], i) != i)
				_exit(1);
		}
		syscall(__NR_close_range, count, ~0u, 0);
		passthrough_serve(count);
	}
	waitpid(pid, NULL, 0);
	for (int i = 0; i < count; i++)
		close(listeners[i]);
	return 0;
}
