/*
 * front.c - request translation shared by the CUSE and FUSE front ends.
 *
 * An ioctl arrives in restricted mode: the kernel has copied _IOC_SIZE(cmd)
 * bytes in and will copy out what we return, so a bad pointer never reaches
 * us (the kernel answers EFAULT).  Every answer, errors included, goes back
 * through fuse_reply_ioctl: fuse_reply_err cannot carry an errno >= 512 (the
 * kernel rejects the reply and the caller sees ECONNABORTED), while a
 * negative ioctl result reaches the caller as that errno exactly
 * (DESIGN.md 2.4).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errnames.h"
#include "front.h"

void emu_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mshv-emu: %s\n", line);
}

void front_open(fuse_req_t req, struct fuse_file_info *fi)
{
	const struct front_options *options = fuse_req_userdata(req);
	struct emu_session *session = malloc(sizeof(*session));
	if (!session) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	core_session_open(options->core, session);
	fi->fh = (uintptr_t)session;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

void front_release(fuse_req_t req, struct fuse_file_info *fi)
{
	const struct front_options *options = fuse_req_userdata(req);
	struct emu_session *session = (struct emu_session *)(uintptr_t)fi->fh;
	core_session_close(options->core, session);
	free(session);
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
	unsigned char out[256];
	struct emu_call call = {
		.cmd = cmd,
		.arg = (uintptr_t)arg,
		.in = in_buf,
		.in_size = in_bufsz,
		.out = out,
		.out_size = out_bufsz < sizeof(out) ? out_bufsz : sizeof(out),
	};
	int result = core_ioctl(options->core, (struct emu_session *)(uintptr_t)fi->fh, &call);
	fuse_reply_ioctl(req, result, call.out_len ? out : NULL, call.out_len);
}

void front_ready(const struct front_options *options, const char *front, const char *path)
{
	struct core_identity id;
	core_identity(options->core, &id);
	emu_log("serving %s (front %s, profile %s, mode %04o, policy %s %s, generation %llu)", path,
		front, profile_get(id.profile)->name, options->mode, id.source, id.digest,
		(unsigned long long)id.generation);
	if (options->ready_fd < 0)
		return;
	dprintf(options->ready_fd, "ready %s\n", path);
	close(options->ready_fd);
}

int front_loop(struct fuse_session *session, const struct front_options *options)
{
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	if (!config) {
		emu_log("start: out of memory");
		return 1;
	}
	fuse_loop_cfg_set_max_threads(config, options->max_threads);
	int err = fuse_session_loop_mt(session, config);
	fuse_loop_cfg_destroy(config);
	/* The loop returns the signal that stopped it, or a negative errno. */
	if (err < 0) {
		emu_log("serve: %s", strerror(-err));
		return 1;
	}
	return 0;
}
