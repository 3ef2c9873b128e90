/*
 * fuzz_policy.c - the policy loader on any bytes (policy_load_buffer, what
 * --check, start-up, SIGHUP and `mshvctl reload` all read a file through).
 *
 * Besides what the sanitizers catch, it holds the loader to what
 * docs/policy.md promises:
 *   - an input is either loaded with no diagnostic, or refused with at
 *     least one;
 *   - each diagnostic names the input, is one non-empty line, points inside
 *     it (a line no further than its last, or the end of the input; 0 for
 *     the whole file), and they come in source order;
 *   - a loaded snapshot is within the documented bounds (versions, ioctls
 *     sorted per kind of fd, rules, device name and mode, digest);
 *   - a loaded snapshot can be served: every device ioctl it defines,
 *     called once on a fresh fd with a zeroed argument, answers a value or
 *     an errno.
 */
#include <errno.h>
#include <string.h>

#include "fuzz_common.h"

#define NAME "fuzz.yaml"

static void check_diags(const struct diag_list *diags, const uint8_t *data, size_t len)
{
	unsigned lines = 1;
	for (size_t i = 0; i < len; i++)
		/* libyaml's breaks: LF, CR (CR LF counts once, so this is an upper
		 * bound), NEL, LS, PS (the last three UTF-8, counted by a byte each) */
		if (data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xa8 ||
		    data[i] == 0xa9)
			lines++;
	for (size_t i = 0; i < diags->count; i++) {
		const struct diag *d = &diags->items[i];
		FUZZ_CHECK(!strcmp(d->file, NAME), "diagnostic %zu names `%s`, not the input", i,
			   d->file);
		FUZZ_CHECK(d->message && *d->message, "diagnostic %zu has no message", i);
		for (const char *c = d->message; *c; c++)
			FUZZ_CHECK(*c != '\n' && *c != '\r', "diagnostic %zu is not one line: %s",
				   i, d->message);
		/* libyaml puts the end of the stream on a line of its own, after
		 * an input's last line break (yaml_parser_fetch_stream_end). */
		FUZZ_CHECK(d->line <= lines || (d->line == lines + 1 && d->column == 1),
			   "diagnostic %zu at %u:%u of a %u-line input: %s", i, d->line, d->column,
			   lines, d->message);
		FUZZ_CHECK(d->line == 0 || d->column >= 1, "diagnostic %zu at column 0: %s", i,
			   d->message);
		/* Past POLICY_MAX_ERRORS, a last line of the whole file says how
		 * many more there are. */
		bool summary = i + 1 == diags->count && d->line == 0 &&
			       strstr(d->message, "more errors not shown");
		if (i > 0 && !summary) {
			const struct diag *p = &diags->items[i - 1];
			FUZZ_CHECK(p->line < d->line ||
					   (p->line == d->line && p->column <= d->column),
				   "diagnostics %zu and %zu out of source order", i - 1, i);
		}
		char line[1024];
		diag_format(d, line, sizeof(line));
	}
}

