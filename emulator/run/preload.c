/*
 * preload.c - libmshv-emu-preload.so: /dev/mshv inside every dynamically
 * linked process of an mshv-emu-run, served by the run's one device
 * (wire.h says how).
 *
 * What it changes, and nothing else:
 *   - open/openat (and their 64, _2 and fortified forms) of /dev/mshv:
 *     a new session from the run's device, as a real kernel fd;
 *   - the stat family, statx, access and faccessat of /dev/mshv and of
 *     those fds: a character device (misc major 10), mode from the policy,
 *     owned by the caller (so that an unprivileged test can open it);
 *   - ioctl with the 0xB8 magic on those fds: answered by the device;
 *   - read, write (EINVAL) and mmap (ENODEV) on those fds, as the driver's
 *     file, which has neither;
 *   - with MSHV_EMU_RUN_HIDE_KVM: open, stat and access of /dev/kvm are
 *     ENOENT.
 * Every other call goes straight to libc.  An fd is known as ours by its
 * peer's name (getpeername), so exec, dup and SCM_RIGHTS lose nothing; a
 * bitmap of fds this process made or copied spares read/write/mmap that
 * syscall for every other fd (a stale bit costs one getpeername).
 *
 * It cannot see: a program that is statically linked, or makes the
 * syscalls itself (Go, syscall(2)); fopen (glibc opens inside libc); and
 * poll on our fds (a socket, where the driver's file polls as always ready).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire.h"

#define EXPORT	     __attribute__((visibility("default")))
#define MSHV_MAGIC   0xB8
#define HINT_FDS     65536
#define DEVICE_MAJOR 10	 /* misc, as the driver's node */
#define DEVICE_MINOR 232 /* any: the real one is dynamic */
#define DEVICE_INO   0x6d736876
#define REPLY_BUF    (sizeof(struct wire_reply) + WIRE_MAX_DATA)

static struct {
	bool active; /* under mshv-emu-run */
	bool hide_kvm;
	mode_t mode;
	char socket_name[108]; /* abstract: without the leading NUL */
	char id[64];
	size_t id_len;
	bool inproc; /* --in-process: the core is in this process (inproc.c) */
	char inproc_lib[4096];
} run;

/* ---- --in-process: libmshv-emu-inproc.so, loaded at the first open ---- */

static struct {
	pthread_once_t once;
	int (*open)(int flags, unsigned *slot);
	int (*ioctl)(unsigned slot, unsigned long cmd, void *arg, unsigned *new_slot);
	void (*ref)(unsigned slot);
	void (*unref)(unsigned slot);
} inproc = {.once = PTHREAD_ONCE_INIT};

static void inproc_load(void)
{
	void *lib = dlopen(run.inproc_lib, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "mshv-emu-run: --in-process: %s\n", dlerror());
		return;
	}
	inproc.ioctl = dlsym(lib, "mshv_emu_inproc_ioctl");
	inproc.ref = dlsym(lib, "mshv_emu_inproc_ref");
	inproc.unref = dlsym(lib, "mshv_emu_inproc_unref");
	inproc.open = inproc.ioctl && inproc.ref && inproc.unref
			      ? dlsym(lib, "mshv_emu_inproc_open")
			      : NULL;
}

/* The fd table holds slots in this mode: one fd more (dup) or less (close). */
static void inproc_ref(uint32_t slot)
{
	if (run.inproc && slot && inproc.ref)
		inproc.ref(slot);
}

static void inproc_unref(uint32_t slot)
{
	if (run.inproc && slot && inproc.unref)
		inproc.unref(slot);
}

/* This process's device fds: session + 1, or 0.  Zero pages until used. */
static _Atomic uint32_t fd_session[HINT_FDS];

static void hint_put(int fd, uint32_t value)
{
	if (fd >= 0 && fd < HINT_FDS)
		atomic_store_explicit(&fd_session[fd], value, memory_order_relaxed);
}

static uint32_t hint_of(int fd)
{
	return fd >= 0 && fd < HINT_FDS
		       ? atomic_load_explicit(&fd_session[fd], memory_order_relaxed)
		       : 0;
}

#define CHANNEL_MARK UINT32_MAX /* in the fd table: a channel, not a session */

/* FD's session + 1 (or in-process slot), 0 when it is not a session. */
static uint32_t session_hint(int fd)
{
	uint32_t value = hint_of(fd);
	return value == CHANNEL_MARK ? 0 : value;
}

static bool hint_get(int fd)
{
	return session_hint(fd) != 0;
}

/* Entry points glibc declares only for fortified or old builds. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
int eaccess(const char *path, int how);

/* ---- libc's own functions ---- */

