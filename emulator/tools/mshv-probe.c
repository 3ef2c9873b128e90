// SPDX-License-Identifier: MIT
/*
 * mshv-probe - report what a /dev/mshv answers, the way a VMM would ask.
 *
 * Opens the device (a kernel node, a CUSE node, or a FUSE file served by
 * mshv-emu) and issues exactly the ioctls one ABI profile defines, each
 * version on a fresh fd because a successful REQUEST_VERSION locks its fd.
 * Results are gathered into one model first, then printed as a table or as
 * JSON.  It does not load policies, link the emulator core, or send any
 * ioctl outside the chosen profile: 0x4004B800 is REQUEST_VERSION to the
 * 2020 RFC and CHECK_EXTENSION to the 2021 series and mshv_vtl, so a number
 * sent to the wrong generation means something else.  It depends on
 * <linux/mshv_emu.h> and libc alone.
 *
 * JSON (--json): one object; keys for ioctls the profile does not define
 * are omitted.  ANSWER is either "value":N (the ioctl returned N >= 0) or
 * "errno":N,"errno_name":"ENAME".
 *   {"device":"/dev/mshv","profile":"negotiated",
 *    "request_version":{"cmd":"0x4004b800",
 *      "versions":[{"version":0,"accepted":false,"errno":524,"errno_name":"ENOTSUPP"},
 *                  {"version":1,"accepted":true}],  (+"value":N if it returned N > 0)
 *      "relock":{"version":1,ANSWER} | null (no version accepted)},
 *    "check_extension":{"cmd":"0x4004b801",
 *      "before_version":{ANSWER},  (negotiated only)
 *      "results":[{"version":1,"id":0,"name":"CORE_API_STABLE",ANSWER},
 *                 {"version":null,...} (rfc-2021, vtl: no version)]},
 *    "create_vtl":{"cmd":"0x8001b81d",ANSWER},
 *    "create_partition":{"cmd":"0x4010b800",ANSWER}}
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/mshv_emu.h>

/* A list long enough for any real sweep, short enough that a typo such as
 * 0-0xFFFFFFFF does not turn into four billion ioctls. */
#define PROBE_LIST_MAX 4096

enum probe_profile_id {
#define X(id, name) PROFILE_##id,
	MSHV_EMU_PROFILES(X)
#undef X
	PROFILE_COUNT
};

static const char *const profile_names[PROFILE_COUNT] = {
#define X(id, name) [PROFILE_##id] = name,
	MSHV_EMU_PROFILES(X)
#undef X
};

/* Which ioctls each generation defines (DESIGN.md 2). */
struct probe_profile {
	bool request_version;
	bool check_extension;
	bool check_after_version; /* negotiated: capabilities per locked version */
	bool create_vtl;
	bool create_partition;
	__u32 check_extension_cmd;
};

_Static_assert(PROFILE_COUNT == 6, "a new profile in mshv_emu.h needs a row in probe_profiles");

static const struct probe_profile probe_profiles[PROFILE_COUNT] = {
	[PROFILE_RFC_2020] = {.request_version = true},
	[PROFILE_RFC_2021] = {.check_extension = true, .check_extension_cmd = MSHV_CHECK_EXTENSION},
	[PROFILE_VTL] = {.check_extension = true,
			 .create_vtl = true,
			 .check_extension_cmd = MSHV_CHECK_EXTENSION},
	[PROFILE_ROOT_6_15] = {.create_partition = true},
	[PROFILE_NEGOTIATED] = {.request_version = true,
				.check_extension = true,
				.check_after_version = true,
				.check_extension_cmd = MSHV_NEGOTIATED_CHECK_EXTENSION},
	[PROFILE_NONE] = {0},
};

struct probe_list {
	__u32 *items;
	size_t count;
};

struct probe_options {
	const char *device;
	int profile;
	struct probe_list versions;
	struct probe_list caps;
	__u32 request_version_cmd;
	__u32 check_extension_cmd;
	bool json;
};

/* One ioctl's outcome: a refusal is a result, not a failure of the probe. */
struct probe_answer {
	int value;	/* what the ioctl returned, when err == 0 */
	int err;	/* errno when the ioctl returned -1, else 0 */
	bool fd_closed; /* value was a new fd and the probe closed it */
};