static void check_snapshot(const struct policy_snapshot *snap)
{
	const struct profile_desc *desc = profile_get(snap->profile);
	FUZZ_CHECK(snap->versioned == desc->versioned, "versioned is not the profile's");
	if (snap->versioned)
		FUZZ_CHECK(snap->version_count >= 1 && snap->version_count <= POLICY_MAX_VERSIONS,
			   "%u versions", snap->version_count);
	else
		FUZZ_CHECK(snap->version_count == 0, "versions for profile %s", desc->name);
	for (unsigned i = 0; i < snap->version_count; i++) {
		FUZZ_CHECK(snap->versions[i] != MSHV_VERSION_UNSET, "version 0xffffffff accepted");
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(snap->versions[i] != snap->versions[j], "version %u twice",
				   snap->versions[i]);
	}
	for (uint32_t id = 0; id < snap->cap_slots; id++)
		FUZZ_CHECK(snap->caps[id].value >= 0, "capability %u has value %d", id,
			   snap->caps[id].value);
	FUZZ_CHECK(snap->cap_slots <= POLICY_MAX_CAP_ID + 1, "%u capability slots",
		   snap->cap_slots);
	FUZZ_CHECK(snap->object_first[0] == 0 &&
			   snap->object_first[EMU_OBJECT_COUNT] == snap->ioctl_count,
		   "object_first does not cover the ioctls");
	for (unsigned o = 0; o < EMU_OBJECT_COUNT; o++) {
		FUZZ_CHECK(snap->object_first[o] <= snap->object_first[o + 1],
			   "object_first is not monotone");
		for (unsigned i = snap->object_first[o]; i < snap->object_first[o + 1]; i++) {
			FUZZ_CHECK(snap->ioctls[i].object == o, "ioctl %u under the wrong object",
				   i);
			FUZZ_CHECK(i == snap->object_first[o] ||
					   snap->ioctls[i - 1].cmd < snap->ioctls[i].cmd,
				   "ioctls of %s not sorted or not unique at 0x%08x", object_key(o),
				   snap->ioctls[i].cmd);
			FUZZ_CHECK(snap->ioctls[i].name && *snap->ioctls[i].name,
				   "ioctl %u has no name", i);
		}
	}
	FUZZ_CHECK(snap->fault_count <= 1024, "%u fault rules", snap->fault_count);
	for (unsigned i = 0; i < snap->fault_count; i++)
		FUZZ_CHECK(snap->faults[i].name && *snap->faults[i].name, "rule %u has no name", i);
	FUZZ_CHECK(policy_device_name_ok(snap->device_name), "device name `%s`", snap->device_name);
	FUZZ_CHECK(snap->device_mode <= 0777, "device mode %o", snap->device_mode);
	FUZZ_CHECK(!strncmp(snap->digest, "sha256:", 7) && strlen(snap->digest) == 7 + 64,
		   "digest `%s`", snap->digest);
	FUZZ_CHECK(snap->source && !strcmp(snap->source, NAME), "source is not the input");
}

/* Every ioctl of the device, once, on a fresh fd, with a zeroed argument. */
static void serve(struct policy_snapshot *snap)
{
	struct emu_core core;
	struct emu_session session;
	unsigned count = snap->object_first[EMU_OBJECT_DEVICE + 1];
	uint32_t cmds[POLICY_MAX_IOCTLS + EMU_OP_BUILTIN_COUNT];
	for (unsigned i = 0; i < count; i++)
		cmds[i] = snap->ioctls[i].cmd;
	core_init(&core, snap); /* SNAP is the core's now */
	struct emu_call open_call = {0};
	int opened = core_open(&core, &session, &open_call);
	if (open_call.hold_ns || open_call.hang)
		opened = core_open_complete(&core, &session, &open_call, false);
	if (opened == 0) {
		static uint8_t zero[1u << _IOC_SIZEBITS];
		for (unsigned i = 0; i < count; i++) {
			uint8_t out[256];
			struct emu_call call = {
				.cmd = cmds[i],
				.in = zero,
				.in_size = _IOC_DIR(cmds[i]) & _IOC_WRITE ? _IOC_SIZE(cmds[i]) : 0,
				.out = out,
				.out_size = _IOC_DIR(cmds[i]) & _IOC_READ
						    ? (_IOC_SIZE(cmds[i]) < 256 ? _IOC_SIZE(cmds[i])
										: 256)
						    : 0,
			};
			int result = core_ioctl(&core, &session, &call);
			if (call.hold_ns || call.hang)
				result = core_ioctl_complete(&core, &session, &call, false);
			FUZZ_CHECK(result >= -4095, "ioctl 0x%08x answered %d: not an errno",
				   cmds[i], result);
			FUZZ_CHECK(call.out_len <= call.out_size,
				   "ioctl 0x%08x copies %zu bytes out of %zu", cmds[i],
				   call.out_len, call.out_size);
		}
		core_release(&core, &session, NULL);
	} else {
		FUZZ_CHECK(opened >= -4095 && opened < 0, "open answered %d", opened);
	}
	core_fini(&core);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap = policy_load_buffer(NAME, (const char *)data, size, &diags);
	FUZZ_CHECK(!snap == (diags.count > 0), "%s with %zu diagnostics",
		   snap ? "loaded" : "refused", diags.count);
	check_diags(&diags, data, size);
	diag_free(&diags);
	if (snap) {
		check_snapshot(snap);
		serve(snap);
	}
	return 0;
}
