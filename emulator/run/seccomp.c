/*
 * seccomp.c - the supervisor's side of the seccomp transport (seccomp.h).
 *
 * The supervisor (mshv-emu-run's own process, an ancestor of every process
 * of CMD, so that Yama's ptrace_scope 1 still lets it read their memory)
 * takes the listeners processes hand it on the join socket.  The run's
 * device (run/server.c) runs in this process too, so a call goes from the
 * thread that took it to the core with no other process on the way
 * (run_server_call: the wire protocol's requests and replies, wire.h,
 * without the socket).  Each listener has a pool of threads: one leads
 * (polls the listener, takes the next notification and answers it).  When
 * the device holds a call (a delay or hang fault), its thread hands the
 * lead to another, one more starting if none waits.  So a held call holds
 * only its caller, as on the kernel's device, and the common call costs no
 * thread switch here.
 *
 * A notification is answered as the kernel's device would answer the call:
 *   - a path call on /dev/mshv: open gets a session of the run's device,
 *     installed in the caller with SECCOMP_IOCTL_NOTIF_ADDFD (+ SEND, so the
 *     fd is the call's result); stat, statx, access, readlink and xattr
 *     answer for a character device of the policy's mode.  /dev/kvm, under
 *     --hide-kvm, is absent.  Any other path goes on in the kernel.
 *   - an ioctl on an fd of ours: the device answers it as it answers the
 *     preload shim's, with the caller's memory read and written by
 *     process_vm_readv/writev; a new object comes back as an fd installed
 *     in the caller.  An fd that is not ours goes on.
 * A session is one end of a socketpair the device made (wire.h): the fd
 * installed is that file, so dup, fork, exec and the last close behave as
 * the kernel's file does.  An fd is known as ours by its socket's inode
 * (/proc/TID/fd/N), cached; a miss asks the file itself (pidfd_getfd,
 * then its peer's name).
 *
 * Each notification is checked still valid (SECCOMP_IOCTL_NOTIF_ID_VALID)
 * after the caller's memory is read and before the device acts on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "seccomp.h"
#include "server.h"
#include "wire.h"

#define REPLY_BUF	(sizeof(struct wire_reply) + WIRE_MAX_DATA)
#define REQUEST_BUF	(sizeof(struct wire_request) + WIRE_MAX_DATA)
#define MAX_THREADS	4096 /* per listener: calls held at once, + 1 */
#define IDLE_THREADS	2    /* threads beyond these, waiting to lead, end */
#define END_DEADLINE_MS 5000 /* the run's end waits this long for answers */
#define CACHE_SLOTS	4096
#define WATCH_MS	100 /* a held call checks its caller is still there */
#define DEVICE_MAJOR	10  /* misc, as the driver's node */
#define DEVICE_MINOR	232
#define DEVICE_INO	0x6d736876
#define NOTIF_BUF_SIZE	512

/* Linux 6.6's synchronous wake-up (Debian 12's headers predate it): the
 * kernel runs the supervisor on the caller's CPU, which sleeps meanwhile,
 * and the caller on the supervisor's when answered, instead of waking an
 * idle CPU each way. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

struct seccomp_served {
	struct seccomp_config config;
	char run_id[64];
	int join_fd;
	size_t notif_size, resp_size;
	pthread_mutex_t cache_lock;
	struct {
		uint64_t ino;
		uint32_t session; /* + 1; 0: empty */
	} cache[CACHE_SLOTS];
	int end_fd;		 /* readable once the run is over */
	pthread_mutex_t lock;	 /* what follows */
	pthread_cond_t answered; /* answering went down */
	struct listener *listeners;
	unsigned answering; /* notifications taken and not yet answered */
	bool ending;
};

struct listener {
	struct seccomp_served *served;
	struct listener *next; /* on served->listeners */
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t lead_free;
	bool led, dead;
	unsigned threads, waiting; /* of them, waiting to lead */
};

/* One thread's state: its buffers. */
struct worker {
	struct listener *l;
	uint8_t *request, *reply;
	union {
		struct seccomp_notif n;
		char buf[NOTIF_BUF_SIZE];
	} notif;
	struct seccomp_notif_resp resp;
	bool leading; /* this thread takes the next notification */
};

