/*
 * policy_faults.c - a policy's `faults` section, and one rule given to
 * `mshvctl inject`: match, when and action, checked and indexed by the
 * ioctl they can match, so a call whose bucket is empty pays nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "errnames.h"
#include "policy.h"
#include "policy_load_impl.h"

/* ---- faults ---- */

#define FAULT_MAX_MS 600000 /* ten minutes: anything longer is a mistake */
#define COMM_MAX     15	    /* the kernel's TASK_COMM_LEN, 16, less its NUL */

/* The ioctl a rule names: a built-in by key or display name, one of the
 * policy's ioctls by name, or any number. */
static bool ioctl_named(const struct policy_ioctl *entry, const char *name)
{
	return !strcmp(entry->name, name) ||
	       (entry->op < EMU_OP_BUILTIN_COUNT && !strcmp(op_key(entry->op), name)) ||
	       (entry->op < EMU_OP_BUILTIN_COUNT && !strcmp(entry->name + 5, name));
}

/* The ioctl NAME names, and into *OBJECTS a bit per kind of fd that has
 * it (ROOT_HVCALL is the device's and a partition's). */
static const struct policy_ioctl *find_ioctl_by_name(const struct policy_snapshot *snap,
						     const char *name, unsigned *objects)
{
	const struct policy_ioctl *found = NULL;
	*objects = 0;
	for (unsigned i = 0; i < snap->ioctl_count; i++) {
		const struct policy_ioctl *entry = &snap->ioctls[i];
		if (ioctl_named(entry, name) && (!found || entry->cmd == found->cmd)) {
			if (!found)
				found = entry;
			*objects |= 1u << entry->object;
		}
	}
	return found;
}

/* Where the bracket expression opening at OPEN ends (its `]`), as fnmatch
 * reads it, or NULL if it does not (then `[` is an ordinary character).  One
 * holding a `[` (a class such as [:digit:], or a stray one) is taken to run
 * to the glob's last `]`: the count below may then be short, never long. */
static const char *bracket_end(const char *open)
{
	const char *p = open + 1;
	if (*p == '!' || *p == '^')
		p++;
	if (*p == ']') /* first: a member, not the end */
		p++;
	for (; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '[')
			return strrchr(p, ']');
		else if (*p == ']')
			return p;
	}
	return NULL;
}

/* The fewest bytes a name matching GLOB (fnmatch, no flags) can have: `*`
 * none, `?`, a bracket expression or any other character at least one. */
static size_t glob_min_bytes(const char *glob)
{
	size_t bytes = 0;
	for (const char *p = glob; *p; p++) {
		if (*p == '*')
			continue;
		bytes++;
		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '[') {
			const char *end = bracket_end(p);
			if (end)
				p = end;
		}
	}
	return bytes;
}

/* Does CMD carry the u32 argument a rule's `arg` would match? */
static bool cmd_has_u32_arg(uint32_t cmd)
{
	return _IOC_DIR(cmd) == _IOC_NONE || ((_IOC_DIR(cmd) & _IOC_WRITE) && _IOC_SIZE(cmd) >= 4);
}

