/*
 * test_root.c - the root driver's device fd as rust-vmm mshv-ioctls 0.7
 * drives it, through the real kernel (FUSE here, CUSE in the VM).
 *
 * The crate's start-up, step by step:
 *   1. open(/dev/mshv, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
 *   2. get_vmm_caps: MSHV_ROOT_HVCALL GET_PARTITION_PROPERTY_EX (0x101) for
 *      VMM_CAPABILITIES on the host partition (~0), a 4072-byte output.
 *      Success: the caps are bank 0 (output offset 8; offset 0 holds the
 *      u16 bank count).  Failure with header status ACCESS_DENIED: zero
 *      caps.  Any other failure: an error;
 *   3. create_vm: GET_PARTITION_PROPERTY (0x44) for PROCESSOR_FEATURES0 and
 *      PROCESSOR_FEATURES1, then MSHV_CREATE_PARTITION with the 64-byte
 *      struct mshv_emu_create_partition_v2: flags 0xF, two CPU feature
 *      banks holding the complement of those features (bank 0 with bit 63).
 *
 * Then the exact ABI of MSHV_ROOT_HVCALL on the device fd, per
 * mshv_ioctl_passthru_hvcall (drivers/hv/mshv_root_main.c): the header
 * checks that are EINVAL before any hypercall (and leave the caller's
 * header as it was), EFAULT on an unreadable input, the hypervisor status
 * mapped to an errno with the header written back, and an output copied to
 * exactly out_sz bytes.  And CREATE_PARTITION's checks of flags, isolation
 * and the v2 structure, as each policy's header describes its kernel.
 *
 * The expected values come from the shipped policies themselves: a small
 * line reader takes `value:` of a named property and the vmm_capabilities
 * list out of the YAML text.  A property the policy leaves to built-in
 * defaults is only checked to read successfully.
 *
 * uapi/ and libc only, like test_live.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "live.h"

#define HV_SELF		 MSHV_EMU_HV_PARTITION_ID_SELF
#define PT_FLAGS_V2	 0xFull /* LAPIC | X2APIC | GPA_SUPER_PAGES | CPU_AND_XSAVE_FEATURES */
#define PT_FLAGS_6_15	 ((uint64_t)MSHV_EMU_PT_FLAGS_MASK_6_15) /* 0x7 */
#define PT_FLAG_NESTED	 (1ull << MSHV_EMU_PT_BIT_NESTED_VIRTUALIZATION)
#define UNKNOWN_PROPERTY 0x12345u
#define CANARY		 0xAA

_Static_assert(sizeof(struct mshv_root_hvcall) == 32, "the header is 32 bytes");
_Static_assert(sizeof(struct mshv_emu_create_partition_v2) == 64, "v2 is 64 bytes");
_Static_assert(sizeof(struct mshv_emu_hv_get_property_in) == 16, "0x44 input is 16 bytes");
_Static_assert(sizeof(struct mshv_emu_hv_get_property_ex_in) == 24, "0x101 input is 24 bytes");
_Static_assert(MSHV_ROOT_HVCALL == 0xC020B807u, "MSHV_ROOT_HVCALL");
_Static_assert(MSHV_CREATE_PARTITION == 0x4010B800u, "MSHV_CREATE_PARTITION");

TestSuite(root, .fini = teardown, .timeout = 120);

/* ---- the policy's numbers, out of its text ---- */

/* The text of policies/FILE; the test fails if the policy is not there. */
static char *policy_text(const char *file)
{
	char path[512];
	policy_path(file, path, sizeof(path));
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "policy %s: %s", path, strerror(errno));
	size_t size = 0, used = 0;
	char *text = NULL;
	for (;;) {
		if (used + 4096 + 1 > size) {
			size = size ? 2 * size : 16384;
			text = realloc(text, size);
			cr_assert_not_null(text);
		}
		size_t got = fread(text + used, 1, size - used - 1, f);
		used += got;
		if (got == 0)
			break;
	}
	fclose(f);
	text[used] = '\0';
	/* Comments carry no numbers: blank them out so no lookup sees them. */
	bool quoted = false;
	for (char *p = text; *p; p++) {
		if (*p == '\n') {
			quoted = false;
		} else if (*p == '"') {
			quoted = !quoted;
		} else if (*p == '#' && !quoted && (p == text || isspace((unsigned char)p[-1]))) {
			while (p[1] && p[1] != '\n')
				*p++ = ' ';
			*p = ' ';
		}
	}
	return text;
}

/* A line's end. */
static const char *line_end(const char *p)
{
	const char *end = strchr(p, '\n');
	return end ? end : p + strlen(p);
}

