// SPDX-License-Identifier: MIT
/*
 * mshv-probe - report what a /dev/mshv answers, the way a VMM would ask.
 *
 * Opens the device (a kernel node, a CUSE node, or a FUSE file served by
 * mshv-emu) and issues exactly the ioctls one ABI profile defines, each
 * version on a fresh fd because a successful REQUEST_VERSION locks its fd.
 * Results are gathered into one model first, then printed as a table or as
 * JSON.  It does not link the emulator core or a YAML library, or send any
 * ioctl outside the chosen profile: 0x4004B800 is REQUEST_VERSION to the
 * 2020 RFC and CHECK_EXTENSION to the 2021 series and mshv_vtl, so a number
 * sent to the wrong generation means something else.  (The root profiles
 * share one device-fd numbering, so each tries all of MSHV_CREATE_PARTITION,
 * MSHV_ROOT_HVCALL and MSHV_GET_HOST_PARTITION_PROPERTY.)  It depends on
 * <mshv-emu/mshv_emu.h> and libc alone.
 *
 * JSON (--json): one object; keys for ioctls the profile does not define
 * are omitted.  ANSWER is either "value":N (the ioctl returned N >= 0) or
 * "errno":N,"errno_name":"ENAME".  "cmd" is the number sent: the profile's,
 * or what --request-version-cmd, --check-extension-cmd or the --expect
 * policy's `numbers:` moved it to.
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
 *    "create_partition":{"cmd":"0x4010b800",ANSWER},  (zeroed arguments; rfc-2021:
 *      0x4028b801; rfc-2020: 0x4020b801 with "before_version":{ANSWER} and
 *      "version":N, the version of the fd ANSWER came on, or "version":null
 *      and no ANSWER when no version was accepted)
 *    root-6.15, root-6.19, microsoft:
 *    "device_ioctls":{"root_hvcall":{"cmd":"0xc020b807","present":BOOL,ANSWER},
 *      "get_host_partition_property":{"cmd":"0xc010b801","present":BOOL,
 *        "property":"PROCESSOR_FEATURES0",ANSWER(,"property_value":"0x..." on success)}},
 *    "create_partition_flags":[{"bit":0,"name":"LAPIC","flags":"0x1","accepted":BOOL,
 *      "fd":BOOL,ANSWER},...],
 *    root-6.19, microsoft (ROOT_HVCALL on the device fd):
 *    "properties":[{"code":"0x0006000a","name":"PROCESSOR_FEATURES0",
 *      "hvcall":"GET_PARTITION_PROPERTY",PROPERTY},...]}
 * PROPERTY is "value":"0x..." | "banks":["0x..."] (+"vmm_caps":["name"|"bitN"]
 * for VMM_CAPABILITIES) | "status":N,"status_name":"NAME"|null,"errno":N,
 * "errno_name":"ENAME" (the hypercall failed) | "status":0,"errno":N,
 * "errno_name":"ENAME" (the driver refused before the hypercall) |
 * "bank_count":N,"malformed":true.  64-bit values are hex strings.
 * A failure is {"error":"MESSAGE"} instead (exit 1; 2 for a usage error):
 * the device cannot be opened, or no mshv device answers at PATH (every
 * ioctl the profile sent got ENOTTY).
 *
 * --emit-policy FILE writes what the device answered as a policy mshv-emu
 * can serve, for any profile.  --expect POLICY reads any policy (through
 * probe_yaml.c, a YAML subset reader of its own), widens the probe to every
 * version, capability and property the policy names, and prints each
 * difference between the device and the policy; what a probe cannot see
 * (fault rules, the node's name, partition and VP fds) it says, on stderr,
 * that it does not compare.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
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
#include <time.h>
#include <unistd.h>

#include <mshv-emu/mshv_emu.h>

#include "cli.h"
#include "probe_yaml.h"

/* The command line (cli.h): usage errors and, under --json, errors as JSON. */
static struct cli cli;

/* Calls sent, and those the device answered other than ENOTTY (no such
 * ioctl): when it answered none, nothing answers as an mshv device would. */
static unsigned long sent_calls, answered_calls;

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

/* The built-ins the probe sends, by their keys under a policy's `numbers:`. */
enum probe_op {
	OP_REQUEST_VERSION,
	OP_CHECK_EXTENSION,
	OP_CREATE_VTL,
	OP_CREATE_PARTITION,
	OP_GET_HOST_PARTITION_PROPERTY,
	OP_ROOT_HVCALL,
	OP_COUNT
};

static const char *const op_keys[OP_COUNT] = {
	[OP_REQUEST_VERSION] = "request_version",
	[OP_CHECK_EXTENSION] = "check_extension",
	[OP_CREATE_VTL] = "create_vtl",
	[OP_CREATE_PARTITION] = "create_partition",
	[OP_GET_HOST_PARTITION_PROPERTY] = "get_host_partition_property",
	[OP_ROOT_HVCALL] = "root_hvcall",
};

/* Which ioctls each generation defines (docs/abi.md), and the root
 * driver's CREATE_PARTITION flag mask (emulator/core/profile.c). */
struct probe_profile {
	bool request_version;
	bool check_extension;
	bool check_after_version; /* negotiated: capabilities per locked version */
	bool create_vtl;
	bool create_partition;
	bool root;	    /* root driver: device ioctls, CREATE_PARTITION flags, policies */
	bool properties;    /* ROOT_HVCALL on the device fd: host property calls */
	bool host_property; /* MSHV_GET_HOST_PARTITION_PROPERTY */
	__u32 check_extension_cmd;
	__u32 create_partition_cmd;
	__u64 flags_mask; /* root: the pt_flags CREATE_PARTITION accepts */
};

_Static_assert(PROFILE_COUNT == 8, "a new profile in mshv_emu.h needs a row in probe_profiles");

static const struct probe_profile probe_profiles[PROFILE_COUNT] = {
	[PROFILE_RFC_2020] = {.request_version = true,
			      .create_partition = true,
			      .create_partition_cmd = MSHV_CREATE_PARTITION_2020},
	[PROFILE_RFC_2021] = {.check_extension = true,
			      .create_partition = true,
			      .check_extension_cmd = MSHV_CHECK_EXTENSION,
			      .create_partition_cmd = MSHV_CREATE_PARTITION_2021},
	[PROFILE_VTL] = {.check_extension = true,
			 .create_vtl = true,
			 .check_extension_cmd = MSHV_CHECK_EXTENSION},
	[PROFILE_ROOT_6_15] = {.create_partition = true,
			       .root = true,
			       .create_partition_cmd = MSHV_CREATE_PARTITION,
			       .flags_mask = MSHV_EMU_PT_FLAGS_MASK_6_15},
	[PROFILE_ROOT_6_19] = {.create_partition = true,
			       .root = true,
			       .properties = true,
			       .create_partition_cmd = MSHV_CREATE_PARTITION,
			       .flags_mask = 0xF},
	[PROFILE_MICROSOFT] = {.create_partition = true,
			       .root = true,
			       .properties = true,
			       .host_property = true,
			       .create_partition_cmd = MSHV_CREATE_PARTITION,
			       .flags_mask = 0x3F},
	[PROFILE_NEGOTIATED] = {.request_version = true,
				.check_extension = true,
				.check_after_version = true,
				.check_extension_cmd = MSHV_NEGOTIATED_CHECK_EXTENSION},
	[PROFILE_NONE] = {0},
};

/* Does PROFILE define OP? */
static bool profile_has(const struct probe_profile *profile, enum probe_op op)
{
	switch (op) {
	case OP_REQUEST_VERSION:
		return profile->request_version;
	case OP_CHECK_EXTENSION:
		return profile->check_extension;
	case OP_CREATE_VTL:
		return profile->create_vtl;
	case OP_CREATE_PARTITION:
		return profile->create_partition;
	case OP_GET_HOST_PARTITION_PROPERTY:
		return profile->host_property;
	case OP_ROOT_HVCALL:
		return profile->properties;
	case OP_COUNT:
		break;
	}
	return false;
}

/* The number the probe sends OP as, unless moved.  The root profiles try
 * both device ioctls beyond CREATE_PARTITION, defined or not. */
static __u32 op_default_cmd(const struct probe_profile *profile, enum probe_op op)
{
	switch (op) {
	case OP_REQUEST_VERSION:
		return MSHV_REQUEST_VERSION;
	case OP_CHECK_EXTENSION:
		return profile->check_extension_cmd;
	case OP_CREATE_VTL:
		return MSHV_CREATE_VTL;
	case OP_CREATE_PARTITION:
		return profile->create_partition_cmd;
	case OP_GET_HOST_PARTITION_PROPERTY:
		return MSHV_GET_HOST_PARTITION_PROPERTY;
	case OP_ROOT_HVCALL:
		return MSHV_ROOT_HVCALL;
	case OP_COUNT:
		break;
	}
	return 0;
}

/* Refusals a policy may re-map (`errors:`), with the default every profile
 * has (emulator/core/profile.c) and the built-in without which the refusal
 * cannot happen (OP_COUNT: any profile). */
enum refusal {
	REFUSAL_UNVERSIONED,
	REFUSAL_VERSION_LOCKED,
	REFUSAL_UNSUPPORTED_VERSION,
	REFUSAL_UNKNOWN_CAPABILITY,
	REFUSAL_UNKNOWN_IOCTL,
	REFUSAL_COUNT
};

static const struct {
	const char *key;
	int errno_default;
	enum probe_op needs;
} refusals[REFUSAL_COUNT] = {
	[REFUSAL_UNVERSIONED] = {"unversioned", EBADFD, OP_REQUEST_VERSION},
	[REFUSAL_VERSION_LOCKED] = {"version_locked", EBADFD, OP_REQUEST_VERSION},
	[REFUSAL_UNSUPPORTED_VERSION] = {"unsupported_version", MSHV_ENOTSUPP, OP_REQUEST_VERSION},
	[REFUSAL_UNKNOWN_CAPABILITY] = {"unknown_capability", EOPNOTSUPP, OP_CHECK_EXTENSION},
	[REFUSAL_UNKNOWN_IOCTL] = {"unknown_ioctl", ENOTTY, OP_COUNT},
};

/* CREATE_PARTITION flag bits the probe sets one at a time. */
#define PROBE_PT_BITS 6

static const char *const pt_bit_names[PROBE_PT_BITS] = {
	[MSHV_PT_BIT_LAPIC] = "LAPIC",
	[MSHV_PT_BIT_X2APIC] = "X2APIC",
	[MSHV_PT_BIT_GPA_SUPER_PAGES] = "GPA_SUPER_PAGES",
	[MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES] = "CPU_AND_XSAVE_FEATURES",
	[MSHV_EMU_PT_BIT_NESTED_VIRTUALIZATION] = "NESTED_VIRTUALIZATION",
	[MSHV_EMU_PT_BIT_SMT_ENABLED_GUEST] = "SMT_ENABLED_GUEST",
};

#define PROBE_PT_MASK ((1ULL << PROBE_PT_BITS) - 1)

_Static_assert(sizeof(struct mshv_root_hvcall) == 32, "MSHV_ROOT_HVCALL encodes 32 bytes");
_Static_assert(sizeof(struct mshv_emu_create_partition_v2) == 64, "the v2 argument is 64 bytes");
_Static_assert(sizeof(struct mshv_emu_hv_get_property_in) == 16, "GET_PARTITION_PROPERTY in");
_Static_assert(sizeof(struct mshv_emu_hv_get_property_ex_in) == 24, "GET_PARTITION_PROPERTY_EX in");

/* A partition property and how it is read. */
struct hv_property {
	__u32 code;
	const char *name; /* NULL for a code only a policy named */
	bool banked;	  /* GET_PARTITION_PROPERTY_EX, {bank_count; banks[]} out */
};

#define PROPERTY_BANKED(code)                               \
	((code) == MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES || \
	 (code) == MSHV_EMU_HV_PROPERTY_ASSIGNABLE_SYNTHETIC_PROC_FEATURES)

static const struct hv_property known_properties[] = {
#define X(pname, pcode) {.code = pcode, .name = #pname, .banked = PROPERTY_BANKED(pcode)},
	MSHV_EMU_HV_PROPERTIES(X)
#undef X
};

#define KNOWN_PROPERTY_COUNT (sizeof(known_properties) / sizeof(known_properties[0]))

/* What one property call came to, most specific first. */
enum property_outcome {
	OUTCOME_STATUS,	   /* the hypercall failed: status written back */
	OUTCOME_ERRNO,	   /* the driver refused before the hypercall (status 0) */
	OUTCOME_MALFORMED, /* bank_count larger than the buffer holds */
	OUTCOME_VALUE,
	OUTCOME_BANKS
};

struct property_answer {
	struct hv_property property;
	int err;	   /* errno when the ioctl failed, else 0 */
	__u16 status;	   /* what the driver wrote back into the header */
	__u64 value;	   /* unbanked */
	size_t bank_count; /* banked: as the device wrote it */
	__u64 *banks;	   /* banked: the first min(bank_count, MSHV_EMU_HV_MAX_BANKS) */
};

/* ---- A policy, as --expect compares a device with it ---- */

enum expect_kind {
	EXPECT_VALUE,
	EXPECT_BANKS,
	EXPECT_STATUS
};

/* One entry of hypervisor.properties, or what hypervisor.vmm_capabilities
 * makes of VMM_CAPABILITIES. */
struct expect_property {
	struct hv_property property; /* name NULL when the policy gave a code */
	enum expect_kind kind;
	__u64 value; /* EXPECT_VALUE: the value; EXPECT_STATUS: the status */
	__u64 *banks;
	size_t bank_count;
	bool from_vmm_caps; /* hypervisor.vmm_capabilities */
};

struct expect_cap {
	__u32 id;
	int value;
	char *name;
	__u32 *versions; /* NULL: visible under every version */
	size_t version_count;
};

struct expect_policy {
	int profile; /* its `profile:`, else negotiated, as mshv-emu reads it */
	__u32 *versions;
	size_t version_count;
	struct expect_cap *caps;
	size_t cap_count;
	int refusal[REFUSAL_COUNT]; /* its `errors:` over the defaults */
	__u32 numbers[OP_COUNT];    /* its `numbers:`; 0: the profile's */
	bool create_partition;	    /* the key is present */
	int create_errno;
	bool create_vtl; /* the key is present */
	int create_vtl_errno;
	struct expect_property *properties; /* compared: ROOT_HVCALL on the device */
	size_t property_count;
	__u64 flags_mask; /* driver.flags_mask, else the profile's; 0: no root driver */
};

struct probe_list {
	__u32 *items;
	size_t count;
};