struct probe_report {
	const struct probe_options *opts;
	const struct probe_profile *profile;
	struct probe_answer *version_answers; /* one per opts->versions item */
	__u32 *accepted;		      /* the versions that were accepted */
	size_t accepted_count;
	bool relock_checked; /* false when no version was accepted */
	struct probe_answer relock;
	struct probe_answer before_version;
	size_t column_count;		  /* negotiated: accepted_count, else 1 */
	struct probe_answer *cap_answers; /* [column * caps.count + cap] */
	struct probe_answer create_vtl;
	struct probe_answer create_partition;
	unsigned int opens; /* fds opened so far, for the open hint */
};

/* A mid-probe failure, printed once by main(). */
struct probe_error {
	int err;   /* errno for strerror, or 0 when msg says it all */
	bool hint; /* the very first open failed: the daemon may be absent */
	char msg[256];
};

enum answer_kind {
	ANSWER_VERSION,
	ANSWER_CAP,
	ANSWER_CREATE
};

static const char usage_text[] =
	"usage: mshv-probe [--device PATH] [--profile NAME] [--versions LIST] [--caps LIST]\n"
	"                  [--request-version-cmd N] [--check-extension-cmd N] [--json]\n"
	"       mshv-probe --help\n";

static void usage_print(FILE *out, bool full)
{
	fputs(usage_text, out);
	if (!full)
		return;
	fputs("\nOpens the device and reports what it answers, issuing only the ioctls\n"
	      "the profile defines (each version on a fresh fd).\n"
	      "  --device PATH             device node or FUSE file (default /dev/mshv)\n"
	      "  --profile NAME            default negotiated; one of:",
	      out);
	for (int i = 0; i < PROFILE_COUNT; i++)
		fprintf(out, " %s", profile_names[i]);
	fputs("\n  --versions LIST           versions to request (default 0-3)\n"
	      "  --caps LIST               capability ids to check (default 0-7)\n"
	      "  --request-version-cmd N   REQUEST_VERSION ioctl number (default 0x4004B800)\n"
	      "  --check-extension-cmd N   CHECK_EXTENSION ioctl number (default: the profile's)\n"
	      "  --json                    print one JSON object instead of the table\n"
	      "LIST: comma-separated numbers and ranges, decimal or 0x-hex, e.g. 0-3,0xFFFFFFFE\n"
	      "(at most 4096 entries).  N: decimal or 0x-hex.\n"
	      "Exit status: 0 probed (refusals are results), 1 failure, 2 usage error.\n",
	      out);
}

static const char *errno_name(int err, char *buf, size_t size)
{
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	/* libc does not know the kernel-internal ones, yet the RFC driver's
	 * -ENOTSUPP reaches userspace as errno 524. */
	/* clang-format off */
	switch (err) {
#define X(kname, number) case number: return #kname;
	MSHV_EMU_KERNEL_ERRNOS(X)
#undef X
	}
	/* clang-format on */
	snprintf(buf, size, "E%d", err);
	return buf;
}

static const char *cap_name(__u32 id)
{
	/* clang-format off */
	switch (id) {
#define X(name, value) case value: return #name;
	MSHV_EMU_CAPABILITIES(X)
#undef X
	}
	/* clang-format on */
	return NULL;
}

static void error_set(struct probe_error *error, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void error_set(struct probe_error *error, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error->msg, sizeof(error->msg), fmt, ap);
	va_end(ap);
	error->err = err;
}

/* Parses [start, end) as decimal or 0x-hex; 0 or -1 if not a __u32.
 * Hand-rolled because strtoul takes signs, spaces and octal. */
static int number_parse(const char *start, const char *end, __u32 *out)
{
	unsigned int base = 10;
	uint64_t value = 0;

	if (end - start > 2 && start[0] == '0' && (start[1] == 'x' || start[1] == 'X')) {
		base = 16;
		start += 2;
	}
	if (start == end)
		return -1;
	for (; start < end; start++) {
		char c = *start;
		unsigned int digit;

		if (c >= '0' && c <= '9')
			digit = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			digit = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			digit = c - 'A' + 10;
		else
			return -1;
		value = value * base + digit;
		if (value > UINT32_MAX)
			return -1;
	}
	*out = value;
	return 0;
}

