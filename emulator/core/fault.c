/*
 * fault.c - evaluating fault rules (see fault.h).  Called on the ioctl path:
 * no lock, no allocation; the only syscall-like work, reading a caller's
 * command name, happens when a rule asks for it.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

/* splitmix64's finalizer over (seed, rule, match): a counter-based draw, so
 * a decision depends only on which match of which rule this is. */
uint64_t fault_draw(uint64_t seed, unsigned rule, uint64_t match)
{
	uint64_t z = seed ^ ((uint64_t)rule << 48) ^ (match * 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static bool rule_matches(const struct fault_rule *rule, const struct fault_input *input)
{
	if (rule->event != input->event)
		return false;
	if (rule->has_cmd && rule->cmd != input->cmd)
		return false;
	if (rule->objects && !(rule->objects & 1u << input->object))
		return false;
	if (rule->has_arg && (!input->has_arg || rule->arg != input->arg))
		return false;
	if (rule->has_session && rule->session != input->session)
		return false;
	if (rule->has_pid || rule->has_uid || rule->comm_glob) {
		struct emu_caller *caller = input->caller;
		if (!caller)
			return false;
		if (rule->has_pid && rule->pid != caller->pid)
			return false;
		if (rule->has_uid && rule->uid != caller->uid)
			return false;
		if (rule->comm_glob) {
			const char *comm = caller->get_comm ? caller->get_comm(caller) : NULL;
			if (!comm || fnmatch(rule->comm_glob, comm, 0) != 0)
				return false;
		}
	}
	return true;
}

static bool rule_fires(const struct fault_rule *rule, struct fault_state *state, unsigned index,
		       uint64_t seed, uint64_t match)
{
	if (rule->nth && match != rule->nth)
		return false;
	if (rule->every && match % rule->every != 0)
		return false;
	if (rule->after && match <= rule->after)
		return false;
	if (rule->has_probability && fault_draw(seed, index, match) >= rule->probability_threshold)
		return false;
	if (rule->times) {
		/* Claim one of the allowed firings; give it back if none was left. */
		uint64_t fired = atomic_load_explicit(&state->fired, memory_order_relaxed);
		do {
			if (fired >= rule->times)
				return false;
		} while (!atomic_compare_exchange_weak_explicit(&state->fired, &fired, fired + 1,
								memory_order_relaxed,
								memory_order_relaxed));
		return true;
	}
	atomic_fetch_add_explicit(&state->fired, 1, memory_order_relaxed);
	return true;
}

int fault_decide(const struct fault_rule *rules, struct fault_state *states, const uint16_t *order,
		 unsigned count, uint64_t seed, const struct fault_input *input)
{
	for (unsigned n = 0; n < count; n++) {
		unsigned i = order ? order[n] : n;
		if (!atomic_load_explicit(&states[i].enabled, memory_order_relaxed))
			continue;
		if (!rule_matches(&rules[i], input))
			continue;
		uint64_t match =
			atomic_fetch_add_explicit(&states[i].matched, 1, memory_order_relaxed) + 1;
		if (rule_fires(&rules[i], &states[i], i, seed, match))
			return (int)i;
	}
	return -1;
}

void fault_state_init(struct fault_state *states, const struct fault_rule *rules, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		atomic_init(&states[i].matched, 0);
		atomic_init(&states[i].fired, 0);
		atomic_init(&states[i].enabled, rules[i].enabled);
	}
}

void fault_rule_free(struct fault_rule *rule)
{
	free(rule->name);
	free(rule->comm_glob);
	memset(rule, 0, sizeof(*rule));
}
