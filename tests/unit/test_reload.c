/*
 * test_reload.c - publishing a new policy while readers dispatch: no failed
 * call, every answer one that a published policy gave (a freed snapshot
 * would show as garbage here, or to ASan), a call begun after a publish
 * answering from the new policy, sessions that keep their version.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "abi_table.h"
#include "core.h"

static struct policy_snapshot *policy_with_value(int value, const char *versions)
{
	char text[512];
	struct diag_list diags = {0};
	snprintf(text, sizeof(text),
		 "profile: negotiated\nversions: %s\ncapabilities:\n"
		 "  - {name: A, id: 1, value: %d}\n  - {name: B, id: 2, value: %d}\n",
		 versions, value, value);
	struct policy_snapshot *snap =
		policy_load_buffer("reload.yaml", text, strlen(text), &diags);
	cr_assert_not_null(snap);
	diag_free(&diags);
	return snap;
}

static int check(struct emu_core *core, struct emu_session *session, uint32_t id)
{
	struct emu_call call = {.cmd = CE_NEG, .in = &id, .in_size = sizeof(id)};
	return core_ioctl(core, session, &call);
}

static int request(struct emu_core *core, struct emu_session *session, uint32_t version)
{
	struct emu_call call = {.cmd = RV, .in = &version, .in_size = sizeof(version)};
	return core_ioctl(core, session, &call);
}

Test(reload, sessions_keep_their_version_and_follow_new_answers)
{
	struct emu_core core;
	struct emu_session session;
	core_init(&core, policy_with_value(10, "[1, 2]"));
	core_open(&core, &session, &(struct emu_call){0});
	cr_assert_eq(request(&core, &session, 2), 0);
	cr_expect_eq(check(&core, &session, 1), 10);

	cr_expect_eq(core_publish(&core, policy_with_value(20, "[1, 2]")), 2);
	cr_expect_eq(check(&core, &session, 1), 20, "answers follow the new policy");
	cr_expect_eq(request(&core, &session, 1), -EBADFD, "the session keeps version 2");

	/* A policy that no longer lists version 2: that session sees no capability. */
	core_publish(&core, policy_with_value(30, "[1]"));
	cr_expect_eq(check(&core, &session, 1), -EOPNOTSUPP);
	core_publish(&core, policy_with_value(40, "[1, 2]"));
	cr_expect_eq(check(&core, &session, 1), 40);
	core_release(&core, &session, NULL);
	core_fini(&core);
}

/*
 * A reader dispatches as fast as it can.  After each iteration it publishes
 * what its first call answered (LAST), then bumps ITERATIONS with release
 * order, so a writer that sees the counter move also sees the answer.
 */
struct reader {
	struct emu_core *core;
	_Atomic int *stop;
	_Atomic unsigned long iterations;
	_Atomic int last;
	unsigned long calls, failures;
};

static void *reader_loop(void *arg)
{
	struct reader *r = arg;
	struct emu_session session;
	core_open(r->core, &session, &(struct emu_call){0});
	if (request(r->core, &session, 1) != 0)
		r->failures++;
	while (!atomic_load(r->stop)) {
		/* Both capabilities of one snapshot carry the same value; two
		 * calls may straddle a publish, but each answer is 100 or 200. */
		int a = check(r->core, &session, 1);
		int b = check(r->core, &session, 2);
		r->calls += 2;
		if ((a != 100 && a != 200) || (b != 100 && b != 200))
			r->failures++;
		atomic_store_explicit(&r->last, a, memory_order_relaxed);
		atomic_fetch_add_explicit(&r->iterations, 1, memory_order_release);
	}
	core_release(r->core, &session, NULL);
	return NULL;
}

/*
 * Wait until READER has run one whole iteration that began after the last
 * publish, and return what it answered; -1 after a 10 s deadline.  The
 * iteration in progress when we look may have begun before the publish,
 * so the one after it is the first that must see the new policy.
 */
static int answer_after_publish(struct reader *reader)
{
	unsigned long seen = atomic_load_explicit(&reader->iterations, memory_order_acquire);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load_explicit(&reader->iterations, memory_order_acquire) < seen + 2) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 10)
			return -1;
		sched_yield();
	}
	return atomic_load_explicit(&reader->last, memory_order_relaxed);
}

/*
 * What the design guarantees, and nothing a scheduler happens to do: no
 * failed or torn answer while 2,000 publishes race the readers, and a call
 * that starts after core_publish returns answers from the new policy.  At
 * checkpoints the writer pauses after a publish until every reader has run
 * a call that began after it, in both directions (100 -> 200 and back), so
 * every reader dispatches across publishes however it is scheduled.
 */
Test(reload, storm_while_readers_dispatch)
{
	struct emu_core core;
	_Atomic int stop = 0;
	struct reader readers[2];
	pthread_t threads[2];
	core_init(&core, policy_with_value(100, "[1]"));
	for (int i = 0; i < 2; i++) {
		readers[i] = (struct reader){.core = &core, .stop = &stop};
		pthread_create(&threads[i], NULL, reader_loop, &readers[i]);
	}
	/* Pre-built snapshots, so the storm measures publishing, not parsing. */
	enum {
		RELOADS = 2000,
		CHECKPOINT_EVERY = 100,
	};
	static struct policy_snapshot *snaps[RELOADS];
	for (int i = 0; i < RELOADS; i++)
		snaps[i] = policy_with_value(i % 2 ? 100 : 200, "[1]");
	unsigned checkpoints = 0;
	for (int i = 0; i < RELOADS; i++) {
		core_publish(&core, snaps[i]);
		/* Two checkpoints in a row: one sees 200, the next 100. */
		if (i % CHECKPOINT_EVERY > 1)
			continue;
		int expected = i % 2 ? 100 : 200;
		for (int r = 0; r < 2; r++) {
			int got = answer_after_publish(&readers[r]);
			cr_expect_eq(got, expected,
				     "reader %d, publish %d: a call begun after the publish "
				     "answered %d, not the new policy's %d (-1: no call in 10 s)",
				     r, i, got, expected);
		}
		checkpoints++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		pthread_join(threads[i], NULL);
		cr_expect_eq(readers[i].failures, 0, "reader %d: %lu failed or torn answers", i,
			     readers[i].failures);
		cr_expect_gt(readers[i].calls, 0);
	}
	cr_expect_eq(checkpoints, 2 * RELOADS / CHECKPOINT_EVERY);
	struct emu_session session;
	core_open(&core, &session, &(struct emu_call){0});
	cr_expect_eq(request(&core, &session, 1), 0);
	cr_expect_eq(check(&core, &session, 1), 100, "the last published policy serves");
	core_release(&core, &session, NULL);
	core_fini(&core);
}