/* Fills list from "a,b-c,..."; on error writes why and returns -1.  The
 * caller owns list->items either way. */
static int list_parse(const char *text, struct probe_list *list, char *why, size_t why_size)
{
	const char *entry = text;

	list->count = 0;
	list->items = calloc(PROBE_LIST_MAX, sizeof(*list->items));
	if (!list->items) {
		snprintf(why, why_size, "%s", strerror(errno));
		return -1;
	}
	for (;;) {
		const char *comma = strchrnul(entry, ',');
		const char *dash = memchr(entry, '-', comma - entry);
		__u32 low, high;

		if (comma == entry) {
			snprintf(why, why_size, "empty entry");
			return -1;
		}
		if (number_parse(entry, dash ? dash : comma, &low) < 0 ||
		    (dash && number_parse(dash + 1, comma, &high) < 0)) {
			snprintf(why, why_size,
				 "entry `%.*s` is not a number or range (decimal or "
				 "0x-hex, at most 0xFFFFFFFF)",
				 (int)(comma - entry), entry);
			return -1;
		}
		if (!dash)
			high = low;
		if (high < low) {
			snprintf(why, why_size, "range `%.*s` runs backwards", (int)(comma - entry),
				 entry);
			return -1;
		}
		if ((uint64_t)high - low + 1 > PROBE_LIST_MAX - list->count) {
			snprintf(why, why_size, "more than %d entries", PROBE_LIST_MAX);
			return -1;
		}
		for (uint64_t n = low; n <= high; n++)
			list->items[list->count++] = n;
		if (!*comma)
			return 0;
		entry = comma + 1;
	}
}

/* Returns 0 to probe, 1 when --help was printed, 2 on a usage error (after
 * saying why on stderr).  opts owns its lists in every case. */