#define REAL(name)		     real_##name
#define DECLARE_REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)
#define RESOLVE(name)                                          \
	do {                                                   \
		if (!real_##name)                              \
			real_##name = dlsym(RTLD_NEXT, #name); \
	} while (0)

DECLARE_REAL(int, open, const char *, int, ...);
DECLARE_REAL(int, open64, const char *, int, ...);
DECLARE_REAL(int, openat, int, const char *, int, ...);
DECLARE_REAL(int, openat64, int, const char *, int, ...);
DECLARE_REAL(int, __open_2, const char *, int);
DECLARE_REAL(int, __open64_2, const char *, int);
DECLARE_REAL(int, __openat_2, int, const char *, int);
DECLARE_REAL(int, __openat64_2, int, const char *, int);
DECLARE_REAL(int, stat, const char *, struct stat *);
DECLARE_REAL(int, stat64, const char *, struct stat64 *);
DECLARE_REAL(int, lstat, const char *, struct stat *);
DECLARE_REAL(int, lstat64, const char *, struct stat64 *);
DECLARE_REAL(int, fstat, int, struct stat *);
DECLARE_REAL(int, fstat64, int, struct stat64 *);
DECLARE_REAL(int, fstatat, int, const char *, struct stat *, int);
DECLARE_REAL(int, fstatat64, int, const char *, struct stat64 *, int);
DECLARE_REAL(int, __xstat, int, const char *, struct stat *);
DECLARE_REAL(int, __xstat64, int, const char *, struct stat64 *);
DECLARE_REAL(int, __lxstat, int, const char *, struct stat *);
DECLARE_REAL(int, __lxstat64, int, const char *, struct stat64 *);
DECLARE_REAL(int, __fxstat, int, int, struct stat *);
DECLARE_REAL(int, __fxstat64, int, int, struct stat64 *);
DECLARE_REAL(int, __fxstatat, int, int, const char *, struct stat *, int);
DECLARE_REAL(int, __fxstatat64, int, int, const char *, struct stat64 *, int);
DECLARE_REAL(int, statx, int, const char *, int, unsigned, struct statx *);
DECLARE_REAL(int, access, const char *, int);
DECLARE_REAL(int, faccessat, int, const char *, int, int);
DECLARE_REAL(int, euidaccess, const char *, int);
DECLARE_REAL(int, ioctl, int, unsigned long, ...);
DECLARE_REAL(ssize_t, read, int, void *, size_t);
DECLARE_REAL(ssize_t, write, int, const void *, size_t);
DECLARE_REAL(void *, mmap, void *, size_t, int, int, int, off_t);
DECLARE_REAL(void *, mmap64, void *, size_t, int, int, int, off64_t);
DECLARE_REAL(int, close, int);
DECLARE_REAL(int, poll, struct pollfd *, nfds_t, int);
DECLARE_REAL(int, ppoll, struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
DECLARE_REAL(int, dup, int);
DECLARE_REAL(int, dup2, int, int);
DECLARE_REAL(int, dup3, int, int, int);
DECLARE_REAL(int, fcntl, int, int, ...);
DECLARE_REAL(int, fcntl64, int, int, ...);
DECLARE_REAL(int, close_range, unsigned, unsigned, int);
DECLARE_REAL(void, closefrom, int);

/* ---- which fds and paths are ours ---- */

/* The session number of FD, or -1 when FD is not one of this run's. */
static long session_of(int fd)
{
	if (!run.active || fd < 0)
		return -1;
	struct sockaddr_un peer;
	socklen_t len = sizeof(peer);
	int saved = errno;
	int rc = getpeername(fd, (struct sockaddr *)&peer, &len);
	errno = saved;
	size_t name_len = len > offsetof(struct sockaddr_un, sun_path)
				  ? len - offsetof(struct sockaddr_un, sun_path)
				  : 0;
	/* "\0" RUN "/s" N */
	if (rc != 0 || peer.sun_family != AF_UNIX || name_len < run.id_len + 4 ||
	    peer.sun_path[0] != '\0' || memcmp(peer.sun_path + 1, run.id, run.id_len) ||
	    memcmp(peer.sun_path + 1 + run.id_len, "/s", 2))
		return -1;
	long n = 0;
	for (size_t i = 1 + run.id_len + 2; i < name_len; i++) {
		char c = peer.sun_path[i];
		if (c < '0' || c > '9' || n > 100000000)
			return -1;
		n = n * 10 + (c - '0');
	}
	return n;
}

/* Ours by the table's hint, confirmed; a stale entry is cleared. */
static bool hinted_ours(int fd)
{
	if (!hint_get(fd))
		return false;
	if (run.inproc)
		return true; /* an eventfd: the table is all there is */
	if (session_of(fd) >= 0)
		return true;
	hint_put(fd, 0);
	return false;
}

/* The session of FD for an ioctl: the table's, else asked of the kernel (an
 * fd this process received some other way) and remembered. */
static long session_for_ioctl(int fd)
{
	uint32_t known = session_hint(fd);
	if (known)
		return (long)known - 1;
	long session = session_of(fd);
	if (session >= 0)
		hint_put(fd, (uint32_t)session + 1);
	return session;
}

enum path_kind {
	PATH_OTHER,
	PATH_DEVICE,
	PATH_KVM_HIDDEN,
};

static void run_refresh(void);

static enum path_kind path_kind(int dirfd, const char *path)
{
	(void)dirfd; /* only absolute paths name the device */
	if (!path || path[0] != '/')
		return PATH_OTHER;
	if (!strcmp(path, WIRE_DEVICE) || !strcmp(path, "/dev/kvm"))
		run_refresh();
	if (!run.active)
		return PATH_OTHER;
	if (!strcmp(path, WIRE_DEVICE))
		return PATH_DEVICE;
	if (run.hide_kvm && !strcmp(path, "/dev/kvm"))
		return PATH_KVM_HIDDEN;
	return PATH_OTHER;
}

/* ---- the channel to the run's device ---- */

/*
 * The channel: this thread's connection to the run's device.  It is an fd
 * of the program's, so the program may close it (closefrom, close_range, a
 * dup2 onto its number) and reuse the number: the fd table marks it, the
 * library's close family bumps its epoch, and a channel whose number was
 * closed behind it is dropped, never used or closed again.  It sits high
 * in the fd space, away from the numbers a program expects, and closes
 * when its thread ends.  A call made while this thread is inside another
 * (a signal handler) takes a connection of its own.
 */
static _Atomic uint32_t channel_epoch[HINT_FDS];
static __thread int channel = -1;
static __thread uint32_t channel_epoch_seen;
static __thread unsigned channel_generation;
/* Read by a signal handler's call on this thread: volatile, and fenced. */
static __thread volatile sig_atomic_t in_call;
static _Atomic unsigned run_generation; /* bumped when the environment names a new run */
static pid_t my_pid;
static __thread int32_t my_tid;
static pthread_key_t channel_key;
static pthread_once_t channel_once = PTHREAD_ONCE_INIT;

/* Is FD still the channel this thread opened at that number? */
static bool channel_intact(int fd, uint32_t epoch)
{
	return fd >= 0 && fd < HINT_FDS &&
	       atomic_load_explicit(&fd_session[fd], memory_order_relaxed) == CHANNEL_MARK &&
	       atomic_load_explicit(&channel_epoch[fd], memory_order_relaxed) == epoch;
}

/* The close family calls this for every fd it closes or replaces. */
static void channel_closed(int fd)
{
	if (fd >= 0 && fd < HINT_FDS &&
	    atomic_load_explicit(&fd_session[fd], memory_order_relaxed) == CHANNEL_MARK)
		atomic_fetch_add_explicit(&channel_epoch[fd], 1, memory_order_relaxed);
}

static void channel_drop(void)
{
	if (channel >= 0 && channel_intact(channel, channel_epoch_seen)) {
		channel_closed(channel);
		hint_put(channel, 0);
		RESOLVE(close);
		REAL(close)(channel);
	}
	channel = -1;
}

/* A thread ends: its channel goes (the device's thread for it ends too). */
static void channel_thread_end(void *unused)
{
	(void)unused;
	channel_drop();
}

static void channel_key_make(void)
{
	pthread_key_create(&channel_key, channel_thread_end);
}

static void forget_channel(void)
{
	my_pid = 0;
	my_tid = 0;
	/* The child of a fork: the parent's thread keeps the channel. */
	channel_drop();
}

/* A new connection to the run's device, high in the fd space; -1 with errno. */
static int channel_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur > 256) {
		rlim_t high = limit.rlim_cur - limit.rlim_cur / 8;
		int moved =
			fcntl(fd, F_DUPFD_CLOEXEC, (int)(high < HINT_FDS ? high : HINT_FDS - 1));
		if (moved >= 0) {
			RESOLVE(close);
			REAL(close)(fd);
			fd = moved;
		}
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len = strlen(run.socket_name);
	memcpy(addr.sun_path + 1, run.socket_name, len);
	if (connect(fd, (struct sockaddr *)&addr,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) != 0) {
		int err = errno;
		RESOLVE(close);
		REAL(close)(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static int channel_get(void)
{
	unsigned generation = atomic_load(&run_generation);
	if (channel >= 0 &&
	    (channel_generation != generation || !channel_intact(channel, channel_epoch_seen)))
		channel_drop(); /* another run now, or the program closed it */
	if (channel >= 0)
		return channel;
	int fd = channel_connect();
	if (fd < 0)
		return -1;
	pthread_once(&channel_once, channel_key_make);
	pthread_setspecific(channel_key, (void *)1); /* so that its destructor runs */
	hint_put(fd, CHANNEL_MARK);
	channel_epoch_seen = fd < HINT_FDS ? atomic_load(&channel_epoch[fd]) : 0;
	channel_generation = generation;
	channel = fd;
	return fd;
}

static void request_fill(struct wire_request *req, uint32_t op)
{
	memset(req, 0, sizeof(*req));
	req->magic = WIRE_MAGIC;
	req->op = op;
	if (!my_pid) /* once per process and thread: a fork forgets them */
		my_pid = getpid();
	if (!my_tid)
		my_tid = (int32_t)syscall(SYS_gettid);
	req->pid = my_pid;
	req->tid = my_tid;
	req->uid = getuid();
}

/*
 * One request (IOV: the header, then parts the kernel copies from wherever
 * they are, the caller's memory included) and its reply, on this thread's
 * channel.  Returns the reply's length; -1 with errno EFAULT when a part
 * could not be read (nothing was sent), or ENODEV when the run's device is
 * gone (the emulator ended): what an fd on a removed driver gets.  *NEW_FD
 * is the fd passed with the reply, or -1.
 */
static ssize_t exchange_on(int fd, struct iovec *iov, int iov_count, void *reply, size_t reply_cap,
			   int *new_fd, bool cloexec);

static ssize_t exchange(struct iovec *iov, int iov_count, void *reply, size_t reply_cap,
			int *new_fd, bool cloexec)
{
	*new_fd = -1;
	if (in_call) {
		/* Inside another call on this thread (a signal handler): its
		 * reply is pending on the channel, so this call takes its own. */
		int fd = channel_connect();
		if (fd < 0)
			return errno == EMFILE || errno == ENFILE ? -1 : (errno = ENODEV, -1);
		ssize_t got = exchange_on(fd, iov, iov_count, reply, reply_cap, new_fd, cloexec);
		int err = errno;
		RESOLVE(close);
		REAL(close)(fd);
		errno = err;
		return got;
	}
	int fd = channel_get();
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			return -1; /* no fd for the channel: as an open out of fds */
		errno = ENODEV;
		return -1;
	}
	in_call = 1;
	atomic_signal_fence(memory_order_seq_cst);
	ssize_t got = exchange_on(fd, iov, iov_count, reply, reply_cap, new_fd, cloexec);
	atomic_signal_fence(memory_order_seq_cst);
	in_call = 0;
	/* A held call given up (EINTR): its answer would come on the channel
	 * later; closing it tells the device the caller is gone. */
	if (got < 0 && (errno == ENODEV || errno == EINTR)) {
		int err = errno;
		channel_drop();
		errno = err;
	}
	return got;
}

/* One request and its reply on FD.  -1 with errno EFAULT (a part could not
 * be read: nothing sent), EMFILE (no room for the fd passed with it), or
 * ENODEV (the device is gone). */
struct reply_wait {
	int fd;
	struct msghdr *msg;
	int flags;
};

static ssize_t reply_recv(void *arg, int flags)
{
	struct reply_wait *w = arg;
	return syscall(SYS_recvmsg, w->fd, w->msg, w->flags | flags);
}

static ssize_t exchange_on(int fd, struct iovec *iov, int iov_count, void *reply, size_t reply_cap,
			   int *new_fd, bool cloexec)
{
	size_t total = 0;
	for (int i = 0; i < iov_count; i++)
		total += iov[i].iov_len;
	struct msghdr out = {.msg_iov = iov, .msg_iovlen = (size_t)iov_count};
	ssize_t sent;
	/* The system call itself, as the driver's copy: a sanitizer's sendmsg
	 * would judge the caller's argument by its own bounds, not _IOC_SIZE. */
	do
		sent = syscall(SYS_sendmsg, fd, &out, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0 && errno == EFAULT)
		return -1; /* a bad part: the message was not sent */
	if (sent != (ssize_t)total)
		goto broken;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec in_iov = {reply, reply_cap};
	struct msghdr msg = {.msg_iov = &in_iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	ssize_t got;
	bool held = false;
	/* The answer comes at once, but for a held call: wait for it spinning
	 * first (wire.h), so that it need not wake this vCPU. */
	struct reply_wait wait = {fd, &msg, cloexec ? MSG_CMSG_CLOEXEC : 0};
	got = wire_spin_recv(reply_recv, &wait);
	bool have = !(got < 0 && errno == EAGAIN); /* the spin got it */
	for (;;) {
		if (!have) {
			msg.msg_controllen = sizeof(control.buf);
			got = reply_recv(&wait, 0);
		}
		have = false;
		if (got < 0 && errno == EINTR) {
			if (!held)
				continue; /* an answer comes at once: wait for it */
			errno = EINTR;	  /* a held call, interrupted: as the driver's */
			return -1;
		}
		const struct wire_reply *r = reply;
		if (got == (ssize_t)sizeof(*r) && r->magic == WIRE_MAGIC && r->kind == WIRE_HELD) {
			held = true;
			msg.msg_controllen = sizeof(control.buf);
			continue;
		}
		break;
	}
	if (got <= 0)
		goto broken;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(new_fd, CMSG_DATA(c), sizeof(int));
	if ((msg.msg_flags & MSG_CTRUNC) && *new_fd < 0) {
		errno = EMFILE; /* the fd passed with it found no room here */
		return -1;
	}
	return got;
broken:
	errno = ENODEV;
	return -1;
}

/* A reply buffer per thread, on the heap (threads may have small stacks),
 * kept for the thread's next call and freed when it ends. */
static pthread_key_t reply_key;
static pthread_once_t reply_once = PTHREAD_ONCE_INIT;

static void reply_key_make(void)
{
	pthread_key_create(&reply_key, free);
}

static uint8_t *reply_buffer(void)
{
	pthread_once(&reply_once, reply_key_make);
	uint8_t *buf = pthread_getspecific(reply_key);
	if (!buf) {
		buf = malloc(REPLY_BUF);
		if (buf)
			pthread_setspecific(reply_key, buf);
	}
	return buf;
}

/* ---- the caller's memory, copied without trusting it ---- */

static int copy_out(uint64_t dst, const void *src, size_t len)
{
	struct iovec local = {(void *)src, len}, remote = {(void *)(uintptr_t)dst, len};
	return process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/* ---- open ---- */

static int device_open(int flags)
{
	mode_t want = (flags & O_ACCMODE) == O_RDONLY	? S_IRUSR
		      : (flags & O_ACCMODE) == O_WRONLY ? S_IWUSR
							: S_IRUSR | S_IWUSR;
	if ((run.mode & want) != want && getuid() != 0) {
		errno = EACCES;
		return -1;
	}
	if (run.inproc) {
		pthread_once(&inproc.once, inproc_load);
		unsigned slot = 0;
		int fd = inproc.open ? inproc.open(flags, &slot) : -EIO;
		if (fd < 0) {
			errno = -fd;
			return -1;
		}
		hint_put(fd, slot);
		return fd;
	}
	struct wire_request req;
	request_fill(&req, WIRE_OPEN);
	req.flags = (uint32_t)flags;
	struct wire_reply reply;
	int fd;
	struct iovec iov = {&req, sizeof(req)};
	ssize_t got = exchange(&iov, 1, &reply, sizeof(reply), &fd, flags & O_CLOEXEC);
	if (got < 0) {
		if (errno != EMFILE && errno != ENFILE && errno != EINTR)
			errno = ENOENT; /* no run, no node */
		return -1;
	}
	if (got < (ssize_t)sizeof(reply) || reply.magic != WIRE_MAGIC ||
	    (reply.kind == WIRE_NEW_FD) != (fd >= 0)) {
		if (fd >= 0)
			REAL(close)(fd);
		errno = EIO;
		return -1;
	}
	if (reply.result < 0) {
		errno = -reply.result;
		return -1;
	}
	hint_put(fd, (uint32_t)reply.result + 1); /* the session number */
	return fd;
}

static int open_common(int dirfd, const char *path, int flags)
{
	switch (path_kind(dirfd, path)) {
	case PATH_DEVICE:
		RESOLVE(close);
		return device_open(flags);
	case PATH_KVM_HIDDEN:
		errno = ENOENT;
		return -1;
	default:
		return -2; /* not ours */
	}
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

#define OPEN_WRAPPER(name)                                   \
	EXPORT int name(const char *path, int flags, ...)    \
	{                                                    \
		va_list ap;                                  \
		va_start(ap, flags);                         \
		mode_t mode = open_mode(flags, ap);          \
		va_end(ap);                                  \
		int fd = open_common(AT_FDCWD, path, flags); \
		if (fd != -2)                                \
			return fd;                           \
		RESOLVE(name);                               \
		return REAL(name)(path, flags, mode);        \
	}

#define OPENAT_WRAPPER(name)                                         \
	EXPORT int name(int dirfd, const char *path, int flags, ...) \
	{                                                            \
		va_list ap;                                          \
		va_start(ap, flags);                                 \
		mode_t mode = open_mode(flags, ap);                  \
		va_end(ap);                                          \
		int fd = open_common(dirfd, path, flags);            \
		if (fd != -2)                                        \
			return fd;                                   \
		RESOLVE(name);                                       \
		return REAL(name)(dirfd, path, flags, mode);         \
	}

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

#define OPEN2_WRAPPER(name)                                  \
	EXPORT int name(const char *path, int flags)         \
	{                                                    \
		int fd = open_common(AT_FDCWD, path, flags); \
		if (fd != -2)                                \
			return fd;                           \
		RESOLVE(name);                               \
		return REAL(name)(path, flags);              \
	}

#define OPENAT2_WRAPPER(name)                                   \
	EXPORT int name(int dirfd, const char *path, int flags) \
	{                                                       \
		int fd = open_common(dirfd, path, flags);       \
		if (fd != -2)                                   \
			return fd;                              \
		RESOLVE(name);                                  \
		return REAL(name)(dirfd, path, flags);          \
	}

OPEN2_WRAPPER(__open_2)
OPEN2_WRAPPER(__open64_2)
OPENAT2_WRAPPER(__openat_2)
OPENAT2_WRAPPER(__openat64_2)

/* ---- stat ---- */

#define FILL_STAT(st)                                                \
	do {                                                         \
		memset((st), 0, sizeof(*(st)));                      \
		(st)->st_dev = makedev(0, 5);                        \
		(st)->st_ino = DEVICE_INO;                           \
		(st)->st_mode = S_IFCHR | run.mode;                  \
		(st)->st_nlink = 1;                                  \
		(st)->st_uid = getuid();                             \
		(st)->st_gid = getgid();                             \
		(st)->st_rdev = makedev(DEVICE_MAJOR, DEVICE_MINOR); \
		(st)->st_blksize = 4096;                             \
	} while (0)

/* The device's stat into the caller's ST or ST64, as the kernel's copy:
 * EFAULT for a bad pointer, not a crash.  1, or -1 with errno set. */
static int stat_out(struct stat *st, struct stat64 *st64)
{
	struct stat local;
	struct stat64 local64;
	if (st)
		FILL_STAT(&local);
	else
		FILL_STAT(&local64);
	if (copy_out((uintptr_t)(st ? (void *)st : (void *)st64),
		     st ? (void *)&local : (void *)&local64,
		     st ? sizeof(local) : sizeof(local64))) {
		errno = EFAULT;
		return -1;
	}
	return 1;
}

/* 1: filled (the device), 0: not ours, -1: failed with errno set. */
static int stat_path(int dirfd, const char *path, struct stat *st, struct stat64 *st64)
{
	switch (path_kind(dirfd, path)) {
	case PATH_DEVICE:
		return stat_out(st, st64);
	case PATH_KVM_HIDDEN:
		errno = ENOENT;
		return -1;
	default:
		return 0;
	}
}

static int stat_fd(int fd, struct stat *st, struct stat64 *st64)
{
	if (!run.active || (run.inproc ? !hint_get(fd) : session_of(fd) < 0))
		return 0;
	return stat_out(st, st64);
}

#define STAT_PATH_WRAPPER(name, type, is64)                                 \
	EXPORT int name(const char *path, type *st)                         \
	{                                                                   \
		int r = is64 ? stat_path(AT_FDCWD, path, NULL, (void *)st)  \
			     : stat_path(AT_FDCWD, path, (void *)st, NULL); \
		if (r)                                                      \
			return r > 0 ? 0 : -1;                              \
		RESOLVE(name);                                              \
		return REAL(name)(path, st);                                \
	}

STAT_PATH_WRAPPER(stat, struct stat, false)
STAT_PATH_WRAPPER(stat64, struct stat64, true)
STAT_PATH_WRAPPER(lstat, struct stat, false)
STAT_PATH_WRAPPER(lstat64, struct stat64, true)

EXPORT int fstat(int fd, struct stat *st)
{
	if (stat_fd(fd, st, NULL))
		return 0;
	RESOLVE(fstat);
	return REAL(fstat)(fd, st);
}

EXPORT int fstat64(int fd, struct stat64 *st)
{
	if (stat_fd(fd, NULL, st))
		return 0;
	RESOLVE(fstat64);
	return REAL(fstat64)(fd, st);
}

static int fstatat_common(int dirfd, const char *path, struct stat *st, struct stat64 *st64,
			  int flags)
{
	if (path && !path[0] && (flags & AT_EMPTY_PATH))
		return stat_fd(dirfd, st, st64);
	return stat_path(dirfd, path, st, st64);
}

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	int r = fstatat_common(dirfd, path, st, NULL, flags);
	if (r)
		return r > 0 ? 0 : -1;
	RESOLVE(fstatat);
	return REAL(fstatat)(dirfd, path, st, flags);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	int r = fstatat_common(dirfd, path, NULL, st, flags);
	if (r)
		return r > 0 ? 0 : -1;
	RESOLVE(fstatat64);
	return REAL(fstatat64)(dirfd, path, st, flags);
}

/* glibc before 2.33 compiled stat calls to these. */
#define XSTAT_WRAPPER(name, type, is64)                                     \
	EXPORT int name(int ver, const char *path, type *st)                \
	{                                                                   \
		int r = is64 ? stat_path(AT_FDCWD, path, NULL, (void *)st)  \
			     : stat_path(AT_FDCWD, path, (void *)st, NULL); \
		if (r)                                                      \
			return r > 0 ? 0 : -1;                              \
		RESOLVE(name);                                              \
		return REAL(name)(ver, path, st);                           \
	}

XSTAT_WRAPPER(__xstat, struct stat, false)
XSTAT_WRAPPER(__xstat64, struct stat64, true)
XSTAT_WRAPPER(__lxstat, struct stat, false)
XSTAT_WRAPPER(__lxstat64, struct stat64, true)

EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	if (stat_fd(fd, st, NULL))
		return 0;
	RESOLVE(__fxstat);
	return REAL(__fxstat)(ver, fd, st);
}

EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	if (stat_fd(fd, NULL, st))
		return 0;
	RESOLVE(__fxstat64);
	return REAL(__fxstat64)(ver, fd, st);
}

EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	int r = fstatat_common(dirfd, path, st, NULL, flags);
	if (r)
		return r > 0 ? 0 : -1;
	RESOLVE(__fxstatat);
	return REAL(__fxstatat)(ver, dirfd, path, st, flags);
}

EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	int r = fstatat_common(dirfd, path, NULL, st, flags);
	if (r)
		return r > 0 ? 0 : -1;
	RESOLVE(__fxstatat64);
	return REAL(__fxstatat64)(ver, dirfd, path, st, flags);
}

EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	struct stat st;
	int r = fstatat_common(dirfd, path, &st, NULL, flags);
	if (r < 0)
		return -1;
	if (r > 0) {
		struct statx local = {
			.stx_mask = STATX_BASIC_STATS,
			.stx_blksize = (uint32_t)st.st_blksize,
			.stx_nlink = (uint32_t)st.st_nlink,
			.stx_uid = st.st_uid,
			.stx_gid = st.st_gid,
			.stx_mode = (uint16_t)st.st_mode,
			.stx_ino = st.st_ino,
			.stx_rdev_major = major(st.st_rdev),
			.stx_rdev_minor = minor(st.st_rdev),
			.stx_dev_major = major(st.st_dev),
			.stx_dev_minor = minor(st.st_dev),
		};
		if (copy_out((uintptr_t)stx, &local, sizeof(local))) {
			errno = EFAULT;
			return -1;
		}
		return 0;
	}
	RESOLVE(statx);
	return REAL(statx)(dirfd, path, flags, mask, stx);
}

