/*
 * test_abi.c - the ABI table (tests/abi_table.h) through core_ioctl, plus
 * what the table cannot say: racing requests, policy overrides, errno names.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "abi_table.h"
#include "core.h"
#include "errnames.h"

static struct policy_snapshot *load_shipped(const char *name)
{
	char path[512];
	struct diag_list diags = {0};
	snprintf(path, sizeof(path), "%s/policies/%s", MSHV_EMU_SOURCE_DIR, name);
	struct policy_snapshot *snap = policy_load_file(path, &diags);
	cr_assert_not_null(snap, "%s does not load (%zu errors)", path, diags.count);
	diag_free(&diags);
	return snap;
}

static struct policy_snapshot *load_text(const char *text)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap =
		policy_load_buffer("inline.yaml", text, strlen(text), &diags);
	if (!snap)
		diag_print(&diags, stderr);
	cr_assert_not_null(snap, "inline policy does not load");
	diag_free(&diags);
	return snap;
}

/* A core serving one policy, and one open session on it. */
static struct emu_core served_core;
static struct emu_session served_session;

static void serve(struct policy_snapshot *snap)
{
	core_init(&served_core, snap);
	core_open(&served_core, &served_session, &(struct emu_call){0});
}

static void stop_serving(void)
{
	core_release(&served_core, &served_session, NULL);
	core_fini(&served_core);
}

/* One ioctl as the kernel would hand it over in restricted mode. */
static int call_core(struct emu_core *core, struct emu_session *session, uint32_t cmd,
		     enum abi_arg arg, uint32_t value)
{
	unsigned char in[64] = {0}, out[64];
	struct emu_call call = {.cmd = cmd, .out = out, .out_size = _IOC_SIZE(cmd)};
	if (_IOC_DIR(cmd) & _IOC_WRITE) {
		memcpy(in, &value, sizeof(value));
		call.in = in;
		call.in_size = _IOC_SIZE(cmd);
	}
	if (arg == ARG_BAD_PTR) { /* the kernel's copy failed: nothing arrives */
		call.in = NULL;
		call.in_size = 0;
	}
	if (arg == ARG_VALUE)
		call.arg = value;
	return core_ioctl(core, session, &call);
}

/* One ioctl on the served session. */
static int ask(uint32_t cmd, enum abi_arg arg, uint32_t value)
{
	return call_core(&served_core, &served_session, cmd, arg, value);
}

static void describe(int result, char *buf, size_t size)
{
	if (result >= 0)
		snprintf(buf, size, "%d", result);
	else
		snprintf(buf, size, "-%s (%d)", errname_of(-result) ? errname_of(-result) : "?",
			 -result);
}

/* Indices, not structs: criterion runs each test in a fresh process, where a
 * pointer copied from the parent's static data need not be valid. */
static unsigned case_indices[ABI_CASE_COUNT];

ParameterizedTestParameters(abi, table)
{
	for (unsigned i = 0; i < ABI_CASE_COUNT; i++)
		case_indices[i] = i;
	return cr_make_param_array(unsigned, case_indices, ABI_CASE_COUNT);
}

ParameterizedTest(unsigned *index, abi, table, .fini = stop_serving)
{
	const struct abi_case *c = &abi_cases[*index];
	serve(load_shipped(c->policy));
	for (unsigned i = 0; i < ABI_MAX_STEPS && c->steps[i].cmd; i++) {
		const struct abi_step *step = &c->steps[i];
		int got = ask(step->cmd, step->arg, step->value);
		char got_s[64], want_s[64];
		describe(got, got_s, sizeof(got_s));
		describe(step->expect, want_s, sizeof(want_s));
		cr_expect_eq(got, step->expect,
			     "%s: %s: step %u (cmd 0x%08X, arg %u): got %s, want %s", c->policy,
			     c->name, i + 1, step->cmd, step->value, got_s, want_s);
	}
}

/* ---- the per-fd lock, without a lock ---- */

struct race {
	struct emu_core *core;
	struct emu_session *session;
	pthread_barrier_t *barrier;
	uint32_t version;
	int result;
};

static void *race_request(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(r->barrier);
	r->result = call_core(r->core, r->session, RV, ARG_U32, r->version);
	return NULL;
}

