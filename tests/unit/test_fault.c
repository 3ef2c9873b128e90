/*
 * test_fault.c - fault rules through the core: what matches, when it fires,
 * what it does, and that the same seed replays the same faults.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "abi_table.h"
#include "core.h"

static struct emu_core core;

static void serve_text(const char *text)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap =
		policy_load_buffer("faults.yaml", text, strlen(text), &diags);
	if (!snap)
		diag_print(&diags, stderr);
	cr_assert_not_null(snap, "policy does not load");
	diag_free(&diags);
	core_init(&core, snap);
}

static void stop_serving(void)
{
	core_fini(&core);
}

#define POLICY_HEAD                               \
	"profile: negotiated\nversions: [1, 2]\n" \
	"capabilities: [{name: A, id: 1, value: 1}, {name: B, id: 2, value: 2}]\n"

static void open_session(struct emu_session *session, struct emu_caller *caller)
{
	struct emu_call call = {.caller = caller};
	cr_assert_eq(core_open(&core, session, &call), 0);
}

static int ioctl_u32(struct emu_session *session, uint32_t cmd, uint32_t value,
		     struct emu_call *call_out)
{
	static uint32_t in;
	struct emu_call call = {.cmd = cmd, .in = &in, .in_size = sizeof(in)};
	in = value;
	int result = core_ioctl(&core, session, &call);
	if (call_out)
		*call_out = call;
	return result;
}

/* Which of N checks of capability 1 fired (a string of 0/1). */
static void firing_pattern(int n, char *out)
{
	struct emu_session session;
	open_session(&session, NULL);
	cr_assert_eq(ioctl_u32(&session, RV, 1, NULL), 0);
	for (int i = 0; i < n; i++)
		out[i] = ioctl_u32(&session, CE_NEG, 1, NULL) == -EIO ? '1' : '0';
	out[n] = '\0';
	core_release(&core, &session, NULL);
}

static void check_pattern(const char *when, const char *want)
{
	char text[512], got[64];
	snprintf(text, sizeof(text),
		 POLICY_HEAD "faults:\n  rules:\n"
			     "    - {name: r, match: {ioctl: CHECK_EXTENSION}, when: %s, "
			     "action: {errno: EIO}}\n",
		 when);
	serve_text(text);
	firing_pattern((int)strlen(want), got);
	cr_expect_str_eq(got, want, "when %s", when);
	core_fini(&core);
}

Test(fault_when, counts_matching_calls)
{
	check_pattern("{}", "11111111");
	check_pattern("{once: true}", "10000000");
	check_pattern("{nth: 3}", "00100000");
	check_pattern("{every: 3}", "00100100");
	check_pattern("{after: 5}", "00000111");
	check_pattern("{times: 2}", "11000000");
	check_pattern("{after: 2, times: 2}", "00110000");
	check_pattern("{every: 2, times: 3}", "01010100");
}

Test(fault_when, same_seed_replays_the_same_faults)
{
#define FLAKY(seed)                                                         \
	POLICY_HEAD "faults:\n  seed: " #seed "\n  rules:\n"                \
		    "    - {name: flaky, match: {ioctl: CHECK_EXTENSION}, " \
		    "when: {probability: 0.5}, action: {errno: EIO}}\n"
	char first[65], again[65], other[65];
	serve_text(FLAKY(42));
	firing_pattern(64, first);
	core_fini(&core);
	serve_text(FLAKY(42));
	firing_pattern(64, again);
	core_fini(&core);
	serve_text(FLAKY(43));
	firing_pattern(64, other);
	core_fini(&core);
	cr_expect_str_eq(first, again, "seed 42 twice");
	cr_expect_str_neq(first, other, "seeds 42 and 43 gave the same 64 draws");
	int fired = 0;
	for (int i = 0; i < 64; i++)
		fired += first[i] == '1';
	cr_expect(fired > 16 && fired < 48, "probability 0.5 fired %d of 64", fired);
}

static const char *fixed_comm(struct emu_caller *caller)
{
	return "cloud-hyperviso";
}

