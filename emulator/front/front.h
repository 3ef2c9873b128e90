/*
 * front.h - what the CUSE and FUSE front ends share: one request becomes
 * one core call and one reply.  The front ends differ only in how the
 * node comes to exist.
 */
#ifndef MSHV_EMU_FRONT_H
#define MSHV_EMU_FRONT_H

#include <stdbool.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "core.h"
#include "gather.h"
#include "log.h" /* emu_log */

struct front_options {
	struct emu_core *core;
	const char *name;	/* device (CUSE) or file (FUSE) name */
	unsigned mode;		/* node mode, e.g. 0600 */
	const char *mountpoint; /* FUSE only */
	int ready_fd;		/* -1: none */
	unsigned max_threads;
	uid_t owner_uid; /* FUSE: the node's owner, as stat shows it */
	gid_t owner_gid;
	/*
	 * Called in the main thread before any thread is started, with
	 * HOOK_ARG; either may be NULL.  before_mount (FUSE): just before the
	 * mount is made.  node_made: once the node exists (FUSE: mounted;
	 * CUSE: the kernel accepted CUSE_INIT and the node has its mode),
	 * before readiness is signalled and the loop starts.  Nonzero stops
	 * the front end, which undoes what it made and returns 1.
	 */
	int (*before_mount)(void *hook_arg);
	int (*node_made)(void *hook_arg);
	/* ready (may be NULL): front_ready's last step, the node at PATH
	 * serving (the loop starts next). */
	void (*ready)(void *hook_arg, const char *path);
	void *hook_arg;
};

/* front_cuse_run / front_fuse_run - serve until SIGTERM/SIGINT.  Return 0, or
 * 1 after printing why the front end could not start. */
int front_cuse_run(const struct front_options *options);
int front_fuse_run(const struct front_options *options);

/*
 * The caller's memory for FUSE and CUSE.
 *
 * Side channel (memory.c; FUSE, and CUSE's restricted ioctls):
 * process_vm_readv/writev on the thread that made the request (the
 * request's pid), which needs the right to ptrace it: CAP_SYS_PTRACE,
 * which root has and --user keeps (privileges.c).
 *
 * Gather (core/gather.h; CUSE's unrestricted ioctls, front/cuse_ioctl.c):
 * the kernel copies what the daemon names in a retry, as it does for a real
 * driver's copy_from_user, so it needs no right over the caller.  An op's
 * first pass records the regions it reads and writes and ends with
 * -EMU_RETRY_WITH_MEMORY; the front answers with a retry naming them after
 * the argument's own _IOC_SIZE bytes; the call comes back with their bytes
 * and is run again (continued), finding each region where it asked for it.
 *
 * Neither can install an fd, so install is NULL: CREATE_PARTITION answers
 * the policy's create_partition errno.
 */
struct front_transport {
	struct emu_transport base; /* the side channel */
	pid_t pid;
	bool gathering; /* CUSE's unrestricted ioctls: GATHER is the call's transport */
	struct emu_gather gather;
};

void front_transport_init(struct front_transport *transport, pid_t pid);

/* The front_transport a call's transport (side channel or gather) is in. */
struct front_transport *front_transport_of(struct emu_transport *transport);

/*
 * front_gather_begin - TRANSPORT gathers for an unrestricted ioctl CMD whose
 * request brought IN_BUF/IN_BUFSZ and can take OUT_BUFSZ bytes back.
 * Returns 1 when the request is the first of the call (nothing copied yet)
 * and must be answered with front_reply_ioctl's retry for the argument, 0
 * to dispatch (CALL's in, in_size and out_size set; OUT receives what the
 * core writes back, then the write regions), or -errno.
 */
int front_gather_begin(struct front_transport *transport, struct emu_call *call, const void *in_buf,
		       size_t in_bufsz, size_t out_bufsz, uint8_t *out, size_t out_cap);

/*
 * front_reply_ioctl - reply to REQ with RESULT, what core_ioctl (or
 * core_ioctl_complete) answered for CALL over TRANSPORT: the argument
 * CALL->out holds, and for a gathering transport the write regions; or, for
 * -EMU_RETRY_WITH_MEMORY, a retry naming the argument and every region.
 */
void front_reply_ioctl(fuse_req_t req, const struct emu_call *call, int result,
		       struct front_transport *transport);

/* A session for a new open, listed until front_session_free (or shutdown). */
struct emu_session *front_session_new(void);
void front_session_free(struct emu_session *session);
/* front_sessions_free_all - at shutdown, every session still listed. */
void front_sessions_free_all(void);

/* open_errno - the errno to reply to an open that failed with RESULT (< 0):
 * one fuse_reply_err can carry. */
int open_errno(int result);

/* Request handlers shared by both front ends (the fuse_req's userdata is the
 * struct front_options).  They reply to REQ. */
void front_open(fuse_req_t req, struct fuse_file_info *fi);
void front_release(fuse_req_t req, struct fuse_file_info *fi);
/* read and write: EINVAL, as for a character device without those ops. */
void front_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi);
void front_write(fuse_req_t req, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
void front_ioctl(fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
		 unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz);

/* front_ready - the node at PATH exists: log the start line, signal
 * readiness on options->ready_fd (a line "ready PATH\n", then close), then
 * call options->ready. */
void front_ready(const struct front_options *options, const char *front, const char *path);

/* front_node_path - the node being served, into OUT ("" before front_ready). */
void front_node_path(char *out, size_t size);

/* front_loop - the multithreaded loop shared by both front ends. */
int front_loop(struct fuse_session *session, const struct front_options *options);

/*
 * front_thread_create - a helper thread (reload, control, held replies) that
 * starts with every signal blocked.  A process-directed SIGTERM lands on any
 * thread that does not block it; on a helper thread, libfuse's exit handler
 * would set the exit flag where it wakes none of the loop's threads, and the
 * daemon would not stop.  Returns 0 or an errno.
 */
int front_thread_create(pthread_t *thread, void *(*start)(void *), void *arg);

/* front_caller_comm - CALLER's command name from /proc, read once and only
 * when a fault rule asks (emu_caller.get_comm); NULL if it is gone. */
const char *front_caller_comm(struct emu_caller *caller);

#endif
