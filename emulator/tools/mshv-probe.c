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
 *    "create_partition":{"cmd":"0x4010b800",ANSWER},  (zeroed arguments)
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
 *
 * Root profiles only: --emit-policy FILE writes what the device answered as
 * a policy mshv-emu can serve; --expect FILE reads such a file back (that
 * restricted format alone: see policy_load) and lists every difference.
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
	bool root;	 /* root driver: device ioctls, CREATE_PARTITION flags, policies */
	bool properties; /* ROOT_HVCALL on the device fd: host property calls */
	__u32 check_extension_cmd;
};

_Static_assert(PROFILE_COUNT == 8, "a new profile in mshv_emu.h needs a row in probe_profiles");

static const struct probe_profile probe_profiles[PROFILE_COUNT] = {
	[PROFILE_RFC_2020] = {.request_version = true},
	[PROFILE_RFC_2021] = {.check_extension = true, .check_extension_cmd = MSHV_CHECK_EXTENSION},
	[PROFILE_VTL] = {.check_extension = true,
			 .create_vtl = true,
			 .check_extension_cmd = MSHV_CHECK_EXTENSION},
	[PROFILE_ROOT_6_15] = {.create_partition = true, .root = true},
	[PROFILE_ROOT_6_19] = {.create_partition = true, .root = true, .properties = true},
	[PROFILE_MICROSOFT] = {.create_partition = true, .root = true, .properties = true},
	[PROFILE_NEGOTIATED] = {.request_version = true,
				.check_extension = true,
				.check_after_version = true,
				.check_extension_cmd = MSHV_NEGOTIATED_CHECK_EXTENSION},
	[PROFILE_NONE] = {0},
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

/* A policy written by --emit-policy, read back for --expect. */
enum expect_kind {
	EXPECT_VALUE,
	EXPECT_BANKS,
	EXPECT_STATUS
};

struct expect_property {
	struct hv_property property; /* name NULL when the policy gave a code */
	unsigned int line;
	enum expect_kind kind;
	__u64 value; /* EXPECT_VALUE: the value; EXPECT_STATUS: the status */
	__u64 *banks;
	size_t bank_count;
};

struct expect_policy {
	int profile;	       /* -1: no profile key */
	bool create_partition; /* the key is present */
	int create_errno;      /* 0: the answer is create_value */
	__u64 create_value;
	bool hypervisor; /* hypervisor.properties is present */
	struct expect_property *properties;
	size_t property_count;
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
	__u32 request_version_cmd;
	__u32 check_extension_cmd;
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
	struct probe_answer before_version;
	size_t column_count;		  /* negotiated: accepted_count, else 1 */
	struct probe_answer *cap_answers; /* [column * caps.count + cap] */
	struct probe_answer create_vtl;
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
	      "  --emit-policy FILE        root profiles: also write what the device answered\n"
	      "                            as a policy mshv-emu can serve\n"
	      "  --expect POLICY           root profiles: compare the device to POLICY, print\n"
	      "                            each difference on a line, exit 1 if any; reads\n"
	      "                            only the format --emit-policy writes; without\n"
	      "                            --profile, the policy's profile is probed\n"
	      "LIST: comma-separated numbers and ranges, decimal or 0x-hex, e.g. 0-3,0xFFFFFFFE\n"
	      "(at most 4096 entries).  N: decimal or 0x-hex.\n"
	      "Root profiles (root-6.15, root-6.19, microsoft) also try MSHV_ROOT_HVCALL and\n"
	      "MSHV_GET_HOST_PARTITION_PROPERTY on the device fd, and CREATE_PARTITION with\n"
	      "each flag bit 0-5 alone, on a fresh fd each; root-6.19 and microsoft read\n"
	      "every known host partition property through MSHV_ROOT_HVCALL.\n"
	      "Exit status: 0 probed (refusals are results; with --expect: no difference),\n"
	      "1 failure (with --expect: a difference), 2 usage error.\n",
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

/* ---- --expect: the policy format --emit-policy writes, and nothing else ----
 *
 * mshv-probe links no YAML library, so it reads the restricted form it
 * writes: one `key: value` per line at the top level (profile,
 * create_partition, hypervisor), `  properties:` under hypervisor, and one
 * flow mapping `    - {name: N, value: V}` per property; comments and blank
 * lines anywhere.  Anything else is refused, saying so. */

#define EXPECT_FORMAT_HINT "--expect reads policies written by --emit-policy"
#define FLOW_MAX	   4

enum policy_section {
	SECTION_TOP,
	SECTION_HYPERVISOR,
	SECTION_PROPERTIES
};

struct flow_item {
	const char *key;
	char *value;
	bool list; /* value is the text between [ and ] */
};

/* Loader state, and why a line was refused. */
struct policy_reader {
	unsigned int line;
	enum policy_section section;
	bool seen_hypervisor;
	char why[192];
};

static void why_set(struct policy_reader *reader, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void why_set(struct policy_reader *reader, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reader->why, sizeof(reader->why), fmt, ap);
	va_end(ap);
}

static char *blank_skip(char *p)
{
	while (*p == ' ')
		p++;
	return p;
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

/* A hypervisor status: a name of MSHV_EMU_HV_STATUSES or a number. */
static int status_parse(const char *text, __u16 *status)
{
	uint64_t number;

	/* clang-format off */
#define X(name, code) if (!strcmp(text, #name)) { *status = code; return 0; }
	MSHV_EMU_HV_STATUSES(X)
#undef X
	/* clang-format on */
	if (scalar_parse(text, UINT16_MAX, &number) < 0)
		return -1;
	*status = number;
	return 0;
}

/* Splits "{key: scalar, key: [a, b]}" in place. */
static int flow_split(struct policy_reader *reader, char *p, struct flow_item *items, size_t *count)
{
	*count = 0;
	p = blank_skip(p);
	if (*p != '{') {
		why_set(reader, "expected a flow mapping `{key: value, ...}`");
		return -1;
	}
	p = blank_skip(p + 1);
	if (*p == '}') {
		p++;
		goto end;
	}
	for (;;) {
		char *key = p, *value, *stop;
		bool list;
		char delim;

		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p == key || *p != ':') {
			why_set(reader, "expected `key:` in a flow mapping at `%.32s`", key);
			return -1;
		}
		*p = '\0';
		if (*count == FLOW_MAX) {
			why_set(reader, "more keys than a policy entry has");
			return -1;
		}
		p = blank_skip(p + 1);
		list = *p == '[';
		if (list) {
			value = p + 1;
			stop = strchr(value, ']');
			if (!stop) {
				why_set(reader, "`%s`: `[` without `]` on the same line", key);
				return -1;
			}
			*stop = '\0';
			p = blank_skip(stop + 1);
			delim = *p;
		} else {
			value = p;
			while (*p && *p != ',' && *p != '}' && *p != '[' && *p != '{')
				p++;
			delim = *p;
			stop = p;
			while (stop > value && stop[-1] == ' ')
				stop--;
			*stop = '\0'; /* may overwrite delim: it is saved */
		}
		items[(*count)++] = (struct flow_item){.key = key, .value = value, .list = list};
		if (delim == ',') {
			p = blank_skip(p + 1);
			continue;
		}
		if (delim == '}') {
			p++;
			break;
		}
		why_set(reader, "`%s`: expected `,` or `}` after the value", key);
		return -1;
	}
end:
	p = blank_skip(p);
	if (*p) {
		why_set(reader, "text after the flow mapping: `%.32s`", p);
		return -1;
	}
	return 0;
}

/* "0x1, 0x2" into a new array; "" is no bank. */
static int banks_parse(struct policy_reader *reader, char *text, __u64 **banks, size_t *count)
{
	char *p = blank_skip(text);
	size_t max = 1;

	*count = 0;
	for (const char *c = p; *c; c++)
		max += *c == ',';
	if (max > MSHV_EMU_HV_MAX_BANKS) {
		why_set(reader, "more than %d banks", MSHV_EMU_HV_MAX_BANKS);
		return -1;
	}
	*banks = calloc(max, sizeof(**banks));
	if (!*banks) {
		why_set(reader, "allocate banks: %s", strerror(errno));
		return -1;
	}
	if (!*p)
		return 0;
	for (;;) {
		char *comma = strchrnul(p, ','), *stop = comma;
		uint64_t bank;

		while (stop > p && stop[-1] == ' ')
			stop--;
		if (number_parse_max(p, stop, UINT64_MAX, &bank) < 0) {
			why_set(reader, "bank `%.*s` is not a number (decimal or 0x-hex, 64 bits)",
				(int)(stop - p), p);
			return -1;
		}
		(*banks)[(*count)++] = bank;
		if (!*comma)
			return 0;
		p = blank_skip(comma + 1);
	}
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

/* One `- {name: N, value: V}` of hypervisor.properties. */
static int property_entry_parse(struct policy_reader *reader, struct expect_policy *policy,
				char *text)
{
	struct expect_property property = {.line = reader->line};
	struct flow_item items[FLOW_MAX];
	bool have_id = false, have_answer = false;
	struct expect_property *grown;
	size_t count;

	if (flow_split(reader, text, items, &count) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		const char *key = items[i].key;
		char *value = items[i].value;
		bool is_banks = !strcmp(key, "banks");
		uint64_t number;

		if (items[i].list != is_banks) {
			why_set(reader, "`%s`: %s", key,
				is_banks ? "takes a list `[0x.., ...]`" : "takes a single value");
			goto fail;
		}
		if (!strcmp(key, "name") || !strcmp(key, "code")) {
			const struct hv_property *known;

			if (have_id) {
				why_set(reader, "give one of `name` and `code`, once");
				goto fail;
			}
			have_id = true;
			if (key[0] == 'n') {
				known = known_property_by_name(value);
				if (!known) {
					why_set(reader, "unknown property `%s` (use `code: 0x...`)",
						value);
					goto fail;
				}
				property.property = *known;
				continue;
			}
			if (scalar_parse(value, UINT32_MAX, &number) < 0) {
				why_set(reader, "code `%s` is not a number up to 0xFFFFFFFF",
					value);
				goto fail;
			}
			known = known_property_by_code(number);
			property.property =
				known ? *known : (struct hv_property){.code = (__u32)number};
			continue;
		}
		if (strcmp(key, "value") && !is_banks && strcmp(key, "status")) {
			why_set(reader, "unknown key `%s` in a property", key);
			goto fail;
		}
		if (have_answer) {
			why_set(reader, "give one of `value`, `banks` and `status`, once");
			goto fail;
		}
		have_answer = true;
		if (is_banks) {
			property.kind = EXPECT_BANKS;
			if (banks_parse(reader, value, &property.banks, &property.bank_count) < 0)
				goto fail;
		} else if (key[0] == 'v') {
			property.kind = EXPECT_VALUE;
			if (scalar_parse(value, UINT64_MAX, &number) < 0) {
				why_set(reader, "value `%s` is not a number (decimal or 0x-hex)",
					value);
				goto fail;
			}
			property.value = number;
		} else {
			__u16 status;

			property.kind = EXPECT_STATUS;
			if (status_parse(value, &status) < 0) {
				why_set(reader, "unknown hypervisor status `%s`", value);
				goto fail;
			}
			property.value = status;
		}
	}
	if (!have_id || !have_answer) {
		why_set(reader, "a property needs `name` (or `code`) and one of `value`, `banks`, "
				"`status`");
		goto fail;
	}
	/* A code the probe does not know is read the way the policy answers it. */
	if (!property.property.name)
		property.property.banked = property.kind == EXPECT_BANKS;
	for (size_t i = 0; i < policy->property_count; i++) {
		if (policy->properties[i].property.code == property.property.code) {
			why_set(reader, "property 0x%08X is listed twice (line %u)",
				property.property.code, policy->properties[i].line);
			goto fail;
		}
	}
	grown = realloc(policy->properties,
			(policy->property_count + 1) * sizeof(*policy->properties));
	if (!grown) {
		why_set(reader, "allocate the policy: %s", strerror(errno));
		goto fail;
	}
	policy->properties = grown;
	policy->properties[policy->property_count++] = property;
	return 0;
fail:
	free(property.banks);
	return -1;
}

static int create_partition_parse(struct policy_reader *reader, struct expect_policy *policy,
				  char *text)
{
	struct flow_item items[FLOW_MAX];
	uint64_t number;
	size_t count;

	if (flow_split(reader, text, items, &count) < 0)
		return -1;
	if (count != 1 || items[0].list ||
	    (strcmp(items[0].key, "errno") && strcmp(items[0].key, "value"))) {
		why_set(reader, "create_partition: expected `{errno: ENAME}` or `{value: N}`");
		return -1;
	}
	policy->create_partition = true;
	if (items[0].key[0] == 'e') {
		policy->create_errno = errno_parse(items[0].value);
		if (policy->create_errno < 0) {
			why_set(reader, "create_partition: unknown errno `%s`", items[0].value);
			return -1;
		}
		return 0;
	}
	if (scalar_parse(items[0].value, INT32_MAX, &number) < 0) {
		why_set(reader, "create_partition: value `%s` is not a number up to 2147483647",
			items[0].value);
		return -1;
	}
	policy->create_value = number;
	return 0;
}

/* Cuts a comment: `#` at the start or after a blank (no quoted scalars here). */
static void comment_cut(char *line)
{
	for (char *p = line; *p; p++) {
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
}

static int top_key_parse(struct policy_reader *reader, struct expect_policy *policy, char *line)
{
	char *colon = strchr(line, ':'), *rest;

	if (!colon) {
		why_set(reader, "expected `key: value` at `%.32s`", line);
		return -1;
	}
	*colon = '\0';
	rest = blank_skip(colon + 1);
	if (!strcmp(line, "profile")) {
		size_t len = strlen(rest);

		if (policy->profile >= 0) {
			why_set(reader, "`profile` given twice");
			return -1;
		}
		if (len >= 2 && (rest[0] == '"' || rest[0] == '\'') && rest[len - 1] == rest[0]) {
			rest[len - 1] = '\0';
			rest++;
		}
		for (int i = 0; i < PROFILE_COUNT; i++)
			if (!strcmp(rest, profile_names[i]))
				policy->profile = i;
		if (policy->profile < 0) {
			why_set(reader, "unknown profile `%s`", rest);
			return -1;
		}
		return 0;
	}
	if (!strcmp(line, "create_partition")) {
		if (policy->create_partition) {
			why_set(reader, "`create_partition` given twice");
			return -1;
		}
		return create_partition_parse(reader, policy, rest);
	}
	if (!strcmp(line, "hypervisor")) {
		if (reader->seen_hypervisor) {
			why_set(reader, "`hypervisor` given twice");
			return -1;
		}
		if (*rest) {
			why_set(reader, "hypervisor: expected its keys on the lines below");
			return -1;
		}
		reader->seen_hypervisor = true;
		reader->section = SECTION_HYPERVISOR;
		return 0;
	}
	why_set(reader, "key `%s` is not one --emit-policy writes", line);
	return -1;
}

static int policy_line(struct policy_reader *reader, struct expect_policy *policy, char *line)
{
	size_t len, indent;
	char *body;

	comment_cut(line);
	len = strlen(line);
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r' ||
		       line[len - 1] == '\n'))
		line[--len] = '\0';
	if (!len)
		return 0;
	indent = strspn(line, " ");
	body = line + indent;
	if (*body == '\t') {
		why_set(reader, "a tab in the indentation");
		return -1;
	}
	if (!indent) {
		reader->section = SECTION_TOP;
		return top_key_parse(reader, policy, line);
	}
	if (reader->section == SECTION_HYPERVISOR && !strncmp(body, "properties:", 11)) {
		char *rest = blank_skip(body + 11);

		if (policy->hypervisor) {
			why_set(reader, "`properties` given twice");
			return -1;
		}
		policy->hypervisor = true;
		if (!*rest) {
			reader->section = SECTION_PROPERTIES;
			return 0;
		}
		if (!strcmp(rest, "[]"))
			return 0;
		why_set(reader, "properties: expected one `- {...}` per line below, or `[]`");
		return -1;
	}
	if (reader->section == SECTION_PROPERTIES && body[0] == '-' && body[1] == ' ')
		return property_entry_parse(reader, policy, body + 2);
	why_set(reader, "cannot read `%.40s` here", body);
	return -1;
}

static void expect_free(struct expect_policy *policy)
{
	for (size_t i = 0; i < policy->property_count; i++)
		free(policy->properties[i].banks);
	free(policy->properties);
	policy->properties = NULL;
	policy->property_count = 0;
}

/* Reads path into policy; on failure says why on stderr. */
static int policy_load(const char *path, struct expect_policy *policy)
{
	struct policy_reader reader = {0};
	FILE *in = fopen(path, "r");
	char *line = NULL;
	size_t size = 0;
	ssize_t len;
	int ret = 0;

	*policy = (struct expect_policy){.profile = -1};
	if (!in) {
		fprintf(stderr, "mshv-probe: --expect: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &size, in)) != -1) {
		reader.line++;
		if ((size_t)len != strlen(line)) {
			why_set(&reader, "a NUL byte");
			ret = -1;
		} else {
			ret = policy_line(&reader, policy, line);
		}
		if (ret < 0) {
			fprintf(stderr, "mshv-probe: --expect %s:%u: %s (" EXPECT_FORMAT_HINT ")\n",
				path, reader.line, reader.why);
			break;
		}
	}
	if (!ret && ferror(in)) {
		fprintf(stderr, "mshv-probe: --expect: read %s: %s\n", path, strerror(errno));
		ret = -1;
	}
	free(line);
	fclose(in);
	if (ret < 0)
		expect_free(policy);
	return ret;
}

/* Returns 0 to probe, 1 when --help was printed, 2 on a usage error, -1
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
		case 'E':
			opts->emit_path = optarg;
			break;
		case 'x':
			opts->expect_path = optarg;
			break;
		case 'h':
			usage_print(stdout, true);
			return 1;
		case 'p':
			opts->profile_given = true;
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
	if (opts->expect_path && opts->json) {
		fprintf(stderr, "mshv-probe: --expect prints differences, not JSON: drop --json\n");
		goto usage;
	}
	if (opts->expect_path) {
		if (policy_load(opts->expect_path, &opts->expect) < 0)
			return -1;
		if (!opts->profile_given && opts->expect.profile < 0) {
			fprintf(stderr,
				"mshv-probe: --expect: %s has no `profile:` key: pass --profile\n",
				opts->expect_path);
			goto usage;
		}
		if (!opts->profile_given)
			opts->profile = opts->expect.profile;
	}
	profile = &probe_profiles[opts->profile];
	if ((opts->emit_path || opts->expect_path) && !profile->root) {
		fprintf(stderr,
			"mshv-probe: %s: profile %s has no policy mshv-probe writes or reads "
			"(root-6.15, root-6.19, microsoft only)\n",
			opts->emit_path ? "--emit-policy" : "--expect",
			profile_names[opts->profile]);
		goto usage;
	}
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

	probe_ioctl(fd, MSHV_ROOT_HVCALL, &call, &report->root_hvcall);
	probe_ioctl(fd, MSHV_GET_HOST_PARTITION_PROPERTY, &property, &report->host_property);
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
static int property_read(int fd, struct property_answer *answer, struct probe_error *error)
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

	answer->err = ioctl(fd, MSHV_ROOT_HVCALL, &call) < 0 ? errno : 0;
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
		probe_ioctl(fd, MSHV_CREATE_PARTITION, &args, answer);
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
		if (property_read(fd, &report->properties[i], error) < 0) {
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
		 (__u32)MSHV_ROOT_HVCALL);
	presence_print(out, what, &report->root_hvcall);
	snprintf(what, sizeof(what),
		 "MSHV_GET_HOST_PARTITION_PROPERTY 0x%08X (PROCESSOR_FEATURES0)",
		 (__u32)MSHV_GET_HOST_PARTITION_PROPERTY);
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
		(__u32)MSHV_CREATE_PARTITION);
	name_width = strlen("name");
	for (int bit = 0; bit < PROBE_PT_BITS; bit++)
		width_fit(&name_width, pt_bit_names[bit]);
	fprintf(out, "  bit  %-*s  answer\n", name_width, "name");
	for (int bit = 0; bit < PROBE_PT_BITS; bit++)
		fprintf(out, "  %-3d  %-*s  %s\n", bit, name_width, pt_bit_names[bit],
			flag_answer_format(&report->create_flags[bit], cell, sizeof(cell)));
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
	json_presence(out, "root_hvcall", MSHV_ROOT_HVCALL, &report->root_hvcall);
	fputs("},", out);
	json_presence(out, "get_host_partition_property", MSHV_GET_HOST_PARTITION_PROPERTY,
		      &report->host_property);
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
	if (profile->root)
		root_print_json(out, report);
	fputs("}\n", out);
}

/* ---- --emit-policy and --expect ---- */

/* A device path in a comment line: no line breaks or other control bytes. */
static void comment_text(FILE *out, const char *text)
{
	for (const unsigned char *s = (const unsigned char *)text; *s; s++)
		fputc(*s < 0x20 || *s == 0x7F ? '?' : *s, out);
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

/* What any valid flag set gets, as the policy's create_partition says it. */
static void create_partition_emit(FILE *out, const struct probe_answer *answer)
{
	const char *name = errno_known_name(answer->err);

	if (answer->err == ENOTTY)
		fputs("# create_partition: not written: ENOTTY, the device has no "
		      "CREATE_PARTITION\n",
		      out);
	else if (answer->err && name)
		fprintf(out, "create_partition: {errno: %s}\n", name);
	else if (answer->err)
		fprintf(out, "create_partition: {errno: %d}\n", answer->err);
	else if (!answer->fd_closed)
		fprintf(out, "create_partition: {value: %d}\n", answer->value);
	else
		fputs("# create_partition: not written: the device returned a partition fd, which\n"
		      "# mshv-emu cannot pass: it answers an errno (EOPNOTSUPP unless set)\n",
		      out);
}

static int policy_emit(const struct probe_report *report, struct probe_error *error)
{
	const char *path = report->opts->emit_path;
	FILE *out = fopen(path, "w");
	time_t now = time(NULL);
	size_t written = 0;
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
	create_partition_emit(out, &report->create_partition);
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

static void expect_property_print(FILE *out, const struct expect_property *expect)
{
	switch (expect->kind) {
	case EXPECT_VALUE:
		fprintf(out, "value 0x%llx", (unsigned long long)expect->value);
		break;
	case EXPECT_BANKS:
		fputs("banks ", out);
		banks_print(out, expect->banks, expect->bank_count);
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

static void create_answer_print(FILE *out, const struct probe_answer *answer)
{
	char name[16];

	if (answer->err)
		fprintf(out, "errno %s", errno_name(answer->err, name, sizeof(name)));
	else if (answer->fd_closed)
		fputs("a partition fd", out);
	else
		fprintf(out, "value %d", answer->value);
}

/* One CREATE_PARTITION answer against the policy's create_partition. */
static size_t create_compare(FILE *out, const struct expect_policy *expect,
			     const struct probe_answer *answer, __u64 flags)
{
	char name[16];

	if (expect->create_errno ? answer->err == expect->create_errno
				 : !answer->err && !answer->fd_closed &&
					   (__u64)answer->value == expect->create_value)
		return 0;
	fprintf(out, "create_partition (flags 0x%llx): device answers ", (unsigned long long)flags);
	create_answer_print(out, answer);
	if (expect->create_errno)
		fprintf(out, ", policy says errno %s\n",
			errno_name(expect->create_errno, name, sizeof(name)));
	else
		fprintf(out, ", policy says value %llu\n",
			(unsigned long long)expect->create_value);
	return 1;
}

/* Prints one line per difference; returns how many. */
static size_t expect_compare(FILE *out, const struct probe_report *report)
{
	const struct expect_policy *expect = &report->opts->expect;
	size_t differences = 0;

	if (expect->profile >= 0 && expect->profile != report->opts->profile) {
		fprintf(out, "profile: probed as %s, policy says %s\n",
			profile_names[report->opts->profile], profile_names[expect->profile]);
		differences++;
	}
	/* A policy's create_partition answers every flag set the profile
	 * accepts: flags 0, and each bit the device did not refuse. */
	if (expect->create_partition) {
		differences += create_compare(out, expect, &report->create_partition, 0);
		for (int bit = 0; bit < PROBE_PT_BITS; bit++) {
			const struct probe_answer *answer = &report->create_flags[bit];

			if (flag_accepted(answer))
				differences += create_compare(out, expect, answer, 1ULL << bit);
		}
	}
	if (expect->hypervisor && !report->profile->properties && expect->property_count) {
		fprintf(out,
			"hypervisor.properties: profile %s has no MSHV_ROOT_HVCALL on the device, "
			"policy lists %zu properties\n",
			profile_names[report->opts->profile], expect->property_count);
		return differences + 1;
	}
	for (size_t i = 0; i < expect->property_count; i++) {
		const struct expect_property *property = &expect->properties[i];

		for (size_t j = 0; j < report->property_count; j++) {
			const struct property_answer *answer = &report->properties[j];

			if (answer->property.code != property->property.code ||
			    property_matches(answer, property))
				continue;
			if (property->property.name)
				fprintf(out, "%s: device answers ", property->property.name);
			else
				fprintf(out, "0x%08x: device answers ", property->property.code);
			property_answer_print(out, answer, false);
			fputs(", policy says ", out);
			expect_property_print(out, property);
			fputc('\n', out);
			differences++;
		}
	}
	return differences;
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
	fprintf(stderr, "mshv-probe: %s%s%s\n", error->msg, error->err ? ": " : "",
		error->err ? strerror(error->err) : "");
	if (error->hint)
		fprintf(stderr, "mshv-probe: is mshv-emu running? "
				"for the FUSE front, pass --device DIR/NAME\n");
}

int main(int argc, char **argv)
{
	struct probe_options opts;
	struct probe_report report = {.opts = &opts};
	struct probe_error error = {0};
	int status = options_parse(argc, argv, &opts);

	if (status) {
		/* --help, a usage error, or an --expect policy it cannot read */
		status = status == 1 ? 0 : status == 2 ? 2 : 1;
		goto out;
	}
	report.profile = &probe_profiles[opts.profile];
	if (report_run(&report, &error) < 0 ||
	    (opts.emit_path && policy_emit(&report, &error) < 0)) {
		error_print(&error);
		status = 1;
		goto out;
	}
	if (opts.expect_path) {
		size_t differences = expect_compare(stdout, &report);

		if (differences) {
			fprintf(stderr, "mshv-probe: %s differs from %s in %zu place%s\n",
				opts.device, opts.expect_path, differences,
				differences == 1 ? "" : "s");
			status = 1;
		} else {
			printf("mshv-probe: %s matches %s (profile %s, %zu propert%s%s)\n",
			       opts.device, opts.expect_path, profile_names[opts.profile],
			       opts.expect.property_count,
			       opts.expect.property_count == 1 ? "y" : "ies",
			       opts.expect.create_partition ? ", create_partition" : "");
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