/* ---- the caller ---- */

static bool notif_valid(struct worker *w)
{
	uint64_t id = w->notif.n.id;
	return ioctl(w->l->fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	if (!len)
		return 0;
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

static int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	if (!len)
		return 0;
	struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
	return process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/* The caller's uid and gid: its /proc directory's owner. */
static uid_t caller_ids(pid_t tid, gid_t *gid)
{
	char path[32];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d", (int)tid);
	if (stat(path, &st) != 0)
		st.st_uid = (uid_t)-1, st.st_gid = (gid_t)-1;
	if (gid)
		*gid = st.st_gid;
	return st.st_uid;
}

static uid_t caller_uid(pid_t tid)
{
	return caller_ids(tid, NULL);
}

/* The caller's thread group, from /proc/TID/status; 0 if unknown. */
static pid_t caller_tgid(pid_t tid)
{
	char path[32], text[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	text[len] = '\0';
	const char *tgid = strstr(text, "\nTgid:");
	return tgid ? (pid_t)strtol(tgid + 6, NULL, 10) : 0;
}

enum path_kind {
	PATH_OTHER,
	PATH_DEVICE,
	PATH_KVM_HIDDEN,
	PATH_EMPTY,
	PATH_BAD
};

/* What the caller's path at ADDR names.  Only the exact absolute names are
 * the device's, as for the preload shim (docs/transports.md). */
static enum path_kind path_kind(struct worker *w, uint64_t addr)
{
	char path[16];
	pid_t pid = (pid_t)w->notif.n.pid;
	/* Up to the page's end first: the path may end just before it. */
	size_t to_page_end = 4096 - (addr & 4095), len = sizeof(path);
	if (to_page_end < len)
		len = to_page_end;
	if (mem_read(pid, addr, path, len) != 0)
		return PATH_BAD;
	if (!memchr(path, '\0', len) && len < sizeof(path) &&
	    mem_read(pid, addr + len, path + len, sizeof(path) - len) != 0)
		path[len < sizeof(path) ? len : sizeof(path) - 1] = 'x'; /* longer: not ours */
	path[sizeof(path) - 1] = '\0';
	if (!path[0])
		return PATH_EMPTY;
	if (!strcmp(path, WIRE_DEVICE))
		return PATH_DEVICE;
	if (w->l->served->config.hide_kvm && !strcmp(path, "/dev/kvm"))
		return PATH_KVM_HIDDEN;
	return PATH_OTHER;
}

/* ---- sessions: which fds are ours ---- */

static void cache_put(struct seccomp_served *s, uint64_t ino, uint32_t session)
{
	pthread_mutex_lock(&s->cache_lock);
	s->cache[ino % CACHE_SLOTS].ino = ino;
	s->cache[ino % CACHE_SLOTS].session = session + 1;
	pthread_mutex_unlock(&s->cache_lock);
}

/* The session of a file we hold (its peer is "\0ID/sN"), or -1. */
static long session_of_file(struct seccomp_served *s, int fd)
{
	struct sockaddr_un addr;
	socklen_t len = sizeof(addr);
	if (getpeername(fd, (struct sockaddr *)&addr, &len) != 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path) + 1 || addr.sun_path[0])
		return -1;
	size_t name_len = len - offsetof(struct sockaddr_un, sun_path) - 1;
	size_t id_len = strlen(s->run_id);
	const char *name = addr.sun_path + 1;
	if (name_len <= id_len + 2 || memcmp(name, s->run_id, id_len) || name[id_len] != '/' ||
	    name[id_len + 1] != 's')
		return -1;
	long n = 0;
	for (size_t i = id_len + 2; i < name_len; i++) {
		if (name[i] < '0' || name[i] > '9' || n > 0x7fffffff / 10)
			return -1;
		n = n * 10 + (name[i] - '0');
	}
	return n;
}

/* The session the caller's FD is, or -1 when it is not ours. */
static long session_of(struct worker *w, int fd)
{
	struct seccomp_served *s = w->l->served;
	char path[64], link[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)w->notif.n.pid, fd);
	ssize_t len = readlink(path, link, sizeof(link) - 1);
	if (len <= 0)
		return -1;
	link[len] = '\0';
	unsigned long long ino;
	if (sscanf(link, "socket:[%llu]", &ino) != 1)
		return -1; /* not a socket: not ours */
	pthread_mutex_lock(&s->cache_lock);
	long session = s->cache[ino % CACHE_SLOTS].ino == ino
			       ? (long)s->cache[ino % CACHE_SLOTS].session - 1
			       : -1;
	pthread_mutex_unlock(&s->cache_lock);
	if (session >= 0)
		return session;
	/* Not cached: ask the file. */
	pid_t tgid = caller_tgid((pid_t)w->notif.n.pid);
	int pidfd = tgid > 0 ? (int)syscall(SYS_pidfd_open, tgid, 0) : -1;
	if (pidfd < 0)
		return -1;
	int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (copy < 0)
		return -1;
	struct stat st;
	session = fstat(copy, &st) == 0 && st.st_ino == ino ? session_of_file(s, copy) : -1;
	close(copy);
	if (session >= 0)
		cache_put(s, ino, (uint32_t)session);
	return session;
}

/* Put FD (a session's file, SESSION) in the caller as the call's result,
 * with CLOEXEC if asked.  Sets the response: the caller's fd, or -errno. */
static bool install(struct worker *w, int fd, long session, bool cloexec)
{
	struct stat st;
	if (fstat(fd, &st) == 0)
		cache_put(w->l->served, st.st_ino, (uint32_t)session);
	struct seccomp_notif_addfd addfd = {
		.id = w->notif.n.id,
		.flags = SECCOMP_ADDFD_FLAG_SEND,
		.srcfd = (uint32_t)fd,
		.newfd_flags = cloexec ? O_CLOEXEC : 0,
	};
	int got = ioctl(w->l->fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
	if (got >= 0 || errno == ENOENT)
		return false;	/* answered by the install, or the caller is gone */
	w->resp.error = -errno; /* EMFILE: no room for it */
	return true;
}

/* ---- the device ---- */

static void lead_release(struct worker *w);

/* W's call is held by a fault: others' calls go on meanwhile. */
static void call_held(void *ctx)
{
	lead_release(ctx);
}

/* The caller of W's held call is gone (killed, or its call interrupted). */
static bool call_gone(void *ctx)
{
	return !notif_valid(ctx);
}

/*
 * One request of LEN bytes (in w->request) and its reply (in w->reply),
 * from the run's device in this process: the reply's length, or -ENODEV
 * when the device is gone (the run is ending).  *NEW_FD: an fd passed
 * with the reply, or -1.  A call the device holds hands the lead to
 * another thread while it waits.
 */
static ssize_t exchange(struct worker *w, size_t len, int *new_fd)
{
	const struct run_call_hooks hooks = {.held = call_held, .gone = call_gone, .ctx = w};
	ssize_t got = run_server_call(w->l->served->config.server, w->request, len, w->reply,
				      new_fd, &hooks);
	return got < 0 ? -ENODEV : got;
}

static void request_fill(struct worker *w, struct wire_request *req, uint32_t op)
{
	pid_t tid = (pid_t)w->notif.n.pid;
	memset(req, 0, sizeof(*req));
	req->magic = WIRE_MAGIC;
	req->op = op;
	/* As the FUSE front end's caller: the calling thread. */
	req->pid = tid;
	req->tid = tid;
	req->uid = caller_uid(tid);
}

/* The device's mode allows FLAGS' access to the caller (root: always). */
static bool open_allowed(struct worker *w, int flags)
{
	unsigned mode = w->l->served->config.mode;
	unsigned want = (flags & O_ACCMODE) == O_RDONLY	  ? S_IRUSR
			: (flags & O_ACCMODE) == O_WRONLY ? S_IWUSR
							  : S_IRUSR | S_IWUSR;
	return (mode & want) == want || caller_uid((pid_t)w->notif.n.pid) == 0;
}

/* An open of the device.  Returns true when the response is to be sent. */
static bool device_open(struct worker *w, uint64_t flags)
{
	if (flags & O_DIRECTORY) {
		w->resp.error = -ENOTDIR;
		return true;
	}
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		w->resp.error = -EEXIST;
		return true;
	}
	if (!open_allowed(w, (int)flags)) {
		w->resp.error = -EACCES;
		return true;
	}
	struct wire_request *req = (struct wire_request *)w->request;
	request_fill(w, req, WIRE_OPEN);
	req->flags = (uint32_t)flags;
	if (!notif_valid(w))
		return false;
	int fd;
	ssize_t got = exchange(w, sizeof(*req), &fd);
	struct wire_reply *reply = (struct wire_reply *)w->reply;
	if (got < 0) {
		w->resp.error = -ENOENT; /* no run, no node */
	} else if (got < (ssize_t)sizeof(*reply) || reply->magic != WIRE_MAGIC ||
		   (reply->kind == WIRE_NEW_FD) != (fd >= 0)) {
		w->resp.error = -EIO;
	} else if (reply->result < 0) {
		w->resp.error = reply->result;
	} else {
		bool send = install(w, fd, reply->result, flags & O_CLOEXEC);
		close(fd);
		return send;
	}
	if (fd >= 0)
		close(fd);
	return true;
}

/* An ioctl on SESSION: as the preload shim's (run/preload.c), with the
 * caller's memory read and written from here.  True: send the response. */
static bool device_ioctl(struct worker *w, long session, uint32_t cmd, uint64_t arg)
{
	pid_t pid = (pid_t)w->notif.n.pid;
	struct wire_request *req = (struct wire_request *)w->request;
	uint8_t *data = (uint8_t *)(req + 1);
	size_t size = _IOC_SIZE(cmd), base_in = _IOC_DIR(cmd) & _IOC_WRITE ? size : 0;
	request_fill(w, req, WIRE_IOCTL);
	req->session = (uint32_t)session;
	req->cmd = cmd;
	req->arg = arg;
	/* An argument it cannot read goes as none: the device answers EFAULT
	 * after its own checks, as the driver's copy would. */
	req->in_len = base_in && mem_read(pid, arg, data, base_in) == 0 ? (uint32_t)base_in : 0;
	size_t in_len = req->in_len;
	struct wire_region regions[WIRE_MAX_REGION];
	uint32_t region_count = 0;
	for (int pass = 0; pass < 3; pass++) {
		if (!notif_valid(w))
			return false;
		int fd;
		ssize_t got = exchange(w, sizeof(*req) + in_len, &fd);
		if (got < 0) {
			w->resp.error = (int32_t)got;
			return true;
		}
		struct wire_reply *reply = (struct wire_reply *)w->reply;
		const uint8_t *rdata = w->reply + sizeof(*reply);
		size_t rlen = (size_t)got - sizeof(*reply);
		if (got < (ssize_t)sizeof(*reply) || reply->magic != WIRE_MAGIC)
			goto bad;
		if (reply->kind == WIRE_FETCH) {
			region_count = reply->region_count;
			if (region_count > WIRE_MAX_REGION ||
			    rlen < region_count * sizeof(struct wire_region) || fd >= 0 ||
			    req->in_len < base_in)
				goto bad;
			memcpy(regions, rdata, region_count * sizeof(struct wire_region));
			size_t out_len = 0;
			in_len = base_in;
			for (uint32_t i = 0; i < region_count; i++) {
				if (regions[i].write) {
					out_len += regions[i].len;
					continue;
				}
				if (in_len + regions[i].len > WIRE_MAX_DATA)
					goto bad;
				if (mem_read(pid, regions[i].addr, data + in_len, regions[i].len)) {
					w->resp.error = -EFAULT; /* the driver's copy */
					return true;
				}
				in_len += regions[i].len;
			}
			req->in_len = (uint32_t)in_len;
			req->out_len = (uint32_t)out_len;
			req->continued = 1;
			continue;
		}
		if ((reply->kind != WIRE_ANSWER && reply->kind != WIRE_NEW_FD) ||
		    rlen < (size_t)reply->arg_len + reply->written_len || reply->arg_len > size ||
		    (reply->kind == WIRE_NEW_FD) != (fd >= 0))
			goto bad_fd;
		if (!notif_valid(w)) {
			if (fd >= 0)
				close(fd);
			return false;
		}
		int failed = mem_write(pid, arg, rdata, reply->arg_len);
		const uint8_t *written = rdata + reply->arg_len;
		size_t left = reply->written_len;
		for (uint32_t i = 0; !failed && i < region_count && left; i++) {
			if (!regions[i].write)
				continue;
			size_t n = regions[i].len < left ? regions[i].len : left;
			failed = mem_write(pid, regions[i].addr, written, n);
			written += n;
			left -= n;
		}
		if (failed) {
			if (fd >= 0)
				close(fd);
			w->resp.error = -EFAULT;
			return true;
		}
		if (reply->result < 0) {
			w->resp.error = reply->result;
		} else if (fd >= 0) {
			/* The driver's anon_inode_getfd: O_RDWR | O_CLOEXEC. */
			bool send = install(w, fd, reply->result, true);
			close(fd);
			return send;
		} else {
			w->resp.val = reply->result;
		}
		return true;
	bad_fd:
		if (fd >= 0)
			close(fd);
	bad:
		w->resp.error = -EIO;
		return true;
	}
	w->resp.error = -EIO;
	return true;
}

/* ---- the path calls ---- */

/* The node, as the preload library shows it: owned by the caller, so that
 * what stat says and what open allows agree (the policy's mode, the owner's
 * bits, for whoever asks). */
static void fill_stat(const struct seccomp_served *s, pid_t tid, struct stat *st)
{
	gid_t gid;
	uid_t uid = caller_ids(tid, &gid);
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(0, 5);
	st->st_ino = DEVICE_INO;
	st->st_mode = S_IFCHR | s->config.mode;
	st->st_nlink = 1;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_rdev = makedev(DEVICE_MAJOR, DEVICE_MINOR);
	st->st_blksize = 4096;
}

static void fill_statx(const struct seccomp_served *s, pid_t tid, struct statx *stx)
{
	gid_t gid;
	uid_t uid = caller_ids(tid, &gid);
	memset(stx, 0, sizeof(*stx));
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_blksize = 4096;
	stx->stx_nlink = 1;
	stx->stx_uid = uid;
	stx->stx_gid = gid;
	stx->stx_mode = (uint16_t)(S_IFCHR | s->config.mode);
	stx->stx_ino = DEVICE_INO;
	stx->stx_rdev_major = DEVICE_MAJOR;
	stx->stx_rdev_minor = DEVICE_MINOR;
	stx->stx_dev_major = 0;
	stx->stx_dev_minor = 5;
}

/* access(2)'s answer for the device: the owner's bits (the run's user),
 * root passing but for execute. */
static int access_answer(struct worker *w, int how)
{
	unsigned mode = w->l->served->config.mode;
	if (how == F_OK)
		return 0;
	uid_t uid = caller_uid((pid_t)w->notif.n.pid);
	if (uid == 0)
		return (how & X_OK) && !(mode & 0111) ? -EACCES : 0;
	unsigned want = ((how & R_OK) ? S_IRUSR : 0) | ((how & W_OK) ? S_IWUSR : 0) |
			((how & X_OK) ? S_IXUSR : 0);
	return (mode & want) == want ? 0 : -EACCES;
}

/* A path call.  True: send the response (else it is answered, or gone). */
static bool path_call(struct worker *w)
{
	const struct seccomp_data *d = &w->notif.n.data;
	const struct seccomp_served *s = w->l->served;
	pid_t pid = (pid_t)w->notif.n.pid;
	uint64_t path = 0;
	int fd = -1; /* the fd a call names with an empty path (AT_EMPTY_PATH) */
	switch (d->nr) {
	case __NR_open:
	case __NR_stat:
	case __NR_lstat:
	case __NR_access:
	case __NR_readlink:
	case __NR_getxattr:
	case __NR_lgetxattr:
	case __NR_listxattr:
	case __NR_llistxattr:
		path = d->args[0];
		break;
	case __NR_newfstatat:
		if (d->args[3] & AT_EMPTY_PATH)
			fd = (int)d->args[0];
		path = d->args[1];
		break;
	case __NR_statx:
		if (d->args[2] & AT_EMPTY_PATH)
			fd = (int)d->args[0];
		path = d->args[1];
		break;
	case __NR_fstat:
		fd = (int)d->args[0];
		break;
	default: /* openat, openat2, faccessat, faccessat2, readlinkat */
		path = d->args[1];
		break;
	}
	enum path_kind kind = d->nr == __NR_fstat ? PATH_EMPTY : path_kind(w, path);
	if (kind == PATH_EMPTY && fd >= 0 && session_of(w, fd) >= 0)
		kind = PATH_DEVICE;
	if (kind != PATH_DEVICE && kind != PATH_KVM_HIDDEN) {
		w->resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		return true;
	}
	if (!notif_valid(w))
		return false;
	if (kind == PATH_KVM_HIDDEN) {
		w->resp.error = -ENOENT;
		return true;
	}
	switch (d->nr) {
	case __NR_open:
		return device_open(w, d->args[1]);
	case __NR_openat:
		return device_open(w, d->args[2]);
	case __NR_openat2: {
		uint64_t flags;
		if (d->args[3] < sizeof(flags) ||
		    mem_read(pid, d->args[2], &flags, sizeof(flags))) {
			w->resp.error = d->args[3] < sizeof(flags) ? -EINVAL : -EFAULT;
			return true;
		}
		return device_open(w, flags);
	}
	case __NR_stat:
	case __NR_lstat:
	case __NR_newfstatat:
	case __NR_fstat: {
		struct stat st;
		fill_stat(s, pid, &st);
		uint64_t buf = d->nr == __NR_newfstatat ? d->args[2] : d->args[1];
		w->resp.error = mem_write(pid, buf, &st, sizeof(st));
		return true;
	}
	case __NR_statx: {
		struct statx stx;
		fill_statx(s, pid, &stx);
		w->resp.error = mem_write(pid, d->args[4], &stx, sizeof(stx));
		return true;
	}
	case __NR_access:
		w->resp.error = access_answer(w, (int)d->args[1]);
		return true;
	case __NR_faccessat:
	case __NR_faccessat2:
		w->resp.error = access_answer(w, (int)d->args[2]);
		return true;
	case __NR_readlink:
	case __NR_readlinkat:
		w->resp.error = -EINVAL; /* not a symbolic link */
		return true;
	case __NR_getxattr:
	case __NR_lgetxattr:
		w->resp.error = -ENODATA; /* a devtmpfs node has none */
		return true;
	default: /* listxattr, llistxattr: an empty list */
		return true;
	}
}

/* ---- the threads ---- */

static void answer(struct worker *w)
{
	const struct seccomp_data *d = &w->notif.n.data;
	memset(&w->resp, 0, sizeof(w->resp));
	w->resp.id = w->notif.n.id;
	bool send;
	if (d->nr == __NR_ioctl) {
		long session = session_of(w, (int)d->args[0]);
		if (session < 0) {
			w->resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* not ours */
			send = true;
		} else {
			send = device_ioctl(w, session, (uint32_t)d->args[1], d->args[2]);
		}
	} else {
		send = path_call(w);
	}
	if (send)
		ioctl(w->l->fd, SECCOMP_IOCTL_NOTIF_SEND, &w->resp);
}

static void *worker_thread(void *arg);

static void taken_done(struct seccomp_served *s)
{
	pthread_mutex_lock(&s->lock);
	s->answering--;
	pthread_cond_broadcast(&s->answered);
	pthread_mutex_unlock(&s->lock);
}

/* One more thread for L; with L->lock held.  False if none could start. */
static bool worker_spawn(struct listener *l)
{
	if (l->threads >= MAX_THREADS)
		return false;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t thread;
	bool started = pthread_create(&thread, &attr, worker_thread, l) == 0;
	if (started)
		l->threads++;
	pthread_attr_destroy(&attr);
	return started;
}

/* Take the next notification on L into W, unless the run is ending.
 * Counted in answering until answered (seccomp_serve_end waits). */
static bool take(struct worker *w)
{
	struct seccomp_served *s = w->l->served;
	pthread_mutex_lock(&s->lock);
	bool ending = s->ending;
	if (!ending)
		s->answering++;
	pthread_mutex_unlock(&s->lock);
	if (ending)
		return false;
	memset(&w->notif, 0, sizeof(w->notif));
	if (ioctl(w->l->fd, SECCOMP_IOCTL_NOTIF_RECV, &w->notif) == 0)
		return true;
	taken_done(s);
	return false;
}

/* W's call may wait long (a held call): another thread leads meanwhile,
 * one more if none waits to. */
static void lead_release(struct worker *w)
{
	struct listener *l = w->l;
	if (!w->leading)
		return;
	pthread_mutex_lock(&l->lock);
	if (!l->waiting && !worker_spawn(l)) {
		/* No thread to lead (MAX_THREADS calls held): keep the lead,
		 * so that the listener is served again when this call ends. */
		pthread_mutex_unlock(&l->lock);
		return;
	}
	w->leading = false;
	l->led = false;
	pthread_cond_signal(&l->lead_free);
	pthread_mutex_unlock(&l->lock);
}

static void *worker_thread(void *arg)
{
	struct listener *l = arg;
	struct worker *w = calloc(1, sizeof(*w));
	uint8_t *request = malloc(REQUEST_BUF), *reply = malloc(REPLY_BUF);
	pthread_mutex_lock(&l->lock);
	if (w && request && reply) {
		*w = (struct worker){.l = l, .request = request, .reply = reply};
		while (!l->dead) {
			if (l->waiting >= IDLE_THREADS)
				break; /* enough threads wait to lead: this one ends */
			l->waiting++;
			while (l->led && !l->dead)
				pthread_cond_wait(&l->lead_free, &l->lock);
			l->waiting--;
			if (l->dead)
				break;
			l->led = true;
			w->leading = true;
			pthread_mutex_unlock(&l->lock);
			/* The lead: take the next notification and answer it, and
			 * keep the lead unless the answer waited (lead_release).
			 * POLLHUP: no process of the run is left under it. */
			bool dead = false;
			while (w->leading && !dead) {
				struct pollfd pfd[2] = {
					{.fd = l->fd, .events = POLLIN},
					{.fd = l->served->end_fd, .events = POLLIN}};
				int ready = poll(pfd, 2, -1);
				if (ready > 0 && pfd[1].revents) {
					dead = true; /* the run is over: seccomp_serve_end */
				} else if (ready > 0 && (pfd[0].revents & POLLIN)) {
					if (take(w)) {
						answer(w);
						taken_done(l->served);
					}
				} else if (ready > 0) {
					dead = true;
				}
			}
			pthread_mutex_lock(&l->lock);
			if (dead) {
				l->dead = true;
				pthread_cond_broadcast(&l->lead_free);
			}
			if (w->leading)
				l->led = false;
		}
	}
	l->threads--;
	bool last = !l->threads;
	pthread_mutex_unlock(&l->lock);
	free(w);
	free(request);
	free(reply);
	if (last) {
		struct seccomp_served *s = l->served;
		pthread_mutex_lock(&s->lock);
		for (struct listener **link = &s->listeners; *link; link = &(*link)->next)
			if (*link == l) {
				*link = l->next;
				break;
			}
		pthread_mutex_unlock(&s->lock);
		close(l->fd);
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->lead_free);
		free(l);
	}
	return NULL;
}

