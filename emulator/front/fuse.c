/*
 * fuse.c - the FUSE front end: a directory holding one file, DIR/NAME, that
 * answers the same ioctls as the CUSE device.  For kernels without CUSE;
 * bind-mount the file over /dev/mshv in a private mount namespace to make a
 * VMM find it where it expects.
 *
 * FUSE serves ioctls on regular files in restricted mode only, which is the
 * mode we want anyway.  Permissions follow the policy's node mode: as root
 * the filesystem is mounted allow_other,default_permissions so the kernel
 * checks the mode bits like it would for /dev/mshv.  Nothing here is
 * writable, readable or listable beyond the one file.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "front.h"

#define NODE_INO 2

static void attr_of(const struct front_options *options, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = options->owner_uid; /* root's, even once the daemon is --user's */
	st->st_gid = options->owner_gid;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | options->mode;
		st->st_nlink = 1;
	}
}

static void fuse_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct front_options *options = fuse_req_userdata(req);
	if (parent != FUSE_ROOT_ID || strcmp(name, options->name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct fuse_entry_param entry = {
		.ino = NODE_INO, .attr_timeout = 3600, .entry_timeout = 3600};
	attr_of(options, NODE_INO, &entry.attr);
	fuse_reply_entry(req, &entry);
}

static void fuse_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct front_options *options = fuse_req_userdata(req);
	struct stat st;
	if (ino != FUSE_ROOT_ID && ino != NODE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	attr_of(options, ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void fuse_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
			 struct fuse_file_info *fi)
{
	const struct front_options *options = fuse_req_userdata(req);
	const char *names[] = {".", "..", options->name};
	const fuse_ino_t inos[] = {FUSE_ROOT_ID, FUSE_ROOT_ID, NODE_INO};
	char buf[512];
	size_t used = 0;
	for (off_t i = offset; i < 3; i++) {
		struct stat st;
		attr_of(options, inos[i], &st);
		size_t need = fuse_add_direntry(req, buf + used, sizeof(buf) - used, names[i], &st,
						i + 1);
		if (used + need > sizeof(buf) || used + need > size)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

static void fuse_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != NODE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	front_open(req, fi);
}

static void fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	front_read(req, size, off, fi);
}

static void fuse_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	front_write(req, buf, size, off, fi);
}

static void fuse_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	front_release(req, fi);
}

