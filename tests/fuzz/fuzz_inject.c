/*
 * fuzz_inject.c - `mshvctl inject RULE`: the rule text, parsed as the
 * control socket parses it (policy_parse_fault against the snapshot being
 * served), then armed (core_inject) and tried.
 *
 * The input is the rule's text up to its first NUL: the socket carries one
 * line, so this is a superset of what can arrive.  It is parsed against one
 * shipped policy of each profile.  A rule that parses is held to
 * docs/faults.md:
 *   - its fields are within the documented bounds, and the combinations
 *     documented as errors were refused;
 *   - armed in a fresh core (serving the first policy that took it), it
 *     fires on exactly the matching calls its `when` names (a few opens,
 *     releases or ioctls on the device that match it), and a call it fires
 *     on answers what its `action` says;
 *   - `fault disable` by its name stops it.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define CALLS 4
#define COMM  "fuzz-comm"

/* One shipped policy per profile (the first by name), none with faults. */
static unsigned profile_policy[EMU_PROFILE_COUNT];
static unsigned profile_count;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_load_policies();
	bool seen[EMU_PROFILE_COUNT] = {false};
	for (unsigned i = 0; i < fuzz_policy_count; i++) {
		const struct policy_snapshot *snap = fuzz_policies[i].snap;
		if (seen[snap->profile] || snap->fault_count)
			continue;
		seen[snap->profile] = true;
		profile_policy[profile_count++] = i;
	}
	return 0;
}

static const char *fuzz_comm(struct emu_caller *caller)
{
	return COMM;
}

static void check_bounds(const struct fault_rule *rule)
{
	FUZZ_CHECK(rule->name && *rule->name, "a rule with no name");
	if (rule->event != FAULT_EVENT_IOCTL)
		FUZZ_CHECK(!rule->has_cmd && !rule->has_arg,
			   "%s: an open or release rule matches an ioctl", rule->name);
	if (rule->has_arg && rule->has_cmd)
		FUZZ_CHECK(
			_IOC_DIR(rule->cmd) == _IOC_NONE ||
				((_IOC_DIR(rule->cmd) & _IOC_WRITE) && _IOC_SIZE(rule->cmd) >= 4),
			"%s: `arg` on ioctl 0x%08x, which carries no __u32", rule->name, rule->cmd);
	if (rule->has_session)
		FUZZ_CHECK(rule->session >= 1, "%s: session 0", rule->name);
	FUZZ_CHECK(!rule->comm_glob || *rule->comm_glob, "%s: an empty comm glob", rule->name);
	FUZZ_CHECK(!(rule->nth && rule->after && rule->after >= rule->nth),
		   "%s: nth %llu after %llu can never fire", rule->name,
		   (unsigned long long)rule->nth, (unsigned long long)rule->after);
	FUZZ_CHECK(!(rule->nth && rule->every && rule->nth % rule->every),
		   "%s: nth %llu every %llu can never fire", rule->name,
		   (unsigned long long)rule->nth, (unsigned long long)rule->every);
	FUZZ_CHECK(!rule->has_probability || (rule->probability > 0 && rule->probability < 1),
		   "%s: probability %g", rule->name, rule->probability);
	unsigned primaries = rule->has_result + rule->hang + !!rule->vanish_ns;
	FUZZ_CHECK(primaries <= 1, "%s: more than one of errno/value, hang, vanish_ms", rule->name);
	FUZZ_CHECK(primaries == 1 || rule->delay_ns, "%s: no action", rule->name);
	FUZZ_CHECK(!rule->delay_ns || (!rule->hang && !rule->vanish_ns),
		   "%s: delay_ms with hang or vanish_ms", rule->name);
	FUZZ_CHECK(rule->delay_ns <= 600000ull * 1000000 && rule->vanish_ns <= 600000ull * 1000000,
		   "%s: longer than ten minutes", rule->name);
	if (rule->has_result)
		FUZZ_CHECK(rule->result >= -4095, "%s: errno %d", rule->name, -rule->result);
	if (rule->event == FAULT_EVENT_RELEASE)
		FUZZ_CHECK(rule->vanish_ns && !rule->delay_ns && !rule->has_result && !rule->hang,
			   "%s: a release rule that does more than vanish", rule->name);
	if (rule->event == FAULT_EVENT_OPEN && rule->has_result)
		FUZZ_CHECK(rule->result < 0 && -rule->result < 512 && -rule->result != ENOSYS,
			   "%s: an open answering %d", rule->name, rule->result);
}