/* Serve LISTENER; 0 or -errno. */
static int listener_add(struct seccomp_served *s, int fd)
{
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	*l = (struct listener){.served = s, .fd = fd};
	/* Where the kernel has it; an older one (EINVAL) wakes as before. */
	(void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
		    (uint64_t)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->lead_free, NULL);
	pthread_mutex_lock(&s->lock);
	l->next = s->listeners;
	s->listeners = l;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&l->lock);
	bool started = worker_spawn(l);
	pthread_mutex_unlock(&l->lock);
	if (!started) {
		pthread_mutex_lock(&s->lock);
		s->listeners = l->next;
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->lead_free);
		free(l);
		return -EAGAIN;
	}
	return 0;
}

/* The join socket: a process of the run's user (or root) hands its
 * listener over, and hears 'Y' once it is served. */
static void *join_thread(void *arg)
{
	struct seccomp_served *s = arg;
	for (;;) {
		int conn = accept4(s->join_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE)
				continue;
			return NULL;
		}
		struct ucred cred;
		socklen_t cred_len = sizeof(cred);
		char byte = 'N';
		int listener = -1;
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 &&
		    (cred.uid == s->config.uid || cred.uid == 0)) {
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(int))];
			} control;
			char got_byte;
			struct iovec iov = {&got_byte, 1};
			struct msghdr msg = {.msg_iov = &iov,
					     .msg_iovlen = 1,
					     .msg_control = control.buf,
					     .msg_controllen = sizeof(control.buf)};
			struct pollfd pfd = {.fd = conn, .events = POLLIN};
			if (poll(&pfd, 1, 5000) == 1 &&
			    recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) == 1) {
				for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
				     c = CMSG_NXTHDR(&msg, c))
					if (c->cmsg_level == SOL_SOCKET &&
					    c->cmsg_type == SCM_RIGHTS)
						memcpy(&listener, CMSG_DATA(c), sizeof(int));
			}
		}
		if (listener >= 0) {
			if (listener_add(s, listener) == 0)
				byte = 'Y';
			else
				close(listener);
		}
		if (send(conn, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && byte == 'Y')
			(void)0; /* the process is gone: its listener hangs up */
		close(conn);
	}
}

