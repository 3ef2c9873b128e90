/*
 * fault.h - fault rules: what to match, when to fire, what to do.
 *
 * Rules come from the policy's `faults:` section (or from `mshvctl inject`)
 * and are evaluated on the ioctl path, so evaluation only reads the rule and
 * bumps two atomic counters.  Decisions are deterministic: the same seed and
 * the same sequence of matching calls fire the same faults (the probability
 * draw is a hash of seed, rule and match number, not a shared generator).
 *
 * It does not time anything: a delay or a hang is returned to the front end,
 * which holds the reply.
 */
#ifndef MSHV_EMU_FAULT_H
#define MSHV_EMU_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum fault_event {
	FAULT_EVENT_IOCTL,
	FAULT_EVENT_OPEN,
	FAULT_EVENT_RELEASE,
};

/* Who is calling, as the kernel told the daemon.  COMM is fetched only when
 * a rule matches on it (a file read), through GET_COMM. */
struct emu_caller {
	int32_t pid;
	uint32_t uid;
	const char *(*get_comm)(struct emu_caller *caller);
	char comm[17];
	bool comm_known;
};

struct fault_rule {
	char *name;
	bool enabled; /* initial state; runtime state is in struct fault_state */

	/* match: a field matches anything when its has_ flag is false */
	enum fault_event event;
	bool has_cmd, has_arg, has_session, has_pid, has_uid;
	uint32_t cmd;
	/* A named ioctl: a bit (1 << enum emu_object) per kind of fd that has
	 * it, so the same number on another kind of fd is not it.  0 (an ioctl
	 * given as a number): that number on any fd. */
	unsigned objects;
	uint32_t arg;	  /* the u32 argument: capability id or version */
	uint64_t session; /* the Nth open of the device, 1-based */
	int32_t pid;
	uint32_t uid;
	char *comm_glob; /* NULL: any */

	/* when: every given condition must hold; none given = always */
	uint64_t nth, every, after, times; /* 0: not given */
	bool has_probability;
	uint64_t probability_threshold; /* fire when draw < threshold (of 2^64) */
	double probability;

	/* action */
	bool has_result;
	int32_t result; /* >= 0 value, < 0 -errno */
	uint64_t delay_ns;
	bool hang;
	uint64_t vanish_ns;
};

struct fault_state {
	_Atomic uint64_t matched;
	_Atomic uint64_t fired;
	_Atomic bool enabled;
};

struct fault_input {
	enum fault_event event;
	uint32_t cmd;
	unsigned object; /* the fd's enum emu_object (an ioctl's) */
	bool has_arg;
	uint32_t arg;
	uint64_t session;
	struct emu_caller *caller; /* NULL: matches no caller-specific rule */
};

/*
 * fault_decide - evaluate COUNT rules, RULES[ORDER[i]] (or RULES[i] when
 * ORDER is NULL), in that order: every rule whose match section
 * matches counts the call; the first whose `when` holds fires, and later
 * rules do not see the call.  Returns the index of the rule that fired, or
 * -1.  Lock-free; safe inside an RCU read section.
 */
int fault_decide(const struct fault_rule *rules, struct fault_state *states, const uint16_t *order,
		 unsigned count, uint64_t seed, const struct fault_input *input);

/* fault_state_init - runtime state for COUNT rules, from their `enabled`. */
void fault_state_init(struct fault_state *states, const struct fault_rule *rules, unsigned count);

void fault_rule_free(struct fault_rule *rule);

/* fault_draw - the deterministic draw for (SEED, RULE, MATCH): a 64-bit hash. */
uint64_t fault_draw(uint64_t seed, unsigned rule, uint64_t match);

#endif