struct probe_options {
	const char *device;
	int profile;
	bool profile_given;
	struct probe_list versions;
	struct probe_list caps;
	__u32 cmd[OP_COUNT]; /* the numbers the built-ins are sent as */
	bool json;
	const char *emit_path;
	const char *expect_path;
	struct expect_policy expect;
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
	/* Negotiated: CHECK_EXTENSION before a version; rfc-2020: CREATE_PARTITION. */
	bool before_version_checked;
	struct probe_answer before_version;
	size_t column_count;		  /* negotiated: accepted_count, else 1 */
	struct probe_answer *cap_answers; /* [column * caps.count + cap] */
	struct probe_answer create_vtl;
	/* rfc-2020: on an fd locked to create_partition_version, if any was
	 * accepted; the others: on the first fd. */
	bool create_partition_checked;
	__u32 create_partition_version;
	struct probe_answer create_partition;
	/* Root profiles. */
	struct probe_answer root_hvcall;   /* zeroed header */
	struct probe_answer host_property; /* GET_HOST_PARTITION_PROPERTY */
	__u64 host_property_value;
	struct probe_answer create_flags[PROBE_PT_BITS];
	struct property_answer *properties; /* known ones, then the policy's extra codes */
	size_t property_count;
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
	"                  [--emit-policy FILE] [--expect POLICY]\n"
	"       mshv-probe --help | --version\n";

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
	      "  --emit-policy FILE        also write what the device answered as a policy\n"
	      "                            mshv-emu can serve (any profile)\n"
	      "  -h, --help                this help\n"
	      "  --version                 the version\n"
	      "  --expect POLICY           compare the device to POLICY (any policy mshv-emu\n"
	      "                            reads): print each difference on a line, exit 1 if\n"
	      "                            any; probe every version, capability id and\n"
	      "                            property code it names too, and use its `numbers:`\n"
	      "                            unless the options above set them; say on stderr\n"
	      "                            what a probe cannot compare (faults, device, ...);\n"
	      "                            without --profile, the policy's profile is probed\n"
	      "LIST: comma-separated numbers and ranges, decimal or 0x-hex, e.g. 0-3,0xFFFFFFFE\n"
	      "(at most 4096 entries; a repeat is probed once).  N: decimal or 0x-hex.\n"
	      "rfc-2020 and rfc-2021 also send their generation's CREATE_PARTITION with zeroed\n"
	      "arguments (rfc-2020: before a version and on a versioned fd).\n"
	      "Root profiles (root-6.15, root-6.19, microsoft) also try MSHV_ROOT_HVCALL and\n"
	      "MSHV_GET_HOST_PARTITION_PROPERTY on the device fd, and CREATE_PARTITION with\n"
	      "each flag bit 0-5 alone, on a fresh fd each; root-6.19 and microsoft read\n"
	      "every known host partition property through MSHV_ROOT_HVCALL.\n"
	      "Options go anywhere, as --opt VALUE or --opt=VALUE, by their whole name.\n"
	      "Exit status: 0 probed (refusals are results; with --expect: no difference),\n"
	      "1 failure (with --expect: a difference, or a policy it cannot read; and when\n"
	      "no mshv device answers at PATH: every ioctl got ENOTTY), 2 usage error.\n"
	      "With --json, a failure is one object on stdout too: {\"error\": \"...\"}.\n",
	      out);
}

/* The name mshv-emu's policy loader also reads, or NULL. */
static const char *errno_known_name(int err)
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
	return NULL;
}

static const char *errno_name(int err, char *buf, size_t size)
{
	const char *name = errno_known_name(err);

	if (name)
		return name;
	snprintf(buf, size, "E%d", err);
	return buf;
}

static const char *status_name(__u16 status)
{
	/* clang-format off */
	switch (status) {
#define X(name, code) case code: return #name;
	MSHV_EMU_HV_STATUSES(X)
#undef X
	}
	/* clang-format on */
	return NULL;
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

/* Parses [start, end) as decimal or 0x-hex; 0 or -1 if not at most max.
 * Hand-rolled because strtoul takes signs, spaces and octal. */
static int number_parse_max(const char *start, const char *end, uint64_t max, uint64_t *out)
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
		if (value > (max - digit) / base)
			return -1;
		value = value * base + digit;
	}
	*out = value;
	return 0;
}

/* A whole NUL-terminated scalar. */
static int scalar_parse(const char *text, uint64_t max, uint64_t *out)
{
	return number_parse_max(text, text + strlen(text), max, out);
}

static int number_parse(const char *start, const char *end, __u32 *out)
{
	uint64_t value;

	if (number_parse_max(start, end, UINT32_MAX, &value) < 0)
		return -1;
	*out = value;
	return 0;
}

/* Adds N unless the list has it: each version or id is probed once.  The
 * list has room for PROBE_LIST_MAX items. */
static bool list_add(struct probe_list *list, __u32 n)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->items[i] == n)
			return true;
	if (list->count == PROBE_LIST_MAX)
		return false;
	list->items[list->count++] = n;
	return true;
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
			list_add(list, (__u32)n);
		if (!*comma)
			return 0;
		entry = comma + 1;
	}
}

/* ---- --expect: a policy, read as mshv-emu reads it ----
 *
 * probe_yaml.c builds the tree; this walks it against the policy format
 * (docs/policy.md): every key known, every value checked, a key the
 * policy's profile cannot use refused, as mshv-emu's loader does.  What a
 * probe cannot see (the node, fault rules, partition and VP fds, extra
 * ioctls) is checked for its keys only and said, one line on stderr each,
 * not to be compared.  The first error stops the reading; it is printed as
 * FILE:LINE:COL: error: KEY: what is wrong and what to write. */

struct policy_reader {
	const char *path;
	struct expect_policy *policy;
	const struct probe_profile *profile; /* the policy's */
	const char *profile_name;
};

static int reader_fail(const struct policy_reader *reader, const struct probe_yaml_node *at,
		       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int reader_fail(const struct policy_reader *reader, const struct probe_yaml_node *at,
		       const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%u:%u: error: ", reader->path, at->line, at->column);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static void reader_note(const struct policy_reader *reader, const struct probe_yaml_node *at,
			const char *what, const char *why)
{
	fprintf(stderr, "%s:%u:%u: note: %s: not compared: %s\n", reader->path, at->line,
		at->column, what, why);
}

/* An errno as mshv-emu's loader reads one: a name or a number 1 to 4095. */
static int errno_parse(const char *text)
{
	static const struct {
		const char *alias;
		int err;
	} aliases[] = {
		{"ENOTSUP", EOPNOTSUPP},
		{"EWOULDBLOCK", EAGAIN},
		{"EDEADLOCK", EDEADLK},
	};
	uint64_t number;

	if (scalar_parse(text, 4095, &number) == 0)
		return number ? (int)number : -1;
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(text, aliases[i].alias))
			return aliases[i].err;
	for (int err = 1; err <= 4095; err++) {
		const char *name = errno_known_name(err);

		if (name && !strcmp(text, name))
			return err;
	}
	return -1;
}

/* A hypervisor status by name (MSHV_EMU_HV_STATUSES), or -1. */
static int status_parse(const char *text)
{
	/* clang-format off */
#define X(name, code) if (!strcmp(text, #name)) return code;
	MSHV_EMU_HV_STATUSES(X)
#undef X
	/* clang-format on */
	return -1;
}

static const struct hv_property *known_property_by_name(const char *name)
{
	for (size_t i = 0; i < KNOWN_PROPERTY_COUNT; i++)
		if (!strcmp(name, known_properties[i].name))
			return &known_properties[i];
	return NULL;
}

static const struct hv_property *known_property_by_code(__u32 code)
{
	for (size_t i = 0; i < KNOWN_PROPERTY_COUNT; i++)
		if (code == known_properties[i].code)
			return &known_properties[i];
	return NULL;
}

/* "a, b, c" of a NULL-terminated list, for messages. */
static const char *names_join(const char *const *names, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; names[i] && used < size; i++)
		used += snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
	return buf;
}

/* The value at PATH is a mapping whose keys are all among KEYS. */
static int mapping_check(const struct policy_reader *reader, const struct probe_yaml_node *node,
			 const char *path, const char *const *keys)
{
	char known[768];

	if (node->kind != PROBE_YAML_MAPPING)
		return reader_fail(reader, node, "%s: expected a mapping, found %s", path,
				   probe_yaml_describe(node));
	for (size_t i = 0; i < node->count; i++) {
		const struct probe_yaml_node *key = node->pairs[i].key;
		size_t k = 0;

		while (keys[k] && strcmp(keys[k], key->text))
			k++;
		if (keys[k])
			continue;
		return reader_fail(
			reader, key, "%s%sunknown key `%s`; use one of %s (docs/policy.md)", path,
			*path ? ": " : "", key->text, names_join(keys, known, sizeof(known)));
	}
	return 0;
}

static int sequence_check(const struct policy_reader *reader, const struct probe_yaml_node *node,
			  const char *path, size_t min, size_t max)
{
	if (node->kind != PROBE_YAML_SEQUENCE)
		return reader_fail(reader, node, "%s: expected a sequence, found %s", path,
				   probe_yaml_describe(node));
	if (node->count < min)
		return reader_fail(reader, node, "%s: an empty list; give at least %zu entr%s",
				   path, min, min == 1 ? "y" : "ies");
	if (node->count > max)
		return reader_fail(reader, node, "%s: %zu entries; at most %zu are supported", path,
				   node->count, max);
	return 0;
}

static const char *text_read(const struct policy_reader *reader, const struct probe_yaml_node *node,
			     const char *path)
{
	if (node->kind == PROBE_YAML_SCALAR && !probe_yaml_is_null(node))
		return node->text;
	reader_fail(reader, node, "%s: expected a value, found %s", path,
		    probe_yaml_describe(node));
	return NULL;
}

/* A number from MIN to MAX; WHAT says which, for the error. */
static int number_read(const struct policy_reader *reader, const struct probe_yaml_node *node,
		       const char *path, uint64_t min, uint64_t max, const char *what,
		       uint64_t *out)
{
	const char *text = text_read(reader, node, path);

	if (!text)
		return -1;
	if (scalar_parse(text, UINT64_MAX, out) < 0)
		return reader_fail(reader, node, "%s: `%s` is not a number; expected %s", path,
				   text, what);
	if (*out < min || *out > max)
		return reader_fail(reader, node, "%s: %s is out of range; expected %s", path, text,
				   what);
	return 0;
}

static int errno_read(const struct policy_reader *reader, const struct probe_yaml_node *node,
		      const char *path, int *out)
{
	const char *text = text_read(reader, node, path);

	if (!text)
		return -1;
	*out = errno_parse(text);
	if (*out < 0)
		return reader_fail(reader, node,
				   "%s: unknown errno `%s`; use a name such as EPERM or ENOTSUPP, "
				   "or a number from 1 to 4095",
				   path, text);
	return 0;
}

static int bool_read(const struct policy_reader *reader, const struct probe_yaml_node *node,
		     const char *path, bool *out)
{
	static const char *const words[] = {"false", "no", "off", "true", "yes", "on", NULL};
	const char *text = text_read(reader, node, path);

	if (!text)
		return -1;
	for (size_t i = 0; words[i]; i++) {
		if (!strcmp(text, words[i])) {
			*out = i >= 3;
			return 0;
		}
	}
	return reader_fail(reader, node, "%s: `%s` is not true or false", path, text);
}