static void build_fault_match(struct loader *ld, const char *path, const struct raw_fault_match *m,
			      const struct policy_snapshot *snap, struct fault_rule *rule, bool *ok)
{
	char sub[160];
	int64_t n;
	rule->event = FAULT_EVENT_IOCTL;
	if (!m)
		return;
	if (m->event) {
		snprintf(sub, sizeof(sub), "%s.match.event", path);
		if (!strcmp(m->event, "ioctl"))
			rule->event = FAULT_EVENT_IOCTL;
		else if (!strcmp(m->event, "open"))
			rule->event = FAULT_EVENT_OPEN;
		else if (!strcmp(m->event, "release"))
			rule->event = FAULT_EVENT_RELEASE;
		else
			load_error(ld, sub, "unknown event `%s`; expected ioctl, open or release",
				   m->event),
				*ok = false;
	}
	if (rule->event != FAULT_EVENT_IOCTL && (m->ioctl || m->arg)) {
		snprintf(sub, sizeof(sub), "%s.match.%s", path, m->ioctl ? "ioctl" : "arg");
		load_error(ld, sub, "can never match: an %s carries no ioctl; remove it",
			   rule->event == FAULT_EVENT_OPEN ? "open" : "release");
		*ok = false;
	}
	if (m->ioctl) {
		snprintf(sub, sizeof(sub), "%s.match.ioctl", path);
		const struct policy_ioctl *entry =
			find_ioctl_by_name(snap, m->ioctl, &rule->objects);
		if (entry) {
			rule->cmd = entry->cmd;
		} else if (parse_int(m->ioctl, &n) && n >= 1 && n <= UINT32_MAX) {
			rule->cmd = (uint32_t)n;
		} else {
			/* An example this policy has, not one it may lack. */
			const char *example = snap->ioctl_count ? snap->ioctls[0].name : NULL;
			if (example && !strncmp(example, "MSHV_", 5))
				example += 5;
			load_error(ld, sub,
				   "`%s` is not an ioctl of profile %s or of `ioctls:`; use one of "
				   "its names%s%s, or a number",
				   m->ioctl, profile_get(snap->profile)->name,
				   example ? ", such as " : "", example ? example : "");
			*ok = false;
		}
		rule->has_cmd = true;
	}
	if (m->arg) {
		snprintf(sub, sizeof(sub), "%s.match.arg", path);
		if (get_number(ld, sub, m->arg, 0, UINT32_MAX, "a __u32 such as a capability id",
			       &n)) {
			rule->arg = (uint32_t)n;
			rule->has_arg = true;
			if (rule->has_cmd && !cmd_has_u32_arg(rule->cmd)) {
				load_error(
					ld, sub,
					"can never match: ioctl 0x%08X carries no __u32 argument",
					rule->cmd);
				*ok = false;
			}
		} else {
			*ok = false;
		}
	}
	if (m->session) {
		snprintf(sub, sizeof(sub), "%s.match.session", path);
		*ok &= get_number(ld, sub, m->session, 1, INT64_MAX, "the Nth open, from 1", &n);
		rule->session = (uint64_t)n;
		rule->has_session = true;
	}
	if (m->pid) {
		snprintf(sub, sizeof(sub), "%s.match.pid", path);
		*ok &= get_number(ld, sub, m->pid, 1, INT32_MAX, "a process id", &n);
		rule->pid = (int32_t)n;
		rule->has_pid = true;
	}
	if (m->uid) {
		snprintf(sub, sizeof(sub), "%s.match.uid", path);
		*ok &= get_number(ld, sub, m->uid, 0, UINT32_MAX - 1, "a user id", &n);
		rule->uid = (uint32_t)n;
		rule->has_uid = true;
	}
	if (m->comm) {
		snprintf(sub, sizeof(sub), "%s.match.comm", path);
		size_t least = glob_min_bytes(m->comm);
		if (!*m->comm) {
			load_error(ld, sub, "empty command name; give a glob such as cloud-hyper*");
			*ok = false;
		} else if (least > COMM_MAX) {
			load_error(ld, sub,
				   "`%s` can never match: a command name (comm) has at most %d "
				   "bytes, and this glob needs %zu; shorten it, such as "
				   "cloud-hyper*",
				   m->comm, COMM_MAX, least);
			*ok = false;
		} else {
			rule->comm_glob = strdup(m->comm);
			if (!rule->comm_glob)
				abort();
		}
	}
}