Test(fault_match, ioctl_arg_session_and_caller, .fini = stop_serving)
{
	serve_text(
		POLICY_HEAD
		"faults:\n  rules:\n"
		"    - {name: arg, match: {ioctl: CHECK_EXTENSION, arg: 2}, action: {value: 99}}\n"
		"    - {name: second-open, match: {ioctl: REQUEST_VERSION, session: 2},\n"
		"       action: {errno: EINTR}}\n"
		"    - {name: vmm, match: {ioctl: MSHV_CHECK_EXTENSION, comm: 'cloud-hyper*',\n"
		"       uid: 1000}, action: {errno: EAGAIN}}\n");
	struct emu_caller vmm = {.pid = 10, .uid = 1000, .get_comm = fixed_comm};
	struct emu_caller root = {.pid = 11, .uid = 0, .get_comm = fixed_comm};
	struct emu_session first, second;
	open_session(&first, &root);
	open_session(&second, &vmm);
	cr_expect_eq(ioctl_u32(&first, RV, 1, NULL), 0, "session 1 is not matched");
	cr_expect_eq(ioctl_u32(&second, RV, 1, NULL), -EINTR, "session 2 is");
	cr_expect_eq(ioctl_u32(&second, RV, 1, NULL), -EINTR);
	cr_expect_eq(ioctl_u32(&first, CE_NEG, 2, NULL), 99);
	cr_expect_eq(ioctl_u32(&first, CE_NEG, 1, NULL), 1, "arg 1 is not matched");
	/* first's caller is uid 0: the vmm rule does not match it. */
	struct emu_call call = {.cmd = CE_NEG, .in = &(uint32_t){1}, .in_size = 4, .caller = &root};
	cr_expect_eq(core_ioctl(&core, &first, &call), 1);
	call.caller = &vmm;
	cr_expect_eq(core_ioctl(&core, &first, &call), -EAGAIN);
	cr_expect_str_eq(call.fault, "vmm");
	core_release(&core, &first, NULL);
	core_release(&core, &second, NULL);
}

Test(fault_match, first_rule_that_fires_wins, .fini = stop_serving)
{
	serve_text(POLICY_HEAD "faults:\n  rules:\n"
			       "    - {name: a, match: {ioctl: CHECK_EXTENSION}, when: {nth: 2},\n"
			       "       action: {errno: EIO}}\n"
			       "    - {name: b, match: {ioctl: CHECK_EXTENSION}, when: {nth: 2},\n"
			       "       action: {errno: EPERM}}\n");
	struct emu_session session;
	open_session(&session, NULL);
	ioctl_u32(&session, RV, 1, NULL);
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), 1);
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), -EIO, "a fires on its 2nd match");
	/* b saw calls 1 and 3 only: its 2nd match is the third call. */
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), -EPERM);
	core_release(&core, &session, NULL);
}

Test(fault_action, delay_holds_then_answers_as_the_policy, .fini = stop_serving)
{
	serve_text(POLICY_HEAD "faults:\n  rules:\n"
			       "    - {name: slow, match: {ioctl: REQUEST_VERSION}, "
			       "action: {delay_ms: 50}}\n"
			       "    - {name: slow-eio, match: {ioctl: CHECK_EXTENSION}, "
			       "action: {delay_ms: 20, errno: EIO}}\n");
	struct emu_session session;
	struct emu_call call;
	open_session(&session, NULL);
	ioctl_u32(&session, RV, 2, &call);
	cr_expect_eq(call.hold_ns, 50000000);
	cr_expect_not(call.hang);
	cr_expect_eq(atomic_load(&session.negotiated), MSHV_VERSION_UNSET,
		     "a held call changes nothing until it is answered");
	uint32_t version = 2;
	call.in = &version;
	cr_expect_eq(core_ioctl_complete(&core, &session, &call, false), 0);
	cr_expect_eq(atomic_load(&session.negotiated), 2);
	ioctl_u32(&session, CE_NEG, 1, &call);
	cr_expect_eq(call.hold_ns, 20000000);
	cr_expect_eq(core_ioctl_complete(&core, &session, &call, false), -EIO);
	core_release(&core, &session, NULL);
}

Test(fault_action, interrupted_hang_is_eintr_and_changes_nothing, .fini = stop_serving)
{
	serve_text(POLICY_HEAD
		   "faults:\n  rules:\n"
		   "    - {name: stuck, match: {ioctl: REQUEST_VERSION}, when: {once: true},\n"
		   "       action: {hang: true}}\n");
	struct emu_session session;
	struct emu_call call;
	open_session(&session, NULL);
	ioctl_u32(&session, RV, 1, &call);
	cr_expect(call.hang);
	cr_expect_eq(call.hold_ns, 0);
	cr_expect_eq(core_ioctl_complete(&core, &session, &call, true), -EINTR);
	cr_expect_eq(atomic_load(&session.negotiated), MSHV_VERSION_UNSET);
	cr_expect_eq(ioctl_u32(&session, RV, 1, NULL), 0, "the retry is not hung (once)");
	core_release(&core, &session, NULL);
}

Test(fault_action, vanish_then_come_back, .fini = stop_serving)
{
	serve_text(POLICY_HEAD
		   "faults:\n  rules:\n"
		   "    - {name: gone, match: {ioctl: CHECK_EXTENSION}, when: {once: true},\n"
		   "       action: {vanish_ms: 60000}}\n");
	struct emu_session session, later;
	open_session(&session, NULL);
	ioctl_u32(&session, RV, 1, NULL);
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), -ENODEV);
	cr_expect(core_vanished(&core));
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), -ENODEV, "existing fds: ENODEV");
	struct emu_call call = {0};
	cr_expect_eq(core_open(&core, &later, &call), -ENOENT, "new opens: ENOENT");
	core_vanish(&core, 0);
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), 1, "back, with its version");
	core_release(&core, &session, NULL);
}