/* Letters, digits and '_', as the loader wants names. */
static bool name_valid(const char *name)
{
	if (!*name || strlen(name) >= 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* `{value: N}` or `{errno: E}`, exactly one: a fixed answer. */
static int answer_read(const struct policy_reader *reader, const struct probe_yaml_node *node,
		       const char *path)
{
	static const char *const keys[] = {"value", "errno", NULL};
	const struct probe_yaml_pair *value, *err;
	char sub[160];
	uint64_t number;
	int errno_value;

	if (mapping_check(reader, node, path, keys) < 0)
		return -1;
	value = probe_yaml_find(node, "value");
	err = probe_yaml_find(node, "errno");
	if (value && err)
		return reader_fail(reader, node, "%s: give either `value` or `errno`, not both",
				   path);
	if (!value && !err)
		return reader_fail(reader, node, "%s: needs an answer: `value: N` or `errno: NAME`",
				   path);
	if (err) {
		snprintf(sub, sizeof(sub), "%s.errno", path);
		return errno_read(reader, err->value, sub, &errno_value);
	}
	snprintf(sub, sizeof(sub), "%s.value", path);
	return number_read(reader, value->value, sub, 0, INT32_MAX, "0 to 2147483647", &number);
}

/* create_vtl and create_partition: the ioctl makes an fd, so only an errno. */
static int fd_answer_read(const struct policy_reader *reader, const struct probe_yaml_node *node,
			  const char *path, const char *display, int *err)
{
	static const char *const keys[] = {"value", "errno", NULL};
	const struct probe_yaml_pair *value, *given;
	char sub[64];

	if (mapping_check(reader, node, path, keys) < 0)
		return -1;
	value = probe_yaml_find(node, "value");
	given = probe_yaml_find(node, "errno");
	if (value && given)
		return reader_fail(reader, node, "%s: give either `value` or `errno`, not both",
				   path);
	if (value)
		return reader_fail(reader, value->value,
				   "%s.value: %s returns a new fd, so a value here would be taken "
				   "for one; answer an errno (`errno: EPERM`)",
				   path, display);
	if (!given)
		return reader_fail(reader, node, "%s: needs an answer: `errno: NAME`", path);
	snprintf(sub, sizeof(sub), "%s.errno", path);
	return errno_read(reader, given->value, sub, err);
}

/* The profile a key needs, refused as the loader refuses it. */
static int profile_lacks(const struct policy_reader *reader, const struct probe_yaml_node *at,
			 const char *path, const char *what)
{
	return reader_fail(reader, at, "%s: profile %s has no %s; remove this key", path,
			   reader->profile_name, what);
}

static int versions_read(struct policy_reader *reader, const struct probe_yaml_node *node)
{
	struct expect_policy *policy = reader->policy;
	char path[48];

	if (!reader->profile->request_version)
		return profile_lacks(reader, node, "versions", "MSHV_REQUEST_VERSION");
	if (sequence_check(reader, node, "versions", 1, 64) < 0)
		return -1;
	policy->versions = calloc(node->count, sizeof(*policy->versions));
	if (!policy->versions)
		return reader_fail(reader, node, "versions: out of memory");
	for (size_t i = 0; i < node->count; i++) {
		uint64_t version;

		snprintf(path, sizeof(path), "versions[%zu]", i);
		if (number_read(reader, node->items[i], path, 0, UINT32_MAX, "0 to 0xfffffffe",
				&version) < 0)
			return -1;
		if (version == MSHV_VERSION_UNSET)
			return reader_fail(reader, node->items[i],
					   "%s: 0xffffffff is reserved: it is the driver's \"no "
					   "version yet\" marker",
					   path);
		for (size_t j = 0; j < policy->version_count; j++)
			if (policy->versions[j] == version)
				return reader_fail(reader, node->items[i],
						   "%s: version %s is listed twice", path,
						   node->items[i]->text);
		policy->versions[policy->version_count++] = (__u32)version;
	}
	return 0;
}

static int cap_versions_read(struct policy_reader *reader, const struct probe_yaml_node *node,
			     const char *path, struct expect_cap *cap)
{
	const struct expect_policy *policy = reader->policy;
	char item[128];

	if (!reader->profile->request_version)
		return profile_lacks(reader, node, path, "MSHV_REQUEST_VERSION");
	if (sequence_check(reader, node, path, 1, 64) < 0)
		return -1;
	cap->versions = calloc(node->count, sizeof(*cap->versions));
	if (!cap->versions)
		return reader_fail(reader, node, "%s: out of memory", path);
	for (size_t i = 0; i < node->count; i++) {
		uint64_t version;
		bool listed = false;

		snprintf(item, sizeof(item), "%s[%zu]", path, i);
		if (number_read(reader, node->items[i], item, 0, UINT32_MAX, "0 to 0xfffffffe",
				&version) < 0)
			return -1;
		for (size_t j = 0; j < policy->version_count; j++)
			listed |= policy->versions[j] == version;
		if (!listed)
			return reader_fail(
				reader, node->items[i],
				"%s: version %s is not in `versions:`, so no session can "
				"negotiate it; add it there or remove it here",
				item, node->items[i]->text);
		cap->versions[cap->version_count++] = (__u32)version;
	}
	return 0;
}

static int caps_read(struct policy_reader *reader, const struct probe_yaml_node *node)
{
	static const char *const keys[] = {"name", "id", "value", "versions", NULL};
	struct expect_policy *policy = reader->policy;
	char path[64], sub[96];

	if (!reader->profile->check_extension)
		return profile_lacks(reader, node, "capabilities", "MSHV_CHECK_EXTENSION");
	if (sequence_check(reader, node, "capabilities", 0, 1u << 20) < 0)
		return -1;
	policy->caps = calloc(node->count ? node->count : 1, sizeof(*policy->caps));
	if (!policy->caps)
		return reader_fail(reader, node, "capabilities: out of memory");
	for (size_t i = 0; i < node->count; i++) {
		const struct probe_yaml_node *entry = node->items[i];
		const struct probe_yaml_pair *name, *id, *value, *versions;
		struct expect_cap *cap = &policy->caps[policy->cap_count++];
		uint64_t number;

		snprintf(path, sizeof(path), "capabilities[%zu]", i);
		if (mapping_check(reader, entry, path, keys) < 0)
			return -1;
		name = probe_yaml_find(entry, "name");
		id = probe_yaml_find(entry, "id");
		value = probe_yaml_find(entry, "value");
		versions = probe_yaml_find(entry, "versions");
		if (!name)
			return reader_fail(reader, entry,
					   "%s: needs `name:`, such as REGISTER_PAGE", path);
		if (!id)
			return reader_fail(
				reader, entry,
				"%s: needs `id:`, the capability id CHECK_EXTENSION takes", path);
		if (!value)
			return reader_fail(reader, entry,
					   "%s: needs `value:`; 0 = known but unsupported, > 0 = "
					   "supported",
					   path);
		snprintf(sub, sizeof(sub), "%s.name", path);
		if (!text_read(reader, name->value, sub))
			return -1;
		if (!name_valid(name->value->text))
			return reader_fail(reader, name->value,
					   "%s: `%s` is not a capability name; use letters, digits "
					   "and '_'",
					   sub, name->value->text);
		cap->name = strdup(name->value->text);
		if (!cap->name)
			return reader_fail(reader, entry, "%s: out of memory", path);
		snprintf(sub, sizeof(sub), "%s.id", path);
		if (number_read(reader, id->value, sub, 0, 0xFFFFF,
				"a capability id from 0 to 0xfffff", &number) < 0)
			return -1;
		cap->id = (__u32)number;
		snprintf(sub, sizeof(sub), "%s.value", path);
		if (number_read(reader, value->value, sub, 0, INT32_MAX,
				"0 (known but unsupported) to 2147483647", &number) < 0)
			return -1;
		cap->value = (int)number;
		for (size_t j = 0; j + 1 < policy->cap_count; j++) {
			if (!strcmp(policy->caps[j].name, cap->name))
				return reader_fail(
					reader, name->value,
					"%s.name: %s is already used by capabilities[%zu]", path,
					cap->name, j);
			if (policy->caps[j].id == cap->id)
				return reader_fail(reader, id->value,
						   "%s.id: %s is already used by %s", path,
						   id->value->text, policy->caps[j].name);
		}
		snprintf(sub, sizeof(sub), "%s.versions", path);
		if (versions && cap_versions_read(reader, versions->value, sub, cap) < 0)
			return -1;
	}
	return 0;
}

static int errors_read(struct policy_reader *reader, const struct probe_yaml_node *node)
{
	const char *keys[REFUSAL_COUNT + 1] = {0};
	char path[48];

	for (int r = 0; r < REFUSAL_COUNT; r++)
		keys[r] = refusals[r].key;
	if (mapping_check(reader, node, "errors", keys) < 0)
		return -1;
	for (size_t i = 0; i < node->count; i++) {
		const struct probe_yaml_pair *pair = &node->pairs[i];
		int r = 0;

		while (strcmp(refusals[r].key, pair->key->text))
			r++;
		snprintf(path, sizeof(path), "errors.%s", refusals[r].key);
		if (refusals[r].needs != OP_COUNT &&
		    !profile_has(reader->profile, refusals[r].needs))
			return profile_lacks(reader, pair->value, path,
					     refusals[r].needs == OP_REQUEST_VERSION
						     ? "MSHV_REQUEST_VERSION"
						     : "MSHV_CHECK_EXTENSION");
		if (errno_read(reader, pair->value, path, &reader->policy->refusal[r]) < 0)
			return -1;
		/* A root profile without a device ioctl the probe tries sees it. */
		if (r == REFUSAL_UNKNOWN_IOCTL &&
		    !(reader->profile->root &&
		      !(reader->profile->properties && reader->profile->host_property)))
			reader_note(reader, pair->key, path,
				    "the probe sends no ioctl outside its profile");
	}
	return 0;
}

/* The built-ins of the root driver's partition and VP fds, by their keys
 * under `numbers:` and `answers:` (the probe's own are op_keys): every root
 * profile has them all, and the probe sends none. */
static const char *const partition_ops[] = {
	"initialize_partition",
	"create_vp",
	"set_guest_memory",
	"irqfd",
	"ioeventfd",
	"set_msi_routing",
	"get_gpap_access_bitmap",
	"partition_root_hvcall",
	"run_vp",
	"get_vp_state",
	"set_vp_state",
	"vp_root_hvcall",
	NULL,
};

/* What mshv-emu answers with a fixed answer, of partition_ops. */
static bool op_fixed(const char *key)
{
	return strcmp(key, "initialize_partition") && strcmp(key, "create_vp") &&
	       strcmp(key, "partition_root_hvcall") && strcmp(key, "vp_root_hvcall");
}

/* "MSHV_SET_GUEST_MEMORY" of "set_guest_memory", for messages. */
static const char *op_display(const char *key, char *buf, size_t size)
{
	size_t i = 0;

	if (!strcmp(key, "partition_root_hvcall") || !strcmp(key, "vp_root_hvcall"))
		key = "root_hvcall";
	i = (size_t)snprintf(buf, size, "MSHV_");
	for (; *key && i + 1 < size; key++)
		buf[i++] = (char)toupper((unsigned char)*key);
	buf[i] = '\0';
	return buf;
}

static int numbers_read(struct policy_reader *reader, const struct probe_yaml_node *node)
{
	const char *keys[OP_COUNT + sizeof(partition_ops) / sizeof(partition_ops[0])];
	char path[64], display[48];
	size_t count = 0;

	for (int op = 0; op < OP_COUNT; op++)
		keys[count++] = op_keys[op];
	for (size_t i = 0; partition_ops[i]; i++)
		keys[count++] = partition_ops[i];
	keys[count] = NULL;
	if (mapping_check(reader, node, "numbers", keys) < 0)
		return -1;
	for (size_t i = 0; i < node->count; i++) {
		const struct probe_yaml_pair *pair = &node->pairs[i];
		int op = 0;
		uint64_t number;

		while (op < OP_COUNT && strcmp(op_keys[op], pair->key->text))
			op++;
		snprintf(path, sizeof(path), "numbers.%s", pair->key->text);
		if (op < OP_COUNT ? !profile_has(reader->profile, op) : !reader->profile->root)
			return profile_lacks(reader, pair->value, path,
					     op_display(pair->key->text, display, sizeof(display)));
		if (number_read(reader, pair->value, path, 1, UINT32_MAX,
				"an ioctl number from 0x1 to 0xffffffff", &number) < 0)
			return -1;
		if (op < OP_COUNT)
			reader->policy->numbers[op] = (__u32)number;
		else
			reader_note(reader, pair->key, path,
				    "the probe uses no partition or VP fd");
	}
	return 0;
}

static int answers_read(struct policy_reader *reader, const struct probe_yaml_node *node,
			const struct probe_yaml_node *key)
{
	const char *keys[OP_COUNT + sizeof(partition_ops) / sizeof(partition_ops[0])];
	char path[64], display[48];
	size_t count = 0;

	for (int op = 0; op < OP_COUNT; op++)
		keys[count++] = op_keys[op];
	for (size_t i = 0; partition_ops[i]; i++)
		keys[count++] = partition_ops[i];
	keys[count] = NULL;
	if (mapping_check(reader, node, "answers", keys) < 0)
		return -1;
	for (size_t i = 0; i < node->count; i++) {
		const struct probe_yaml_pair *pair = &node->pairs[i];
		const char *op = pair->key->text;
		bool fixed = false;

		for (size_t j = 0; partition_ops[j]; j++)
			fixed |= !strcmp(partition_ops[j], op) && op_fixed(op);
		snprintf(path, sizeof(path), "answers.%s", op);
		if (!reader->profile->root)
			return profile_lacks(reader, pair->value, path,
					     op_display(op, display, sizeof(display)));
		if (!strcmp(op, "create_vtl") || !strcmp(op, "create_partition"))
			return reader_fail(reader, pair->key,
					   "%s: %s is answered at the top level: move it there, as "
					   "`%s: {errno: EPERM}`",
					   path, op_display(op, display, sizeof(display)), op);
		if (!fixed)
			return reader_fail(
				reader, pair->value,
				"%s: %s is answered by the emulator's model, not a fixed "
				"answer; remove this key",
				path, op_display(op, display, sizeof(display)));
		if (answer_read(reader, pair->value, path) < 0)
			return -1;
	}
	reader_note(reader, key, "answers",
		    "they answer partition and VP fds, which the probe "
		    "does not use");
	return 0;
}

/* One entry of hypervisor.properties into PROPERTY. */
static int host_property_read(const struct policy_reader *reader,
			      const struct probe_yaml_node *node, const char *path,
			      struct expect_property *property)
{
	static const char *const keys[] = {"name", "code", "value", "banks", "status", "set", NULL};
	const struct probe_yaml_pair *name, *code, *value, *banks, *status, *set;
	char sub[128], names[512];
	uint64_t number;

	if (mapping_check(reader, node, path, keys) < 0)
		return -1;
	name = probe_yaml_find(node, "name");
	code = probe_yaml_find(node, "code");
	value = probe_yaml_find(node, "value");
	banks = probe_yaml_find(node, "banks");
	status = probe_yaml_find(node, "status");
	set = probe_yaml_find(node, "set");
	if (set)
		return reader_fail(
			reader, set->value,
			"%s.set: `set` belongs to `partition.properties`; remove it here", path);
	if (name && code)
		return reader_fail(reader, node, "%s: give `name` or `code`, not both", path);
	if (!name && !code)
		return reader_fail(reader, node,
				   "%s: needs `name:` (such as PROCESSOR_FEATURES0) or `code:`",
				   path);
	if (name) {
		const struct hv_property *known;
		const char *list[KNOWN_PROPERTY_COUNT + 1] = {0};

		snprintf(sub, sizeof(sub), "%s.name", path);
		if (!text_read(reader, name->value, sub))
			return -1;
		known = known_property_by_name(name->value->text);
		for (size_t i = 0; i < KNOWN_PROPERTY_COUNT; i++)
			list[i] = known_properties[i].name;
		if (!known)
			return reader_fail(reader, name->value,
					   "%s: unknown property `%s`; use one of %s, or `code: "
					   "0x...`",
					   sub, name->value->text,
					   names_join(list, names, sizeof(names)));
		property->property = *known;
	} else {
		const struct hv_property *known;

		snprintf(sub, sizeof(sub), "%s.code", path);
		if (number_read(reader, code->value, sub, 0, UINT32_MAX,
				"a property code from 0 to 0xffffffff", &number) < 0)
			return -1;
		known = known_property_by_code((__u32)number);
		property->property = known ? *known : (struct hv_property){.code = (__u32)number};
	}
	if (!!value + !!banks + !!status != 1)
		return reader_fail(reader, node, "%s: %s", path,
				   value || banks || status
					   ? "give one of `value`, `banks` or `status`, not several"
					   : "needs an answer: `value: N`, `banks: [N, ...]` or "
					     "`status: UNKNOWN_PROPERTY`");
	if (value) {
		property->kind = EXPECT_VALUE;
		snprintf(sub, sizeof(sub), "%s.value", path);
		if (number_read(reader, value->value, sub, 0, UINT64_MAX,
				"a 64-bit value (0 to 0xffffffffffffffff)", &number) < 0)
			return -1;
		property->value = number;
		return 0;
	}
	if (status) {
		const char *list[] = {
#define X(sname, scode) #sname,
			MSHV_EMU_HV_STATUSES(X)
#undef X
				NULL};
		int found;

		property->kind = EXPECT_STATUS;
		snprintf(sub, sizeof(sub), "%s.status", path);
		if (!text_read(reader, status->value, sub))
			return -1;
		found = status_parse(status->value->text);
		if (found == MSHV_EMU_HV_STATUS_SUCCESS)
			return reader_fail(reader, status->value,
					   "%s: SUCCESS is not a failure; give `value:` instead",
					   sub);
		if (found < 0)
			return reader_fail(reader, status->value,
					   "%s: unknown hypervisor status `%s`; use one of %s", sub,
					   status->value->text,
					   names_join(list, names, sizeof(names)));
		property->value = (__u64)found;
		return 0;
	}
	property->kind = EXPECT_BANKS;
	snprintf(sub, sizeof(sub), "%s.banks", path);
	if (sequence_check(reader, banks->value, sub, 1, MSHV_EMU_HV_MAX_BANKS) < 0)
		return -1;
	property->banks = calloc(banks->value->count, sizeof(*property->banks));
	if (!property->banks)
		return reader_fail(reader, node, "%s: out of memory", path);
	for (size_t i = 0; i < banks->value->count; i++) {
		snprintf(sub, sizeof(sub), "%s.banks[%zu]", path, i);
		if (number_read(reader, banks->value->items[i], sub, 0, UINT64_MAX,
				"a 64-bit value (0 to 0xffffffffffffffff)", &number) < 0)
			return -1;
		property->banks[property->bank_count++] = number;
	}
	/* A code the probe does not know is read the way the policy answers it;
	 * a known one read with GET_PARTITION_PROPERTY answers the first bank. */
	if (!property->property.name) {
		property->property.banked = true;
	} else if (!property->property.banked) {
		property->kind = EXPECT_VALUE;
		property->value = property->banks[0];
		free(property->banks);
		property->banks = NULL;
		property->bank_count = 0;
	}
	return 0;
}

/* The bits hypervisor.vmm_capabilities names, as bank 0 of VMM_CAPABILITIES. */
static int vmm_caps_read(const struct policy_reader *reader, const struct probe_yaml_node *node,
			 __u64 *mask)
{
	static const char *const names[] = {
#define X(name, bit) [bit] = #name,
		MSHV_EMU_VMM_CAPS(X)
#undef X
	};
	const char *list[sizeof(names) / sizeof(names[0]) + 1] = {0};
	char path[64], known[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		list[i] = names[i];
	if (sequence_check(reader, node, "hypervisor.vmm_capabilities", 0, 64) < 0)
		return -1;
	*mask = 0;
	for (size_t i = 0; i < node->count; i++) {
		size_t bit = 0;

		snprintf(path, sizeof(path), "hypervisor.vmm_capabilities[%zu]", i);
		if (!text_read(reader, node->items[i], path))
			return -1;
		while (bit < sizeof(names) / sizeof(names[0]) &&
		       (!names[bit] || strcmp(names[bit], node->items[i]->text)))
			bit++;
		if (bit == sizeof(names) / sizeof(names[0]))
			return reader_fail(reader, node->items[i],
					   "%s: unknown VMM capability `%s`; use one of %s", path,
					   node->items[i]->text,
					   names_join(list, known, sizeof(known)));
		if (*mask & 1ULL << bit)
			return reader_fail(reader, node->items[i], "%s: %s is listed twice", path,
					   names[bit]);
		*mask |= 1ULL << bit;
	}
	return 0;
}

static int hypervisor_read(struct policy_reader *reader, const struct probe_yaml_node *node,
			   const struct probe_yaml_node *key)
{
	static const char *const keys[] = {"properties", "vmm_capabilities", NULL};
	struct expect_policy *policy = reader->policy;
	const struct probe_yaml_pair *properties, *vmm_caps;
	char path[64];
	__u64 mask = 0;

	if (!reader->profile->root)
		return profile_lacks(reader, node, "hypervisor", "MSHV_ROOT_HVCALL");
	if (mapping_check(reader, node, "hypervisor", keys) < 0)
		return -1;
	properties = probe_yaml_find(node, "properties");
	vmm_caps = probe_yaml_find(node, "vmm_capabilities");
	if (properties &&
	    sequence_check(reader, properties->value, "hypervisor.properties", 0, 256) < 0)
		return -1;
	if (vmm_caps && vmm_caps_read(reader, vmm_caps->value, &mask) < 0)
		return -1;
	if (vmm_caps && !vmm_caps->value->count) /* mshv-emu: as if absent */
		vmm_caps = NULL;
	policy->properties = calloc((properties ? properties->value->count : 0) + 1,
				    sizeof(*policy->properties));
	if (!policy->properties)
		return reader_fail(reader, node, "hypervisor: out of memory");
	for (size_t i = 0; properties && i < properties->value->count; i++) {
		struct expect_property *property = &policy->properties[policy->property_count++];

		snprintf(path, sizeof(path), "hypervisor.properties[%zu]", i);
		if (host_property_read(reader, properties->value->items[i], path, property) < 0)
			return -1;
		for (size_t j = 0; j + 1 < policy->property_count; j++)
			if (policy->properties[j].property.code == property->property.code)
				return reader_fail(reader, properties->value->items[i],
						   "%s: property 0x%08X is already given by "
						   "hypervisor.properties[%zu]",
						   path, property->property.code, j);
		if (vmm_caps && property->property.code == MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES)
			return reader_fail(reader, vmm_caps->value,
					   "hypervisor.vmm_capabilities: VMM_CAPABILITIES is also "
					   "given in hypervisor.properties; keep one of them");
		if (property->property.banked && property->kind == EXPECT_VALUE) {
			reader_note(reader, properties->value->items[i], path,
				    "the probe reads this property with GET_PARTITION_PROPERTY_EX, "
				    "whose banks a `value:` does not give; write `banks: [...]`");
			policy->property_count--;
		}
	}
	if (vmm_caps) {
		struct expect_property *property = &policy->properties[policy->property_count++];

		*property = (struct expect_property){
			.property = *known_property_by_code(MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES),
			.kind = EXPECT_BANKS,
			.bank_count = 1,
			.from_vmm_caps = true,
		};
		property->banks = calloc(1, sizeof(*property->banks));
		if (!property->banks)
			return reader_fail(reader, node, "hypervisor: out of memory");
		property->banks[0] = mask;
	}
	/* root-6.15 answers host properties to partition fds only. */
	if (!reader->profile->properties) {
		reader_note(reader, key, "hypervisor",
			    "this profile has no MSHV_ROOT_HVCALL on the device, and a probe makes "
			    "no partition");
		for (size_t i = 0; i < policy->property_count; i++)
			free(policy->properties[i].banks);
		policy->property_count = 0;
	}
	return 0;
}

static int driver_read(struct policy_reader *reader, const struct probe_yaml_node *node)
{
	static const char *const keys[] = {"flags_mask", "isolation_count", "feature_banks",
					   "status_errno", NULL};
	const char *statuses[] = {
#define X(sname, scode) #sname,
		MSHV_EMU_HV_STATUSES(X)
#undef X
			NULL};
	const struct probe_yaml_pair *pair;
	char path[96];
	uint64_t number;

	if (!reader->profile->root)
		return profile_lacks(reader, node, "driver", "root driver");
	if (mapping_check(reader, node, "driver", keys) < 0)
		return -1;
	if ((pair = probe_yaml_find(node, "flags_mask"))) {
		if (number_read(reader, pair->value, "driver.flags_mask", 1, UINT32_MAX,
				"a mask of CREATE_PARTITION flag bits, 0x1 to 0xffffffff",
				&number) < 0)
			return -1;
		reader->policy->flags_mask = number;
	}
	if ((pair = probe_yaml_find(node, "isolation_count"))) {
		if (number_read(reader, pair->value, "driver.isolation_count", 1, 64,
				"how many isolation types are accepted, 1 to 64", &number) < 0)
			return -1;
		reader_note(reader, pair->key, "driver.isolation_count",
			    "the probe sends pt_isolation 0 only");
	}
	if ((pair = probe_yaml_find(node, "feature_banks"))) {
		bool banks = false;

		if (bool_read(reader, pair->value, "driver.feature_banks", &banks) < 0)
			return -1;
		if (banks &&
		    !(reader->policy->flags_mask & 1ULL << MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES))
			return reader_fail(reader, pair->value,
					   "driver.feature_banks: feature banks come with flag bit "
					   "3, which flags_mask 0x%llx refuses; add 0x8 to it",
					   (unsigned long long)reader->policy->flags_mask);
		reader_note(reader, pair->key, "driver.feature_banks",
			    "the probe sends flag bit 3 with 2 valid banks, which either setting "
			    "accepts");
	}
	if ((pair = probe_yaml_find(node, "status_errno"))) {
		const struct probe_yaml_node *map = pair->value;

		if (mapping_check(reader, map, "driver.status_errno", statuses) < 0)
			return -1;
		for (size_t i = 0; i < map->count; i++) {
			int err;

			snprintf(path, sizeof(path), "driver.status_errno.%s",
				 map->pairs[i].key->text);
			if (!strcmp(map->pairs[i].key->text, "SUCCESS"))
				return reader_fail(reader, map->pairs[i].value,
						   "%s: SUCCESS is not mapped to an errno; remove "
						   "this key",
						   path);
			if (errno_read(reader, map->pairs[i].value, path, &err) < 0)
				return -1;
		}
		reader_note(reader, pair->key, "driver.status_errno",
			    "the probe compares a failed property's hypervisor status, not the "
			    "errno the driver maps it to");
	}
	return 0;
}

/* partition:, ioctls:, device:, faults: checked for their keys, not compared. */
static int partition_read(struct policy_reader *reader, const struct probe_yaml_node *node,
			  const struct probe_yaml_node *key)
{
	static const char *const keys[] = {"properties", "unemulated_status", NULL};
	static const char *const property_keys[] = {"name", "code", "value", "set", NULL};
	const struct probe_yaml_pair *properties;
	char path[64];

	if (!reader->profile->root)
		return profile_lacks(reader, node, "partition", "MSHV_ROOT_HVCALL");
	if (mapping_check(reader, node, "partition", keys) < 0)
		return -1;
	properties = probe_yaml_find(node, "properties");
	if (properties) {
		if (sequence_check(reader, properties->value, "partition.properties", 0, 256) < 0)
			return -1;
		for (size_t i = 0; i < properties->value->count; i++) {
			snprintf(path, sizeof(path), "partition.properties[%zu]", i);
			if (mapping_check(reader, properties->value->items[i], path,
					  property_keys) < 0)
				return -1;
		}
	}
	reader_note(reader, key, "partition",
		    "it describes partition fds, which the probe does not use");
	return 0;
}

static int ioctls_read(struct policy_reader *reader, const struct probe_yaml_node *node,
		       const struct probe_yaml_node *key)
{
	static const char *const keys[] = {"name", "cmd", "value", "errno", NULL};
	char path[64];

	if (sequence_check(reader, node, "ioctls", 0, 256) < 0)
		return -1;
	for (size_t i = 0; i < node->count; i++) {
		snprintf(path, sizeof(path), "ioctls[%zu]", i);
		if (mapping_check(reader, node->items[i], path, keys) < 0)
			return -1;
	}
	reader_note(reader, key, "ioctls", "the probe sends only its profile's built-in ioctls");
	return 0;
}

static int device_read(struct policy_reader *reader, const struct probe_yaml_node *node,
		       const struct probe_yaml_node *key)
{
	static const char *const keys[] = {"name", "mode", NULL};

	if (mapping_check(reader, node, "device", keys) < 0)
		return -1;
	reader_note(reader, key, "device",
		    "a probe opens the path it is given; the node's name and mode are not ioctl "
		    "answers");
	return 0;
}

static int faults_read(struct policy_reader *reader, const struct probe_yaml_node *node,
		       const struct probe_yaml_node *key)
{
	static const char *const keys[] = {"seed", "rules", NULL};
	static const char *const rule_keys[] = {"name", "enabled", "match", "when", "action", NULL};
	static const struct {
		const char *key;
		const char *const keys[8];
	} parts[] = {
		{"match", {"event", "ioctl", "arg", "session", "pid", "uid", "comm", NULL}},
		{"when", {"once", "nth", "every", "after", "times", "probability", NULL}},
		{"action", {"errno", "value", "delay_ms", "hang", "vanish_ms", NULL}},
	};
	const struct probe_yaml_pair *rules;
	char path[64], sub[96];

	if (mapping_check(reader, node, "faults", keys) < 0)
		return -1;
	rules = probe_yaml_find(node, "rules");
	if (rules && sequence_check(reader, rules->value, "faults.rules", 0, 1024) < 0)
		return -1;
	for (size_t i = 0; rules && i < rules->value->count; i++) {
		const struct probe_yaml_node *rule = rules->value->items[i];

		snprintf(path, sizeof(path), "faults.rules[%zu]", i);
		if (mapping_check(reader, rule, path, rule_keys) < 0)
			return -1;
		for (size_t j = 0; j < sizeof(parts) / sizeof(parts[0]); j++) {
			const struct probe_yaml_pair *part = probe_yaml_find(rule, parts[j].key);

			snprintf(sub, sizeof(sub), "%s.%s", path, parts[j].key);
			if (part && mapping_check(reader, part->value, sub, parts[j].keys) < 0)
				return -1;
		}
	}
	reader_note(reader, key, "faults", "a probe sees steady-state answers only");
	return 0;
}

static const char *const policy_keys[] = {
	"profile",   "device",	   "versions",	       "capabilities", "errors",
	"numbers",   "create_vtl", "create_partition", "answers",      "hypervisor",
	"partition", "driver",	   "ioctls",	       "faults",       NULL,
};

static int policy_read(struct policy_reader *reader, const struct probe_yaml_node *root)
{
	struct expect_policy *policy = reader->policy;
	const struct probe_yaml_pair *pair;

	if (root->kind != PROBE_YAML_MAPPING)
		return reader_fail(
			reader, root,
			"a policy is a YAML mapping; start it with `profile: negotiated`");
	if (mapping_check(reader, root, "", policy_keys) < 0)
		return -1;
	policy->profile = PROFILE_NEGOTIATED;
	if ((pair = probe_yaml_find(root, "profile"))) {
		const char *name = text_read(reader, pair->value, "profile");
		int i = 0;

		if (!name)
			return -1;
		while (i < PROFILE_COUNT && strcmp(profile_names[i], name))
			i++;
		if (i == PROFILE_COUNT) {
			const char *list[PROFILE_COUNT + 1] = {0};
			char known[160];

			for (int j = 0; j < PROFILE_COUNT; j++)
				list[j] = profile_names[j];
			return reader_fail(reader, pair->value,
					   "profile: unknown profile `%s`; use one of %s", name,
					   names_join(list, known, sizeof(known)));
		}
		policy->profile = i;
	}
	reader->profile = &probe_profiles[policy->profile];
	reader->profile_name = profile_names[policy->profile];
	for (int r = 0; r < REFUSAL_COUNT; r++)
		policy->refusal[r] = refusals[r].errno_default;
	policy->flags_mask = reader->profile->flags_mask;

	/* In dependency order: capabilities name versions. */
	if ((pair = probe_yaml_find(root, "versions")) && versions_read(reader, pair->value) < 0)
		return -1;
	if (reader->profile->request_version && !pair)
		return reader_fail(reader, root,
				   "profile %s needs `versions:`, the list of versions "
				   "REQUEST_VERSION accepts",
				   reader->profile_name);
	if ((pair = probe_yaml_find(root, "capabilities")) && caps_read(reader, pair->value) < 0)
		return -1;
	if ((pair = probe_yaml_find(root, "create_vtl"))) {
		if (!reader->profile->create_vtl)
			return profile_lacks(reader, pair->value, "create_vtl", "MSHV_CREATE_VTL");
		if (fd_answer_read(reader, pair->value, "create_vtl", "MSHV_CREATE_VTL",
				   &policy->create_vtl_errno) < 0)
			return -1;
		policy->create_vtl = true;
	} else if (reader->profile->create_vtl) {
		return reader_fail(reader, root,
				   "profile %s answers MSHV_CREATE_VTL from the policy; add "
				   "`create_vtl: {errno: EPERM}`",
				   reader->profile_name);
	}
	if ((pair = probe_yaml_find(root, "create_partition"))) {
		if (!reader->profile->create_partition)
			return profile_lacks(reader, pair->value, "create_partition",
					     "MSHV_CREATE_PARTITION");
		if (fd_answer_read(reader, pair->value, "create_partition", "MSHV_CREATE_PARTITION",
				   &policy->create_errno) < 0)
			return -1;
		policy->create_partition = true;
	}
	/* The rest in the order written, so that the notes read like the file. */
	for (size_t i = 0; i < root->count; i++) {
		const struct probe_yaml_node *key = root->pairs[i].key,
					     *value = root->pairs[i].value;
		int ret = 0;

		if (!strcmp(key->text, "errors"))
			ret = errors_read(reader, value);
		else if (!strcmp(key->text, "numbers"))
			ret = numbers_read(reader, value);
		else if (!strcmp(key->text, "answers"))
			ret = answers_read(reader, value, key);
		else if (!strcmp(key->text, "hypervisor"))
			ret = hypervisor_read(reader, value, key);
		else if (!strcmp(key->text, "driver"))
			ret = driver_read(reader, value);
		else if (!strcmp(key->text, "partition"))
			ret = partition_read(reader, value, key);
		else if (!strcmp(key->text, "ioctls"))
			ret = ioctls_read(reader, value, key);
		else if (!strcmp(key->text, "device"))
			ret = device_read(reader, value, key);
		else if (!strcmp(key->text, "faults"))
			ret = faults_read(reader, value, key);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static void expect_free(struct expect_policy *policy)
{
	for (size_t i = 0; i < policy->property_count; i++)
		free(policy->properties[i].banks);
	free(policy->properties);
	for (size_t i = 0; i < policy->cap_count; i++) {
		free(policy->caps[i].name);
		free(policy->caps[i].versions);
	}
	free(policy->caps);
	free(policy->versions);
	*policy = (struct expect_policy){0};
}

/* Reads PATH into POLICY; on failure says why on stderr. */
static int policy_load(const char *path, struct expect_policy *policy)
{
	struct policy_reader reader = {.path = path, .policy = policy};
	struct probe_yaml_error error;
	struct probe_yaml_node *root;
	int ret;

	*policy = (struct expect_policy){.profile = PROFILE_NEGOTIATED};
	root = probe_yaml_load(path, &error);
	if (!root) {
		if (error.line)
			fprintf(stderr, "%s:%u:%u: error: %s\n", path, error.line, error.column,
				error.message);
		else
			fprintf(stderr, "mshv-probe: --expect %s: %s\n", path, error.message);
		return -1;
	}
	ret = policy_read(&reader, root);
	probe_yaml_free(root);
	if (ret < 0)
		expect_free(policy);
	return ret;
}

/* Returns 0 to probe, 1 when --help or --version was printed, 2 on a usage
 * error (said, with the usage, by cli.c), -1
 * when the --expect policy cannot be read (after saying why on stderr).
 * opts owns its lists and policy in every case. */
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
		{"emit-policy", required_argument, NULL, 'E'},
		{"expect", required_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *versions_text = NULL, *caps_text = NULL;
	const char *rv_text = NULL, *ce_text = NULL;
	const struct probe_profile *profile;
	char why[128];
	int opt;

	*opts = (struct probe_options){.device = "/dev/mshv", .profile = PROFILE_NEGOTIATED};
	while ((opt = cli_getopt(&cli, argc, argv, "h", long_options)) != -1) {
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
		case 'E':
			opts->emit_path = optarg;
			break;
		case 'x':
			opts->expect_path = optarg;
			break;
		case 'h':
			usage_print(stdout, true);
			return 1;
		case 'V':
			cli_version(&cli);
			return 1;
		case 'p':
			opts->profile_given = true;
			for (opts->profile = 0; opts->profile < PROFILE_COUNT; opts->profile++)
				if (!strcmp(optarg, profile_names[opts->profile]))
					break;
			if (opts->profile == PROFILE_COUNT) {
				char known[256] = "";
				for (int i = 0; i < PROFILE_COUNT; i++)
					snprintf(known + strlen(known),
						 sizeof(known) - strlen(known), " %s",
						 profile_names[i]);
				return cli_usage_error(&cli,
						       "--profile: unknown profile `%s` (known:%s)",
						       optarg, known);
			}
			break;
		default:
			return cli_usage_error(&cli, NULL);
		}
	}
	if (optind < argc)
		return cli_usage_error(&cli, "unexpected argument `%s`", argv[optind]);
	if (opts->expect_path && opts->json)
		return cli_usage_error(&cli, "--expect prints differences, not JSON: drop --json");
	if (opts->expect_path) {
		if (policy_load(opts->expect_path, &opts->expect) < 0)
			return -1;
		if (!opts->profile_given)
			opts->profile = opts->expect.profile;
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
	/* The profile's numbers, moved by the policy's `numbers:`, then by options. */
	for (int op = 0; op < OP_COUNT; op++)
		opts->cmd[op] = opts->expect.numbers[op] ? opts->expect.numbers[op]
							 : op_default_cmd(profile, op);
	if (rv_text &&
	    number_parse(rv_text, rv_text + strlen(rv_text), &opts->cmd[OP_REQUEST_VERSION]) < 0) {
		return cli_usage_error(&cli,
				       "--request-version-cmd: bad number `%s` "
				       "(decimal or 0x-hex, at most 0xFFFFFFFF)",
				       rv_text);
	}
	if (ce_text &&
	    number_parse(ce_text, ce_text + strlen(ce_text), &opts->cmd[OP_CHECK_EXTENSION]) < 0) {
		return cli_usage_error(&cli,
				       "--check-extension-cmd: bad number `%s` "
				       "(decimal or 0x-hex, at most 0xFFFFFFFF)",
				       ce_text);
	}
	versions_text = versions_text ? versions_text : "0-3";
	if (list_parse(versions_text, &opts->versions, why, sizeof(why)) < 0) {
		return cli_usage_error(&cli, "--versions `%s`: %s", versions_text, why);
	}
	caps_text = caps_text ? caps_text : "0-7";
	if (list_parse(caps_text, &opts->caps, why, sizeof(why)) < 0) {
		return cli_usage_error(&cli, "--caps `%s`: %s", caps_text, why);
	}
	/* --expect: probe every version and id the policy names, too. */
	for (size_t i = 0; i < opts->expect.version_count; i++) {
		if (!list_add(&opts->versions, opts->expect.versions[i])) {
			return cli_usage_error(
				&cli,
				"--versions with the versions %s lists: more than %d "
				"entries; probe fewer",
				opts->expect_path, PROBE_LIST_MAX);
		}
	}
	for (size_t i = 0; i < opts->expect.cap_count; i++) {
		if (!list_add(&opts->caps, opts->expect.caps[i].id)) {
			return cli_usage_error(
				&cli,
				"--caps with the ids %s lists: more than %d entries; "
				"probe fewer",
				opts->expect_path, PROBE_LIST_MAX);
		}
	}
	return 0;
}

static void probe_ioctl(int fd, __u32 cmd, void *arg, struct probe_answer *answer)
{
	int ret = ioctl(fd, (unsigned long)cmd, arg);

	*answer = (struct probe_answer){.value = ret < 0 ? 0 : ret, .err = ret < 0 ? errno : 0};
	sent_calls++;
	if (answer->err != ENOTTY)
		answered_calls++;
}

/* The argument is a pointer to a __u32 for both REQUEST_VERSION and
 * CHECK_EXTENSION (_IOW(0xB8, n, __u32)). */
static void probe_ioctl_u32(int fd, __u32 cmd, __u32 value, struct probe_answer *answer)
{
	probe_ioctl(fd, cmd, &value, answer);
}

/* CREATE_VTL and a CREATE_PARTITION with zeroed arguments: as many zero
 * bytes as the number encodes, whichever generation's it is. */
static void probe_ioctl_zeroed(int fd, __u32 cmd, struct probe_answer *answer)
{
	unsigned char zeroed[1 << _IOC_SIZEBITS] = {0};

	probe_ioctl(fd, cmd, zeroed, answer);
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
	probe_ioctl_u32(*fd, report->opts->cmd[OP_REQUEST_VERSION], version, &answer);
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
		probe_ioctl_u32(fd, report->opts->cmd[OP_REQUEST_VERSION], versions->items[i],
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
	probe_ioctl_u32(fd, report->opts->cmd[OP_REQUEST_VERSION], report->accepted[0],
			&report->relock);
	report->relock_checked = true;
	return probe_close(report, fd, error);
}

/* Any ioctl before a version is -EBADFD, as in the RFC driver: negotiated
 * asks CHECK_EXTENSION, rfc-2020 (which has no other query) CREATE_PARTITION. */
static int before_version_probe(struct probe_report *report, struct probe_error *error)
{
	const struct probe_options *opts = report->opts;
	int fd, ret = 0;

	if (probe_open(report, &fd, error) < 0)
		return -1;
	if (report->profile->check_extension) {
		probe_ioctl_u32(fd, opts->cmd[OP_CHECK_EXTENSION], opts->caps.items[0],
				&report->before_version);
	} else {
		probe_ioctl_zeroed(fd, opts->cmd[OP_CREATE_PARTITION], &report->before_version);
		ret = created_fd_release(fd, &report->before_version, error);
	}
	report->before_version_checked = true;
	if (ret < 0) {
		close(fd); /* already failing: the first error is the one reported */
		return -1;
	}
	return probe_close(report, fd, error);
}

/* rfc-2020: CREATE_PARTITION on an fd locked to the first accepted version. */
static int create_versioned_probe(struct probe_report *report, struct probe_error *error)
{
	int fd;

	if (!report->accepted_count)
		return 0;
	if (version_lock(report, report->accepted[0], &fd, error) < 0)
		return -1;
	probe_ioctl_zeroed(fd, report->opts->cmd[OP_CREATE_PARTITION], &report->create_partition);
	report->create_partition_checked = true;
	report->create_partition_version = report->accepted[0];
	if (created_fd_release(fd, &report->create_partition, error) < 0) {
		close(fd); /* already failing: the first error is the one reported */
		return -1;
	}
	return probe_close(report, fd, error);
}

static void caps_check(const struct probe_report *report, int fd, struct probe_answer *column)
{
	const struct probe_list *caps = &report->opts->caps;

	for (size_t i = 0; i < caps->count; i++)
		probe_ioctl_u32(fd, report->opts->cmd[OP_CHECK_EXTENSION], caps->items[i],
				&column[i]);
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

/* rfc-2021, vtl, the root profiles and none: one fd, no ordering rule, no
 * version. */
static int unversioned_probe(struct probe_report *report, struct probe_error *error)
{
	int fd, ret = 0;

	if (probe_open(report, &fd, error) < 0)
		return -1;
	if (report->profile->check_extension)
		caps_check(report, fd, report->cap_answers);
	if (report->profile->create_vtl) {
		probe_ioctl_zeroed(fd, report->opts->cmd[OP_CREATE_VTL], &report->create_vtl);
		ret = created_fd_release(fd, &report->create_vtl, error);
	} else if (report->profile->create_partition) {
		probe_ioctl_zeroed(fd, report->opts->cmd[OP_CREATE_PARTITION],
				   &report->create_partition);
		report->create_partition_checked = true;
		ret = created_fd_release(fd, &report->create_partition, error);
	}
	if (ret < 0) {
		close(fd); /* already failing: the first error is the one reported */
		return -1;
	}
	return probe_close(report, fd, error);
}

/* ---- Root profiles ---- */

/* Which of the two device-fd ioctls beyond CREATE_PARTITION exist: ENOTTY
 * means absent.  A zeroed MSHV_ROOT_HVCALL header fails the driver's header
 * check (-EINVAL) before any hypercall. */
static void device_ioctls_probe(int fd, struct probe_report *report)
{
	struct mshv_emu_partition_property property = {
		.property_code = MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0,
	};
	struct mshv_root_hvcall call = {0};

	probe_ioctl(fd, report->opts->cmd[OP_ROOT_HVCALL], &call, &report->root_hvcall);
	probe_ioctl(fd, report->opts->cmd[OP_GET_HOST_PARTITION_PROPERTY], &property,
		    &report->host_property);
	report->host_property_value = property.property_value;
}

static enum property_outcome property_outcome(const struct property_answer *answer)
{
	if (answer->status != MSHV_EMU_HV_STATUS_SUCCESS)
		return OUTCOME_STATUS;
	if (answer->err)
		return OUTCOME_ERRNO;
	if (!answer->property.banked)
		return OUTCOME_VALUE;
	return answer->bank_count > MSHV_EMU_HV_MAX_BANKS ? OUTCOME_MALFORMED : OUTCOME_BANKS;
}

/* One property of the host partition, through MSHV_ROOT_HVCALL on the device
 * fd: GET_PARTITION_PROPERTY (16 bytes in, 8 out), or for a banked property
 * GET_PARTITION_PROPERTY_EX (24 in, 4072 out). */
static int property_read(int fd, __u32 cmd, struct property_answer *answer,
			 struct probe_error *error)
{
	struct mshv_emu_hv_get_property_ex_in in_ex = {
		.partition_id = MSHV_EMU_HV_PARTITION_ID_SELF,
		.property_code = answer->property.code,
	};
	struct mshv_emu_hv_get_property_in in = {
		.partition_id = MSHV_EMU_HV_PARTITION_ID_SELF,
		.property_code = answer->property.code,
	};
	__u64 out[MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE / sizeof(__u64)] = {0};
	bool banked = answer->property.banked;
	struct mshv_root_hvcall call = {
		.code = banked ? MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX
			       : MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
		.in_sz = banked ? sizeof(in_ex) : sizeof(in),
		.out_sz = banked ? MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE : sizeof(__u64),
		.in_ptr = banked ? (uintptr_t)&in_ex : (uintptr_t)&in,
		.out_ptr = (uintptr_t)out,
	};
	__u16 count;
	size_t kept;

	answer->err = ioctl(fd, (unsigned long)cmd, &call) < 0 ? errno : 0;
	sent_calls++;
	if (answer->err != ENOTTY)
		answered_calls++;
	/* The driver writes the header back whatever the result. */
	answer->status = call.status;
	if (answer->status || answer->err)
		return 0;
	if (!banked) {
		answer->value = out[0];
		return 0;
	}
	memcpy(&count, out, sizeof(count));
	answer->bank_count = count;
	kept = count > MSHV_EMU_HV_MAX_BANKS ? MSHV_EMU_HV_MAX_BANKS : count;
	answer->banks = calloc(kept ? kept : 1, sizeof(*answer->banks));
	if (!answer->banks) {
		error_set(error, errno, "allocate the banks of property 0x%08X",
			  answer->property.code);
		return -1;
	}
	memcpy(answer->banks, &out[1], kept * sizeof(*answer->banks));
	return 0;
}

/* The known properties, then any code only the --expect policy names. */
static int properties_list(struct probe_report *report, struct probe_error *error)
{
	const struct expect_policy *expect = &report->opts->expect;

	report->properties =
		calloc(KNOWN_PROPERTY_COUNT + expect->property_count, sizeof(*report->properties));
	if (!report->properties) {
		error_set(error, errno, "allocate the report");
		return -1;
	}
	for (size_t i = 0; i < KNOWN_PROPERTY_COUNT; i++)
		report->properties[report->property_count++].property = known_properties[i];
	for (size_t i = 0; i < expect->property_count; i++)
		if (!expect->properties[i].property.name)
			report->properties[report->property_count++].property =
				expect->properties[i].property;
	return 0;
}

/* Each flag bit alone, each on a fresh fd: a real driver returns a partition
 * fd (closed at once); the emulator, which cannot pass fds, a transport errno
 * for a flag set that validates and EINVAL for one that does not.  The v2
 * argument is passed every time: its first 16 bytes are the v1 layout, and
 * with bit 3 the driver reads all 64. */
static int create_flags_probe(struct probe_report *report, struct probe_error *error)
{
	for (int bit = 0; bit < PROBE_PT_BITS; bit++) {
		struct mshv_emu_create_partition_v2 args = {.pt_flags = 1ULL << bit};
		struct probe_answer *answer = &report->create_flags[bit];
		int fd;

		if (bit == MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES)
			args.pt_num_cpu_fbanks = MSHV_EMU_NUM_CPU_FEATURES_BANKS;
		if (probe_open(report, &fd, error) < 0)
			return -1;
		probe_ioctl(fd, report->opts->cmd[OP_CREATE_PARTITION], &args, answer);
		if (created_fd_release(fd, answer, error) < 0) {
			close(fd); /* already failing: the first error is the one reported */
			return -1;
		}
		if (probe_close(report, fd, error) < 0)
			return -1;
	}
	return 0;
}

static int root_probe(struct probe_report *report, struct probe_error *error)
{
	int fd;

	if (report->profile->properties && properties_list(report, error) < 0)
		return -1;
	if (probe_open(report, &fd, error) < 0)
		return -1;
	device_ioctls_probe(fd, report);
	for (size_t i = 0; i < report->property_count; i++) {
		if (property_read(fd, report->opts->cmd[OP_ROOT_HVCALL], &report->properties[i],
				  error) < 0) {
			close(fd); /* already failing: the first error is the one reported */
			return -1;
		}
	}
	if (probe_close(report, fd, error) < 0)
		return -1;
	return create_flags_probe(report, error);
}

/* A flag set the device took: anything but EINVAL (and ENOTTY, which says
 * there is no CREATE_PARTITION at all). */
static bool flag_accepted(const struct probe_answer *answer)
{
	return answer->err != EINVAL && answer->err != ENOTTY;
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
	if (!profile->request_version) {
		if (unversioned_probe(report, error) < 0)
			return -1;
		return profile->root ? root_probe(report, error) : 0;
	}
	if (versions_probe(report, error) < 0 || relock_probe(report, error) < 0 ||
	    before_version_probe(report, error) < 0)
		return -1;
	if (profile->create_partition) /* rfc-2020 */
		return create_versioned_probe(report, error);
	if (!profile->check_after_version)
		return 0;
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
		report->opts->cmd[OP_REQUEST_VERSION]);
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

	fprintf(out, "CHECK_EXTENSION 0x%08X%s\n", report->opts->cmd[OP_CHECK_EXTENSION],
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

static const char *vmm_cap_name(unsigned int bit, char *buf, size_t size)
{
	/* clang-format off */
	switch (bit) {
#define X(name, number) case number: return #name;
	MSHV_EMU_VMM_CAPS(X)
#undef X
	}
	/* clang-format on */
	snprintf(buf, size, "bit%u", bit);
	return buf;
}

/* "[0x17, 0x0]", as the policy writes banks. */
static void banks_print(FILE *out, const __u64 *banks, size_t count)
{
	fputc('[', out);
	for (size_t i = 0; i < count; i++)
		fprintf(out, "%s0x%llx", i ? ", " : "", (unsigned long long)banks[i]);
	fputc(']', out);
}

static void vmm_caps_print(FILE *out, __u64 bank)
{
	const char *separator = "";
	char buf[16];

	for (unsigned int bit = 0; bit < 64; bit++) {
		if (!(bank >> bit & 1))
			continue;
		fprintf(out, "%s%s", separator, vmm_cap_name(bit, buf, sizeof(buf)));
		separator = ", ";
	}
	if (!*separator)
		fputs("none", out);
}

static void status_print(FILE *out, __u16 status)
{
	const char *name = status_name(status);

	if (name)
		fprintf(out, "status %s", name);
	else
		fprintf(out, "status 0x%x", status);
}

/* The device's answer; detail adds what the comparison ignores. */
static void property_answer_print(FILE *out, const struct property_answer *answer, bool detail)
{
	char name[16];

	switch (property_outcome(answer)) {
	case OUTCOME_VALUE:
		fprintf(out, "value 0x%llx", (unsigned long long)answer->value);
		break;
	case OUTCOME_BANKS:
		fputs("banks ", out);
		banks_print(out, answer->banks, answer->bank_count);
		if (detail && answer->property.code == MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES &&
		    answer->bank_count) {
			fputs(": ", out);
			vmm_caps_print(out, answer->banks[0]);
		}
		break;
	case OUTCOME_STATUS:
		status_print(out, answer->status);
		if (detail && answer->err)
			fprintf(out, ", %s (%d)", errno_name(answer->err, name, sizeof(name)),
				answer->err);
		else if (detail)
			fputs(", though the ioctl returned 0", out);
		break;
	case OUTCOME_ERRNO:
		fprintf(out, "errno %s", errno_name(answer->err, name, sizeof(name)));
		if (detail)
			fprintf(out, " (%d), status 0: refused before the hypercall", answer->err);
		break;
	case OUTCOME_MALFORMED:
		fprintf(out, "bank_count %zu, more than the %d a %d-byte output holds",
			answer->bank_count, MSHV_EMU_HV_MAX_BANKS,
			MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE);
		break;
	}
}

static void presence_print(FILE *out, const char *what, const struct probe_answer *answer)
{
	char name[16];

	fprintf(out, "  %s: ", what);
	if (answer->err == ENOTTY)
		fputs("absent (ENOTTY)\n", out);
	else if (answer->err)
		fprintf(out, "present: %s (%d)\n", errno_name(answer->err, name, sizeof(name)),
			answer->err);
	else
		fprintf(out, "present, returned %d\n", answer->value);
}

static const char *flag_answer_format(const struct probe_answer *answer, char *buf, size_t size)
{
	char name[16];

	if (!answer->err && answer->fd_closed)
		snprintf(buf, size, "accepted (fd)");
	else if (!answer->err)
		snprintf(buf, size, "accepted (returned %d, not an fd)", answer->value);
	else if (answer->err == EINVAL)
		snprintf(buf, size, "EINVAL");
	else if (answer->err == ENOTTY)
		snprintf(buf, size, "ENOTTY (no CREATE_PARTITION)");
	else
		snprintf(buf, size, "accepted, no fd: %s",
			 errno_name(answer->err, name, sizeof(name)));
	return buf;
}

static void root_print_human(FILE *out, const struct probe_report *report)
{
	char cell[64], what[96];
	int name_width = strlen("name");

	fputs("device ioctls (one fd)\n", out);
	snprintf(what, sizeof(what), "MSHV_ROOT_HVCALL 0x%08X (zeroed header)",
		 report->opts->cmd[OP_ROOT_HVCALL]);
	presence_print(out, what, &report->root_hvcall);
	snprintf(what, sizeof(what),
		 "MSHV_GET_HOST_PARTITION_PROPERTY 0x%08X (PROCESSOR_FEATURES0)",
		 report->opts->cmd[OP_GET_HOST_PARTITION_PROPERTY]);
	if (report->host_property.err)
		presence_print(out, what, &report->host_property);
	else
		fprintf(out, "  %s: present, value 0x%llx\n", what,
			(unsigned long long)report->host_property_value);
	if (report->profile->properties) {
		for (size_t i = 0; i < report->property_count; i++) {
			const char *name = report->properties[i].property.name;

			width_fit(&name_width, name ? name : "-");
		}
		fprintf(out,
			"host partition properties (MSHV_ROOT_HVCALL on the device fd, "
			"partition SELF)\n  %-10s  %-*s  %-6s  answer\n",
			"code", name_width, "name", "hvcall");
		for (size_t i = 0; i < report->property_count; i++) {
			const struct property_answer *answer = &report->properties[i];
			const char *name = answer->property.name;

			fprintf(out, "  0x%08X  %-*s  0x%04X  ", answer->property.code, name_width,
				name ? name : "-",
				answer->property.banked ? MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX
							: MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY);
			property_answer_print(out, answer, true);
			fputc('\n', out);
		}
	}
	fprintf(out,
		"CREATE_PARTITION 0x%08X flag bits (each alone on a fresh fd; bit 3 with the "
		"64-byte v2 argument)\n",
		report->opts->cmd[OP_CREATE_PARTITION]);
	name_width = strlen("name");
	for (int bit = 0; bit < PROBE_PT_BITS; bit++)
		width_fit(&name_width, pt_bit_names[bit]);
	fprintf(out, "  bit  %-*s  answer\n", name_width, "name");
	for (int bit = 0; bit < PROBE_PT_BITS; bit++)
		fprintf(out, "  %-3d  %-*s  %s\n", bit, name_width, pt_bit_names[bit],
			flag_answer_format(&report->create_flags[bit], cell, sizeof(cell)));
}

/* rfc-2020: CREATE_PARTITION before a version, then on a versioned fd. */
static void create_versioned_print_human(FILE *out, const struct probe_report *report)
{
	char cell[64], number[16];

	fprintf(out, "CREATE_PARTITION 0x%08X (zeroed arguments)\n",
		report->opts->cmd[OP_CREATE_PARTITION]);
	fprintf(out, "  before REQUEST_VERSION: %s\n",
		answer_format(&report->before_version, ANSWER_CREATE, cell, sizeof(cell)));
	if (report->create_partition_checked)
		fprintf(out, "  on a version-%s fd: %s\n",
			number_format(report->create_partition_version, number, sizeof(number)),
			answer_format(&report->create_partition, ANSWER_CREATE, cell,
				      sizeof(cell)));
	else
		fputs("  on a versioned fd: not checked (no version accepted)\n", out);
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
		fprintf(out, "CREATE_VTL 0x%08X: %s\n", report->opts->cmd[OP_CREATE_VTL],
			answer_format(&report->create_vtl, ANSWER_CREATE, cell, sizeof(cell)));
	if (profile->create_partition && profile->request_version) /* rfc-2020 */
		create_versioned_print_human(out, report);
	else if (profile->create_partition)
		fprintf(out, "CREATE_PARTITION 0x%08X (zeroed arguments): %s\n",
			report->opts->cmd[OP_CREATE_PARTITION],
			answer_format(&report->create_partition, ANSWER_CREATE, cell,
				      sizeof(cell)));
	if (profile->root)
		root_print_human(out, report);
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
		report->opts->cmd[OP_REQUEST_VERSION]);
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
		report->opts->cmd[OP_CHECK_EXTENSION]);
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

static void json_presence(FILE *out, const char *key, __u32 cmd, const struct probe_answer *answer)
{
	fprintf(out, "\"%s\":{\"cmd\":\"0x%08x\",\"present\":%s,", key, cmd,
		answer->err == ENOTTY ? "false" : "true");
	json_answer(out, answer);
}

static void json_property(FILE *out, const struct property_answer *answer)
{
	const char *name = answer->property.name;
	char buf[16];

	fprintf(out, "{\"code\":\"0x%08x\",\"name\":", answer->property.code);
	if (name)
		json_string(out, name);
	else
		fputs("null", out);
	fprintf(out, ",\"hvcall\":\"%s\",",
		answer->property.banked ? "GET_PARTITION_PROPERTY_EX" : "GET_PARTITION_PROPERTY");
	switch (property_outcome(answer)) {
	case OUTCOME_VALUE:
		fprintf(out, "\"value\":\"0x%llx\"", (unsigned long long)answer->value);
		break;
	case OUTCOME_BANKS:
		fputs("\"banks\":[", out);
		for (size_t i = 0; i < answer->bank_count; i++)
			fprintf(out, "%s\"0x%llx\"", i ? "," : "",
				(unsigned long long)answer->banks[i]);
		fputc(']', out);
		if (answer->property.code == MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES) {
			const char *separator = "";

			fputs(",\"vmm_caps\":[", out);
			for (unsigned int bit = 0; answer->bank_count && bit < 64; bit++) {
				if (!(answer->banks[0] >> bit & 1))
					continue;
				fputs(separator, out);
				json_string(out, vmm_cap_name(bit, buf, sizeof(buf)));
				separator = ",";
			}
			fputc(']', out);
		}
		break;
	case OUTCOME_STATUS:
	case OUTCOME_ERRNO:
		fprintf(out, "\"status\":%u,\"status_name\":", answer->status);
		if (status_name(answer->status))
			json_string(out, status_name(answer->status));
		else
			fputs("null", out);
		fprintf(out, ",\"errno\":%d,\"errno_name\":", answer->err);
		if (answer->err)
			json_string(out, errno_name(answer->err, buf, sizeof(buf)));
		else
			fputs("null", out);
		break;
	case OUTCOME_MALFORMED:
		fprintf(out, "\"bank_count\":%zu,\"malformed\":true", answer->bank_count);
		break;
	}
	fputc('}', out);
}

static void root_print_json(FILE *out, const struct probe_report *report)
{
	fputs(",\"device_ioctls\":{", out);
	json_presence(out, "root_hvcall", report->opts->cmd[OP_ROOT_HVCALL], &report->root_hvcall);
	fputs("},", out);
	json_presence(out, "get_host_partition_property",
		      report->opts->cmd[OP_GET_HOST_PARTITION_PROPERTY], &report->host_property);
	fputs(",\"property\":\"PROCESSOR_FEATURES0\"", out);
	if (!report->host_property.err)
		fprintf(out, ",\"property_value\":\"0x%llx\"",
			(unsigned long long)report->host_property_value);
	fputs("}},\"create_partition_flags\":[", out);
	for (int bit = 0; bit < PROBE_PT_BITS; bit++) {
		const struct probe_answer *answer = &report->create_flags[bit];

		fprintf(out,
			"%s{\"bit\":%d,\"name\":\"%s\",\"flags\":\"0x%x\",\"accepted\":%s,"
			"\"fd\":%s,",
			bit ? "," : "", bit, pt_bit_names[bit], 1u << bit,
			flag_accepted(answer) ? "true" : "false",
			answer->fd_closed ? "true" : "false");
		json_answer(out, answer);
		fputc('}', out);
	}
	fputc(']', out);
	if (!report->profile->properties)
		return;
	fputs(",\"properties\":[", out);
	for (size_t i = 0; i < report->property_count; i++) {
		if (i)
			fputc(',', out);
		json_property(out, &report->properties[i]);
	}
	fputc(']', out);
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
		fprintf(out, ",\"create_vtl\":{\"cmd\":\"0x%08x\",",
			report->opts->cmd[OP_CREATE_VTL]);
		json_answer(out, &report->create_vtl);
		fputc('}', out);
	}
	if (profile->create_partition) {
		fprintf(out, ",\"create_partition\":{\"cmd\":\"0x%08x\"",
			report->opts->cmd[OP_CREATE_PARTITION]);
		if (profile->request_version) { /* rfc-2020 */
			fputs(",\"before_version\":{", out);
			json_answer(out, &report->before_version);
			fputc('}', out);
			if (report->create_partition_checked)
				fprintf(out, ",\"version\":%u", report->create_partition_version);
			else
				fputs(",\"version\":null", out);
		}
		if (report->create_partition_checked) {
			fputc(',', out);
			json_answer(out, &report->create_partition);
		}
		fputc('}', out);
	}
	if (profile->root)
		root_print_json(out, report);
	fputs("}\n", out);
}

/* ---- --emit-policy ---- */

/* A device path in a comment line: no line breaks or other control bytes. */
static void comment_text(FILE *out, const char *text)
{
	for (const unsigned char *s = (const unsigned char *)text; *s; s++)
		fputc(*s < 0x20 || *s == 0x7F ? '?' : *s, out);
}

/* An errno as a policy writes it: its name, or its number. */
static void errno_emit(FILE *out, int err)
{
	const char *name = errno_known_name(err);

	if (name)
		fputs(name, out);
	else
		fprintf(out, "%d", err);
}

static void property_id_emit(FILE *out, const struct hv_property *property)
{
	if (property->name)
		fprintf(out, "name: %s", property->name);
	else
		fprintf(out, "code: 0x%08x", property->code);
}

static void property_emit(FILE *out, const struct property_answer *answer)
{
	const char *name = status_name(answer->status);
	char buf[16];

	switch (property_outcome(answer)) {
	case OUTCOME_VALUE:
		fputs("    - {", out);
		property_id_emit(out, &answer->property);
		fprintf(out, ", value: 0x%llx}\n", (unsigned long long)answer->value);
		break;
	case OUTCOME_BANKS:
		fputs("    - {", out);
		property_id_emit(out, &answer->property);
		fputs(", banks: ", out);
		banks_print(out, answer->banks, answer->bank_count);
		fputc('}', out);
		if (answer->property.code == MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES &&
		    answer->bank_count) {
			fputs("  # ", out);
			vmm_caps_print(out, answer->banks[0]);
		}
		fputc('\n', out);
		break;
	case OUTCOME_STATUS:
		fputs("    - {", out);
		property_id_emit(out, &answer->property);
		if (name)
			fprintf(out, ", status: %s}\n", name);
		else
			fprintf(out, ", status: 0x%x}\n", answer->status);
		break;
	case OUTCOME_ERRNO:
		fprintf(out,
			"    # 0x%08x %s: not written: the driver refused the call before the "
			"hypercall (%s)\n",
			answer->property.code, answer->property.name ? answer->property.name : "",
			errno_name(answer->err, buf, sizeof(buf)));
		break;
	case OUTCOME_MALFORMED:
		fprintf(out, "    # 0x%08x %s: not written: bank_count %zu overruns the output\n",
			answer->property.code, answer->property.name ? answer->property.name : "",
			answer->bank_count);
		break;
	}
}

/* create_vtl or create_partition: mshv-emu answers either with an errno,
 * since the real ioctl's answer is a new fd and a value would be taken for
 * one; WHAT names the answer in comments. */
static void fd_answer_emit(FILE *out, const char *key, const char *what,
			   const struct probe_answer *answer)
{
	if (answer->err == ENOTTY) {
		fprintf(out, "# %s: not written: ENOTTY, the device has no %s\n", key, what);
	} else if (answer->err) {
		fprintf(out, "%s: {errno: ", key);
		errno_emit(out, answer->err);
		fputs("}\n", out);
	} else if (answer->fd_closed) {
		fprintf(out,
			"# %s: not written: the device returned a new fd, which mshv-emu cannot\n"
			"# pass: it answers an errno (%s)\n",
			key,
			!strcmp(key, "create_vtl") ? "which this profile needs: add one"
						   : "EOPNOTSUPP unless set");
	} else {
		fprintf(out,
			"# %s: not written: the device returned %d, not an fd; mshv-emu answers\n"
			"# %s with an errno only\n",
			key, answer->value, what);
	}
}

static void versions_emit(FILE *out, const struct probe_report *report)
{
	char number[16];

	if (!report->accepted_count) {
		fputs("# versions: none of the probed versions was accepted; mshv-emu needs at\n"
		      "# least one: probe more with --versions\n",
		      out);
		return;
	}
	fputs("versions: [", out);
	for (size_t i = 0; i < report->accepted_count; i++)
		fprintf(out, "%s%s", i ? ", " : "",
			number_format(report->accepted[i], number, sizeof(number)));
	fputs("]\n", out);
}

/* Was the id at INDEX of the caps list already listed before it? */
static bool cap_repeated(const struct probe_list *caps, size_t index)
{
	for (size_t i = 0; i < index; i++)
		if (caps->items[i] == caps->items[index])
			return true;
	return false;
}

/* One entry per id that answered a value under some accepted version;
 * `versions:` when not under all of them. */
static void caps_emit(FILE *out, const struct probe_report *report)
{
	const struct probe_list *caps = &report->opts->caps;
	bool versioned = report->profile->check_after_version, any = false;
	char number[16];

	if (!report->column_count) {
		fputs("# capabilities: not checked: no version was accepted\n", out);
		return;
	}
	for (size_t i = 0; i < caps->count; i++) {
		const struct probe_answer *first = NULL;
		size_t seen = 0, first_column = 0;
		bool differ = false;
		const char *name = cap_name(caps->items[i]);

		if (cap_repeated(caps, i))
			continue;
		for (size_t column = 0; column < report->column_count; column++) {
			const struct probe_answer *answer =
				&report->cap_answers[column * caps->count + i];

			if (answer->err)
				continue;
			if (!first) {
				first = answer;
				first_column = column;
			}
			differ |= answer->value != first->value;
			seen++;
		}
		if (!first)
			continue;
		if (caps->items[i] > 0xFFFFF) {
			fprintf(out,
				"  # id 0x%X answered %d: not written: a policy's ids go up to "
				"0xfffff\n",
				caps->items[i], first->value);
			continue;
		}
		if (!any)
			fputs("capabilities:\n", out);
		any = true;
		if (name)
			fprintf(out, "  - {name: %s", name);
		else
			fprintf(out, "  - {name: CAP_0x%X", caps->items[i]);
		fprintf(out, ", id: 0x%x, value: %d", caps->items[i], first->value);
		if (versioned && seen < report->column_count) {
			const char *separator = "";

			fputs(", versions: [", out);
			for (size_t column = 0; column < report->column_count; column++) {
				if (report->cap_answers[column * caps->count + i].err)
					continue;
				fprintf(out, "%s%s", separator,
					number_format(report->accepted[column], number,
						      sizeof(number)));
				separator = ", ";
			}
			fputc(']', out);
		}
		fputc('}', out);
		if (differ) {
			const char *separator = "";

			fputs("  # its value differs by version:", out);
			for (size_t column = 0; column < report->column_count; column++) {
				const struct probe_answer *answer =
					&report->cap_answers[column * caps->count + i];

				if (answer->err)
					continue;
				fprintf(out, "%s %d under %s", separator, answer->value,
					number_format(report->accepted[column], number,
						      sizeof(number)));
				separator = ",";
			}
			fprintf(out, "; a policy gives one value: this is version %s's",
				number_format(report->accepted[first_column], number,
					      sizeof(number)));
		}
		fputc('\n', out);
	}
	if (!any)
		fputs("capabilities: []\n", out);
}

/* What the refusals came to, where the probe saw them. */
struct observed_refusal {
	bool seen;
	int err;
	const char *where; /* for the comment when answers differ */
	bool differ;
	bool accepted; /* a call that should be refused was not */
};

static void refusal_observe(struct observed_refusal *observed, const struct probe_answer *answer,
			    const char *where)
{
	if (!answer->err) {
		observed->accepted = true;
		observed->where = where;
		return;
	}
	if (!observed->seen) {
		observed->seen = true;
		observed->err = answer->err;
		observed->where = where;
	} else if (observed->err != answer->err) {
		observed->differ = true;
	}
}

/* `errors:` keys whose errno differs from every profile's default. */
static void errors_emit(FILE *out, const struct probe_report *report)
{
	struct observed_refusal observed[REFUSAL_COUNT] = {0};
	const struct probe_profile *profile = report->profile;
	const struct probe_list *caps = &report->opts->caps;
	bool header = false;
	char name[16];

	if (profile->request_version) {
		for (size_t i = 0; i < report->opts->versions.count; i++)
			if (report->version_answers[i].err)
				refusal_observe(&observed[REFUSAL_UNSUPPORTED_VERSION],
						&report->version_answers[i], "REQUEST_VERSION");
		if (report->relock_checked)
			refusal_observe(&observed[REFUSAL_VERSION_LOCKED], &report->relock,
					"a second REQUEST_VERSION on a versioned fd");
	}
	if (report->before_version_checked)
		refusal_observe(&observed[REFUSAL_UNVERSIONED], &report->before_version,
				profile->check_extension ? "CHECK_EXTENSION before a version"
							 : "CREATE_PARTITION before a version");
	for (size_t cell = 0; profile->check_extension && cell < report->column_count * caps->count;
	     cell++)
		if (report->cap_answers[cell].err)
			refusal_observe(&observed[REFUSAL_UNKNOWN_CAPABILITY],
					&report->cap_answers[cell], "CHECK_EXTENSION");
	/* What a root profile lacks of the device ioctls the probe tries. */
	if (profile->root && !profile->properties)
		refusal_observe(&observed[REFUSAL_UNKNOWN_IOCTL], &report->root_hvcall,
				"MSHV_ROOT_HVCALL, which the profile lacks,");
	if (profile->root && !profile->host_property)
		refusal_observe(&observed[REFUSAL_UNKNOWN_IOCTL], &report->host_property,
				"MSHV_GET_HOST_PARTITION_PROPERTY, which the profile lacks,");
	for (int r = 0; r < REFUSAL_COUNT; r++) {
		const struct observed_refusal *seen = &observed[r];

		if (seen->accepted && !seen->seen) {
			fprintf(out,
				"# errors.%s: not written: %s was accepted, which mshv-emu always "
				"refuses\n",
				refusals[r].key, seen->where);
			continue;
		}
		if (!seen->seen || seen->err == refusals[r].errno_default)
			continue;
		if (seen->differ)
			fprintf(out,
				"# errors.%s: %s answered different errnos; the first is "
				"written\n",
				refusals[r].key, seen->where);
		if (!header)
			fputs("errors:\n", out);
		header = true;
		fprintf(out, "  %s: ", refusals[r].key);
		errno_emit(out, seen->err);
		fprintf(out, "  # as %s answered; the default is %s\n", seen->where,
			errno_name(refusals[r].errno_default, name, sizeof(name)));
	}
}

/* `numbers:` for the built-ins the probe sent at a number of their own. */
static void numbers_emit(FILE *out, const struct probe_report *report)
{
	bool header = false;

	for (int op = 0; op < OP_COUNT; op++) {
		__u32 cmd = report->opts->cmd[op];

		if (!profile_has(report->profile, op) || cmd == op_default_cmd(report->profile, op))
			continue;
		if (!header)
			fputs("numbers:\n", out);
		header = true;
		fprintf(out, "  %s: 0x%08X\n", op_keys[op], cmd);
	}
}

/* The flag bits CREATE_PARTITION took alone. */
static __u64 flags_accepted(const struct probe_report *report)
{
	__u64 mask = 0;

	for (int bit = 0; bit < PROBE_PT_BITS; bit++)
		if (flag_accepted(&report->create_flags[bit]))
			mask |= 1ULL << bit;
	return mask;
}

static void root_emit(FILE *out, const struct probe_report *report)
{
	const __u64 accepted = flags_accepted(report);
	/* Bits past 5 are not probed: the profile's mask keeps its own. */
	const __u64 mask = (report->profile->flags_mask & ~PROBE_PT_MASK) | accepted;
	size_t written = 0;

	if (report->profile->properties) {
		for (size_t i = 0; i < report->property_count; i++) {
			enum property_outcome outcome = property_outcome(&report->properties[i]);

			written += outcome != OUTCOME_ERRNO && outcome != OUTCOME_MALFORMED;
		}
		fputs(written ? "hypervisor:\n  properties:\n" : "hypervisor:\n  properties: []\n",
		      out);
		for (size_t i = 0; i < report->property_count; i++)
			property_emit(out, &report->properties[i]);
	}
	if (mask == report->profile->flags_mask)
		return;
	if (!mask) {
		fputs("# driver: not written: CREATE_PARTITION refused every flag bit alone, and\n"
		      "# flags_mask cannot be 0\n",
		      out);
		return;
	}
	fprintf(out, "driver: {flags_mask: 0x%llX}  # the profile's is 0x%llX\n",
		(unsigned long long)mask, (unsigned long long)report->profile->flags_mask);
}

static int policy_emit(const struct probe_report *report, struct probe_error *error)
{
	const struct probe_profile *profile = report->profile;
	const char *path = report->opts->emit_path;
	FILE *out = fopen(path, "w");
	time_t now = time(NULL);
	char date[32] = "?";
	struct tm tm;

	if (!out) {
		error_set(error, errno, "--emit-policy: open %s", path);
		return -1;
	}
	if (gmtime_r(&now, &tm))
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fputs("# generated by mshv-probe from ", out);
	comment_text(out, report->opts->device);
	fprintf(out, " on %s\nprofile: %s\n", date, profile_names[report->opts->profile]);
	if (profile->request_version)
		versions_emit(out, report);
	if (profile->check_extension)
		caps_emit(out, report);
	errors_emit(out, report);
	if (profile->root)
		root_emit(out, report);
	if (profile->create_vtl)
		fd_answer_emit(out, "create_vtl", "CREATE_VTL", &report->create_vtl);
	if (profile->create_partition && report->create_partition_checked)
		fd_answer_emit(out, "create_partition", "CREATE_PARTITION",
			       &report->create_partition);
	else if (profile->create_partition)
		fputs("# create_partition: not checked: no version was accepted\n", out);
	numbers_emit(out, report);
	if (ferror(out)) {
		error_set(error, errno, "--emit-policy: write %s", path);
		fclose(out);
		return -1;
	}
	if (fclose(out) == EOF) {
		error_set(error, errno, "--emit-policy: write %s", path);
		return -1;
	}
	return 0;
}

/* ---- --expect: the comparison ---- */

/* Differences printed and answers compared, for the summary. */
struct comparison {
	FILE *out;
	const struct probe_report *report;
	const struct expect_policy *expect;
	size_t differences;
	size_t compared;
};

static void difference(struct comparison *cmp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void difference(struct comparison *cmp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(cmp->out, fmt, ap);
	va_end(ap);
	fputc('\n', cmp->out);
	cmp->differences++;
}

/* "EBADFD (77)", "value 1", "a new fd" */
static const char *answer_text(const struct probe_answer *answer, char *buf, size_t size)
{
	char name[16];

	if (answer->err)
		snprintf(buf, size, "%s (%d)", errno_name(answer->err, name, sizeof(name)),
			 answer->err);
	else if (answer->fd_closed)
		snprintf(buf, size, "a new fd");
	else
		snprintf(buf, size, "value %d", answer->value);
	return buf;
}

static const char *errno_text(int err, char *buf, size_t size)
{
	char name[16];

	snprintf(buf, size, "%s (%d)", errno_name(err, name, sizeof(name)), err);
	return buf;
}

/* A refusal, against the policy's `errors:` or the default. */
static void refusal_compare(struct comparison *cmp, const struct probe_answer *answer,
			    enum refusal refusal, const char *what)
{
	int want = cmp->expect->refusal[refusal];
	char device[48], policy[48];

	cmp->compared++;
	if (answer->err == want)
		return;
	difference(cmp, "errors.%s: %s: device answers %s, policy says %s", refusals[refusal].key,
		   what, answer_text(answer, device, sizeof(device)),
		   errno_text(want, policy, sizeof(policy)));
}

static bool version_listed(const __u32 *versions, size_t count, __u32 version)
{
	for (size_t i = 0; i < count; i++)
		if (versions[i] == version)
			return true;
	return false;
}

/* Each probed version is accepted iff listed, and refused with the
 * policy's errno; then the two ordering refusals. */
static void versions_compare(struct comparison *cmp)
{
	const struct probe_report *report = cmp->report;
	const struct expect_policy *expect = cmp->expect;
	const struct probe_list *versions = &report->opts->versions;
	char number[16], text[48], what[96];

	for (size_t i = 0; i < versions->count; i++) {
		const struct probe_answer *answer = &report->version_answers[i];
		bool listed =
			version_listed(expect->versions, expect->version_count, versions->items[i]);

		number_format(versions->items[i], number, sizeof(number));
		if (!listed && answer->err) {
			snprintf(what, sizeof(what), "REQUEST_VERSION(%s)", number);
			refusal_compare(cmp, answer, REFUSAL_UNSUPPORTED_VERSION, what);
			continue;
		}
		cmp->compared++;
		if (listed && answer->err)
			difference(cmp,
				   "versions: device refuses version %s with %s, policy lists it",
				   number, answer_text(answer, text, sizeof(text)));
		else if (!listed)
			difference(cmp,
				   "versions: device accepts version %s, policy does not list it",
				   number);
	}
	if (report->relock_checked) {
		snprintf(what, sizeof(what), "a second REQUEST_VERSION(%s) on a versioned fd",
			 number_format(report->accepted[0], number, sizeof(number)));
		refusal_compare(cmp, &report->relock, REFUSAL_VERSION_LOCKED, what);
	}
	if (report->before_version_checked)
		refusal_compare(cmp, &report->before_version, REFUSAL_UNVERSIONED,
				report->profile->check_extension
					? "CHECK_EXTENSION before REQUEST_VERSION"
					: "CREATE_PARTITION before REQUEST_VERSION");
}

static const struct expect_cap *expect_cap_find(const struct expect_policy *expect, __u32 id)
{
	for (size_t i = 0; i < expect->cap_count; i++)
		if (expect->caps[i].id == id)
			return &expect->caps[i];
	return NULL;
}

/* Each probed id in each column: a listed capability visible under the
 * column's version answers its value, anything else the unknown errno. */
static void caps_compare(struct comparison *cmp)
{
	const struct probe_report *report = cmp->report;
	const struct expect_policy *expect = cmp->expect;
	const struct probe_list *caps = &report->opts->caps;
	bool versioned = report->profile->check_after_version;
	char number[16], under[32], device[48], policy[96], err[48];

	for (size_t column = 0; column < report->column_count; column++) {
		__u32 version = versioned ? report->accepted[column] : 0;

		under[0] = '\0';
		if (versioned)
			snprintf(under, sizeof(under), " under version %s",
				 number_format(version, number, sizeof(number)));
		for (size_t i = 0; i < caps->count; i++) {
			const struct probe_answer *answer =
				&report->cap_answers[column * caps->count + i];
			const struct expect_cap *cap = expect_cap_find(expect, caps->items[i]);
			bool visible =
				cap && (!versioned || !cap->versions ||
					version_listed(cap->versions, cap->version_count, version));
			int unknown = expect->refusal[REFUSAL_UNKNOWN_CAPABILITY];
			const char *name = cap ? cap->name : cap_name(caps->items[i]);

			cmp->compared++;
			if (visible ? !answer->err && answer->value == cap->value
				    : answer->err == unknown)
				continue;
			if (visible)
				snprintf(policy, sizeof(policy), "value %d", cap->value);
			else
				snprintf(policy, sizeof(policy), "%s (%s)",
					 errno_text(unknown, err, sizeof(err)),
					 cap ? "not visible under this version" : "not listed");
			difference(cmp,
				   "capabilities: id %s%s%s%s%s: device answers %s, policy says %s",
				   number_format(caps->items[i], number, sizeof(number)),
				   name ? " (" : "", name ? name : "", name ? ")" : "", under,
				   answer_text(answer, device, sizeof(device)), policy);
		}
	}
}

/* One CREATE_PARTITION answer against the policy's create_partition. */
static void create_compare(struct comparison *cmp, const struct probe_answer *answer,
			   const char *what)
{
	char device[48], policy[48];

	cmp->compared++;
	if (answer->err == cmp->expect->create_errno)
		return;
	difference(cmp, "create_partition%s: device answers %s, policy says %s", what,
		   answer_text(answer, device, sizeof(device)),
		   errno_text(cmp->expect->create_errno, policy, sizeof(policy)));
}

/* Each flag bit alone is accepted iff driver.flags_mask has it. */
static void flags_compare(struct comparison *cmp)
{
	const struct probe_report *report = cmp->report;
	__u64 mask = cmp->expect->flags_mask;
	char device[48];

	for (int bit = 0; bit < PROBE_PT_BITS; bit++) {
		const struct probe_answer *answer = &report->create_flags[bit];
		bool accepted = flag_accepted(answer), wanted = mask >> bit & 1;

		cmp->compared++;
		if (accepted == wanted)
			continue;
		difference(cmp,
			   "driver.flags_mask: CREATE_PARTITION with flag bit %d (%s) alone: "
			   "device %s it (%s), policy's mask 0x%llX %s it",
			   bit, pt_bit_names[bit], accepted ? "accepts" : "refuses",
			   answer_text(answer, device, sizeof(device)), (unsigned long long)mask,
			   wanted ? "accepts" : "refuses");
	}
}

static void expect_property_print(FILE *out, const struct expect_property *expect)
{
	switch (expect->kind) {
	case EXPECT_VALUE:
		fprintf(out, "value 0x%llx", (unsigned long long)expect->value);
		break;
	case EXPECT_BANKS:
		fputs("banks ", out);
		banks_print(out, expect->banks, expect->bank_count);
		if (expect->from_vmm_caps) {
			fputs(" (", out);
			vmm_caps_print(out, expect->banks[0]);
			fputc(')', out);
		}
		break;
	case EXPECT_STATUS:
		status_print(out, expect->value);
		break;
	}
}

static bool property_matches(const struct property_answer *answer,
			     const struct expect_property *expect)
{
	switch (property_outcome(answer)) {
	case OUTCOME_VALUE:
		return expect->kind == EXPECT_VALUE && expect->value == answer->value;
	case OUTCOME_BANKS:
		return expect->kind == EXPECT_BANKS && expect->bank_count == answer->bank_count &&
		       !memcmp(expect->banks, answer->banks,
			       answer->bank_count * sizeof(*answer->banks));
	case OUTCOME_STATUS:
		return expect->kind == EXPECT_STATUS && expect->value == answer->status;
	case OUTCOME_ERRNO:
	case OUTCOME_MALFORMED:
		break;
	}
	return false;
}

static void properties_compare(struct comparison *cmp)
{
	const struct probe_report *report = cmp->report;
	const struct expect_policy *expect = cmp->expect;

	for (size_t i = 0; i < expect->property_count; i++) {
		const struct expect_property *property = &expect->properties[i];

		for (size_t j = 0; j < report->property_count; j++) {
			const struct property_answer *answer = &report->properties[j];

			if (answer->property.code != property->property.code)
				continue;
			cmp->compared++;
			if (property_matches(answer, property))
				continue;
			if (property->from_vmm_caps)
				fputs("hypervisor.vmm_capabilities: device answers ", cmp->out);
			else if (property->property.name)
				fprintf(cmp->out, "%s: device answers ", property->property.name);
			else
				fprintf(cmp->out, "0x%08x: device answers ",
					property->property.code);
			property_answer_print(cmp->out, answer, property->from_vmm_caps);
			fputs(", policy says ", cmp->out);
			expect_property_print(cmp->out, property);
			difference(cmp, "%s", "");
		}
	}
}

/* A device ioctl beyond CREATE_PARTITION exists iff the policy's profile
 * has it; one it lacks answers errors.unknown_ioctl. */
static void presence_compare(struct comparison *cmp, const char *name,
			     const struct probe_answer *answer, bool wanted)
{
	int unknown = cmp->expect->refusal[REFUSAL_UNKNOWN_IOCTL];
	const char *profile = profile_names[cmp->expect->profile];
	char device[48], err[48];

	cmp->compared++;
	if ((answer->err != unknown) == wanted)
		return;
	if (wanted)
		difference(cmp, "%s: device answers %s, as for no such ioctl; profile %s has it",
			   name, answer_text(answer, device, sizeof(device)), profile);
	else
		difference(cmp,
			   "%s: device answers %s, policy says %s: profile %s has no such ioctl",
			   name, answer_text(answer, device, sizeof(device)),
			   errno_text(unknown, err, sizeof(err)), profile);
}

/* Prints one line per difference. */
static void expect_compare(struct comparison *cmp)
{
	const struct probe_report *report = cmp->report;
	const struct probe_profile *profile = report->profile;
	const struct expect_policy *expect = cmp->expect;
	char what[64];

	if (expect->profile != report->opts->profile)
		difference(cmp, "profile: probed as %s, policy says %s",
			   profile_names[report->opts->profile], profile_names[expect->profile]);
	if (profile->request_version)
		versions_compare(cmp);
	if (profile->check_extension)
		caps_compare(cmp);
	if (profile->create_vtl && expect->create_vtl) {
		char device[48], policy[48];

		cmp->compared++;
		if (report->create_vtl.err != expect->create_vtl_errno)
			difference(cmp, "create_vtl: device answers %s, policy says %s",
				   answer_text(&report->create_vtl, device, sizeof(device)),
				   errno_text(expect->create_vtl_errno, policy, sizeof(policy)));
	}
	/* A policy's create_partition answers every flag set the profile
	 * accepts: zeroed arguments, and each bit the device did not refuse. */
	if (profile->create_partition && expect->create_partition &&
	    report->create_partition_checked) {
		create_compare(cmp, &report->create_partition,
			       profile->root ? " (flags 0x0)" : " (zeroed arguments)");
		for (int bit = 0; profile->root && bit < PROBE_PT_BITS; bit++) {
			if (!flag_accepted(&report->create_flags[bit]))
				continue;
			snprintf(what, sizeof(what), " (flags 0x%llx)", 1ULL << bit);
			create_compare(cmp, &report->create_flags[bit], what);
		}
	}
	if (profile->root && expect->flags_mask) {
		const struct probe_profile *wanted = &probe_profiles[expect->profile];

		presence_compare(cmp, "MSHV_ROOT_HVCALL", &report->root_hvcall, wanted->properties);
		presence_compare(cmp, "MSHV_GET_HOST_PARTITION_PROPERTY", &report->host_property,
				 wanted->host_property);
		flags_compare(cmp);
	}
	if (profile->properties)
		properties_compare(cmp);
}
static void report_free(struct probe_report *report)
{
	free(report->version_answers);
	free(report->accepted);
	free(report->cap_answers);
	for (size_t i = 0; i < report->property_count; i++)
		free(report->properties[i].banks);
	free(report->properties);
}

static void error_print(const struct probe_error *error)
{
	cli_fail(&cli, "%s%s%s%s", error->msg, error->err ? ": " : "",
		 error->err ? strerror(error->err) : "",
		 error->hint ? "; is mshv-emu running? for the FUSE front, pass --device "
			       "DIR/NAME"
			     : "");
}

int main(int argc, char **argv)
{
	struct probe_options opts;
	struct probe_report report = {.opts = &opts};
	struct probe_error error = {0};
	cli_init(&cli, "mshv-probe", usage_text, argc, argv);
	int status = options_parse(argc, argv, &opts);

	if (status) {
		/* --help, a usage error, or an --expect policy it cannot read */
		status = status == 1 ? 0 : status == 2 ? 2 : 1;
		goto out;
	}
	report.profile = &probe_profiles[opts.profile];
	if (report_run(&report, &error) < 0) {
		error_print(&error);
		status = 1;
		goto out;
	}
	/* /dev/null, a regular file, another driver's node: each ioctl is
	 * refused as one the file does not have.  Nothing to report, or emit. */
	if (sent_calls && !answered_calls) {
		status = cli_fail(&cli,
				  "no mshv device answers at %s: each of its ioctls of profile %s "
				  "got ENOTTY (no such ioctl); pass --device with the mshv device, "
				  "or the file mshv-emu serves (DIR/NAME under its --mountpoint); "
				  "for a device of another generation, pass its --profile",
				  opts.device, profile_names[opts.profile]);
		goto out;
	}
	if (opts.emit_path && policy_emit(&report, &error) < 0) {
		error_print(&error);
		status = 1;
		goto out;
	}
	if (opts.expect_path) {
		struct comparison cmp = {.out = stdout, .report = &report, .expect = &opts.expect};

		expect_compare(&cmp);
		if (cmp.differences) {
			fprintf(stderr, "mshv-probe: %s differs from %s in %zu place%s\n",
				opts.device, opts.expect_path, cmp.differences,
				cmp.differences == 1 ? "" : "s");
			status = 1;
		} else {
			printf("mshv-probe: %s matches %s (profile %s, %zu answer%s compared)\n",
			       opts.device, opts.expect_path, profile_names[opts.profile],
			       cmp.compared, cmp.compared == 1 ? "" : "s");
		}
	} else if (opts.json) {
		report_print_json(stdout, &report);
	} else {
		report_print_human(stdout, &report);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "mshv-probe: write stdout: %s\n", strerror(errno));
		status = 1;
	}
out:
	report_free(&report);
	expect_free(&opts.expect);
	free(opts.versions.items);
	free(opts.caps.items);
	return status;
}
