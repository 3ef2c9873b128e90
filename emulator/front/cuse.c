/*
 * cuse.c - the CUSE front end: a character device /dev/NAME.
 *
 * Unrestricted ioctls (CUSE_UNRESTRICTED_IOCTL): the kernel copies nothing
 * until the daemon says what, with a retry (gather.c), as a real driver's
 * copy_from_user would: the argument's _IOC_SIZE bytes first, then any
 * memory an op follows a pointer to (MSHV_ROOT_HVCALL's in_ptr and out_ptr,
 * CREATE_PARTITION's v2 structure).  So the daemon needs no right over the
 * caller's memory, and the kernel itself answers EFAULT for a bad pointer.
 * A call costs two round trips, three when it follows pointers.  The node is made
 * by devtmpfs (or udev) when the kernel accepts our CUSE_INIT reply; we wait
 * for it with a deadline, set its mode as the driver did (0600 by default),
 * and only then report readiness.  That handshake is served on the main
 * thread, before the loop starts any: what node_made changes about the
 * process then holds for every thread.  CUSE cannot hand out new fds or mmap, so
 * nothing here tries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cuse_lowlevel.h>

#include "front.h"

#define NODE_WAIT_MS 5000

static void cuse_open(fuse_req_t req, struct fuse_file_info *fi)
{
	front_open(req, fi);
}

static void cuse_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi,
		       unsigned int flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	front_ioctl(req, (unsigned int)cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

static void node_path(const struct front_options *options, char *path, size_t size)
{
	snprintf(path, size, "/dev/%s", options->name);
}

/* How the handshake ended: cuse_init_done sets it, on the main thread. */
static enum {
	INIT_WAITING,
	INIT_NODE_MADE,
	INIT_NO_NODE
} init_state;

/* Called by libfuse once the kernel has accepted CUSE_INIT. */
static void cuse_init_done(void *userdata)
{
	const struct front_options *options = userdata;
	char path[128];
	struct stat st;
	node_path(options, path, sizeof(path));
	struct timespec tick = {0, 10 * 1000 * 1000};
	int waited_ms = 0;
	while (stat(path, &st) != 0) {
		if (waited_ms >= NODE_WAIT_MS) {
			emu_err("start: %s did not appear within %d ms (is devtmpfs or udev "
				"running?)",
				path, NODE_WAIT_MS);
			init_state = INIT_NO_NODE;
			return;
		}
		nanosleep(&tick, NULL);
		waited_ms += 10;
	}
	if (chmod(path, options->mode) != 0)
		emu_warn("start: chmod %04o %s: %s", options->mode, path, strerror(errno));
	init_state = INIT_NODE_MADE;
}

/* Serve requests on this thread until the kernel's CUSE_INIT is answered
 * (it is the first request).  -1 when the session ended first. */
static int handshake(struct fuse_session *session)
{
	struct fuse_buf buf = {.mem = NULL};
	init_state = INIT_WAITING;
	while (init_state == INIT_WAITING && !fuse_session_exited(session)) {
		int got = fuse_session_receive_buf(session, &buf);
		if (got == -EINTR)
			continue;
		if (got <= 0)
			break;
		fuse_session_process_buf(session, &buf);
	}
	free(buf.mem);
	return init_state == INIT_NODE_MADE ? 0 : -1;
}

static const struct cuse_lowlevel_ops cuse_ops = {
	.init_done = cuse_init_done,
	.open = cuse_open,
	.read = front_read,
	.write = front_write,
	.release = front_release,
	.ioctl = cuse_ioctl,
};

int front_cuse_run(const struct front_options *options)
{
	if (access("/dev/cuse", R_OK | W_OK) != 0) {
		emu_err("--front cuse: /dev/cuse: %s; this kernel has no CUSE: load it with "
			"`modprobe cuse` (CONFIG_CUSE), or use --front fuse",
			strerror(errno));
		return 1;
	}
	char path[128];
	struct stat st;
	node_path(options, path, sizeof(path));
	if (stat(path, &st) == 0) {
		emu_err("--front cuse: %s already exists (a real driver, or another mshv-emu?); "
			"pick another name with --name",
			path);
		return 1;
	}
	char devname[96];
	snprintf(devname, sizeof(devname), "DEVNAME=%s", options->name);
	const char *dev_info[] = {devname};
	struct cuse_info info = {
		.dev_info_argc = 1,
		.dev_info_argv = dev_info,
		.flags = CUSE_UNRESTRICTED_IOCTL, /* see the top of this file */
	};
	char arg0[] = "mshv-emu", fg[] = "-f";
	char *argv[] = {arg0, fg, NULL};
	int multithreaded;
	struct fuse_session *session =
		cuse_lowlevel_setup(2, argv, &info, &cuse_ops, &multithreaded, (void *)options);
	if (!session) {
		emu_err("--front cuse: could not register /dev/%s with CUSE (see above)",
			options->name);
		return 1;
	}
	int rc = 1;
	if (handshake(session) != 0) {
		if (fuse_session_exited(session)) /* SIGTERM or SIGINT before the node */
			rc = 0;
		else if (init_state == INIT_WAITING)
			emu_err("--front cuse: the kernel ended the session before /dev/%s was "
				"made",
				options->name);
	} else if (!options->node_made || options->node_made(options->hook_arg) == 0) {
		node_path(options, path, sizeof(path));
		front_ready(options, "cuse", path);
		rc = front_loop(session, options);
	}
	cuse_lowlevel_teardown(session);
	return rc;
}
