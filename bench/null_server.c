/*
 * null_server.c - the transport floor: a libfuse lowlevel server that mounts
 * DIR with one file, DIR/NAME, and answers every ioctl on it with 1.
 *
 * It is mshv-emu's FUSE front with the emulator taken out: the same mount
 * options, the same multithreaded loop configuration and the same readiness
 * protocol, so bench-client against it measures what the kernel and libfuse
 * cost per round trip and nothing else.  Deliberately it keeps no state: no
 * policy, no per-open session (open replies fh 0), no tracing, and it never
 * looks at the command or its argument.  Not a test double for mshv-emu:
 * it does not model any ABI.
 */
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODE_INO 2

struct null_options {
	const char *mountpoint;
	const char *name;
	int ready_fd;
	int max_threads;
	int cpu; /* -1: unpinned */
};

static const char usage_text[] =
	"usage: bench-null-server --mountpoint DIR [--name NAME] [--ready-fd N] [--threads N]\n"
	"                         [--cpu N]\n"
	"  --name NAME   file served as DIR/NAME (default mshv, mode 0600)\n"
	"  --ready-fd N  write \"ready DIR/NAME\\n\" to fd N once mounted, then close it\n"
	"  --threads N   most libfuse worker threads (default 16, as mshv-emu)\n"
	"  --cpu N       pin the whole process, libfuse's workers included, to CPU N\n"
	"Every ioctl on DIR/NAME returns 1.  SIGTERM and SIGINT unmount and stop.\n";

static void null_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mode = ino == FUSE_ROOT_ID ? S_IFDIR | 0755 : S_IFREG | 0600;
	st->st_nlink = ino == FUSE_ROOT_ID ? 2 : 1;
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct null_options *options = fuse_req_userdata(req);
	if (parent != FUSE_ROOT_ID || strcmp(name, options->name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct fuse_entry_param entry = {
		.ino = NODE_INO, .attr_timeout = 3600, .entry_timeout = 3600};
	null_attr(NODE_INO, &entry.attr);
	fuse_reply_entry(req, &entry);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	if (ino != FUSE_ROOT_ID && ino != NODE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	null_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void null_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != NODE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->fh = 0;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

/* The whole point: a constant answer, no copy in or out. */
static void null_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		       struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		       size_t in_bufsz, size_t out_bufsz)
{
	fuse_reply_ioctl(req, 1, NULL, 0);
}

static const struct fuse_lowlevel_ops null_ops = {
	.lookup = null_lookup,
	.getattr = null_getattr,
	.open = null_open,
	.ioctl = null_ioctl,
};

static int parse_int(const char *text, int min, int max, int *out)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || !*text || *end || value < min || value > max)
		return -1;
	*out = (int)value;
	return 0;
}

/* parse_options - fill OPTIONS; -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct null_options *options)
{
	static const struct option longopts[] = {
		{"mountpoint", required_argument, NULL, 'm'},
		{"name", required_argument, NULL, 'n'},
		{"ready-fd", required_argument, NULL, 'r'},
		{"threads", required_argument, NULL, 't'},
		{"cpu", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*options =
		(struct null_options){.name = "mshv", .ready_fd = -1, .max_threads = 16, .cpu = -1};
	int opt;
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		const char *bad = NULL;
		switch (opt) {
		case 'm':
			options->mountpoint = optarg;
			break;
		case 'n':
			options->name = optarg;
			if (!*optarg || strchr(optarg, '/') || !strcmp(optarg, ".") ||
			    !strcmp(optarg, ".."))
				bad = "--name: expected a file name";
			break;
		case 'r':
			if (parse_int(optarg, 0, 1 << 30, &options->ready_fd))
				bad = "--ready-fd: expected a file descriptor number";
			break;
		case 't':
			if (parse_int(optarg, 1, 100000, &options->max_threads))
				bad = "--threads: expected a positive number";
			break;
		case 'c':
			if (parse_int(optarg, 0, CPU_SETSIZE - 1, &options->cpu))
				bad = "--cpu: expected a CPU number";
			break;
		case 'h':
			printf("%s", usage_text);
			return 0;
		default:
			bad = "unknown or incomplete option";
		}
		if (bad) {
			fprintf(stderr, "bench-null-server: %s\n%s", bad, usage_text);
			return 2;
		}
	}
	if (optind < argc || !options->mountpoint) {
		fprintf(stderr, "bench-null-server: %s\n%s",
			optind < argc ? "unexpected argument" : "--mountpoint is required",
			usage_text);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct null_options options;
	int rc = parse_options(argc, argv, &options);
	if (rc >= 0)
		return rc;
	if (options.ready_fd >= 0 && fcntl(options.ready_fd, F_GETFD) < 0) {
		fprintf(stderr, "bench-null-server: --ready-fd %d: not an open file descriptor\n",
			options.ready_fd);
		return 1;
	}
	/* Before any thread exists: libfuse's workers inherit the mask. */
	if (options.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(options.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0) {
			fprintf(stderr, "bench-null-server: --cpu %d: %s\n", options.cpu,
				strerror(errno));
			return 1;
		}
	}
	if (mkdir(options.mountpoint, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "bench-null-server: mkdir %s: %s\n", options.mountpoint,
			strerror(errno));
		return 1;
	}
	/* As mshv-emu: a shell's background job has SIGINT ignored, and libfuse
	 * only installs its handlers where the disposition is the default. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);

	char arg0[] = "bench-null-server", dash_o[] = "-o";
	char opts_root[] = "fsname=mshv-null,subtype=mshv-null,allow_other,default_permissions";
	char opts_user[] = "fsname=mshv-null,subtype=mshv-null,default_permissions";
	char *fuse_argv[] = {arg0, dash_o, getuid() == 0 ? opts_root : opts_user, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	struct fuse_session *session =
		fuse_session_new(&args, &null_ops, sizeof(null_ops), &options);
	fuse_opt_free_args(&args);
	if (!session) {
		fprintf(stderr, "bench-null-server: could not create a FUSE session\n");
		return 1;
	}
	rc = 1;
	if (fuse_set_signal_handlers(session) != 0) {
		fprintf(stderr, "bench-null-server: could not install signal handlers\n");
		goto out_destroy;
	}
	if (fuse_session_mount(session, options.mountpoint) != 0) {
		fprintf(stderr, "bench-null-server: could not mount on %s\n", options.mountpoint);
		goto out_signals;
	}
	if (options.ready_fd >= 0) {
		dprintf(options.ready_fd, "ready %s/%s\n", options.mountpoint, options.name);
		close(options.ready_fd);
	}
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	if (config) {
		fuse_loop_cfg_set_max_threads(config, options.max_threads);
		int err = fuse_session_loop_mt(session, config);
		fuse_loop_cfg_destroy(config);
		/* The loop returns the signal that stopped it, or a negative errno. */
		if (err < 0)
			fprintf(stderr, "bench-null-server: serve: %s\n", strerror(-err));
		else
			rc = 0;
	} else {
		fprintf(stderr, "bench-null-server: out of memory\n");
	}
	fuse_session_unmount(session);
out_signals:
	fuse_remove_signal_handlers(session);
out_destroy:
	fuse_session_destroy(session);
	return rc;
}