/* ---- access ---- */

static int access_device(int how)
{
	if (how == F_OK || getuid() == 0)
		return 0;
	mode_t need = (how & R_OK ? S_IRUSR : 0) | (how & W_OK ? S_IWUSR : 0) |
		      (how & X_OK ? S_IXUSR : 0);
	if ((run.mode & need) == need)
		return 0;
	errno = EACCES;
	return -1;
}

static int access_common(int dirfd, const char *path, int how)
{
	switch (path_kind(dirfd, path)) {
	case PATH_DEVICE:
		return access_device(how);
	case PATH_KVM_HIDDEN:
		errno = ENOENT;
		return -1;
	default:
		return -2;
	}
}

EXPORT int access(const char *path, int how)
{
	int r = access_common(AT_FDCWD, path, how);
	if (r != -2)
		return r;
	RESOLVE(access);
	return REAL(access)(path, how);
}

EXPORT int euidaccess(const char *path, int how)
{
	int r = access_common(AT_FDCWD, path, how);
	if (r != -2)
		return r;
	RESOLVE(euidaccess);
	return REAL(euidaccess)(path, how);
}

EXPORT int eaccess(const char *path, int how)
{
	return euidaccess(path, how);
}

EXPORT int faccessat(int dirfd, const char *path, int how, int flags)
{
	int r = access_common(dirfd, path, how);
	if (r != -2)
		return r;
	RESOLVE(faccessat);
	return REAL(faccessat)(dirfd, path, how, flags);
}

