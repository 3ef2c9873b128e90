/*
 * test_reload.c - publishing a new policy while readers dispatch: no failed
 * call, every answer one that a published policy gave (a freed snapshot
 * would show as garbage here, or to ASan), readers that saw both policies,
 * sessions that keep their version, answers that follow the new policy from
 * the next call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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

struct reader {
	struct emu_core *core;
	_Atomic int *stop;
	unsigned long calls, failures, saw_a, saw_b;
};

static void *reader_loop(void *arg)
{
	struct reader *r = arg;
	struct emu_session session;
	core_open(r->core, &session, &(struct emu_call){0});
	if (request(r->core, &session, 1) != 0)
		r->failures++;
	while (!atomic_load(r->stop)) {
		/* Both capabilities of one snapshot carry the same value. */
		int a = check(r->core, &session, 1);
		int b = check(r->core, &session, 2);
		r->calls += 2;
		if ((a != 100 && a != 200) || (b != 100 && b != 200))
			r->failures++;
		r->saw_a += a == 100;
		r->saw_b += a == 200;
		/* Both capabilities carry the same value in every snapshot: two calls
		 * may straddle a publish, but each answer must be 100 or 200. */
	}
	core_release(r->core, &session, NULL);
	return NULL;
}

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
		RELOADS = 2000
	};
	static struct policy_snapshot *snaps[RELOADS];
	for (int i = 0; i < RELOADS; i++)
		snaps[i] = policy_with_value(i % 2 ? 100 : 200, "[1]");
	for (int i = 0; i < RELOADS; i++)
		core_publish(&core, snaps[i]);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		pthread_join(threads[i], NULL);
		cr_expect_eq(readers[i].failures, 0, "reader %d: %lu failed or torn answers", i,
			     readers[i].failures);
		cr_expect_gt(readers[i].calls, 0);
		cr_expect(readers[i].saw_a && readers[i].saw_b,
			  "reader %d saw %lu answers of 100 and %lu of 200: it never dispatched "
			  "across a publish",
			  i, readers[i].saw_a, readers[i].saw_b);
	}
	struct emu_session session;
	core_open(&core, &session, &(struct emu_call){0});
	cr_expect_eq(request(&core, &session, 1), 0);
	cr_expect_eq(check(&core, &session, 1), 100, "the last published policy serves");
	core_release(&core, &session, NULL);
	core_fini(&core);
}