Test(session, racing_requests_lock_exactly_one_version)
{
	struct emu_core core;
	core_init(&core, load_shipped("default.yaml"));
	for (int round = 0; round < 500; round++) {
		struct emu_session session;
		pthread_barrier_t barrier;
		pthread_t threads[2];
		struct race races[2] = {{&core, &session, &barrier, 1, 0},
					{&core, &session, &barrier, 2, 0}};
		core_open(&core, &session, &(struct emu_call){0});
		pthread_barrier_init(&barrier, NULL, 2);
		for (int t = 0; t < 2; t++)
			pthread_create(&threads[t], NULL, race_request, &races[t]);
		for (int t = 0; t < 2; t++)
			pthread_join(threads[t], NULL);
		pthread_barrier_destroy(&barrier);
		int winner = races[0].result == 0 ? 0 : 1;
		cr_assert_eq(races[winner].result, 0, "round %d: nobody won", round);
		cr_assert_eq(races[!winner].result, -EBADFD, "round %d: loser got %d", round,
			     races[!winner].result);
		cr_assert_eq(atomic_load(&session.negotiated), races[winner].version);
		core_release(&core, &session, NULL);
	}
	core_fini(&core);
}

/* ---- what a policy may override ---- */

Test(overrides, numbers_move_and_by_value_check_extension, .fini = stop_serving)
{
	serve(load_text("profile: negotiated\n"
			"versions: [7]\n"
			"numbers: {request_version: 0x4004B8A0, check_extension: 0xB8A1}\n"
			"capabilities: [{name: X, id: 5, value: 42}]\n"));
	/* The old numbers are gone: before a version they are EBADFD like any ioctl. */
	cr_expect_eq(ask(RV, ARG_U32, 7), -EBADFD);
	cr_expect_eq(ask(0x4004B8A0, ARG_U32, 7), 0);
	cr_expect_eq(ask(RV, ARG_U32, 7), -ENOTTY);
	/* _IO(0xB8, 0xA1): the capability id travels by value, as KVM's does. */
	cr_expect_eq(ask(0xB8A1, ARG_VALUE, 5), 42);
	cr_expect_eq(ask(0xB8A1, ARG_VALUE, 6), -EOPNOTSUPP);
}

Test(overrides, refusal_errnos, .fini = stop_serving)
{
	serve(load_text("profile: negotiated\n"
			"versions: [1]\n"
			"errors: {unversioned: EPERM, version_locked: EBUSY,\n"
			"         unsupported_version: EPROTO, unknown_ioctl: 22,\n"
			"         unknown_capability: ENOTSUPP}\n"));
	cr_expect_eq(ask(CE_NEG, ARG_U32, 0), -EPERM);
	cr_expect_eq(ask(RV, ARG_U32, 9), -EPROTO);
	cr_expect_eq(ask(RV, ARG_U32, 1), 0);
	cr_expect_eq(ask(RV, ARG_U32, 1), -EBUSY);
	cr_expect_eq(ask(UNKNOWN_CMD, ARG_U32, 0), -EINVAL);
	cr_expect_eq(ask(CE_NEG, ARG_U32, 3), -MSHV_ENOTSUPP);
}

Test(overrides, extra_ioctls_answer_after_the_version, .fini = stop_serving)
{
	serve(load_text("profile: negotiated\n"
			"versions: [1]\n"
			"ioctls:\n"
			"  - {name: MSHV_GET_X, cmd: 0xB820, value: 7}\n"
			"  - {name: MSHV_SET_Y, cmd: 0x4004B821, errno: EACCES}\n"));
	cr_expect_eq(ask(0xB820, ARG_VALUE, 0), -EBADFD);
	cr_expect_eq(ask(RV, ARG_U32, 1), 0);
	cr_expect_eq(ask(0xB820, ARG_VALUE, 0), 7);
	cr_expect_eq(ask(0x4004B821, ARG_U32, 0), -EACCES);
	cr_expect_eq(ask(0x4004B821, ARG_BAD_PTR, 0), -EFAULT);
}

/* ---- errno names ---- */

Test(errnames, kernel_internal_and_aliases)
{
	cr_expect_eq(errname_parse("ENOTSUPP"), 524);
	cr_expect_eq(errname_parse("ENOTSUP"), EOPNOTSUPP, "ENOTSUP is libc's EOPNOTSUPP, not 524");
	cr_expect_eq(errname_parse("EOPNOTSUPP"), 95);
	cr_expect_eq(errname_parse("EBADFD"), 77);
	cr_expect_eq(errname_parse("77"), 77);
	cr_expect_eq(errname_parse("0x4"), 4);
	cr_expect_eq(errname_parse("EFOO"), 0);
	cr_expect_eq(errname_parse("0"), 0);
	cr_expect_eq(errname_parse("4096"), 0);
	cr_expect_eq(errname_parse(""), 0);
	cr_expect_str_eq(errname_of(524), "ENOTSUPP");
	cr_expect_str_eq(errname_of(95), "EOPNOTSUPP");
	cr_expect_null(errname_of(0));
	cr_expect_null(errname_of(5000));
}