/* ---- ioctl ---- */

/*
 * One ioctl on SESSION.  The argument's bytes and the regions an op names
 * go straight from the caller's memory into the request (the kernel copies
 * them, and says EFAULT for a bad pointer without sending anything).
 */
static int device_ioctl(long session, unsigned long cmd, uint64_t arg)
{
	uint8_t *reply_buf = reply_buffer();
	if (!reply_buf) {
		errno = ENOMEM;
		return -1;
	}
	struct wire_request req;
	size_t size = _IOC_SIZE(cmd), base_in = _IOC_DIR(cmd) & _IOC_WRITE ? size : 0;
	request_fill(&req, WIRE_IOCTL);
	req.session = (uint32_t)session;
	req.cmd = (uint32_t)cmd;
	req.arg = arg;
	req.in_len = (uint32_t)base_in;
	struct iovec iov[2 + WIRE_MAX_REGION] = {{&req, sizeof(req)},
						 {(void *)(uintptr_t)arg, base_in}};
	int iov_count = base_in ? 2 : 1;
	struct wire_region regions[WIRE_MAX_REGION];
	uint32_t region_count = 0;
	for (int pass = 0; pass < 3; pass++) {
		int fd;
		ssize_t got = exchange(iov, iov_count, reply_buf, REPLY_BUF, &fd, true);
		if (got < 0 && errno == EFAULT && pass == 0) {
			/* An argument it cannot read goes as none: the device answers
			 * EFAULT after its own checks, as the driver's copy would. */
			req.in_len = 0;
			iov_count = 1;
			got = exchange(iov, iov_count, reply_buf, REPLY_BUF, &fd, true);
		}
		if (got < 0)
			return -1; /* errno EFAULT (a region: the driver's copy), or ENODEV */
		struct wire_reply *reply = (struct wire_reply *)reply_buf;
		const uint8_t *rdata = reply_buf + sizeof(*reply);
		size_t rlen = (size_t)got - sizeof(*reply);
		if (got < (ssize_t)sizeof(*reply) || reply->magic != WIRE_MAGIC)
			goto bad;
		if (reply->kind == WIRE_FETCH) {
			/* The regions the op named: read ones go with the call again. */
			region_count = reply->region_count;
			if (region_count > WIRE_MAX_REGION ||
			    rlen < region_count * sizeof(struct wire_region) || fd >= 0 ||
			    req.in_len < base_in)
				goto bad;
			memcpy(regions, rdata, region_count * sizeof(struct wire_region));
			size_t in_len = base_in, out_len = 0;
			iov_count = base_in ? 2 : 1;
			for (uint32_t i = 0; i < region_count; i++) {
				if (regions[i].write) {
					out_len += regions[i].len;
					continue;
				}
				if (in_len + regions[i].len > WIRE_MAX_DATA)
					goto bad;
				iov[iov_count++] = (struct iovec){
					(void *)(uintptr_t)regions[i].addr, regions[i].len};
				in_len += regions[i].len;
			}
			req.in_len = (uint32_t)in_len;
			req.out_len = (uint32_t)out_len;
			req.continued = 1;
			continue;
		}
		if ((reply->kind != WIRE_ANSWER && reply->kind != WIRE_NEW_FD) ||
		    rlen < (size_t)reply->arg_len + reply->written_len || reply->arg_len > size ||
		    (reply->kind == WIRE_NEW_FD) != (fd >= 0))
			goto bad;
		int failed = 0;
		if (reply->arg_len)
			failed = copy_out(arg, rdata, reply->arg_len);
		/* The write regions, in order, as far as the device wrote them. */
		const uint8_t *w = rdata + reply->arg_len;
		size_t left = reply->written_len;
		for (uint32_t i = 0; !failed && i < region_count && left; i++) {
			if (!regions[i].write)
				continue;
			size_t n = regions[i].len < left ? regions[i].len : left;
			failed = copy_out(regions[i].addr, w, n);
			w += n;
			left -= n;
		}
		if (failed) {
			if (fd >= 0)
				REAL(close)(fd);
			errno = EFAULT;
			return -1;
		}
		if (reply->result < 0) {
			errno = -reply->result;
			return -1;
		}
		if (fd >= 0) {
			hint_put(fd, (uint32_t)reply->result + 1); /* the new session's number */
			return fd;
		}
		return reply->result;
	bad:
		if (fd >= 0)
			REAL(close)(fd);
		errno = EIO;
		return -1;
	}
	errno = EIO;
	return -1;
}

