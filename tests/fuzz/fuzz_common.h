/*
 * fuzz_common.h - what the libFuzzer targets share: the shipped policies,
 * read once from the source tree, and a loud stop for a broken promise.
 * docs/fuzzing.md says how to run the targets.
 */
#ifndef MSHV_EMU_FUZZ_COMMON_H
#define MSHV_EMU_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* The shipped policies (policies/ *.yaml), sorted by name. */
struct fuzz_policy {
	char *name; /* "microsoft.yaml" */
	char *text;
	size_t len;
	struct policy_snapshot *snap; /* loaded once; NULL until fuzz_load_policies */
};

extern struct fuzz_policy *fuzz_policies;
extern unsigned fuzz_policy_count;

/* fuzz_load_policies - read and load every shipped policy; aborts (with
 * the reason) when one is missing or does not load. */
void fuzz_load_policies(void);

/* fuzz_load - a new snapshot of shipped policy I (the caller owns it). */
struct policy_snapshot *fuzz_load(unsigned i);

/* fuzz_fail - a promise the code or its docs make was broken: say which,
 * then abort, so that libFuzzer keeps the input as a crash. */
__attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *fmt, ...);

#define FUZZ_CHECK(cond, ...)                   \
	do {                                    \
		if (!(cond))                    \
			fuzz_fail(__VA_ARGS__); \
	} while (0)

#endif