static void fuse_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		       struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		       size_t in_bufsz, size_t out_bufsz)
{
	front_ioctl(req, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

static const struct fuse_lowlevel_ops fuse_ops = {
	.lookup = fuse_lookup,
	.getattr = fuse_getattr,
	.readdir = fuse_readdir,
	.open = fuse_open,
	.read = fuse_read,
	.write = fuse_write,
	.release = fuse_release,
	.ioctl = fuse_ioctl,
};

/* mountinfo escapes space, tab, newline and backslash as \ooo: undo it. */
static void unescape_mountinfo(char *text)
{
	char *out = text;
	for (const char *in = text; *in; in++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			*out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

/* Is PATH (absolute, canonical) the mount point of a mshv-emu FUSE mount? */
static bool mounted_by_us(const char *path)
{
	char line[8192], point[4096], fstype[64];
	bool ours = false;
	FILE *mountinfo = fopen("/proc/self/mountinfo", "r");
	while (mountinfo && !ours && fgets(line, sizeof(line), mountinfo)) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE ..." */
		const char *dash = strstr(line, " - ");
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 || !dash ||
		    sscanf(dash, " - %63s", fstype) != 1)
			continue;
		unescape_mountinfo(point);
		ours = !strcmp(point, path) && !strcmp(fstype, "fuse.mshv-emu");
	}
	if (mountinfo)
		fclose(mountinfo);
	return ours;
}

/*
 * MOUNTPOINT made absolute and canonical as mountinfo spells it.  A live
 * mount resolves with realpath; a dead one (ENOTCONN) cannot be touched, so
 * its parent is resolved and its last component kept.
 */
static bool absolute_path(const char *mountpoint, char *out, size_t size)
{
	char resolved[4096], parent[4096];
	if (realpath(mountpoint, resolved)) {
		snprintf(out, size, "%s", resolved);
		return true;
	}
	char *copy = strdup(mountpoint);
	if (!copy)
		return false;
	size_t len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/') /* "dir/" names "dir" */
		copy[--len] = '\0';
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	if (slash)
		*slash = '\0';
	bool ok = realpath(slash ? (*copy ? copy : "/") : ".", parent) != NULL;
	if (ok)
		snprintf(out, size, "%s/%s", strcmp(parent, "/") ? parent : "", base);
	free(copy);
	return ok;
}

/*
 * Another mshv-emu on MOUNTPOINT: refuse, since a second mount would stack
 * on it and silently shadow it.  A dead one (its daemon was SIGKILLed, every
 * access fails with ENOTCONN, and so would our mount): detach it.  A dead
 * mount that is not ours: leave it, and say how to remove it.
 */
static int check_mountpoint(const char *mountpoint)
{
	char path[4096 + 256];
	struct statvfs fs;
	/* statfs always reaches the daemon; stat may be answered from the
	 * kernel's attribute cache even after the daemon died. */
	bool alive = statvfs(mountpoint, &fs) == 0;
	if (!alive && errno != ENOTCONN)
		return 0; /* missing, or an error that mkdir will report */
	bool ours = absolute_path(mountpoint, path, sizeof(path)) && mounted_by_us(path);
	if (alive && ours) {
		emu_err("--mountpoint %s: already served by a running mshv-emu; stop it, or "
			"pick another --mountpoint",
			mountpoint);
		return -1;
	}
	if (alive)
		return 0;
	if (!ours) {
		emu_err("--mountpoint %s: Transport endpoint is not connected, and it is not a "
			"mount of mshv-emu's; unmount it first (fusermount3 -u -z %s)",
			mountpoint, mountpoint);
		return -1;
	}
	if (umount2(path, MNT_DETACH) != 0) {
		emu_err("--mountpoint %s: a dead mshv-emu mount is in the way and cannot be "
			"detached (%s); run fusermount3 -u -z %s",
			mountpoint, strerror(errno), mountpoint);
		return -1;
	}
	emu_logp(LOG_NOTICE, "--mountpoint %s: detached the dead mount of a previous mshv-emu",
		 mountpoint);
	return 0;
}

/*
 * A mount hides what its directory holds: --mountpoint /run would hide /run
 * from every process until the stop.  So MOUNTPOINT must be an empty
 * directory, or not exist yet (it is made).
 */
static int check_empty(const char *mountpoint)
{
	DIR *dir = opendir(mountpoint);
	if (!dir) {
		if (errno == ENOTDIR) {
			emu_err("--mountpoint %s: not a directory; give an empty directory, or a "
				"path that does not exist yet (mshv-emu makes it)",
				mountpoint);
			return -1;
		}
		return 0; /* missing (made below), or an error mkdir or the mount reports */
	}
	struct dirent *entry;
	char first[256] = "";
	unsigned count = 0;
	while ((entry = readdir(dir))) {
		if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
			continue;
		if (!count++)
			snprintf(first, sizeof(first), "%s", entry->d_name);
	}
	closedir(dir);
	if (!count)
		return 0;
	emu_err("--mountpoint %s: not empty (it holds `%s`%s), and the mount would hide what is "
		"there until mshv-emu stops; give an empty directory, or a path that does not "
		"exist yet (mshv-emu makes it)",
		mountpoint, first, count > 1 ? " and more" : "");
	return -1;
}

int front_fuse_run(const struct front_options *options)
{
	if (check_mountpoint(options->mountpoint) != 0 || check_empty(options->mountpoint) != 0)
		return 1;
	if (mkdir(options->mountpoint, 0755) != 0 && errno != EEXIST) {
		emu_err("--mountpoint %s: %s", options->mountpoint, strerror(errno));
		return 1;
	}
	char arg0[] = "mshv-emu", dash_o[] = "-o";
	char opts_root[] = "fsname=mshv-emu,subtype=mshv-emu,allow_other,default_permissions";
	char opts_user[] = "fsname=mshv-emu,subtype=mshv-emu,default_permissions";
	char *argv[] = {arg0, dash_o, geteuid() == 0 ? opts_root : opts_user, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_session *session =
		fuse_session_new(&args, &fuse_ops, sizeof(fuse_ops), (void *)options);
	fuse_opt_free_args(&args);
	if (!session) {
		emu_err("--front fuse: could not create a FUSE session (see above)");
		return 1;
	}
	int rc = 1;
	if (fuse_set_signal_handlers(session) != 0) {
		emu_err("--front fuse: could not install signal handlers");
		goto out_destroy;
	}
	if (options->before_mount && options->before_mount(options->hook_arg) != 0)
		goto out_signals;
	if (fuse_session_mount(session, options->mountpoint) != 0) {
		emu_err("--front fuse: could not mount on %s (is /dev/fuse there, and the "
			"directory not already a mount point?)",
			options->mountpoint);
		goto out_signals;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", options->mountpoint, options->name);
	/* The mount exists once fuse_session_mount returns: the file is there. */
	if (!options->node_made || options->node_made(options->hook_arg) == 0) {
		front_ready(options, "fuse", path);
		rc = front_loop(session, options);
	}
	/* Not root any more (--user): libfuse runs fusermount3, which unmounts
	 * a mount its caller owns.  Say so if the mount outlived it. */
	fuse_session_unmount(session);
	char absolute[4096 + 256];
	if (absolute_path(options->mountpoint, absolute, sizeof(absolute)) &&
	    mounted_by_us(absolute))
		emu_warn("--mountpoint %s: still mounted after the stop (as uid %u); unmount it "
			 "with fusermount3 -u -z %s",
			 options->mountpoint, (unsigned)geteuid(), options->mountpoint);
out_signals:
	fuse_remove_signal_handlers(session);
out_destroy:
	fuse_session_destroy(session);
	return rc;
}