/* The kernel answers these for any fd before a driver sees them. */
static bool vfs_ioctl(unsigned long cmd)
{
	return cmd == FIOCLEX || cmd == FIONCLEX || cmd == FIONBIO || cmd == FIOASYNC;
}

EXPORT int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	/* Every number on a device fd is the driver's to answer (the RFC driver
	 * refused any before a version), but the kernel's own.  A 0xB8 number
	 * on an fd the library does not know asks the kernel who it is. */
	if (run.active && !vfs_ioctl(cmd)) {
		if (run.inproc) {
			uint32_t slot = session_hint(fd);
			if (slot && inproc.ioctl) {
				unsigned new_slot = 0;
				int r = inproc.ioctl(slot, cmd, arg, &new_slot);
				if (r < 0) {
					errno = -r;
					return -1;
				}
				if (new_slot)
					hint_put(r, new_slot);
				return r;
			}
		} else {
			long session = session_hint(fd) || _IOC_TYPE(cmd) == MSHV_MAGIC
					       ? session_for_ioctl(fd)
					       : -1;
			if (session >= 0) {
				RESOLVE(close);
				return device_ioctl(session, cmd, (uintptr_t)arg);
			}
		}
	}
	RESOLVE(ioctl);
	return REAL(ioctl)(fd, cmd, arg);
}