/* Does [P, END) hold KEY followed by ": " WORD as a whole word? */
static const char *find_key_word(const char *p, const char *end, const char *key, const char *word)
{
	size_t key_len = strlen(key), word_len = strlen(word);
	for (const char *s = p; s + key_len < end; s++) {
		if (strncmp(s, key, key_len) ||
		    (s > p && (isalnum((unsigned char)s[-1]) || s[-1] == '_')))
			continue;
		const char *v = s + key_len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v >= end || *v != ':')
			continue;
		v++;
		while (v < end && (*v == ' ' || *v == '\t' || *v == '"' || *v == '\''))
			v++;
		if ((size_t)(end - v) < word_len || strncmp(v, word, word_len))
			continue;
		char next = v + word_len < end ? v[word_len] : '\0';
		if (!isalnum((unsigned char)next) && next != '_')
			return v + word_len;
	}
	return NULL;
}

/* The first `value:` in [P, END), or NULL. */
static const char *value_in(const char *p, const char *end)
{
	for (const char *s = p; s + 6 <= end; s++)
		if (!strncmp(s, "value:", 6) && (s == p || !isalnum((unsigned char)s[-1])))
			return s + 6;
	return NULL;
}

static size_t indent_of(const char *p, const char *end)
{
	const char *s = p;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return (size_t)(s - p);
}

/*
 * The `value:` of the entry that says `name: NAME`, on its line (a flow
 * mapping) or on a deeper line of the same block entry, if the policy has it.
 */