/* Does the rule's match section take this caller and session? */
static bool caller_matches(const struct fault_rule *rule, uint64_t session)
{
	if (rule->has_session && rule->session != session)
		return false;
	return !rule->comm_glob || fnmatch(rule->comm_glob, COMM, 0) == 0;
}

/* docs/faults.md, "when": does match number MATCH fire, FIRED firings so far? */
static bool when_fires(const struct fault_rule *rule, uint64_t seed, uint64_t match, uint64_t fired)
{
	if (rule->nth && match != rule->nth)
		return false;
	if (rule->every && match % rule->every)
		return false;
	if (rule->after && match <= rule->after)
		return false;
	/* The draw is the documented hash of seed, rule index (0: the first
	 * injected rule) and match number. */
	if (rule->has_probability && fault_draw(seed, 0, match) >= rule->probability_threshold)
		return false;
	return !rule->times || fired < rule->times;
}

/* The caller the rule asks for, where it names a pid or uid. */
static struct emu_caller caller_for(const struct fault_rule *rule)
{
	return (struct emu_caller){
		.pid = rule->has_pid ? rule->pid : 4242,
		.uid = rule->has_uid ? rule->uid : 1000,
		.get_comm = fuzz_comm,
	};
}

/* An ioctl the rule matches: its number (or one carrying a __u32), its arg. */
static int matching_ioctl(struct emu_core *core, struct emu_session *session,
			  const struct fault_rule *rule, struct emu_caller *caller,
			  struct emu_call *call, uint8_t *in, uint8_t *out)
{
	uint32_t cmd = rule->has_cmd ? rule->cmd : MSHV_REQUEST_VERSION;
	size_t size = _IOC_SIZE(cmd);
	memset(in, 0, size);
	if (rule->has_arg && (_IOC_DIR(cmd) & _IOC_WRITE))
		memcpy(in, &rule->arg, sizeof(rule->arg));
	*call = (struct emu_call){
		.cmd = cmd,
		.arg = rule->has_arg && _IOC_DIR(cmd) == _IOC_NONE ? rule->arg : 0,
		.in = in,
		.in_size = _IOC_DIR(cmd) & _IOC_WRITE ? size : 0,
		.out = out,
		.out_size = _IOC_DIR(cmd) & _IOC_READ ? (size < 256 ? size : 256) : 0,
		.caller = caller,
	};
	int result = core_ioctl(core, session, call);
	if (call->hold_ns || call->hang) {
		FUZZ_CHECK(call->hang == rule->hang && call->hold_ns == rule->delay_ns,
			   "%s: held a call, not as its action says", rule->name);
		result = core_ioctl_complete(core, session, call, false);
	}
	return result;
}

/* Did the rule NAME fire on CALL ("": none)?  The call keeps the first
 * TRACE_NAME_MAX - 1 characters of a name, for the transcript. */
static bool fired_by(const struct emu_call *call, const char *name)
{
	return !strncmp(call->fault, name, TRACE_NAME_MAX - 1);
}

/* Open (and hold the result) as the front end does; 0 or -errno. */
static int open_session(struct emu_core *core, struct emu_session *session,
			struct emu_caller *caller, const struct fault_rule *rule, bool fired)
{
	struct emu_call call = {.caller = caller};
	int result = core_open(core, session, &call);
	if (call.hold_ns || call.hang) {
		FUZZ_CHECK(fired && call.hang == rule->hang && call.hold_ns == rule->delay_ns,
			   "%s: held an open, not as its action says", rule->name);
		result = core_open_complete(core, session, &call, false);
	}
	FUZZ_CHECK(fired_by(&call, fired ? rule->name : ""), "%s: open %s", rule->name,
		   fired ? "did not fire" : "fired out of turn");
	return result;
}