/* ---- extended attributes: a device node has none (ls -l asks) ---- */

DECLARE_REAL(ssize_t, getxattr, const char *, const char *, void *, size_t);
DECLARE_REAL(ssize_t, lgetxattr, const char *, const char *, void *, size_t);

static ssize_t xattr_common(const char *path)
{
	switch (path_kind(AT_FDCWD, path)) {
	case PATH_DEVICE:
		errno = ENODATA;
		return -1;
	case PATH_KVM_HIDDEN:
		errno = ENOENT;
		return -1;
	default:
		return -2;
	}
}

EXPORT ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
{
	ssize_t r = xattr_common(path);
	if (r != -2)
		return r;
	RESOLVE(getxattr);
	return REAL(getxattr)(path, name, value, size);
}

EXPORT ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	ssize_t r = xattr_common(path);
	if (r != -2)
		return r;
	RESOLVE(lgetxattr);
	return REAL(lgetxattr)(path, name, value, size);
}

/* ---- what the driver's file does not have ---- */

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	if (hinted_ours(fd)) {
		errno = EINVAL;
		return -1;
	}
	RESOLVE(read);
	return REAL(read)(fd, buf, len);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	if (hinted_ours(fd)) {
		errno = EINVAL;
		return -1;
	}
	RESOLVE(write);
	return REAL(write)(fd, buf, len);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!(flags & MAP_ANONYMOUS) && hinted_ours(fd)) {
		errno = ENODEV;
		return MAP_FAILED;
	}
	RESOLVE(mmap);
	return REAL(mmap)(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	if (!(flags & MAP_ANONYMOUS) && hinted_ours(fd)) {
		errno = ENODEV;
		return MAP_FAILED;
	}
	RESOLVE(mmap64);
	return REAL(mmap64)(addr, len, prot, flags, fd, off);
}

