/*
 * front.h - what the CUSE and FUSE front ends share: one request becomes
 * one core call and one reply.  The front ends differ only in how the
 * node comes to exist.
 */
#ifndef MSHV_EMU_FRONT_H
#define MSHV_EMU_FRONT_H

#include <stdbool.h>

#include <fuse_lowlevel.h>

#include "core.h"

struct front_options {
	struct emu_core *core;
	const char *name;	/* device (CUSE) or file (FUSE) name */
	unsigned mode;		/* node mode, e.g. 0600 */
	const char *mountpoint; /* FUSE only */
	int ready_fd;		/* -1: none */
	unsigned max_threads;
};

/* front_cuse_run / front_fuse_run - serve until SIGTERM/SIGINT.  Return 0, or
 * 1 after printing why the front end could not start. */
int front_cuse_run(const struct front_options *options);
int front_fuse_run(const struct front_options *options);

/*
 * The caller's memory for FUSE and CUSE: process_vm_readv/writev on the
 * thread that made the request (the request's pid), which needs the right
 * to ptrace it (root, or CAP_SYS_PTRACE).  Neither front can install an fd,
 * so install is NULL: CREATE_PARTITION answers the policy's
 * create_partition errno.
 */
struct front_transport {
	struct emu_transport base;
	pid_t pid;
};

void front_transport_init(struct front_transport *transport, pid_t pid);

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

/* front_ready - the node at PATH exists: log the start line and signal
 * readiness on options->ready_fd (a line "ready PATH\n", then close). */
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

__attribute__((format(printf, 1, 2))) void emu_log(const char *fmt, ...);

#endif