static bool policy_value(const char *text, const char *name, uint64_t *value)
{
	for (const char *p = text; *p;) {
		const char *end = line_end(p);
		if (find_key_word(p, end, "name", name)) {
			const char *v = value_in(p, end);
			size_t indent = indent_of(p, end);
			for (const char *q = *end ? end + 1 : end; !v && *q;) {
				const char *q_end = line_end(q);
				size_t q_indent = indent_of(q, q_end);
				if (q + q_indent == q_end) { /* blank */
					q = *q_end ? q_end + 1 : q_end;
					continue;
				}
				if (q_indent <= indent || q[q_indent] == '-')
					break;
				v = value_in(q, q_end);
				q = *q_end ? q_end + 1 : q_end;
			}
			if (v) {
				char *stop;
				errno = 0;
				unsigned long long parsed = strtoull(v, &stop, 0);
				cr_assert(stop != v && !errno, "property %s: unreadable value",
					  name);
				*value = parsed;
				return true;
			}
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

static int vmm_cap_bit(const char *word, size_t len)
{
#define X(name, bit)                                            \
	if (len == strlen(#name) && !strncmp(word, #name, len)) \
		return bit;
	MSHV_EMU_VMM_CAPS(X)
#undef X
	return -1;
}

/* Add the capability named by the word at P (up to a delimiter) to CAPS. */
static const char *add_vmm_cap(const char *p, uint64_t *caps)
{
	while (*p == ' ' || *p == '\t' || *p == '"' || *p == '\'')
		p++;
	const char *start = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (p == start)
		return p;
	int bit = vmm_cap_bit(start, (size_t)(p - start));
	cr_assert_geq(bit, 0, "vmm_capabilities: unknown name %.*s", (int)(p - start), start);
	*caps |= 1ull << bit;
	return p;
}

/*
 * The VMM capability bits of the policy's `vmm_capabilities:` (a flow list
 * of names, a block list of names, or a number), if it has the key.
 */
static bool policy_vmm_caps(const char *text, uint64_t *caps)
{
	*caps = 0;
	for (const char *p = text; *p;) {
		const char *end = line_end(p);
		const char *s = p;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		size_t indent = (size_t)(s - p);
		if (strncmp(s, "vmm_capabilities:", 17)) {
			p = *end ? end + 1 : end;
			continue;
		}
		s += 17;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (*s == '[') {
			for (s++; *s && *s != ']';) {
				if (*s == ',' || isspace((unsigned char)*s))
					s++;
				else
					s = add_vmm_cap(s, caps);
			}
			cr_assert_eq(*s, ']', "vmm_capabilities: unterminated list");
			return true;
		}
		if (isdigit((unsigned char)*s)) {
			*caps = strtoull(s, NULL, 0);
			return true;
		}
		/* A block list: the following deeper lines `- name`. */
		for (p = *end ? end + 1 : end; *p; p = *end ? end + 1 : end) {
			end = line_end(p);
			s = p;
			while (s < end && (*s == ' ' || *s == '\t'))
				s++;
			if (s == end)
				continue;
			if ((size_t)(s - p) < indent || *s != '-')
				break;
			add_vmm_cap(s + 1, caps);
		}
		return true;
	}
	return false;
}

/* ---- the calls, as the crate makes them ---- */

static int root_hvcall(int fd, struct mshv_root_hvcall *args)
{
	int result = ioctl(fd, MSHV_ROOT_HVCALL, args);
	return result < 0 ? -errno : result;
}

static int create_partition(int fd, void *arg)
{
	int result = ioctl(fd, MSHV_CREATE_PARTITION, arg);
	return result < 0 ? -errno : result;
}

/* Step 1: the crate's Mshv::new(). */
static int open_like_the_crate(const struct daemon *d)
{
	int fd = open(d->node, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		print_log(d);
		cr_assert_fail("open %s: %s", d->node, strerror(errno));
	}
	return fd;
}

enum caps_outcome {
	CAPS_READ, /* the call succeeded: bank 0 */
	CAPS_ZERO, /* ACCESS_DENIED: the crate assumes no capabilities */
	CAPS_ERROR /* anything else: get_vmm_caps fails */
};

struct vmm_caps {
	int result;		     /* the ioctl's: 0 or -errno */
	struct mshv_root_hvcall hdr; /* the header after the call */
	uint16_t bank_count;
	uint64_t caps;
	enum caps_outcome outcome;
};

/* Step 2: get_vmm_caps. */
static struct vmm_caps get_vmm_caps(int fd)
{
	struct mshv_emu_hv_get_property_ex_in in = {
		.partition_id = HV_SELF,
		.property_code = MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES,
	};
	static unsigned char out[MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE];
	memset(out, 0, sizeof(out));
	struct vmm_caps r = {
		.hdr =
			{
				.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX,
				.in_sz = sizeof(in),
				.out_sz = sizeof(out),
				.in_ptr = (uintptr_t)&in,
				.out_ptr = (uintptr_t)out,
			},
	};
	r.result = root_hvcall(fd, &r.hdr);
	cr_expect_eq(in.partition_id, HV_SELF, "the caller's input is not written");
	memcpy(&r.bank_count, out, sizeof(r.bank_count));
	if (r.result == 0) {
		memcpy(&r.caps, out + 8, sizeof(r.caps));
		r.outcome = CAPS_READ;
	} else if (r.hdr.status == MSHV_EMU_HV_STATUS_ACCESS_DENIED) {
		r.outcome = CAPS_ZERO;
	} else {
		r.outcome = CAPS_ERROR;
	}
	return r;
}

struct property {
	int result;
	struct mshv_root_hvcall hdr;
	uint64_t value;
};

/* GET_PARTITION_PROPERTY of the host partition, as create_vm reads it. */
static struct property get_property(int fd, uint32_t code)
{
	struct mshv_emu_hv_get_property_in in = {.partition_id = HV_SELF, .property_code = code};
	struct property p = {
		.hdr =
			{
				.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				.in_sz = sizeof(in),
				.out_sz = sizeof(p.value),
				.in_ptr = (uintptr_t)&in,
				.out_ptr = (uintptr_t)&p.value,
			},
	};
	p.result = root_hvcall(fd, &p.hdr);
	cr_expect_eq(in.partition_id, HV_SELF, "the caller's input is not written");
	return p;
}

/* Step 3's partition argument from the two feature words. */
static struct mshv_emu_create_partition_v2 partition_v2(uint64_t flags, uint64_t features0,
							uint64_t features1)
{
	return (struct mshv_emu_create_partition_v2){
		.pt_flags = flags,
		.pt_isolation = MSHV_PT_ISOLATION_NONE,
		.pt_num_cpu_fbanks = MSHV_EMU_NUM_CPU_FEATURES_BANKS,
		.pt_cpu_fbanks = {~features0 | (1ull << 63), ~features1},
	};
}

/* The header of a call that was refused before the hypercall: as passed. */
static void expect_header_untouched(const struct mshv_root_hvcall *before,
				    const struct mshv_root_hvcall *after, const char *what)
{
	cr_expect_eq(memcmp(before, after, sizeof(*before)), 0,
		     "%s: header written back (status 0x%x -> 0x%x, reps %u -> %u)", what,
		     before->status, after->status, before->reps, after->reps);
}

static int start_policy(const char *file)
{
	char path[512];
	policy_path(file, path, sizeof(path));
	cr_assert_eq(access(path, R_OK), 0, "policy %s: %s", path, strerror(errno));
	daemon_start(&daemon_under_test, path);
	return open_like_the_crate(&daemon_under_test);
}

/* A CREATE_PARTITION the device accepted: a real fd where the transport can
 * pass one (preload), else the transport's EOPNOTSUPP (FUSE, CUSE). */
static bool created(int got)
{
	if (!front_is_run())
		return got == -EOPNOTSUPP;
	if (got < 0)
		return false;
	close(got);
	return true;
}

/* ---- the crate's sequence, policy by policy ---- */

/* Steps 2 and 3 where the device answers them (microsoft, root-6.19). */
static void crate_sequence_succeeds(const char *file)
{
	char *text = policy_text(file);
	int fd = start_policy(file);

	/* 2. get_vmm_caps */
	struct vmm_caps caps = get_vmm_caps(fd);
	cr_expect_eq(caps.result, 0, "%s: get_vmm_caps: got %d (%s), header status 0x%x", file,
		     caps.result, strerror(-caps.result), caps.hdr.status);
	cr_expect_eq(caps.outcome, CAPS_READ, "%s: the crate reads the capabilities", file);
	cr_expect_eq(caps.hdr.status, MSHV_EMU_HV_STATUS_SUCCESS, "%s: header status 0x%x", file,
		     caps.hdr.status);
	cr_expect_eq(caps.hdr.reps, 0, "%s: reps %u", file, caps.hdr.reps);
	cr_expect_eq(caps.bank_count, 1, "%s: bank_count %u", file, caps.bank_count);
	uint64_t want_caps;
	if (policy_vmm_caps(text, &want_caps))
		cr_expect_eq(caps.caps, want_caps, "%s: VMM capabilities 0x%llx, policy 0x%llx",
			     file, (unsigned long long)caps.caps, (unsigned long long)want_caps);

	/* 3. create_vm: the two feature words, then the partition */
	static const struct {
		const char *name;
		uint32_t code;
	} features[2] = {
		{"PROCESSOR_FEATURES0", MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0},
		{"PROCESSOR_FEATURES1", MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES1},
	};
	uint64_t words[2];
	for (int i = 0; i < 2; i++) {
		struct property p = get_property(fd, features[i].code);
		cr_expect_eq(p.result, 0, "%s: %s: got %d (%s), header status 0x%x", file,
			     features[i].name, p.result, strerror(-p.result), p.hdr.status);
		cr_expect_eq(p.hdr.status, MSHV_EMU_HV_STATUS_SUCCESS, "%s: %s: status 0x%x", file,
			     features[i].name, p.hdr.status);
		uint64_t want;
		if (policy_value(text, features[i].name, &want))
			cr_expect_eq(p.value, want, "%s: %s = 0x%llx, policy 0x%llx", file,
				     features[i].name, (unsigned long long)p.value,
				     (unsigned long long)want);
		words[i] = p.value;
	}
	struct mshv_emu_create_partition_v2 pt = partition_v2(PT_FLAGS_V2, words[0], words[1]);
	int got = create_partition(fd, &pt);
	cr_expect(created(got),
		  "%s: CREATE_PARTITION v2 validates, then a partition fd (preload) or "
		  "EOPNOTSUPP (FUSE/CUSE): got %d (%s)",
		  file, got, strerror(-got));
	/* ... and over FUSE and CUSE the daemon says why, and what could. */
	if (!front_is_run())
		cr_expect(log_wait_for(&daemon_under_test, "cannot hand the caller a new fd", 5000),
			  "%s: no log line explains the missing partition fd", file);
	close(fd);
	free(text);
}

Test(root, rust_vmm_sequence_on_microsoft)
{
	crate_sequence_succeeds("microsoft.yaml");
}

Test(root, rust_vmm_sequence_on_root_6_19)
{
	crate_sequence_succeeds("root-6.19.yaml");
}

Test(root, rust_vmm_sequence_on_root_6_15)
{
	int fd = start_policy("root-6.15.yaml");

	/* 2. No hypercall on 6.15's device fd: the crate gets an error. */
	struct vmm_caps caps = get_vmm_caps(fd);
	cr_expect_eq(caps.result, -ENOTTY, "get_vmm_caps: got %d (%s), want ENOTTY", caps.result,
		     strerror(-caps.result));
	cr_expect_eq(caps.outcome, CAPS_ERROR, "the crate's get_vmm_caps fails");
	cr_expect_eq(caps.hdr.status, 0, "ENOTTY writes no header back (status 0x%x)",
		     caps.hdr.status);

	/* 3. The property reads are ENOTTY too. */
	uint32_t codes[2] = {MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0,
			     MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES1};
	for (int i = 0; i < 2; i++) {
		struct property p = get_property(fd, codes[i]);
		cr_expect_eq(p.result, -ENOTTY, "property 0x%x: got %d (%s), want ENOTTY", codes[i],
			     p.result, strerror(-p.result));
		cr_expect_eq(p.hdr.status, 0, "property 0x%x: status 0x%x", codes[i], p.hdr.status);
	}

	/* 6.15's flag mask is 0x7: bit 3 (feature banks) is EINVAL. */
	struct mshv_emu_create_partition_v2 pt = partition_v2(PT_FLAGS_V2, 0, 0);
	int got = create_partition(fd, &pt);
	cr_expect_eq(got, -EINVAL, "CREATE_PARTITION flags 0xF: got %d (%s), want EINVAL", got,
		     strerror(-got));

	/* The 16-byte struct with 6.15's flags reaches the transport's answer. */
	struct mshv_create_partition old = {.pt_flags = PT_FLAGS_6_15};
	got = create_partition(fd, &old);
	cr_expect(created(got),
		  "CREATE_PARTITION flags 0x7: got %d (%s), want a partition (an fd over preload, "
		  "EOPNOTSUPP over FUSE/CUSE)",
		  got, strerror(-got));
	close(fd);
}

Test(root, rust_vmm_vmm_caps_on_old_hypervisor_are_zero)
{
	int fd = start_policy("old-hypervisor.yaml");
	struct vmm_caps caps = get_vmm_caps(fd);
	cr_expect_eq(caps.result, -EIO, "get_vmm_caps: got %d (%s), want EIO", caps.result,
		     strerror(-caps.result));
	cr_expect_eq(caps.hdr.status, MSHV_EMU_HV_STATUS_ACCESS_DENIED,
		     "header written back with ACCESS_DENIED: status 0x%x", caps.hdr.status);
	cr_expect_eq(caps.hdr.reps, 0, "reps %u", caps.hdr.reps);
	cr_expect_eq(caps.outcome, CAPS_ZERO, "the crate takes the zero-capabilities path");
	close(fd);
}

/* CREATE_PARTITION of the crate's v2 argument, changed by the caller. */
static int create_v2(int fd, uint64_t flags, void (*change)(struct mshv_emu_create_partition_v2 *))
{
	struct mshv_emu_create_partition_v2 pt = partition_v2(flags, 0x00F1FFFF7FFFFFFFull, 0x7F);
	if (change)
		change(&pt);
	return create_partition(fd, &pt);
}

static void one_bank(struct mshv_emu_create_partition_v2 *pt)
{
	pt->pt_num_cpu_fbanks = 1;
}

static void three_banks(struct mshv_emu_create_partition_v2 *pt)
{
	pt->pt_num_cpu_fbanks = 3;
}

static void rsvd_set(struct mshv_emu_create_partition_v2 *pt)
{
	pt->pt_rsvd[5] = 1;
}

static void rsvd1_set(struct mshv_emu_create_partition_v2 *pt)
{
	pt->pt_rsvd1[1] = 1;
}

static void isolation_snp(struct mshv_emu_create_partition_v2 *pt)
{
	pt->pt_isolation = MSHV_EMU_PT_ISOLATION_SNP;
}

struct create_case {
	const char *what;
	uint64_t flags;
	void (*change)(struct mshv_emu_create_partition_v2 *);
	int expect;
};

static void create_cases(const char *file, const struct create_case *cases, size_t count)
{
	int fd = start_policy(file);
	for (size_t i = 0; i < count; i++) {
		int got = create_v2(fd, cases[i].flags, cases[i].change);
		if (cases[i].expect == -EOPNOTSUPP) { /* accepted: see created() */
			cr_expect(created(got),
				  "%s: CREATE_PARTITION %s (flags 0x%llx): got %d (%s)", file,
				  cases[i].what, (unsigned long long)cases[i].flags, got,
				  strerror(-got));
			continue;
		}
		cr_expect_eq(got, cases[i].expect,
			     "%s: CREATE_PARTITION %s (flags 0x%llx): got %d (%s), want %d (%s)",
			     file, cases[i].what, (unsigned long long)cases[i].flags, got,
			     strerror(-got), cases[i].expect, strerror(-cases[i].expect));
	}
	close(fd);
}

Test(root, no_nested_refuses_the_nested_flag)
{
	/* no-nested.yaml: `flags_mask: 0xF`, `isolation_count: 1`. */
	static const struct create_case cases[] = {
		{"NESTED", PT_FLAGS_V2 | PT_FLAG_NESTED, NULL, -EINVAL},
		{"the crate's flags", PT_FLAGS_V2, NULL, -EOPNOTSUPP},
		{"SNP isolation", PT_FLAGS_V2, isolation_snp, -EINVAL},
	};
	create_cases("no-nested.yaml", cases, sizeof(cases) / sizeof(cases[0]));
}

Test(root, microsoft_create_partition_takes_nested_snp_and_fewer_banks)
{
	/* microsoft.yaml: NESTED (bit 4), SMT (bit 5), SNP isolation,
	 * pt_num_cpu_fbanks <= 2. */
	static const struct create_case cases[] = {
		{"NESTED", PT_FLAGS_V2 | PT_FLAG_NESTED, NULL, -EOPNOTSUPP},
		{"SMT", PT_FLAGS_V2 | 1ull << MSHV_EMU_PT_BIT_SMT_ENABLED_GUEST, NULL, -EOPNOTSUPP},
		{"bit 6", PT_FLAGS_V2 | 1ull << 6, NULL, -EINVAL},
		{"SNP isolation", PT_FLAGS_V2, isolation_snp, -EOPNOTSUPP},
		{"1 bank", PT_FLAGS_V2, one_bank, -EOPNOTSUPP},
		{"3 banks", PT_FLAGS_V2, three_banks, -EINVAL},
		{"pt_rsvd set", PT_FLAGS_V2, rsvd_set, -EINVAL},
		{"pt_rsvd1 set", PT_FLAGS_V2, rsvd1_set, -EINVAL},
	};
	create_cases("microsoft.yaml", cases, sizeof(cases) / sizeof(cases[0]));
}

Test(root, root_6_19_create_partition_checks_the_v2_struct)
{
	/* root-6.19.yaml: flag bit 3 reads the v2 struct, exactly 2 banks,
	 * reserved fields zero; mask 0xF, isolation NONE only. */
	static const struct create_case cases[] = {
		{"16-byte flags 0x7", PT_FLAGS_6_15, NULL, -EOPNOTSUPP},
		{"NESTED", PT_FLAGS_V2 | PT_FLAG_NESTED, NULL, -EINVAL},
		{"SNP isolation", PT_FLAGS_V2, isolation_snp, -EINVAL},
		{"1 bank", PT_FLAGS_V2, one_bank, -EINVAL},
		{"3 banks", PT_FLAGS_V2, three_banks, -EINVAL},
		{"pt_rsvd set", PT_FLAGS_V2, rsvd_set, -EINVAL},
		{"pt_rsvd1 set", PT_FLAGS_V2, rsvd1_set, -EINVAL},
		/* Without bit 3 the extra 48 bytes are not read. */
		{"banks 3 without bit 3", PT_FLAGS_6_15, three_banks, -EOPNOTSUPP},
	};
	create_cases("root-6.19.yaml", cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- MSHV_ROOT_HVCALL on the device fd, exactly ---- */

/* A well-formed GET_PARTITION_PROPERTY of PROCESSOR_FEATURES0. */
struct good_call {
	struct mshv_emu_hv_get_property_in in;
	uint64_t out;
	struct mshv_root_hvcall hdr;
};

static void good_call_init(struct good_call *c)
{
	memset(c, 0, sizeof(*c));
	c->in.partition_id = HV_SELF;
	c->in.property_code = MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0;
	c->hdr.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY;
	c->hdr.in_sz = sizeof(c->in);
	c->hdr.out_sz = sizeof(c->out);
	c->hdr.in_ptr = (uintptr_t)&c->in;
	c->hdr.out_ptr = (uintptr_t)&c->out;
}

enum header_fault {
	STATUS_SET,
	RSVD_SET,
	IN_PTR_ZERO,
	IN_SZ_7,
	IN_SZ_4097,
	OUT_SZ_0,
	OUT_SZ_4097,
	CODE_SET_PROPERTY,
	CODE_UNKNOWN,
	HEADER_FAULTS
};

static const char *const header_fault_names[HEADER_FAULTS] = {
	"status != 0 on entry",
	"rsvd != 0",
	"in_ptr 0",
	"in_sz 7",
	"in_sz 4097",
	"out_ptr set, out_sz 0",
	"out_sz 4097",
	"code 0x45 (SET_PARTITION_PROPERTY, not allowed on the device fd)",
	"code 0x1234 (not a hypercall the driver passes)",
};

/* Every check the driver makes before the hypercall: EINVAL, no write-back. */
static void header_checks_are_einval(const char *file)
{
	int fd = start_policy(file);
	/* Big enough that in_sz 4097 would be readable: the size is the fault. */
	static unsigned char big_in[2 * MSHV_EMU_HV_PAGE_SIZE];
	static unsigned char big_out[2 * MSHV_EMU_HV_PAGE_SIZE];
	for (int f = 0; f < HEADER_FAULTS; f++) {
		struct good_call c;
		good_call_init(&c);
		switch (f) {
		case STATUS_SET:
			c.hdr.status = MSHV_EMU_HV_STATUS_INVALID_PARAMETER;
			break;
		case RSVD_SET:
			c.hdr.rsvd[3] = 1;
			break;
		case IN_PTR_ZERO:
			c.hdr.in_ptr = 0;
			break;
		case IN_SZ_7:
			c.hdr.in_sz = 7;
			break;
		case IN_SZ_4097:
			memcpy(big_in, &c.in, sizeof(c.in));
			c.hdr.in_ptr = (uintptr_t)big_in;
			c.hdr.in_sz = MSHV_EMU_HV_PAGE_SIZE + 1;
			break;
		case OUT_SZ_0:
			c.hdr.out_sz = 0;
			break;
		case OUT_SZ_4097:
			c.hdr.out_ptr = (uintptr_t)big_out;
			c.hdr.out_sz = MSHV_EMU_HV_PAGE_SIZE + 1;
			break;
		case CODE_SET_PROPERTY:
			c.hdr.code = MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY;
			break;
		case CODE_UNKNOWN:
			c.hdr.code = 0x1234;
			break;
		}
		struct mshv_root_hvcall before = c.hdr;
		c.out = 0x5555555555555555ull;
		int got = root_hvcall(fd, &c.hdr);
		cr_expect_eq(got, -EINVAL, "%s: %s: got %d (%s), want EINVAL", file,
			     header_fault_names[f], got, strerror(-got));
		expect_header_untouched(&before, &c.hdr, header_fault_names[f]);
		cr_expect_eq(c.out, 0x5555555555555555ull, "%s: %s: output written", file,
			     header_fault_names[f]);
	}
	/* The same fd still answers a well-formed call. */
	struct good_call c;
	good_call_init(&c);
	int got = root_hvcall(fd, &c.hdr);
	cr_expect_eq(got, 0, "%s: well-formed call after the refusals: got %d (%s)", file, got,
		     strerror(-got));
	close(fd);
}

Test(root, hvcall_header_checks_are_einval_on_microsoft)
{
	header_checks_are_einval("microsoft.yaml");
}

Test(root, hvcall_header_checks_are_einval_on_root_6_19)
{
	header_checks_are_einval("root-6.19.yaml");
}

Test(root, hvcall_unknown_property_is_eio_with_status_9)
{
	int fd = start_policy("microsoft.yaml");
	struct property p = get_property(fd, UNKNOWN_PROPERTY);
	cr_expect_eq(p.result, -EIO, "property 0x%x: got %d (%s), want EIO", UNKNOWN_PROPERTY,
		     p.result, strerror(-p.result));
	cr_expect_eq(p.hdr.status, MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY,
		     "header written back with UNKNOWN_PROPERTY: status 0x%x", p.hdr.status);
	cr_expect_eq(p.hdr.reps, 0, "reps %u", p.hdr.reps);
	cr_expect_eq(p.hdr.code, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY, "code %#x", p.hdr.code);
	cr_expect_eq(p.hdr.in_sz, 16, "in_sz %u", p.hdr.in_sz);
	cr_expect_eq(p.hdr.out_sz, 8, "out_sz %u", p.hdr.out_sz);
	close(fd);
}

/* A page that was mapped and is not any more. */
static void *unmapped_page(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	cr_assert_neq(p, MAP_FAILED, "mmap: %s", strerror(errno));
	cr_assert_eq(munmap(p, (size_t)page), 0);
	return p;
}

Test(root, hvcall_unreadable_input_is_efault)
{
	int fd = start_policy("microsoft.yaml");
	struct good_call c;
	good_call_init(&c);
	c.hdr.in_ptr = (uintptr_t)unmapped_page();
	c.out = 0x5555555555555555ull;
	struct mshv_root_hvcall before = c.hdr;
	int got = root_hvcall(fd, &c.hdr);
	cr_expect_eq(got, -EFAULT, "in_ptr unmapped: got %d (%s), want EFAULT", got,
		     strerror(-got));
	/* The driver fails its copy_from_user before the hypercall. */
	expect_header_untouched(&before, &c.hdr, "in_ptr unmapped");
	cr_expect_eq(c.out, 0x5555555555555555ull, "output written");
	close(fd);
}

Test(root, hvcall_unwritable_output_is_efault_after_the_header)
{
	/* The driver makes the call, writes the header back, then fails to copy
	 * the output: EFAULT with the status in the header. */
	int fd = start_policy("microsoft.yaml");
	struct good_call c;
	good_call_init(&c);
	c.hdr.out_ptr = (uintptr_t)unmapped_page();
	c.hdr.status = 0;
	int got = root_hvcall(fd, &c.hdr);
	cr_expect_eq(got, -EFAULT, "out_ptr unmapped: got %d (%s), want EFAULT", got,
		     strerror(-got));
	cr_expect_eq(c.hdr.status, MSHV_EMU_HV_STATUS_SUCCESS, "status 0x%x", c.hdr.status);
	close(fd);
}

Test(root, hvcall_writes_exactly_out_sz_bytes)
{
	char *text = policy_text("microsoft.yaml");
	int fd = start_policy("microsoft.yaml");
	struct mshv_emu_hv_get_property_in in = {
		.partition_id = HV_SELF,
		.property_code = MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0,
	};
	unsigned char buf[64];
	memset(buf, CANARY, sizeof(buf));
	unsigned char *out = buf + 24;
	struct mshv_root_hvcall hdr = {
		.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
		.in_sz = sizeof(in),
		.out_sz = 8,
		.in_ptr = (uintptr_t)&in,
		.out_ptr = (uintptr_t)out,
	};
	int got = root_hvcall(fd, &hdr);
	cr_expect_eq(got, 0, "got %d (%s), status 0x%x", got, strerror(-got), hdr.status);
	cr_expect_eq(hdr.status, MSHV_EMU_HV_STATUS_SUCCESS, "status 0x%x", hdr.status);
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf + i < out || buf + i >= out + 8)
			cr_expect_eq(buf[i], CANARY, "byte %d off the output changed to 0x%02x",
				     (int)(buf + i - out), buf[i]);
	uint64_t value, want;
	memcpy(&value, out, sizeof(value));
	if (policy_value(text, "PROCESSOR_FEATURES0", &want))
		cr_expect_eq(value, want, "PROCESSOR_FEATURES0 0x%llx, policy 0x%llx",
			     (unsigned long long)value, (unsigned long long)want);
	else
		cr_expect_neq(value, 0xAAAAAAAAAAAAAAAAull, "the output was not written");
	close(fd);
	free(text);
}

/*
 * A caller whose memory the daemon may not read: the daemon runs without
 * CAP_SYS_PTRACE and the caller is another user.  Over CUSE the kernel
 * copies in_ptr and out_ptr for the daemon (unrestricted ioctls, retried
 * with the regions named), as for a real driver's copy_from_user, so the
 * call is answered.  Over FUSE the only way to them is process_vm_readv,
 * which is refused: the call answers EOPNOTSUPP and the daemon says why.
 */
Test(root, a_caller_the_daemon_may_not_ptrace)
{
	if (front_is_run())
		cr_skip_test("preload reads no caller's memory: the library sends it");
	char *text = policy_text("microsoft.yaml");
	char path[] = "/tmp/mshv-live-policy-XXXXXX";
	int policy_fd = mkstemp(path);
	cr_assert_geq(policy_fd, 0, "mkstemp: %s", strerror(errno));
	FILE *policy = fdopen(policy_fd, "w");
	cr_assert_not_null(policy);
	fprintf(policy, "%s\ndevice:\n  mode: \"0666\"\n", text);
	cr_assert_eq(fclose(policy), 0);
	daemon_under_test.drop_ptrace = true;
	daemon_start(&daemon_under_test, path);
	unlink(path);
	/* The FUSE node lives under the test's 0700 scratch directory. */
	cr_assert_eq(chmod(daemon_under_test.dir, 0755), 0);

	int report[2];
	cr_assert_eq(pipe(report), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct property p = {.result = -ECHILD};
		if (setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0) {
			int fd = open(daemon_under_test.node, O_RDONLY | O_CLOEXEC);
			p = fd < 0 ? (struct property){.result = -errno}
				   : get_property(fd, MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0);
		}
		_exit(write(report[1], &p, sizeof(p)) == sizeof(p) ? 0 : 1);
	}
	close(report[1]);
	struct property p;
	cr_assert_eq(read(report[0], &p, sizeof(p)), (ssize_t)sizeof(p),
		     "no report from the child");
	close(report[0]);
	int status;
	cr_assert_eq(waitpid(child, &status, 0), child);
	uint64_t want;
	cr_assert(policy_value(text, "PROCESSOR_FEATURES0", &want));
	if (front_is_cuse() || front_is_run()) {
		cr_expect_eq(p.result, 0, "CUSE: got %d (%s), status 0x%x", p.result,
			     strerror(-p.result), p.hdr.status);
		cr_expect_eq(p.value, want, "CUSE: PROCESSOR_FEATURES0 0x%llx, policy 0x%llx",
			     (unsigned long long)p.value, (unsigned long long)want);
	} else {
		cr_expect_eq(p.result, -EOPNOTSUPP, "FUSE: got %d (%s), want EOPNOTSUPP", p.result,
			     strerror(-p.result));
		cr_expect(log_wait_for(&daemon_under_test, "cannot reach the memory of pid", 5000),
			  "the daemon says once why it could not follow the pointers");
	}
	free(text);
}
