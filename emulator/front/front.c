/*
 * front.c - request translation shared by the CUSE and FUSE front ends.
 *
 * An ioctl arrives in restricted mode: the kernel has copied _IOC_SIZE(cmd)
 * bytes in and will copy out what we return, so a bad pointer never reaches
 * us (the kernel answers EFAULT).  Every answer, errors included, goes back
 * through fuse_reply_ioctl: fuse_reply_err cannot carry an errno >= 512 (the
 * kernel rejects the reply and the caller sees ECONNABORTED), while a
 * negative ioctl result reaches the caller as that errno exactly
 * (docs/abi.md, "How errnos reach the caller").
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errnames.h"
#include "hold.h"

/* Once per daemon: a valid CREATE_PARTITION got no fd, which no kernel
 * does; say why and what can, so the VMM's failure is not a mystery. */
static void log_no_fd(pid_t pid, int result)
{
	static atomic_bool logged;
	if (!atomic_exchange(&logged, true))
		emu_warn("MSHV_CREATE_PARTITION from pid %d was valid, but FUSE and CUSE "
			 "cannot hand the caller a new fd: answered %s, the policy's "
			 "create_partition errno.  Partition and VP fds need a transport that "
			 "installs fds in the caller (the in-process one)",
			 (int)pid, result < 0 ? errname_of(-result) : "a value");
}

static struct emu_caller caller_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	return (struct emu_caller){.pid = ctx->pid, .uid = ctx->uid, .get_comm = front_caller_comm};
}

int open_errno(int result)
{
	/* The loader refuses these for open rules; never send them anyway:
	 * >= 512 would leave the caller hung in open, ENOSYS would disable open. */
	return -result >= 512 || -result == ENOSYS ? EIO : -result;
}

void front_open(fuse_req_t req, struct fuse_file_info *fi)
{
	const struct front_options *options = fuse_req_userdata(req);
	struct emu_session *session = front_session_new();
	if (!session) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct emu_caller caller = caller_of(req);
	struct emu_call call = {.caller = &caller};
	int result = core_open(options->core, session, &call);
	fi->fh = (uintptr_t)session;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	if (call.hold_ns || call.hang) {
		front_hold(req, session, &call, fi);
	} else if (result < 0) {
		front_session_free(session);
		fuse_reply_err(req, open_errno(result));
	} else {
		fuse_reply_open(req, fi);
	}
}

void front_release(fuse_req_t req, struct fuse_file_info *fi)
{
	const struct front_options *options = fuse_req_userdata(req);
	struct emu_session *session = (struct emu_session *)(uintptr_t)fi->fh;
	struct emu_caller caller = caller_of(req);
	core_release(options->core, session, &caller);
	front_session_free(session);
	fuse_reply_err(req, 0);
}

/* /dev/mshv has no read or write file operation: the kernel answers EINVAL. */
void front_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EINVAL);
}

void front_write(fuse_req_t req, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EINVAL);
}

void front_ioctl(fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
		 unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	const struct front_options *options = fuse_req_userdata(req);
	struct emu_session *session = (struct emu_session *)(uintptr_t)fi->fh;
	struct emu_caller caller = caller_of(req);
	struct front_transport transport;
	front_transport_init(&transport, caller.pid);
	/* Restricted: what the kernel copies back of the argument (256 covers
	 * every built-in).  Unrestricted: the argument, then the regions. */
	uint8_t out[(1u << _IOC_SIZEBITS) + EMU_GATHER_BYTES];
	struct emu_call call = {
		.cmd = cmd,
		.arg = (uintptr_t)arg,
		.in = in_buf,
		.in_size = in_bufsz,
		.out = out,
		.out_size = out_bufsz < 256 ? out_bufsz : 256,
		.caller = &caller,
		.transport = &transport.base,
	};
	if (flags & FUSE_IOCTL_UNRESTRICTED) {
		int first = front_gather_begin(&transport, &call, in_buf, in_bufsz, out_bufsz, out,
					       sizeof(out));
		if (first) {
			front_reply_ioctl(req, &call, first > 0 ? -EMU_RETRY_WITH_MEMORY : first,
					  &transport);
			return;
		}
	}
	int result = core_ioctl(options->core, session, &call);
	if (call.detail.kind == TRACE_DETAIL_CREATE_PARTITION && call.detail.no_fd)
		log_no_fd(caller.pid, result);
	if (call.hold_ns || call.hang)
		front_hold(req, session, &call, NULL);
	else
		front_reply_ioctl(req, &call, result, &transport);
}

static struct {
	pthread_mutex_t lock; /* front_ready writes while mshvctl status may read */
	char path[4096];
} node = {.lock = PTHREAD_MUTEX_INITIALIZER};

void front_node_path(char *out, size_t size)
{
	pthread_mutex_lock(&node.lock);
	snprintf(out, size, "%s", node.path);
	pthread_mutex_unlock(&node.lock);
}

void front_ready(const struct front_options *options, const char *front, const char *path)
{
	pthread_mutex_lock(&node.lock);
	snprintf(node.path, sizeof(node.path), "%s", path);
	pthread_mutex_unlock(&node.lock);
	struct core_identity id;
	core_identity(options->core, &id);
	emu_log("serving %s (front %s, profile %s, mode %04o, policy %s %s, generation %llu)", path,
		front, profile_get(id.profile)->name, options->mode, id.source, id.digest,
		(unsigned long long)id.generation);
	if (options->ready_fd >= 0) {
		dprintf(options->ready_fd, "ready %s\n", path);
		close(options->ready_fd);
	}
	if (options->ready)
		options->ready(options->hook_arg, path);
}

int front_loop(struct fuse_session *session, const struct front_options *options)
{
	if (front_hold_start(options) != 0) {
		emu_err("start: cannot create the thread that answers held calls");
		return 1;
	}
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	if (!config) {
		emu_err("start: out of memory");
		front_hold_stop();
		return 1;
	}
	fuse_loop_cfg_set_max_threads(config, options->max_threads);
	int err = fuse_session_loop_mt(session, config);
	fuse_loop_cfg_destroy(config);
	front_hold_stop();
	front_sessions_free_all();
	/* The loop returns the signal that stopped it, or a negative errno. */
	if (err < 0) {
		emu_err("serve: %s", strerror(-err));
		return 1;
	}
	return 0;
}