static void build_fault_when(struct loader *ld, const char *path, const struct raw_fault_when *w,
			     struct fault_rule *rule, bool *ok)
{
	char sub[160];
	int64_t n;
	if (!w)
		return;
#define WHEN_NUMBER(field, min, what)                                        \
	if (w->field) {                                                      \
		snprintf(sub, sizeof(sub), "%s.when." #field, path);         \
		if (get_number(ld, sub, w->field, min, INT64_MAX, what, &n)) \
			rule->field = (uint64_t)n;                           \
		else                                                         \
			*ok = false;                                         \
	}
	WHEN_NUMBER(nth, 1, "the Nth matching call, from 1")
	WHEN_NUMBER(every, 1, "every Nth matching call, from 1")
	WHEN_NUMBER(after, 1, "a number of matching calls to let through, from 1")
	WHEN_NUMBER(times, 1, "how many times at most, from 1")
#undef WHEN_NUMBER
	if (w->once) {
		bool once = false;
		snprintf(sub, sizeof(sub), "%s.when.once", path);
		if (!get_bool(ld, sub, w->once, &once))
			*ok = false;
		else if (once && rule->times > 1)
			load_error(ld, sub, "`once` and `times: %llu` disagree; keep one",
				   (unsigned long long)rule->times),
				*ok = false;
		else if (once)
			rule->times = 1;
	}
	if (w->probability) {
		char *end;
		snprintf(sub, sizeof(sub), "%s.when.probability", path);
		errno = 0;
		double p = strtod(w->probability, &end);
		if (*end || errno || !*w->probability || !(p > 0.0 && p <= 1.0)) {
			load_error(ld, sub,
				   "`%s` is not a probability in (0, 1]; 0 would never fire, 1 is "
				   "`always`",
				   w->probability);
			*ok = false;
		} else if (p < 1.0) {
			rule->has_probability = true;
			rule->probability = p;
			rule->probability_threshold = (uint64_t)(p * 18446744073709551616.0);
		}
	}
	if (rule->nth && rule->after && rule->after >= rule->nth) {
		snprintf(sub, sizeof(sub), "%s.when", path);
		load_error(ld, sub, "can never fire: `after: %llu` skips the `nth: %llu` call",
			   (unsigned long long)rule->after, (unsigned long long)rule->nth);
		*ok = false;
	}
	if (rule->nth && rule->every && rule->nth % rule->every) {
		snprintf(sub, sizeof(sub), "%s.when", path);
		load_error(ld, sub, "can never fire: call %llu is not a multiple of `every: %llu`",
			   (unsigned long long)rule->nth, (unsigned long long)rule->every);
		*ok = false;
	}
}

static void build_fault_action(struct loader *ld, const char *path,
			       const struct raw_fault_action *a, struct fault_rule *rule, bool *ok)
{
	char sub[160];
	int64_t n;
	if (!a) {
		load_error(ld, path, "needs `action:`: errno, value, delay_ms, hang or vanish_ms");
		*ok = false;
		return;
	}
	unsigned primaries = !!a->errno_name + !!a->value + !!a->hang + !!a->vanish_ms;
	if (primaries > 1) {
		snprintf(sub, sizeof(sub), "%s.action", path);
		load_error(ld, sub,
			   "give one of errno, value, hang and vanish_ms (delay_ms may go with "
			   "errno or value)");
		*ok = false;
		return;
	}
	if (!primaries && !a->delay_ms) {
		snprintf(sub, sizeof(sub), "%s.action", path);
		load_error(ld, sub, "needs errno, value, delay_ms, hang or vanish_ms");
		*ok = false;
		return;
	}
	if (a->errno_name) {
		int err;
		snprintf(sub, sizeof(sub), "%s.action.errno", path);
		if (get_errno(ld, sub, a->errno_name, &err))
			rule->has_result = true, rule->result = -err;
		else
			*ok = false;
	}
	if (a->value) {
		snprintf(sub, sizeof(sub), "%s.action.value", path);
		if (get_number(ld, sub, a->value, 0, INT32_MAX, "0 to 2147483647", &n))
			rule->has_result = true, rule->result = (int32_t)n;
		else
			*ok = false;
	}
	if (a->delay_ms) {
		snprintf(sub, sizeof(sub), "%s.action.delay_ms", path);
		if (get_number(ld, sub, a->delay_ms, 1, FAULT_MAX_MS,
			       "milliseconds from 1 to 600000 (ten minutes)", &n))
			rule->delay_ns = (uint64_t)n * 1000000;
		else
			*ok = false;
		if (a->hang) {
			load_error(ld, sub,
				   "a hung call waits for `mshvctl release`; remove delay_ms");
			*ok = false;
		}
		if (a->vanish_ms) {
			load_error(ld, sub, "a vanished device answers at once; remove delay_ms");
			*ok = false;
		}
	}
	if (a->hang) {
		snprintf(sub, sizeof(sub), "%s.action.hang", path);
		if (!get_bool(ld, sub, a->hang, &rule->hang))
			*ok = false;
		else if (!rule->hang)
			load_error(ld, sub,
				   "`hang: false` does nothing; remove the rule or the key"),
				*ok = false;
	}
	if (a->vanish_ms) {
		snprintf(sub, sizeof(sub), "%s.action.vanish_ms", path);
		if (get_number(ld, sub, a->vanish_ms, 1, FAULT_MAX_MS,
			       "milliseconds from 1 to 600000 (ten minutes)", &n))
			rule->vanish_ns = (uint64_t)n * 1000000;
		else
			*ok = false;
	}
	if (rule->event == FAULT_EVENT_RELEASE && !a->vanish_ms) {
		snprintf(sub, sizeof(sub), "%s.action", path);
		load_error(ld, sub,
			   "a release cannot fail or be delayed (close does not wait for it); "
			   "only vanish_ms applies");
		*ok = false;
	}
	/* An open's error travels in fuse_reply_err: an errno >= 512 is rejected
	 * by the kernel (the caller would hang in open), and ENOSYS means "no
	 * open here" to FUSE (the open would succeed with no session). */
	if (rule->event == FAULT_EVENT_OPEN && rule->has_result &&
	    (-rule->result >= 512 || -rule->result == ENOSYS)) {
		snprintf(sub, sizeof(sub), "%s.action.errno", path);
		load_error(ld, sub,
			   "an open cannot fail with %s (%d) through FUSE or CUSE; use an errno "
			   "below 512 other than ENOSYS",
			   errname_of(-rule->result) ? errname_of(-rule->result) : "it",
			   -rule->result);
		*ok = false;
	}
	if (rule->event == FAULT_EVENT_OPEN && a->value) {
		snprintf(sub, sizeof(sub), "%s.action.value", path);
		load_error(ld, sub, "an open returns a file descriptor, not a value; use errno");
		*ok = false;
	}
}

/* One rule at PATH into RULE; false (with errors reported) if it is invalid. */
static bool build_fault(struct loader *ld, const char *path, const struct raw_fault *raw,
			const struct policy_snapshot *snap, struct fault_rule *rule)
{
	bool ok = true;
	char sub[160];
	memset(rule, 0, sizeof(*rule));
	rule->enabled = true;
	if (!raw->name) {
		load_error(ld, path, "needs `name:`, used by logs, stats and mshvctl");
		ok = false;
	} else if (!valid_name(raw->name, "-.")) {
		snprintf(sub, sizeof(sub), "%s.name", path);
		load_error(ld, sub, "`%s` is not a rule name; use letters, digits, '_', '-', '.'",
			   raw->name);
		ok = false;
	} else {
		rule->name = strdup(raw->name);
		if (!rule->name)
			abort();
	}
	if (raw->enabled) {
		snprintf(sub, sizeof(sub), "%s.enabled", path);
		ok &= get_bool(ld, sub, raw->enabled, &rule->enabled);
	}
	build_fault_match(ld, path, raw->match, snap, rule, &ok);
	build_fault_when(ld, path, raw->when, rule, &ok);
	build_fault_action(ld, path, raw->action, rule, &ok);
	if (!ok)
		fault_rule_free(rule);
	return ok;
}

/* Can RULE match a call of BUCKET?  (Its other match fields are checked per call.)
 * A number unknown on one kind of fd may be an ioctl of another (the
 * device's CREATE_PARTITION asked of a partition fd): every ioctl rule may
 * match an unknown number if it gives a number, and fault_decide compares
 * it.  A named ioctl is in the buckets of the kinds of fd that have it; an
 * injected rule, in none, has its kind of fd compared per call. */
static bool rule_in_bucket(const struct policy_snapshot *snap, const struct fault_rule *rule,
			   unsigned bucket)
{
	if (bucket == POLICY_BUCKET_OPEN(snap))
		return rule->event == FAULT_EVENT_OPEN;
	if (bucket == POLICY_BUCKET_RELEASE(snap))
		return rule->event == FAULT_EVENT_RELEASE;
	if (rule->event != FAULT_EVENT_IOCTL)
		return false;
	if (!rule->has_cmd)
		return true;
	if (bucket == POLICY_BUCKET_UNKNOWN(snap)) /* a named ioctl is known where it is */
		return !rule->objects;
	const struct policy_ioctl *entry = &snap->ioctls[bucket];
	return rule->cmd == entry->cmd && (!rule->objects || rule->objects & 1u << entry->object);
}

static void index_faults(struct policy_snapshot *snap)
{
	unsigned buckets = snap->ioctl_count + 3, used = 0;
	snap->fault_bucket = calloc(buckets + 1, sizeof(*snap->fault_bucket));
	snap->fault_order =
		calloc((size_t)snap->fault_count * buckets + 1, sizeof(*snap->fault_order));
	if (!snap->fault_bucket || !snap->fault_order)
		abort();
	for (unsigned bucket = 0; bucket < buckets; bucket++) {
		snap->fault_bucket[bucket] = used;
		for (unsigned i = 0; i < snap->fault_count; i++)
			if (rule_in_bucket(snap, &snap->faults[i], bucket))
				snap->fault_order[used++] = (uint16_t)i;
	}
	snap->fault_bucket[buckets] = used;
}

void build_faults(struct loader *ld, const struct raw_policy *raw, struct policy_snapshot *snap)
{
	char path[64];
	const struct raw_faults *faults = raw->faults;
	if (!faults)
		return;
	if (faults->seed) {
		int64_t seed;
		if (get_number(ld, "faults.seed", faults->seed, 0, INT64_MAX,
			       "a number from 0 to 2^63-1", &seed))
			snap->fault_seed = (uint64_t)seed;
	}
	snap->faults = calloc(faults->rules_count + 1, sizeof(*snap->faults));
	snap->fault_states = calloc(faults->rules_count + 1, sizeof(*snap->fault_states));
	if (!snap->faults || !snap->fault_states)
		abort();
	for (unsigned i = 0; i < faults->rules_count; i++) {
		snprintf(path, sizeof(path), "faults.rules.%u", i);
		struct fault_rule *rule = &snap->faults[snap->fault_count];
		if (!build_fault(ld, path, &faults->rules[i], snap, rule))
			continue;
		for (unsigned j = 0; j < snap->fault_count; j++) {
			if (!strcmp(snap->faults[j].name, rule->name)) {
				snprintf(path, sizeof(path), "faults.rules.%u.name", i);
				load_error(ld, path, "%s is already the name of another rule",
					   rule->name);
			}
		}
		snap->fault_count++;
	}
	fault_state_init(snap->fault_states, snap->faults, snap->fault_count);
	index_faults(snap);
}

struct fault_rule *policy_parse_fault(const struct policy_snapshot *snap, const char *name,
				      const char *text, struct diag_list *diags)
{
	size_t len = strlen(text);
	struct loader ld = {.file = name, .data = text, .len = len, .diags = diags};
	struct fault_rule *rule = NULL;
	struct cyaml_log_capture capture = {0};
	const cyaml_config_t config = {.log_fn = capture_cyaml_log,
				       .log_ctx = &capture,
				       .mem_fn = loader_mem,
				       .log_level = CYAML_LOG_WARNING, /* a second document */
				       .flags = CYAML_CFG_NO_ALIAS};
	static const cyaml_schema_value_t rule_schema = {
		CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_fault, fault_fields),
	};
	struct raw_fault *raw = NULL;
	loader_start(&ld);
	cyaml_err_t err = cyaml_load_data((const uint8_t *)text, len, &config, &rule_schema,
					  (cyaml_data_t **)&raw, NULL);
	if (err != CYAML_OK || !raw) {
		report_load_failure(&ld, &capture, err,
				    "a rule is a YAML mapping, such as {name: eio, match: {ioctl: "
				    "CHECK_EXTENSION}, action: {errno: EIO}}");
		goto out;
	}
	if (capture.second_document)
		report_second_document(&ld);
	rule = calloc(1, sizeof(*rule));
	if (!rule)
		abort();
	if (!build_fault(&ld, "", raw, snap, rule) || capture.second_document) {
		fault_rule_free(rule);
		free(rule);
		rule = NULL;
	} else if (!raw->when) {
		rule->times = 1; /* a one-off unless told otherwise */
	}
	cyaml_free(&config, &rule_schema, raw, 0);
out:
	loader_done(&ld);
	return rule;
}