Test(fault_action, open_fails_for_the_nth_open, .fini = stop_serving)
{
	serve_text(POLICY_HEAD "faults:\n  rules:\n"
			       "    - {name: busy, match: {event: open, session: 2}, "
			       "action: {errno: EBUSY}}\n");
	struct emu_session sessions[3];
	struct emu_call call = {0};
	cr_expect_eq(core_open(&core, &sessions[0], &call), 0);
	cr_expect_eq(core_open(&core, &sessions[1], &call), -EBUSY);
	cr_expect_str_eq(call.fault, "busy");
	cr_expect_eq(core_open(&core, &sessions[2], &call), 0);
	core_release(&core, &sessions[0], NULL);
	core_release(&core, &sessions[2], NULL);
}

Test(fault_runtime, disable_enable_and_inject, .fini = stop_serving)
{
	serve_text(POLICY_HEAD
		   "faults:\n  rules:\n"
		   "    - {name: eio, match: {ioctl: CHECK_EXTENSION}, action: {errno: EIO}}\n");
	struct emu_session session;
	open_session(&session, NULL);
	ioctl_u32(&session, RV, 1, NULL);
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), -EIO);
	cr_expect(core_fault_enable(&core, "eio", false));
	cr_expect_not(core_fault_enable(&core, "no-such-rule", false));
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), 1);

	struct diag_list diags = {0};
	struct fault_rule *rule =
		policy_parse_fault(core.current, "inject",
				   "{name: once-eagain, match: {ioctl: CHECK_EXTENSION, arg: 2}, "
				   "action: {errno: EAGAIN}}",
				   &diags);
	cr_assert_not_null(rule);
	cr_assert_eq(core_inject(&core, rule), 0);
	free(rule);
	/* A name taken, by an injected rule or the policy's, is refused. */
	const char *const taken[] = {
		"{name: once-eagain, match: {ioctl: CHECK_EXTENSION}, action: {errno: EIO}}",
		"{name: eio, match: {ioctl: CHECK_EXTENSION}, action: {errno: EIO}}"};
	for (size_t i = 0; i < 2; i++) {
		rule = policy_parse_fault(core.current, "inject", taken[i], &diags);
		cr_assert_not_null(rule);
		cr_expect_eq(core_inject(&core, rule), -EEXIST, "%s", taken[i]);
		fault_rule_free(rule);
		free(rule);
	}
	/* Nor may a reload bring in a policy rule of an injected rule's name. */
	static const char clashing[] =
		POLICY_HEAD "faults:\n  rules:\n"
			    "    - {name: once-eagain, match: {ioctl: CHECK_EXTENSION}, action: "
			    "{errno: EIO}}\n";
	struct policy_snapshot *next =
		policy_load_buffer("next.yaml", clashing, strlen(clashing), &diags);
	cr_assert_not_null(next);
	uint64_t generation = core.current->generation;
	char clash[64] = "";
	cr_expect_eq(core_reload(&core, next, clash, sizeof(clash)), 0);
	cr_expect_str_eq(clash, "once-eagain");
	cr_expect_eq(core.current->generation, generation, "the clashing policy was published");
	policy_free(next);
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 2, NULL), -EAGAIN);
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 2, NULL), 2, "an injected rule fires once");
	cr_expect(core_fault_enable(&core, "eio", true));
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), -EIO);

	cr_expect_null(policy_parse_fault(
		core.current, "inject", "{name: x, match: {ioctl: NO_SUCH}, action: {errno: EIO}}",
		&diags));
	cr_assert_eq(diags.count, 1);
	char line[512];
	diag_format(&diags.items[0], line, sizeof(line));
	cr_expect(strstr(line, "inject:1:26: error: match.ioctl: `NO_SUCH` is not an ioctl") !=
			  NULL,
		  "%s", line);
	diag_free(&diags);
	core_release(&core, &session, NULL);
}

Test(fault_match, rules_are_indexed_by_ioctl_in_policy_order, .fini = stop_serving)
{
	/* any: no ioctl named, so it is tried for every call, in its place. */
	serve_text(POLICY_HEAD
		   "faults:\n  rules:\n"
		   "    - {name: unknown-number, match: {ioctl: 0x4004B8F0}, "
		   "action: {value: 5}}\n"
		   "    - {name: any, when: {nth: 3}, action: {errno: EIO}}\n"
		   "    - {name: check, match: {ioctl: CHECK_EXTENSION}, action: {value: 9}}\n");
	struct emu_session session;
	struct emu_call call;
	open_session(&session, NULL);
	cr_expect_eq(ioctl_u32(&session, RV, 1, NULL), 0, "any: match 1");
	cr_expect_eq(ioctl_u32(&session, UNKNOWN_CMD, 0, &call), 5, "an undefined number");
	cr_expect_str_eq(call.fault, "unknown-number");
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), 9, "any: match 2, then check");
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, &call), -EIO, "any comes first: match 3");
	cr_expect_str_eq(call.fault, "any");
	cr_expect_eq(ioctl_u32(&session, CE_NEG, 1, NULL), 9);
	core_release(&core, &session, NULL);
}