/* The driver's file has no poll: always readable and writable, as the
 * kernel's DEFAULT_POLLMASK.  Any of ours makes the call return at once. */
static int poll_common(struct pollfd *fds, nfds_t n, int (*real)(struct pollfd *, nfds_t, void *),
		       void *rest)
{
	bool any = false;
	for (nfds_t i = 0; i < n && !any; i++)
		any = fds[i].fd >= 0 && hinted_ours(fds[i].fd);
	if (!any)
		return real(fds, n, rest);
	int r = real(fds, n, NULL); /* NULL: no wait, for poll and ppoll alike */
	if (r < 0)
		return r;
	int ready = 0;
	for (nfds_t i = 0; i < n; i++) {
		if (fds[i].fd >= 0 && hinted_ours(fds[i].fd))
			fds[i].revents = (short)(fds[i].events &
						 (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM));
		ready += fds[i].revents != 0;
	}
	return ready;
}

static int poll_real(struct pollfd *fds, nfds_t n, void *timeout)
{
	RESOLVE(poll);
	return REAL(poll)(fds, n, timeout ? *(int *)timeout : 0);
}

static int ppoll_real(struct pollfd *fds, nfds_t n, void *args)
{
	RESOLVE(ppoll);
	const struct timespec zero = {0, 0};
	void **a = args;
	return REAL(ppoll)(fds, n, a ? a[0] : &zero, a ? a[1] : NULL);
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return poll_common(fds, n, poll_real, &timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
	const void *args[2] = {timeout, mask};
	return poll_common(fds, n, ppoll_real, args);
}

/* ---- keeping the bitmap's hint ---- */

EXPORT int close(int fd)
{
	channel_closed(fd);
	inproc_unref(session_hint(fd));
	hint_put(fd, 0);
	RESOLVE(close);
	return REAL(close)(fd);
}

EXPORT int dup(int fd)
{
	RESOLVE(dup);
	int copy = REAL(dup)(fd);
	if (copy >= 0) {
		inproc_ref(session_hint(fd));
		hint_put(copy, session_hint(fd));
	}
	return copy;
}

EXPORT int dup2(int fd, int to)
{
	RESOLVE(dup2);
	uint32_t replaced = session_hint(to);
	int copy = REAL(dup2)(fd, to);
	if (copy >= 0 && fd != to) {
		channel_closed(to);
		inproc_unref(replaced); /* dup2 closed what TO was */
		inproc_ref(session_hint(fd));
		hint_put(copy, session_hint(fd));
	}
	return copy;
}

EXPORT int dup3(int fd, int to, int flags)
{
	RESOLVE(dup3);
	uint32_t replaced = session_hint(to);
	int copy = REAL(dup3)(fd, to, flags);
	if (copy >= 0) {
		channel_closed(to);
		inproc_unref(replaced);
		inproc_ref(session_hint(fd));
		hint_put(copy, session_hint(fd));
	}
	return copy;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
	/* Every fcntl argument is an int, a long or a pointer: pass a word. */
	uintptr_t word = va_arg(ap, uintptr_t);
	int r = real(fd, cmd, word);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
		inproc_ref(session_hint(fd));
		hint_put(r, session_hint(fd));
	}
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	RESOLVE(fcntl);
	va_list ap;
	va_start(ap, cmd);
	int r = fcntl_common(REAL(fcntl), fd, cmd, ap);
	va_end(ap);
	return r;
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	RESOLVE(fcntl64);
	RESOLVE(fcntl);
	va_list ap;
	va_start(ap, cmd);
	int r = fcntl_common(REAL(fcntl64) ? REAL(fcntl64) : REAL(fcntl), fd, cmd, ap);
	va_end(ap);
	return r;
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	RESOLVE(close_range);
	int r = REAL(close_range)(first, last, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned fd = first; fd <= last && fd < HINT_FDS; fd++) {
			channel_closed((int)fd);
			inproc_unref(session_hint((int)fd));
			hint_put((int)fd, 0);
		}
	return r;
}