static int options_parse(int argc, char **argv, struct probe_options *opts)
{
	static const struct option long_options[] = {
		{"device", required_argument, NULL, 'd'},
		{"profile", required_argument, NULL, 'p'},
		{"versions", required_argument, NULL, 'v'},
		{"caps", required_argument, NULL, 'c'},
		{"request-version-cmd", required_argument, NULL, 'r'},
		{"check-extension-cmd", required_argument, NULL, 'e'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *versions_text = NULL, *caps_text = NULL;
	const char *rv_text = NULL, *ce_text = NULL;
	const struct probe_profile *profile;
	char why[128];
	int opt;

	*opts = (struct probe_options){.device = "/dev/mshv", .profile = PROFILE_NEGOTIATED};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			opts->device = optarg;
			break;
		case 'v':
			versions_text = optarg;
			break;
		case 'c':
			caps_text = optarg;
			break;
		case 'r':
			rv_text = optarg;
			break;
		case 'e':
			ce_text = optarg;
			break;
		case 'j':
			opts->json = true;
			break;
		case 'h':
			usage_print(stdout, true);
			return 1;
		case 'p':
			for (opts->profile = 0; opts->profile < PROFILE_COUNT; opts->profile++)
				if (!strcmp(optarg, profile_names[opts->profile]))
					break;
			if (opts->profile == PROFILE_COUNT) {
				fprintf(stderr,
					"mshv-probe: --profile: unknown profile `%s` (known:",
					optarg);
				for (int i = 0; i < PROFILE_COUNT; i++)
					fprintf(stderr, " %s", profile_names[i]);
				fputs(")\n", stderr);
				goto usage;
			}
			break;
		case ':':
			fprintf(stderr, "mshv-probe: %s: needs an argument\n", argv[optind - 1]);
			goto usage;
		default:
			fprintf(stderr, "mshv-probe: unknown option `%s`\n", argv[optind - 1]);
			goto usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mshv-probe: unexpected argument `%s`\n", argv[optind]);
		goto usage;
	}
	profile = &probe_profiles[opts->profile];
	/* Scripts loop over profiles with one set of options, so an option for
	 * an ioctl the profile never sends is not an error; but say it is unused. */
	if ((versions_text || rv_text) && !profile->request_version)
		fprintf(stderr,
			"mshv-probe: warning: %s unused: profile %s defines no REQUEST_VERSION\n",
			versions_text ? "--versions" : "--request-version-cmd",
			profile_names[opts->profile]);
	if ((caps_text || ce_text) && !profile->check_extension)
		fprintf(stderr,
			"mshv-probe: warning: %s unused: profile %s defines no CHECK_EXTENSION\n",
			caps_text ? "--caps" : "--check-extension-cmd",
			profile_names[opts->profile]);
	opts->request_version_cmd = MSHV_REQUEST_VERSION;
	if (rv_text &&
	    number_parse(rv_text, rv_text + strlen(rv_text), &opts->request_version_cmd) < 0) {
		fprintf(stderr,
			"mshv-probe: --request-version-cmd: bad number `%s` "
			"(decimal or 0x-hex, at most 0xFFFFFFFF)\n",
			rv_text);
		goto usage;
	}
	opts->check_extension_cmd = profile->check_extension_cmd;
	if (ce_text &&
	    number_parse(ce_text, ce_text + strlen(ce_text), &opts->check_extension_cmd) < 0) {
		fprintf(stderr,
			"mshv-probe: --check-extension-cmd: bad number `%s` "
			"(decimal or 0x-hex, at most 0xFFFFFFFF)\n",
			ce_text);
		goto usage;
	}
	versions_text = versions_text ? versions_text : "0-3";
	if (list_parse(versions_text, &opts->versions, why, sizeof(why)) < 0) {
		fprintf(stderr, "mshv-probe: --versions `%s`: %s\n", versions_text, why);
		goto usage;
	}
	caps_text = caps_text ? caps_text : "0-7";
	if (list_parse(caps_text, &opts->caps, why, sizeof(why)) < 0) {
		fprintf(stderr, "mshv-probe: --caps `%s`: %s\n", caps_text, why);
		goto usage;
	}
	return 0;
usage:
	usage_print(stderr, false);
	return 2;
}

static void probe_ioctl(int fd, __u32 cmd, void *arg, struct probe_answer *answer)
{
	int ret = ioctl(fd, (unsigned long)cmd, arg);

	*answer = (struct probe_answer){.value = ret < 0 ? 0 : ret, .err = ret < 0 ? errno : 0};
}

/* The argument is a pointer to a __u32 for both REQUEST_VERSION and
 * CHECK_EXTENSION (_IOW(0xB8, n, __u32)). */
static void probe_ioctl_u32(int fd, __u32 cmd, __u32 value, struct probe_answer *answer)
{
	probe_ioctl(fd, cmd, &value, answer);
}

static int probe_open(struct probe_report *report, int *fd, struct probe_error *error)
{
	*fd = open(report->opts->device, O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		error->hint = report->opens == 0;
		if (report->opens == 0)
			error_set(error, errno, "open %s", report->opts->device);
		else
			error_set(error, errno, "open %s (open #%u of the probe)",
				  report->opts->device, report->opens + 1);
		return -1;
	}
	report->opens++;
	return 0;
}

static int probe_close(const struct probe_report *report, int fd, struct probe_error *error)
{
	if (close(fd) == 0)
		return 0;
	error_set(error, errno, "close %s", report->opts->device);
	return -1;
}

/* A real kernel answers CREATE_VTL and CREATE_PARTITION with a new fd; the
 * emulator (CUSE and FUSE cannot pass fds) with a plain value.  Close it only
 * if it is an open fd that is not one the probe already held. */
static int created_fd_release(int device_fd, struct probe_answer *answer, struct probe_error *error)
{
	if (answer->err || answer->value <= STDERR_FILENO || answer->value == device_fd ||
	    fcntl(answer->value, F_GETFD) < 0)
		return 0;
	if (close(answer->value) < 0) {
		error_set(error, errno, "close the fd the device returned (%d)", answer->value);
		return -1;
	}
	answer->fd_closed = true;
	return 0;
}

/* A fresh fd locked to version; the device accepted it before, so a refusal
 * now means it is not answering consistently, which the model cannot hold. */
static int version_lock(struct probe_report *report, __u32 version, int *fd,
			struct probe_error *error)
{
	struct probe_answer answer;
	char name[16];

	if (probe_open(report, fd, error) < 0)
		return -1;
	probe_ioctl_u32(*fd, report->opts->request_version_cmd, version, &answer);
	if (!answer.err)
		return 0;
	error_set(error, 0,
		  "REQUEST_VERSION(%u) on a fresh fd: %s (%d), though an earlier fd accepted it",
		  version, errno_name(answer.err, name, sizeof(name)), answer.err);
	close(*fd); /* already failing: the refusal is the error reported */
	return -1;
}

static int versions_probe(struct probe_report *report, struct probe_error *error)
{
	const struct probe_list *versions = &report->opts->versions;

	for (size_t i = 0; i < versions->count; i++) {
		int fd;

		if (probe_open(report, &fd, error) < 0)
			return -1;
		probe_ioctl_u32(fd, report->opts->request_version_cmd, versions->items[i],
				&report->version_answers[i]);
		if (probe_close(report, fd, error) < 0)
			return -1;
		if (!report->version_answers[i].err)
			report->accepted[report->accepted_count++] = versions->items[i];
	}
	return 0;
}

/* RFC 2020: a second REQUEST_VERSION on a locked fd is -EBADFD. */
static int relock_probe(struct probe_report *report, struct probe_error *error)
{
	int fd;

	if (!report->accepted_count)
		return 0;
	if (version_lock(report, report->accepted[0], &fd, error) < 0)
		return -1;
	probe_ioctl_u32(fd, report->opts->request_version_cmd, report->accepted[0],
			&report->relock);
	report->relock_checked = true;
	return probe_close(report, fd, error);
}

/* Negotiated: any ioctl before a version is -EBADFD, as in the RFC driver. */
static int before_version_probe(struct probe_report *report, struct probe_error *error)
{
	int fd;

	if (probe_open(report, &fd, error) < 0)
		return -1;
	probe_ioctl_u32(fd, report->opts->check_extension_cmd, report->opts->caps.items[0],
			&report->before_version);
	return probe_close(report, fd, error);
}

static void caps_check(const struct probe_report *report, int fd, struct probe_answer *column)
{
	const struct probe_list *caps = &report->opts->caps;

	for (size_t i = 0; i < caps->count; i++)
		probe_ioctl_u32(fd, report->opts->check_extension_cmd, caps->items[i], &column[i]);
}

static int caps_probe_versioned(struct probe_report *report, struct probe_error *error)
{
	for (size_t column = 0; column < report->column_count; column++) {
		int fd;

		if (version_lock(report, report->accepted[column], &fd, error) < 0)
			return -1;
		caps_check(report, fd, &report->cap_answers[column * report->opts->caps.count]);
		if (probe_close(report, fd, error) < 0)
			return -1;
	}
	return 0;
}

/* rfc-2021, vtl, root-6.15 and none: one fd, no ordering rule, no version. */
static int unversioned_probe(struct probe_report *report, struct probe_error *error)
{
	int fd, ret = 0;

	if (probe_open(report, &fd, error) < 0)
		return -1;
	if (report->profile->check_extension)
		caps_check(report, fd, report->cap_answers);
	if (report->profile->create_vtl) {
		char vtl = 0;

		probe_ioctl(fd, MSHV_CREATE_VTL, &vtl, &report->create_vtl);
		ret = created_fd_release(fd, &report->create_vtl, error);
	} else if (report->profile->create_partition) {
		struct mshv_create_partition args = {0};

		probe_ioctl(fd, MSHV_CREATE_PARTITION, &args, &report->create_partition);
		ret = created_fd_release(fd, &report->create_partition, error);
	}
	if (ret < 0) {
		close(fd); /* already failing: the first error is the one reported */
		return -1;
	}
	return probe_close(report, fd, error);
}

static int report_run(struct probe_report *report, struct probe_error *error)
{
	const struct probe_options *opts = report->opts;
	const struct probe_profile *profile = report->profile;

	report->version_answers = calloc(opts->versions.count, sizeof(*report->version_answers));
	report->accepted = calloc(opts->versions.count, sizeof(*report->accepted));
	if (!report->version_answers || !report->accepted)
		goto nomem;
	/* rfc-2021 and vtl check capabilities on one unversioned fd: one column. */
	if (profile->check_extension && !profile->check_after_version) {
		report->column_count = 1;
		report->cap_answers = calloc(opts->caps.count, sizeof(*report->cap_answers));
		if (!report->cap_answers)
			goto nomem;
	}
	if (!profile->request_version)
		return unversioned_probe(report, error);
	if (versions_probe(report, error) < 0 || relock_probe(report, error) < 0)
		return -1;
	if (!profile->check_after_version)
		return 0;
	if (before_version_probe(report, error) < 0)
		return -1;
	report->column_count = report->accepted_count;
	if (!report->column_count)
		return 0;
	report->cap_answers =
		calloc(report->column_count * opts->caps.count, sizeof(*report->cap_answers));
	if (!report->cap_answers)
		goto nomem;
	return caps_probe_versioned(report, error);
nomem:
	error_set(error, errno, "allocate the report");
	return -1;
}

static const char *number_format(__u32 number, char *buf, size_t size)
{
	/* Versions and ids near the top of the range read better in hex. */
	snprintf(buf, size, number < 0x10000 ? "%u" : "0x%X", number);
	return buf;
}

static const char *answer_format(const struct probe_answer *answer, enum answer_kind kind,
				 char *buf, size_t size)
{
	char name[16];

	if (answer->err)
		snprintf(buf, size, "%s (%d)", errno_name(answer->err, name, sizeof(name)),
			 answer->err);
	else if (kind == ANSWER_VERSION && answer->value == 0)
		snprintf(buf, size, "accepted");
	else if (kind == ANSWER_VERSION)
		snprintf(buf, size, "accepted (returned %d)", answer->value);
	else if (kind == ANSWER_CAP && answer->value == 0)
		snprintf(buf, size, "0 (known, unsupported)");
	else if (kind == ANSWER_CAP)
		snprintf(buf, size, "%d (supported)", answer->value);
	else
		snprintf(buf, size, "%d%s", answer->value,
			 answer->fd_closed ? " (new fd, closed)" : "");
	return buf;
}

static void width_fit(int *width, const char *text)
{
	int len = strlen(text);

	*width = len > *width ? len : *width;
}

static void versions_print_human(FILE *out, const struct probe_report *report)
{
	const struct probe_list *versions = &report->opts->versions;
	char number[16], answer[64];
	int width = strlen("version");

	for (size_t i = 0; i < versions->count; i++)
		width_fit(&width, number_format(versions->items[i], number, sizeof(number)));
	fprintf(out, "REQUEST_VERSION 0x%08X (fresh fd per version)\n",
		report->opts->request_version_cmd);
	fprintf(out, "  %-*s  answer\n", width, "version");
	for (size_t i = 0; i < versions->count; i++)
		fprintf(out, "  %-*s  %s\n", width,
			number_format(versions->items[i], number, sizeof(number)),
			answer_format(&report->version_answers[i], ANSWER_VERSION, answer,
				      sizeof(answer)));
	if (report->relock_checked)
		fprintf(out, "  second request on a versioned fd (version %s): %s\n",
			number_format(report->accepted[0], number, sizeof(number)),
			answer_format(&report->relock, ANSWER_VERSION, answer, sizeof(answer)));
	else
		fprintf(out,
			"  second request on a versioned fd: not checked (no version accepted)\n");
}

/* The last cell is not padded, so lines carry no trailing blanks. */
static void cell_print(FILE *out, const char *text, int width, bool last)
{
	if (last)
		fprintf(out, "  %s\n", text);
	else
		fprintf(out, "  %-*s", width, text);
}

/* Negotiated: one column per accepted version; rfc-2021, vtl: one answer. */
static const char *column_header(const struct probe_report *report, size_t column, char *buf,
				 size_t size)
{
	char number[16];

	if (!report->profile->check_after_version)
		return "answer";
	snprintf(buf, size, "version %s",
		 number_format(report->accepted[column], number, sizeof(number)));
	return buf;
}

static void caps_print_human(FILE *out, const struct probe_report *report)
{
	const struct probe_list *caps = &report->opts->caps;
	bool versioned = report->profile->check_after_version;
	char number[16], cell[64];
	int id_width = strlen("id"), name_width = strlen("name"), cell_width = 0;

	fprintf(out, "CHECK_EXTENSION 0x%08X%s\n", report->opts->check_extension_cmd,
		versioned ? "" : " (one fd, no version)");
	if (versioned) {
		fprintf(out, "  before REQUEST_VERSION: %s\n",
			answer_format(&report->before_version, ANSWER_CAP, cell, sizeof(cell)));
		if (!report->column_count) {
			fprintf(out,
				"  after REQUEST_VERSION: not checked (no version accepted)\n");
			return;
		}
	}
	/* One width for every answer column keeps the table aligned without
	 * a width per column. */
	for (size_t column = 0; column < report->column_count; column++) {
		width_fit(&cell_width, column_header(report, column, cell, sizeof(cell)));
		for (size_t i = 0; i < caps->count; i++)
			width_fit(&cell_width,
				  answer_format(&report->cap_answers[column * caps->count + i],
						ANSWER_CAP, cell, sizeof(cell)));
	}
	for (size_t i = 0; i < caps->count; i++) {
		const char *name = cap_name(caps->items[i]);

		width_fit(&id_width, number_format(caps->items[i], number, sizeof(number)));
		width_fit(&name_width, name ? name : "-");
	}
	fprintf(out, "  %-*s  %-*s", id_width, "id", name_width, "name");
	for (size_t column = 0; column < report->column_count; column++)
		cell_print(out, column_header(report, column, cell, sizeof(cell)), cell_width,
			   column + 1 == report->column_count);
	for (size_t i = 0; i < caps->count; i++) {
		const char *name = cap_name(caps->items[i]);

		fprintf(out, "  %-*s  %-*s", id_width,
			number_format(caps->items[i], number, sizeof(number)), name_width,
			name ? name : "-");
		for (size_t column = 0; column < report->column_count; column++)
			cell_print(out,
				   answer_format(&report->cap_answers[column * caps->count + i],
						 ANSWER_CAP, cell, sizeof(cell)),
				   cell_width, column + 1 == report->column_count);
	}
}

static void report_print_human(FILE *out, const struct probe_report *report)
{
	const struct probe_profile *profile = report->profile;
	char cell[64];

	fprintf(out, "mshv-probe: %s, profile %s\n", report->opts->device,
		profile_names[report->opts->profile]);
	if (profile->request_version)
		versions_print_human(out, report);
	if (profile->check_extension)
		caps_print_human(out, report);
	if (profile->create_vtl)
		fprintf(out, "CREATE_VTL 0x%08X: %s\n", (__u32)MSHV_CREATE_VTL,
			answer_format(&report->create_vtl, ANSWER_CREATE, cell, sizeof(cell)));
	if (profile->create_partition)
		fprintf(out, "CREATE_PARTITION 0x%08X (zeroed arguments): %s\n",
			(__u32)MSHV_CREATE_PARTITION,
			answer_format(&report->create_partition, ANSWER_CREATE, cell,
				      sizeof(cell)));
	if (!profile->request_version && !profile->check_extension && !profile->create_vtl &&
	    !profile->create_partition)
		fprintf(out, "no negotiation ioctls: opened and closed only\n");
}

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static size_t utf8_length(const unsigned char *s)
{
	size_t len = s[0] >= 0xF5 ? 0 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
	uint32_t code = len ? s[0] & (0x7F >> len) : 0;

	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		code = code << 6 | (s[i] & 0x3F);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((len == 3 && code < 0x800) || (len == 4 && (code < 0x10000 || code > 0x10FFFF)) ||
	    (code >= 0xD800 && code <= 0xDFFF))
		return 0;
	return len;
}

/* A device path is any byte string; JSON wants valid UTF-8. */
static void json_string(FILE *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;

	fputc('"', out);
	while (*s) {
		size_t len = *s >= 0x80 ? utf8_length(s) : 1;

		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if (*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else if (len)
			fwrite(s, 1, len, out);
		else
			fputs("\\ufffd", out);
		s += len ? len : 1;
	}
	fputc('"', out);
}

static void json_answer(FILE *out, const struct probe_answer *answer)
{
	char name[16];

	if (!answer->err) {
		fprintf(out, "\"value\":%d", answer->value);
		return;
	}
	fprintf(out, "\"errno\":%d,\"errno_name\":", answer->err);
	json_string(out, errno_name(answer->err, name, sizeof(name)));
}

static void versions_print_json(FILE *out, const struct probe_report *report)
{
	const struct probe_list *versions = &report->opts->versions;

	fprintf(out, ",\"request_version\":{\"cmd\":\"0x%08x\",\"versions\":[",
		report->opts->request_version_cmd);
	for (size_t i = 0; i < versions->count; i++) {
		const struct probe_answer *answer = &report->version_answers[i];

		fprintf(out, "%s{\"version\":%u,\"accepted\":%s", i ? "," : "", versions->items[i],
			answer->err ? "false" : "true");
		if (answer->err || answer->value) {
			fputc(',', out);
			json_answer(out, answer);
		}
		fputc('}', out);
	}
	fputs("],\"relock\":", out);
	if (report->relock_checked) {
		fprintf(out, "{\"version\":%u,", report->accepted[0]);
		json_answer(out, &report->relock);
		fputc('}', out);
	} else {
		fputs("null", out);
	}
	fputc('}', out);
}

static void caps_print_json(FILE *out, const struct probe_report *report)
{
	const struct probe_list *caps = &report->opts->caps;
	bool versioned = report->profile->check_after_version;
	const char *separator = "";

	fprintf(out, ",\"check_extension\":{\"cmd\":\"0x%08x\",",
		report->opts->check_extension_cmd);
	if (versioned) {
		fputs("\"before_version\":{", out);
		json_answer(out, &report->before_version);
		fputs("},", out);
	}
	fputs("\"results\":[", out);
	for (size_t column = 0; column < report->column_count; column++) {
		for (size_t i = 0; i < caps->count; i++) {
			const char *name = cap_name(caps->items[i]);

			fprintf(out, "%s{\"version\":", separator);
			if (versioned)
				fprintf(out, "%u", report->accepted[column]);
			else
				fputs("null", out);
			fprintf(out, ",\"id\":%u,\"name\":", caps->items[i]);
			if (name)
				json_string(out, name);
			else
				fputs("null", out);
			fputc(',', out);
			json_answer(out, &report->cap_answers[column * caps->count + i]);
			fputc('}', out);
			separator = ",";
		}
	}
	fputs("]}", out);
}

static void report_print_json(FILE *out, const struct probe_report *report)
{
	const struct probe_profile *profile = report->profile;

	fputs("{\"device\":", out);
	json_string(out, report->opts->device);
	fputs(",\"profile\":", out);
	json_string(out, profile_names[report->opts->profile]);
	if (profile->request_version)
		versions_print_json(out, report);
	if (profile->check_extension)
		caps_print_json(out, report);
	if (profile->create_vtl) {
		fprintf(out, ",\"create_vtl\":{\"cmd\":\"0x%08x\",", (__u32)MSHV_CREATE_VTL);
		json_answer(out, &report->create_vtl);
		fputc('}', out);
	}
	if (profile->create_partition) {
		fprintf(out, ",\"create_partition\":{\"cmd\":\"0x%08x\",",
			(__u32)MSHV_CREATE_PARTITION);
		json_answer(out, &report->create_partition);
		fputc('}', out);
	}
	fputs("}\n", out);
}

static void report_free(struct probe_report *report)
{
	free(report->version_answers);
	free(report->accepted);
	free(report->cap_answers);
}

int main(int argc, char **argv)
{
	struct probe_options opts;
	struct probe_report report = {.opts = &opts};
	struct probe_error error = {0};
	int status = options_parse(argc, argv, &opts);

	if (status) {
		status = status == 1 ? 0 : 2; /* --help, or a usage error */
		goto out;
	}
	report.profile = &probe_profiles[opts.profile];
	if (report_run(&report, &error) < 0) {
		fprintf(stderr, "mshv-probe: %s%s%s\n", error.msg, error.err ? ": " : "",
			error.err ? strerror(error.err) : "");
		if (error.hint)
			fprintf(stderr, "mshv-probe: is mshv-emu running? "
					"for the FUSE front, pass --device DIR/NAME\n");
		status = 1;
		goto out;
	}
	if (opts.json)
		report_print_json(stdout, &report);
	else
		report_print_human(stdout, &report);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "mshv-probe: write stdout: %s\n", strerror(errno));
		status = 1;
	}
out:
	report_free(&report);
	free(opts.versions.items);
	free(opts.caps.items);
	return status;
}