static void try_rule(struct emu_core *core, struct fault_rule *rule)
{
	char name[POLICY_NAME_MAX];
	FUZZ_CHECK(strlen(rule->name) < sizeof(name), "%s: a name longer than %d", rule->name,
		   POLICY_NAME_MAX - 1);
	snprintf(name, sizeof(name), "%s", rule->name);
	struct fault_rule expect = *rule; /* the core owns the copy from here */
	expect.name = name;
	expect.comm_glob = NULL;
	bool glob_ok = caller_matches(rule, 1);
	bool has_glob = rule->comm_glob != NULL;
	FUZZ_CHECK(core_inject(core, rule) == 0, "%s: not armed", name);
	uint64_t seed = core->current->fault_seed;
	struct emu_caller caller = caller_for(&expect);
	uint64_t matches = 0, fired = 0;
	bool enabled = expect.enabled;
	struct emu_session session;
	uint8_t in[1u << _IOC_SIZEBITS], out[256];

	for (unsigned n = 1; n <= CALLS; n++) {
		if (n == CALLS) { /* the last call: after `fault disable` */
			FUZZ_CHECK(core_fault_enable(core, name, false), "%s: not found by name",
				   name);
			enabled = false;
		}
		bool match = enabled && (!has_glob || glob_ok);
		switch (expect.event) {
		case FAULT_EVENT_OPEN: {
			/* Opens are numbered from 1: open N is session N. */
			match = match && (!expect.has_session || expect.session == n);
			bool fires = match && when_fires(&expect, seed, ++matches, fired);
			int result = open_session(core, &session, &caller, &expect, fires);
			if (fires) {
				fired++;
				int want = expect.vanish_ns    ? -ENOENT
					   : expect.has_result ? expect.result
							       : 0;
				FUZZ_CHECK(result == want, "%s: open answered %d, not %d", name,
					   result, want);
				if (expect.vanish_ns)
					return; /* the device is gone: nothing more to see */
			} else {
				FUZZ_CHECK(result == 0, "%s: open failed (%d) with no fault", name,
					   result);
			}
			if (result == 0)
				core_release(core, &session, &caller);
			break;
		}
		case FAULT_EVENT_RELEASE: {
			FUZZ_CHECK(open_session(core, &session, &caller, &expect, false) == 0,
				   "%s: open failed", name);
			match = match && (!expect.has_session || expect.session == n);
			bool fires = match && when_fires(&expect, seed, ++matches, fired);
			core_release(core, &session, &caller);
			FUZZ_CHECK(core_vanished(core) == fires, "%s: the release %s", name,
				   fires ? "did not vanish the device" : "vanished the device");
			if (fires)
				return;
			break;
		}
		case FAULT_EVENT_IOCTL: {
			if (n == 1)
				FUZZ_CHECK(open_session(core, &session, &caller, &expect, false) ==
						   0,
					   "%s: open failed", name);
			match = match && (!expect.has_session || expect.session == 1);
			bool fires = match && when_fires(&expect, seed, ++matches, fired);
			struct emu_call call;
			int result =
				matching_ioctl(core, &session, &expect, &caller, &call, in, out);
			FUZZ_CHECK(fired_by(&call, fires ? name : ""), "%s: ioctl %s (%d)", name,
				   fires ? "did not fire" : "fired out of turn", result);
			if (fires) {
				fired++;
				if (expect.vanish_ns) {
					FUZZ_CHECK(result == -ENODEV, "%s: vanished, answered %d",
						   name, result);
					core_release(core, &session, &caller);
					return;
				}
				if (expect.has_result)
					FUZZ_CHECK(result == expect.result,
						   "%s: answered %d, not %d", name, result,
						   expect.result);
			}
			if (n == CALLS)
				core_release(core, &session, &caller);
			break;
		}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size);
	if (!text)
		abort();
	bool tried = false;
	for (unsigned p = 0; p < profile_count; p++) {
		struct fuzz_policy *policy = &fuzz_policies[profile_policy[p]];
		struct diag_list diags = {0};
		struct fault_rule *rule = policy_parse_fault(policy->snap, "inject", text, &diags);
		FUZZ_CHECK(!rule == (diags.count > 0), "%s: %s with %zu diagnostics", policy->name,
			   rule ? "parsed" : "refused", diags.count);
		for (size_t i = 0; i < diags.count; i++) {
			FUZZ_CHECK(
				!strcmp(diags.items[i].file, "inject") && *diags.items[i].message &&
					!strpbrk(diags.items[i].message, "\r\n"),
				"%s: diagnostic %zu: %s", policy->name, i, diags.items[i].message);
		}
		diag_free(&diags);
		if (!rule)
			continue;
		check_bounds(rule);
		if (tried) { /* a rule acts the same whatever the profile: try it once */
			fault_rule_free(rule);
			free(rule);
			continue;
		}
		tried = true;
		/* A fresh core serving the shared snapshot: its counters start at 0. */
		struct emu_core core;
		fault_state_init(policy->snap->fault_states, policy->snap->faults,
				 policy->snap->fault_count);
		core_init(&core, policy->snap);
		try_rule(&core, rule);
		free(rule);
		core_vanish(&core, 0);
		FUZZ_CHECK(atomic_load(&core.sessions_open) == 0, "%s: a session left open",
			   policy->name);
		core.current = NULL; /* the snapshot is kept for the next input */
		core_fini(&core);
	}
	free(text);
	return 0;
}