EXPORT void closefrom(int first)
{
	RESOLVE(closefrom);
	REAL(closefrom)(first);
	for (int fd = first < 0 ? 0 : first; fd < HINT_FDS; fd++) {
		channel_closed(fd);
		inproc_unref(session_hint(fd));
		hint_put(fd, 0);
	}
}

/* ---- start-up ---- */

/* After exec: which inherited fds are ours. */
static void hint_rebuild(void)
{
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		char *end;
		long fd = strtol(entry->d_name, &end, 10);
		long session = *end == '\0' && end != entry->d_name && fd != dirfd(dir)
				       ? session_of((int)fd)
				       : -1;
		if (session >= 0)
			hint_put((int)fd, (uint32_t)session + 1);
	}
	closedir(dir);
}

/*
 * The run the environment names, read again at each open of the device: a
 * process that sets MSHV_EMU_RUN_SOCKET and MSHV_EMU_RUN_ID itself (the
 * live suite, which starts a run per test) reaches the run they name.
 */
static void run_refresh(void)
{
	if (run.inproc)
		return;
	const char *socket_name = getenv(WIRE_ENV_SOCKET), *id = getenv(WIRE_ENV_ID);
	if (!socket_name || !id || strlen(socket_name) >= sizeof(run.socket_name) ||
	    strlen(id) >= sizeof(run.id))
		return;
	if (run.active && !strcmp(socket_name, run.socket_name) && !strcmp(id, run.id))
		return;
	strcpy(run.socket_name, socket_name);
	strcpy(run.id, id);
	run.id_len = strlen(id);
	const char *hide = getenv(WIRE_ENV_HIDE_KVM), *mode = getenv(WIRE_ENV_MODE);
	run.hide_kvm = hide && !strcmp(hide, "1");
	run.mode = mode ? (mode_t)(strtoul(mode, NULL, 8) & 07777) : 0600;
	atomic_fetch_add(&run_generation, 1);
	run.active = true;
}

__attribute__((constructor)) static void preload_init(void)
{
	RESOLVE(close);
	pthread_atfork(NULL, NULL, forget_channel);
	const char *lib = getenv(WIRE_ENV_INPROC);
	if (lib && *lib && strlen(lib) < sizeof(run.inproc_lib)) {
		strcpy(run.inproc_lib, lib);
		const char *hide = getenv(WIRE_ENV_HIDE_KVM), *mode = getenv(WIRE_ENV_MODE);
		run.hide_kvm = hide && !strcmp(hide, "1");
		run.mode = mode ? (mode_t)(strtoul(mode, NULL, 8) & 07777) : 0600;
		run.inproc = true;
		run.active = true; /* in-process, a device fd does not survive exec */
		return;
	}
	run_refresh();
	if (run.active)
		hint_rebuild(); /* after exec: the inherited fds that are ours */
}