struct seccomp_served *seccomp_serve_start(const struct seccomp_config *config, char *join_name,
					   size_t join_size)
{
	struct seccomp_notif_sizes sizes;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
		fprintf(stderr, "mshv-emu-run: seccomp(SECCOMP_GET_NOTIF_SIZES): %s\n",
			strerror(errno));
		return NULL;
	}
	if (sizes.seccomp_notif > NOTIF_BUF_SIZE ||
	    sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp)) {
		/* The kernel's response grew: answering with ours would be
		 * refused.  (The notification may grow: it is read into more.) */
		fprintf(stderr, "mshv-emu-run: this kernel's seccomp notifications are larger "
				"than this build knows\n");
		return NULL;
	}
	struct seccomp_served *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->config = *config;
	snprintf(s->run_id, sizeof(s->run_id), "%s", config->run_id);
	s->config.run_id = s->run_id;
	pthread_mutex_init(&s->cache_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->answered, NULL);
	s->end_fd = eventfd(0, EFD_CLOEXEC);
	s->join_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int len = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "%s-join", s->run_id);
	if (s->end_fd < 0 || s->join_fd < 0 || len <= 0 || (size_t)len >= join_size ||
	    bind(s->join_fd, (struct sockaddr *)&addr,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) != 0 ||
	    listen(s->join_fd, 64) != 0) {
		fprintf(stderr, "mshv-emu-run: the seccomp join socket: %s\n", strerror(errno));
		goto fail;
	}
	memcpy(join_name, addr.sun_path + 1, (size_t)len + 1);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t thread;
	int err = pthread_create(&thread, &attr, join_thread, s);
	pthread_attr_destroy(&attr);
	if (err) {
		fprintf(stderr, "mshv-emu-run: a thread: %s\n", strerror(err));
		goto fail;
	}
	return s;
fail:
	if (s->join_fd >= 0)
		close(s->join_fd);
	pthread_mutex_destroy(&s->cache_lock);
	free(s);
	return NULL;
}

void seccomp_serve_end(struct seccomp_served *s)
{
	int fds[SECCOMP_PASSTHROUGH_MAX];
	int count = 0;
	pthread_mutex_lock(&s->lock);
	s->ending = true;
	for (struct listener *l = s->listeners; l && count < SECCOMP_PASSTHROUGH_MAX; l = l->next) {
		int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 3);
		if (fd >= 0)
			fds[count++] = fd;
	}
	eventfd_write(s->end_fd, 1);
	/* What was taken is answered while this process is still here: a
	 * notification taken and never answered would hold its caller. */
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += END_DEADLINE_MS / 1000;
	while (s->answering &&
	       pthread_cond_clockwait(&s->answered, &s->lock, CLOCK_MONOTONIC, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->lock);
	/* Processes of the run that outlive it (orphans of CMD) are served
	 * by a process of their own: paths go on, device calls are ENODEV. */
	if (seccomp_passthrough(fds, count) != 0)
		for (int i = 0; i < count; i++)
			close(fds[i]);
}
