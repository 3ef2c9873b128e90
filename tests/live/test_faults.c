/*
 * test_faults.c - fault injection, the transcript and mshvctl, through the
 * real kernel: each action arrives as the VMM would see it.
 *
 * Timing is only ever a lower bound a fault promises (a delay is at least
 * its length); "does not slow a concurrent caller" is checked by order, not
 * by speed: the other caller finishes while a hung call is still held, and
 * only then is that call released.  A vanish is long (3 s), so the calls
 * made while the device is gone land in it on a loaded machine too.
 */
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "live.h"

#define HEAD                                      \
	"profile: negotiated\nversions: [1, 2]\n" \
	"capabilities: [{name: A, id: 1, value: 1}, {name: B, id: 2, value: 2}]\n"

/* Write TEXT as a policy in the daemon's scratch area and start on it. */
static void start_with(struct daemon *d, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "/tmp/mshv-faults-%d.yaml", (int)getpid());
	FILE *file = fopen(path, "w");
	cr_assert_not_null(file);
	fputs(text, file);
	fclose(file);
	daemon_start(d, path);
	unlink(path);
}

/* Wait until `mshvctl status --json` says N calls are held. */
static bool wait_held(const struct daemon *d, unsigned n, int deadline_ms)
{
	char out[4096], want[32];
	snprintf(want, sizeof(want), "\"held_calls\":%u,", n);
	long end = now_ms() + deadline_ms;
	do {
		if (ctl(d, out, sizeof(out), (const char *[]){"--json", "status", NULL}) == 0 &&
		    strstr(out, want))
			return true;
		poll(NULL, 0, 10);
	} while (now_ms() < end);
	return false;
}

TestSuite(faults, .fini = teardown, .timeout = 120);

Test(faults, errno_and_value_arrive_exactly)
{
	struct daemon *d = &daemon_under_test;
	start_with(d,
		   HEAD "faults:\n  rules:\n"
			"    - {name: eintr, match: {ioctl: REQUEST_VERSION}, when: {once: true},\n"
			"       action: {errno: EINTR}}\n"
			"    - {name: value, match: {ioctl: CHECK_EXTENSION, arg: 1},\n"
			"       action: {value: 77}}\n"
			"    - {name: enotsupp, match: {ioctl: CHECK_EXTENSION, arg: 2},\n"
			"       action: {errno: ENOTSUPP}}\n");
	int fd = open_node(d);
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 1), -EINTR);
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 1), 0, "the retry goes through");
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 1), 77);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 2), -MSHV_ENOTSUPP, "errno 524 exactly");
	close(fd);
}

struct held_call {
	const struct daemon *d;
	int fd;
	int result;
	long elapsed_ms;
	_Atomic bool returned;
	pthread_t thread;
};

static void *request_version_thread(void *arg)
{
	struct held_call *call = arg;
	long start = now_ms();
	call->result = do_ioctl(call->fd, RV, ARG_U32, 1);
	call->elapsed_ms = now_ms() - start;
	atomic_store(&call->returned, true);
	return NULL;
}

/*
 * A delay is a lower bound on the held call's time, and a held call holds
 * nobody else.  The second is checked by order, not by speed: the call that
 * others overtake is hung (released by mshvctl only after they are done),
 * so that no slow machine can make it return first.
 */
Test(faults, delay_is_a_lower_bound_and_holds_nobody_else)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD
		   "faults:\n  rules:\n"
		   "    - {name: slow-first-open, match: {ioctl: REQUEST_VERSION, session: 1},\n"
		   "       action: {delay_ms: 1500}}\n"
		   "    - {name: stuck-second-open, match: {ioctl: REQUEST_VERSION, session: 2},\n"
		   "       action: {hang: true}}\n");
	struct held_call slow = {.d = d, .fd = open_node(d)};  /* session 1 */
	struct held_call stuck = {.d = d, .fd = open_node(d)}; /* session 2 */
	int other = open_node(d);			       /* session 3 */

	pthread_create(&slow.thread, NULL, request_version_thread, &slow);
	pthread_join(slow.thread, NULL);
	cr_expect_eq(slow.result, 0, "a delay without errno answers as the policy");
	cr_expect_geq(slow.elapsed_ms, 1500, "delayed only %ld ms", slow.elapsed_ms);
	cr_expect_eq(do_ioctl(slow.fd, RV, ARG_U32, 1), -EBADFD, "the delayed request locked it");

	pthread_create(&stuck.thread, NULL, request_version_thread, &stuck);
	cr_assert(wait_held(d, 1, 5000), "the second session's call was never held");
	cr_expect_eq(do_ioctl(other, RV, ARG_U32, 2), 0);
	for (int i = 0; i < 50; i++)
		cr_expect_eq(do_ioctl(other, CE_NEG, ARG_U32, 2), 2);
	cr_expect_not(atomic_load(&stuck.returned), "the held call returned before release");
	char out[4096];
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"release", NULL}), 0, "%s", out);
	pthread_join(stuck.thread, NULL);
	cr_expect_eq(stuck.result, 0, "released, it answers as the policy");
	close(slow.fd);
	close(stuck.fd);
	close(other);
}

Test(faults, a_held_call_keeps_its_whole_argument)
{
	/* 512 bytes in: the held call is answered from a copy of all of them. */
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD
		   "ioctls: [{name: MSHV_BIG, cmd: 0x4200B8F1, value: 7}]\n"
		   "faults:\n  rules:\n"
		   "    - {name: slow-big, match: {ioctl: MSHV_BIG}, action: {delay_ms: 50}}\n");
	int fd = open_node(d);
	cr_assert_eq(do_ioctl(fd, RV, ARG_U32, 1), 0);
	unsigned char big[512] = {1};
	long start = now_ms();
	cr_expect_eq(ioctl(fd, 0x4200B8F1, big), 7, "errno %d", errno);
	cr_expect_geq(now_ms() - start, 50);
	close(fd);
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

Test(faults, hang_ends_with_eintr_on_a_signal_or_on_release)
{
	struct daemon *d = &daemon_under_test;
	struct sigaction action = {.sa_handler = on_sigusr1}; /* no SA_RESTART */
	sigemptyset(&action.sa_mask);
	sigaction(SIGUSR1, &action, NULL);
	start_with(d,
		   HEAD "faults:\n  rules:\n"
			"    - {name: stuck, match: {ioctl: REQUEST_VERSION}, when: {times: 2},\n"
			"       action: {hang: true}}\n");
	struct held_call hung = {.d = d, .fd = open_node(d)};
	pthread_create(&hung.thread, NULL, request_version_thread, &hung);
	cr_assert(wait_held(d, 1, 5000), "the call never hung");
	pthread_kill(hung.thread, SIGUSR1);
	pthread_join(hung.thread, NULL);
	cr_expect_eq(hung.result, -EINTR, "a signal ends a hung call with EINTR, got %d",
		     hung.result);
	cr_expect(wait_held(d, 0, 5000), "the interrupted call is still held");

	/* The second firing: released by mshvctl, it completes as the policy says. */
	atomic_store(&hung.returned, false);
	pthread_create(&hung.thread, NULL, request_version_thread, &hung);
	cr_assert(wait_held(d, 1, 5000));
	char out[4096];
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"release", NULL}), 0, "%s", out);
	cr_expect(strstr(out, "released 1 hung calls") != NULL, "%s", out);
	pthread_join(hung.thread, NULL);
	cr_expect_eq(hung.result, 0, "released: the interrupted attempt changed nothing");
	close(hung.fd);
}

Test(faults, vanish_then_the_device_comes_back)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD "faults:\n  rules:\n"
			   "    - {name: reload, match: {ioctl: CHECK_EXTENSION}, when: {nth: 2},\n"
			   "       action: {vanish_ms: 3000}}\n");
	int fd = open_node(d);
	cr_assert_eq(do_ioctl(fd, RV, ARG_U32, 1), 0);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 1), 1);
	long gone = now_ms();
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 1), -ENODEV);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 2), -ENODEV, "every call while gone");
	errno = 0;
	cr_expect_eq(open(d->node, O_RDWR), -1);
	cr_expect_eq(errno, ENOENT, "open while gone: %s", strerror(errno));
	long end = now_ms() + 10000;
	while (do_ioctl(fd, CE_NEG, ARG_U32, 1) != 1 && now_ms() < end)
		poll(NULL, 0, 50);
	long back = now_ms();
	cr_expect_lt(back, end, "the device never came back");
	cr_expect_geq(back - gone, 2900, "gone only %ld ms", back - gone);
	int again = open_node(d);
	cr_expect_eq(do_ioctl(again, RV, ARG_U32, 2), 0);
	close(again);
	close(fd);
}

/* Which of 40 capability checks failed, as a string of 0/1. */
static void flaky_pattern(const struct daemon *d, char *out)
{
	int fd = open_node(d);
	cr_assert_eq(do_ioctl(fd, RV, ARG_U32, 1), 0);
	for (int i = 0; i < 40; i++)
		out[i] = do_ioctl(fd, CE_NEG, ARG_U32, 1) == -EIO ? '1' : '0';
	out[40] = '\0';
	close(fd);
}

Test(faults, same_seed_replays_the_same_faults)
{
	struct daemon *d = &daemon_under_test;
	char path[512], first[41], second[41];
	policy_path("flaky-probe.yaml", path, sizeof(path));
	daemon_start(d, path);
	flaky_pattern(d, first);
	daemon_cleanup(d);
	daemon_start(d, path);
	flaky_pattern(d, second);
	cr_expect_str_eq(first, second);
	cr_expect(strchr(first, '1') && strchr(first, '0'), "p=0.2 over 40 calls gave %s", first);
}

/* ---- the transcript ---- */

static void expect_line(const char *line, const char *want_after_time)
{
	/* {"time":"2026-11-20T23:41:07.123456789Z", then the rest exactly. */
	cr_expect(!strncmp(line, "{\"time\":\"", 9) && strlen(line) > 40 && line[28] == '.' &&
			  line[38] == 'Z',
		  "bad time in %s", line);
	const char *rest = strchr(line + 9, '"');
	cr_expect_str_eq(rest ? rest + 1 : "", want_after_time);
}

Test(faults, transcript_matches_the_calls_field_by_field)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD "faults:\n  rules:\n"
			   "    - {name: no-b, match: {ioctl: CHECK_EXTENSION, arg: 2},\n"
			   "       action: {errno: EIO}}\n");
	char trace[128], out[4096], comm[32] = "";
	snprintf(trace, sizeof(trace), "%.*s/transcript.jsonl", (int)sizeof(d->dir) - 1, d->dir);
	cr_assert_eq(ctl(d, out, sizeof(out), (const char *[]){"trace", "start", trace, NULL}), 0,
		     "%s", out);
	int fd = open_node(d);
	do_ioctl(fd, RV, ARG_U32, 0);
	do_ioctl(fd, RV, ARG_U32, 1);
	do_ioctl(fd, CE_NEG, ARG_U32, 1);
	do_ioctl(fd, CE_NEG, ARG_U32, 2);
	do_ioctl(fd, UNKNOWN_CMD, ARG_U32, 5);
	close(fd);
	/* The release arrives asynchronously: wait until the daemon has seen it. */
	long end = now_ms() + 5000;
	while (now_ms() < end &&
	       (ctl(d, out, sizeof(out), (const char *[]){"--json", "status", NULL}) != 0 ||
		!strstr(out, "\"sessions_open\":0,")))
		poll(NULL, 0, 10);
	cr_assert_eq(ctl(d, out, sizeof(out), (const char *[]){"trace", "stop", NULL}), 0, "%s",
		     out);
	cr_expect(strstr(out, "(0 events dropped)") != NULL, "%s", out);

	FILE *self = fopen("/proc/self/comm", "r");
	cr_assert(self && fgets(comm, sizeof(comm), self));
	fclose(self);
	comm[strcspn(comm, "\n")] = '\0';
	char who[96];
	snprintf(who, sizeof(who), "\"pid\":%d,\"comm\":\"%s\",\"uid\":%u,\"session\":1,",
		 (int)getpid(), comm, (unsigned)getuid());
	char want[8][512];
	snprintf(want[0], 512,
		 ",\"event\":\"open\",%s\"result\":0,\"fault\":null,\"generation\":1}", who);
	snprintf(want[1], 512,
		 ",\"event\":\"ioctl\",%s\"ioctl\":\"MSHV_REQUEST_VERSION\",\"cmd\":\"0x4004b800\","
		 "\"arg\":0,\"result\":-1,\"errno\":524,\"errno_name\":\"ENOTSUPP\",\"fault\":null,"
		 "\"generation\":1}",
		 who);
	snprintf(want[2], 512,
		 ",\"event\":\"ioctl\",%s\"ioctl\":\"MSHV_REQUEST_VERSION\",\"cmd\":\"0x4004b800\","
		 "\"arg\":1,\"result\":0,\"fault\":null,\"generation\":1}",
		 who);
	snprintf(want[3], 512,
		 ",\"event\":\"ioctl\",%s\"ioctl\":\"MSHV_CHECK_EXTENSION\",\"cmd\":\"0x4004b801\","
		 "\"arg\":1,\"result\":1,\"fault\":null,\"generation\":1}",
		 who);
	snprintf(want[4], 512,
		 ",\"event\":\"ioctl\",%s\"ioctl\":\"MSHV_CHECK_EXTENSION\",\"cmd\":\"0x4004b801\","
		 "\"arg\":2,\"result\":-1,\"errno\":5,\"errno_name\":\"EIO\",\"fault\":\"no-b\","
		 "\"generation\":1}",
		 who);
	snprintf(want[5], 512,
		 ",\"event\":\"ioctl\",%s\"ioctl\":null,\"cmd\":\"0x4004b8f0\",\"arg\":5,"
		 "\"result\":-1,\"errno\":25,\"errno_name\":\"ENOTTY\",\"fault\":null,"
		 "\"generation\":1}",
		 who);
	snprintf(want[6], 512,
		 ",\"event\":\"release\",%s\"result\":0,\"fault\":null,\"generation\":1}", who);
	FILE *file = fopen(trace, "r");
	cr_assert_not_null(file, "no transcript at %s", trace);
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), file)) {
		line[strcspn(line, "\n")] = '\0';
		if (n < 7)
			expect_line(line, want[n]);
		n++;
	}
	fclose(file);
	cr_expect_eq(n, 7, "%d lines in the transcript", n);
}

/* How often the daemon's log holds TEXT. */
static int log_count(const struct daemon *d, const char *text)
{
	static char buf[1 << 16];
	FILE *log = fopen(d->log, "r");
	if (!log)
		return 0;
	size_t got = fread(buf, 1, sizeof(buf) - 1, log);
	buf[got] = '\0';
	fclose(log);
	int count = 0;
	for (const char *at = buf; (at = strstr(at, text)); at += strlen(text))
		count++;
	return count;
}

/* `"KEY":N` in the JSON status, or -1 when mshvctl failed. */
static long long status_number(const struct daemon *d, const char *key)
{
	char out[4096], want[64];
	if (ctl(d, out, sizeof(out), (const char *[]){"--json", "status", NULL}) != 0)
		return -1;
	snprintf(want, sizeof(want), "\"%s\":", key);
	const char *at = strstr(out, want);
	return at ? strtoll(at + strlen(want), NULL, 10) : -1;
}

/* Open, negotiate and close: three transcript lines. */
static void one_session(const struct daemon *d)
{
	int fd = open_node(d);
	do_ioctl(fd, RV, ARG_U32, 1);
	close(fd);
}

/* Wait until the status counts more than AFTER lines not written. */
static long long wait_unwritten(const struct daemon *d, long long after)
{
	long long unwritten = -1;
	long end = now_ms() + 10000;
	do {
		one_session(d);
		unwritten = status_number(d, "trace_unwritten");
		if (unwritten > after)
			break;
		poll(NULL, 0, 20);
	} while (now_ms() < end);
	return unwritten;
}

/* A transcript on a full file system: what is lost is counted in the
 * status and by trace stop, and the daemon says so in its log, once. */
Test(faults, transcript_write_errors_are_reported)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD);
	char full[128], filler[160], trace[160], out[4096];
	snprintf(full, sizeof(full), "%.*s/full", (int)sizeof(d->dir) - 1, d->dir);
	snprintf(filler, sizeof(filler), "%s/filler", full);
	snprintf(trace, sizeof(trace), "%s/transcript.jsonl", full);
	cr_assert_eq(mkdir(full, 0700), 0);
	if (mount("tmpfs", full, "tmpfs", 0, "size=4k,mode=0700") != 0) {
		rmdir(full);
		cr_skip_test("cannot mount a small tmpfs here: %s", strerror(errno));
	}
	cr_assert_eq(chown(full, daemon_uid(d), (gid_t)-1), 0); /* --user: the daemon's */
	int fill = open(filler, O_WRONLY | O_CREAT, 0600);
	char block[4096] = {0};
	while (fill >= 0 && write(fill, block, sizeof(block)) > 0)
		;
	close(fill);
	cr_assert_eq(ctl(d, out, sizeof(out), (const char *[]){"trace", "start", trace, NULL}), 0,
		     "%s", out);
	long long first = wait_unwritten(d, 0);
	cr_expect_gt(first, 0, "no lines counted lost on a full file system");
	cr_expect_gt(wait_unwritten(d, first), first, "later losses are counted too");
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"--json", "status", NULL}), 0);
	cr_expect(strstr(out, "\"trace_write_error\":\"ENOSPC\"}"), "%s", out);
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"status", NULL}), 0);
	cr_expect(strstr(out, "lines not written: No space left on device (ENOSPC)"), "%s", out);
	char logged[256];
	snprintf(logged, sizeof(logged),
		 "transcript %s: write failed: No space left on device (ENOSPC)", trace);
	cr_expect_eq(log_count(d, logged), 1, "logged once, however often it fails");
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"trace", "stop", NULL}), 0);
	cr_expect(strstr(out, "trace stopped (0 events dropped, ") &&
			  strstr(out, " lines not written: No space left on device (ENOSPC))"),
		  "%s", out);
	umount2(full, MNT_DETACH);
	rmdir(full);
}

/* ---- mshvctl ---- */

/* JSON from mshvctl is valid UTF-8 whatever bytes a path holds: a byte that
 * is not UTF-8 becomes \ufffd, a control character \u00XX. */
Test(faults, json_status_is_valid_for_any_policy_path)
{
	struct daemon *d = &daemon_under_test;
	char dir[] = "/tmp/mshv-live-json-XXXXXX", path[96], out[4096], want[160];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p\xff\x01\".yaml", dir);
	FILE *file = fopen(path, "w");
	cr_assert_not_null(file);
	fputs(HEAD, file);
	fclose(file);
	daemon_start(d, path);
	int status = ctl(d, out, sizeof(out), (const char *[]){"--json", "status", NULL});
	unlink(path);
	rmdir(dir);
	cr_assert_eq(status, 0, "%s", out);
	snprintf(want, sizeof(want), "\"policy\":\"%s/p\\ufffd\\u0001\\\".yaml\",", dir);
	cr_expect(strstr(out, want), "want %s in %s", want, out);
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		cr_expect(*p < 0x80 && (*p >= 0x20 || *p == '\n'), "byte 0x%02x in %s", *p, out);
}

Test(faults, mshvctl_drives_a_running_daemon)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD "faults:\n  rules:\n"
			   "    - {name: eio, match: {ioctl: CHECK_EXTENSION, arg: 1},\n"
			   "       action: {errno: EIO}}\n");
	char out[8192];
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"status", NULL}), 0, "%s", out);
	cr_expect(strstr(out, "profile     negotiated") && strstr(out, d->node), "%s", out);
	cr_expect(strstr(out, "generation  1"), "%s", out);

	int fd = open_node(d);
	do_ioctl(fd, RV, ARG_U32, 1);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 1), -EIO);
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"fault", "disable", "eio", NULL}), 0,
		     "%s", out);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 1), 1, "disabled");
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"fault", "enable", "eio", NULL}), 0);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 1), -EIO, "enabled again");
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"fault", "enable", "nope", NULL}),
		     1);
	cr_expect(strstr(out, "no fault rule named nope"), "%s", out);

	cr_expect_eq(ctl(d, out, sizeof(out),
			 (const char *[]){"inject",
					  "{name: once, match: {ioctl: CHECK_EXTENSION, arg: 2}, "
					  "action: {errno: EAGAIN}}",
					  NULL}),
		     0, "%s", out);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 2), -EAGAIN, "injected");
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 2), 2, "once");
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"inject", "{name: x}", NULL}), 1);
	cr_expect(strstr(out, "inject:1:1: error: needs `action:`"), "%s", out);

	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"--json", "stats", NULL}), 0);
	cr_expect(strstr(out, "{\"name\":\"MSHV_CHECK_EXTENSION\",\"cmd\":\"0x4004b801\","
			      "\"calls\":5}"),
		  "%s", out);
	cr_expect(strstr(out, "{\"errno\":5,\"errno_name\":\"EIO\",\"count\":2}"), "%s", out);
	cr_expect(strstr(out, "{\"name\":\"once\",\"source\":\"injected\",\"enabled\":true,"
			      "\"matched\":2,\"fired\":1}"),
		  "%s", out);
	cr_expect(strstr(out, "{\"name\":\"eio\",\"source\":\"policy\",\"enabled\":true,"
			      "\"matched\":2,\"fired\":2}"),
		  "%s", out);

	char path[512];
	policy_path("backport.yaml", path, sizeof(path));
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"reload", path, NULL}), 0, "%s",
		     out);
	cr_expect(strstr(out, "as generation 2"), "%s", out);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 3), 1, "backport.yaml serves DR6_SHARED to v1");
	cr_expect_eq(
		ctl(d, out, sizeof(out), (const char *[]){"reload", "/nonexistent.yaml", NULL}), 1);
	cr_expect(strstr(out, "/nonexistent.yaml: error: no such file"), "%s", out);
	/* A usage error: mshvctl says so itself, and sends nothing. */
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"frobnicate", NULL}), 2);
	cr_expect(strstr(out, "mshvctl: unknown command `frobnicate`") && strstr(out, "usage:"),
		  "%s", out);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, 1), 1, "still serving after bad requests");
	close(fd);
}

/* mshvctl --socket D's ARGS... with --json, stdout alone into OUT (stderr
 * is the human's); its exit status. */
static int ctl_json(const struct daemon *d, char *out, size_t size, const char *const args[])
{
	char socket[128];
	const char *argv[16] = {env_or("MSHV_EMU_CTL", "mshvctl"), "--json"};
	int argc = 2;
	for (int i = 0; args[i] && argc < 13; i++)
		argv[argc++] = args[i];
	/* --socket last, in its --opt=value form: options go anywhere. */
	char option[160];
	control_of(d, d->pid, socket, sizeof(socket));
	snprintf(option, sizeof(option), "--socket=%s", socket);
	argv[argc++] = option;
	argv[argc] = NULL;
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(pipefd[0]);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	return command_finish(pipefd[0], pid, out, size);
}

/* OUT is one JSON object on one line (mshvctl --json's promise). */
static bool one_object(const char *out)
{
	size_t len = strlen(out);
	return len > 2 && out[0] == '{' && !strcmp(out + len - 2, "}\n") &&
	       !memchr(out, '\n', len - 1);
}

/* --json on every command, errors included: one object on stdout, the
 * command's or {"error": ...} with exit 1 (2 for a usage error). */
Test(faults, mshvctl_json_answers_every_command)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD "faults:\n  rules:\n"
			   "    - {name: eio, match: {ioctl: CHECK_EXTENSION, arg: 1},\n"
			   "       action: {errno: EIO}}\n");
	char policy[512], trace[128];
	policy_path("backport.yaml", policy, sizeof(policy));
	snprintf(trace, sizeof(trace), "%.*s/t.jsonl", (int)sizeof(d->dir) - 1, d->dir);
	const char *rule = "{name: once, match: {ioctl: CHECK_EXTENSION, arg: 2}, "
			   "action: {errno: EAGAIN}}";
	const struct {
		const char *args[4];
		int status;
		const char *want;
	} cases[] = {
		{{"status"}, 0, "\"generation\":1,"},
		{{"stats"}, 0, "\"faults\":[{\"name\":\"eio\""},
		{{"fault", "disable", "eio"}, 0, "{\"rule\":\"eio\",\"enabled\":false}"},
		{{"fault", "enable", "eio"}, 0, "{\"rule\":\"eio\",\"enabled\":true}"},
		{{"fault", "enable", "nope"}, 1, "{\"error\":\"no fault rule named nope;"},
		{{"inject", rule}, 0, "{\"armed\":\"once\"}"},
		{{"inject", rule}, 1, "{\"error\":\"a rule named once is already injected"},
		{{"inject", "{name: x}"}, 1, "{\"error\":\"inject:1:1: error: needs `action:`"},
		{{"release"}, 0, "{\"released\":0}"},
		{{"trace", "start", trace}, 0, "{\"trace\":\""},
		{{"trace", "stop"}, 0, "{\"trace\":null,\"stopped\":true,"},
		{{"reload", policy}, 0, "\"generation\":2,"},
		{{"reload", "/nonexistent.yaml"},
		 1,
		 "{\"error\":\"/nonexistent.yaml: error: no such file; give the path of a "
		 "policy file\\u000arejected; still serving generation 2"},
		{{"frobnicate"}, 2, "{\"error\":\"unknown command `frobnicate`"},
		{{"status", "--bogus"}, 2, "{\"error\":\"unknown option `--bogus`"},
	};
	char out[8192];
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int status = ctl_json(d, out, sizeof(out), cases[i].args);
		cr_expect_eq(status, cases[i].status, "%s: exit %d: %s", cases[i].args[0], status,
			     out);
		cr_expect(one_object(out), "%s %s: not one JSON object: %s", cases[i].args[0],
			  cases[i].args[1] ? cases[i].args[1] : "", out);
		cr_expect(strstr(out, cases[i].want), "%s: want %s in %s", cases[i].args[0],
			  cases[i].want, out);
	}
	unlink(trace);
}

/* A second rule of a name taken (injected, or the policy's) is refused:
 * `fault enable|disable NAME` could not say which one it means. */
Test(faults, mshvctl_refuses_a_rule_name_taken)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD "faults:\n  rules:\n"
			   "    - {name: eio, match: {ioctl: CHECK_EXTENSION, arg: 1},\n"
			   "       action: {errno: EIO}}\n");
	const char *rule = "{name: twice, match: {ioctl: CHECK_EXTENSION, arg: 2}, "
			   "action: {errno: EAGAIN}}";
	char out[4096];
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"inject", rule, NULL}), 0, "%s",
		     out);
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"inject", rule, NULL}), 1);
	cr_expect(strstr(out, "mshvctl: a rule named twice is already injected or in the policy") &&
			  strstr(out, "give this one another name"),
		  "%s", out);
	cr_expect_eq(ctl(d, out, sizeof(out),
			 (const char *[]){"inject",
					  "{name: eio, match: {ioctl: CHECK_EXTENSION}, "
					  "action: {errno: EIO}}",
					  NULL}),
		     1);
	cr_expect(strstr(out, "a rule named eio is already"), "%s", out);
	/* One rule named twice is armed, once. */
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"stats", NULL}), 0);
	const char *first = strstr(out, "twice");
	cr_expect(first && !strstr(first + 1, "twice"), "%s", out);
	/* Nor may a reload bring in a policy rule named as an injected one. */
	char next[1024];
	snprintf(next, sizeof(next), "%s/clash.yaml", d->dir);
	FILE *file = fopen(next, "w");
	cr_assert_not_null(file);
	fprintf(file, HEAD
		"faults:\n  rules:\n"
		"    - {name: twice, match: {ioctl: CHECK_EXTENSION}, action: {errno: EIO}}\n");
	fclose(file);
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"reload", next, NULL}), 1, "%s",
		     out);
	cr_expect(strstr(out, "fault rule `twice` has the name of a rule injected") &&
			  strstr(out, "still serving generation 1"),
		  "%s", out);
	unlink(next);
}

/* The socket's mode (0600) keeps other users out already: let them reach
 * it, so that what is tested is the daemon's own check of who connects. */
static void open_up_control(const struct daemon *d)
{
	char socket[128];
	control_of(d, d->pid, socket, sizeof(socket));
	cr_assert_eq(chmod(d->dir, 0755), 0);
	cr_assert_eq(chmod(socket, 0666), 0, "%s: %s", socket, strerror(errno));
}

Test(faults, mshvctl_is_refused_for_another_uid)
{
	struct daemon *d = &daemon_under_test;
	if (geteuid() != 0)
		cr_skip_test("needs root to act as another uid");
	daemon_start(d, NULL);
	/* Neither root nor the daemon's own uid (which --user makes 65534). */
	unsigned stranger = (unsigned)stranger_uid(d);
	open_up_control(d); /* let the stranger reach the socket: the daemon must say no */
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t child = fork();
	if (child == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		if (setgid(stranger) != 0 || setuid(stranger) != 0)
			_exit(99);
		char socket[128];
		control_of(d, d->pid, socket, sizeof(socket));
		const char *ctl_bin = env_or("MSHV_EMU_CTL", "mshvctl");
		execlp(ctl_bin, ctl_bin, "--socket", socket, "status", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	char out[1024] = "";
	size_t used = 0;
	ssize_t got;
	while (used + 1 < sizeof(out) &&
	       (got = read(pipefd[0], out + used, sizeof(out) - 1 - used)) > 0)
		used += (size_t)got;
	out[used] = '\0';
	close(pipefd[0]);
	int status;
	waitpid(child, &status, 0);
	char want[64];
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x: %s", status, out);
	snprintf(want, sizeof(want), "permission denied: uid %u", stranger);
	cr_expect(strstr(out, want) != NULL, "%s", out);
	snprintf(want, sizeof(want), "control: refused uid %u", stranger);
	cr_expect(log_wait_for(d, want, 2000), "the refusal is not logged");
}

/* A connection to D's control socket, or -1. */
static int control_connect(const struct daemon *d)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	control_of(d, d->pid, addr.sun_path, sizeof(addr.sun_path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Become UID, with it as the group too and no other; false if not. */
static bool become(uid_t uid)
{
	return setgroups(0, NULL) == 0 && setresgid(uid, uid, uid) == 0 &&
	       setresuid(uid, uid, uid) == 0;
}

/* Everything FD's peer sends until it closes, or DEADLINE_MS passes. */
static void read_until_closed(int fd, char *out, size_t size, int deadline_ms)
{
	size_t used = 0;
	long end = now_ms() + deadline_ms;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long left = end - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t got = read(fd, out + used, size - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
	}
	out[used] = '\0';
}

#define SLOW_CLIENTS 8

/*
 * Connections that send nothing, eight from any local user (a stranger:
 * neither root nor the daemon's uid, also under --user) and eight of
 * root's, do not hold up mshvctl: its status is answered while all of them
 * are connected and silent.  Root's are still waited for then (the daemon
 * has neither answered nor closed them), so the answer did not wait for
 * their deadlines; each is answered once its deadline passes.  The
 * stranger's were refused without a byte read.
 */
Test(faults, slow_clients_do_not_hold_up_mshvctl)
{
	struct daemon *d = &daemon_under_test;
	if (geteuid() != 0)
		cr_skip_test("needs root to act as another uid");
	daemon_start(d, NULL);
	open_up_control(d); /* a stranger may reach the socket; the daemon decides */
	uid_t stranger = stranger_uid(d);
	int ready[2], hold[2];
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(hold), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		close(ready[0]);
		close(hold[1]);
		if (!become(stranger))
			_exit(99);
		int fds[SLOW_CLIENTS];
		for (int i = 0; i < SLOW_CLIENTS; i++)
			if ((fds[i] = control_connect(d)) < 0)
				_exit(98);
		/* Connected, silent, until the test is done with them. */
		char byte = 'c';
		if (write(ready[1], &byte, 1) != 1)
			_exit(97);
		ssize_t got = read(hold[0], &byte, 1);
		(void)got;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
	char byte = 0;
	cr_assert(poll(&pfd, 1, 10000) == 1 && read(ready[0], &byte, 1) == 1 && byte == 'c',
		  "uid %u could not connect %d times", (unsigned)stranger, SLOW_CLIENTS);
	int own[SLOW_CLIENTS];
	for (int i = 0; i < SLOW_CLIENTS; i++)
		cr_assert_geq(own[i] = control_connect(d), 0, "connect: %s", strerror(errno));

	/* Root's status, asked here rather than through mshvctl: nothing but
	 * the daemon stands between the question and its answer (starting a
	 * program is what a loaded machine, or the seccomp transport, slows). */
	char out[4096];
	int fd = control_connect(d);
	cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
	cr_assert_eq(write(fd, "status\n\n", 8), 8);
	read_until_closed(fd, out, sizeof(out), 10000);
	close(fd);
	cr_expect(!strncmp(out, "ok\n", 3) && strstr(out, "profile     negotiated"), "%s", out);
	for (int i = 0; i < SLOW_CLIENTS; i++) {
		struct pollfd slow = {.fd = own[i], .events = POLLIN};
		cr_expect_eq(poll(&slow, 1, 0), 0,
			     "slow client %d was answered or closed before status was (revents "
			     "0x%x)",
			     i, slow.revents);
	}
	/* Then each gets its own deadline's answer. */
	for (int i = 0; i < SLOW_CLIENTS; i++) {
		read_until_closed(own[i], out, sizeof(out), 30000);
		const char *want = "error\nno complete request within 5 s";
		cr_expect(!strncmp(out, want, strlen(want)), "slow client %d: %s", i, out);
		close(own[i]);
	}
	close(hold[1]);
	int child_status;
	cr_assert_eq(waitpid(child, &child_status, 0), child);
	cr_expect(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0, "child: 0x%x",
		  child_status);
	close(ready[0]);
	char refused[64];
	snprintf(refused, sizeof(refused), "control: refused uid %u", (unsigned)stranger);
	cr_expect(log_wait_for(d, refused, 2000), "the refusals are logged");
}

/* mshvctl ARGS... against D as UID and GID with the other GROUPS (COUNT of
 * them); its exit status, its output in OUT. */
static int ctl_as(const struct daemon *d, uid_t uid, gid_t gid, const gid_t *groups, int count,
		  char *out, size_t size, const char *const args[])
{
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		if (setgroups((size_t)count, groups) != 0 || setresgid(gid, gid, gid) != 0 ||
		    setresuid(uid, uid, uid) != 0)
			_exit(99);
		char socket[128];
		control_of(d, d->pid, socket, sizeof(socket));
		const char *argv[16] = {env_or("MSHV_EMU_CTL", "mshvctl"), "--socket", socket};
		int argc = 3;
		for (int i = 0; args[i] && argc < 15; i++)
			argv[argc++] = args[i];
		argv[argc] = NULL;
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	return command_finish(pipefd[0], child, out, size);
}

/*
 * The control socket is 0600, and is only made in a directory no one but
 * the daemon's user (or root) can change: one others or its group can
 * write, one another user owns, or one under a non-sticky directory others
 * can write, is refused, saying why.
 */
Test(faults, control_socket_is_private_and_only_made_where_it_stays_so)
{
	struct daemon *d = &daemon_under_test;
	if (geteuid() != 0)
		cr_skip_test("needs root to make directories of another uid");
	char scratch[] = "/tmp/mshv-live-ctl-XXXXXX";
	cr_assert_not_null(mkdtemp(scratch));
	static const struct {
		const char *dir;
		mode_t mode;
		uid_t owner;
		const char *says;
	} cases[] = {
		{"open", 0777, 0, "open is writable by others (mode 0777), who could replace"},
		{"sticky", 01777, 0, "sticky is writable by others (mode 1777), who could replace"},
		{"group", 0770, 0, "group is writable by its group (mode 0770), who could replace"},
		{"theirs", 0755, 65534, "theirs belongs to uid 65534, who could replace"},
		{"open/inner", 0700, 0,
		 "open is writable by others (mode 0777), who could move away"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dir[160], sock[192], mnt[160], out[4096];
		snprintf(dir, sizeof(dir), "%s/%s", scratch, cases[i].dir);
		snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
		snprintf(mnt, sizeof(mnt), "%s/mnt", scratch);
		cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
		cr_assert_eq(chmod(dir, cases[i].mode), 0);
		cr_assert_eq(chown(dir, cases[i].owner, 0), 0);
		const char *argv[] = {"timeout", "10",	      env_or("MSHV_EMU_BIN", "mshv-emu"),
				      "--front", "fuse",      "--mountpoint",
				      mnt,	 "--control", sock,
				      NULL};
		int status = run_command(argv, out, sizeof(out));
		cr_expect_eq(status, 1, "%s: exit %d: %s", cases[i].dir, status, out);
		cr_expect(strstr(out, sock) && strstr(out, cases[i].says), "%s: %s", cases[i].dir,
			  out);
		cr_expect_neq(access(sock, F_OK), 0, "%s: a socket was made", cases[i].dir);
	}
	for (size_t i = sizeof(cases) / sizeof(cases[0]); i-- > 0;) {
		char dir[160];
		snprintf(dir, sizeof(dir), "%s/%s", scratch, cases[i].dir);
		rmdir(dir);
	}
	rmdir(scratch);

	daemon_start(d, NULL);
	char sock[128];
	control_of(d, d->pid, sock, sizeof(sock));
	struct stat st;
	cr_assert_eq(lstat(sock, &st), 0, "%s: %s", sock, strerror(errno));
	cr_expect(S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600, "%s: mode 0%o", sock,
		  st.st_mode & 0777);
}

/* --control-group: the socket is 0660 and the group's, and its members
 * (by their primary group or another) may use mshvctl; others may not. */
Test(faults, control_group_members_may_use_mshvctl)
{
	struct daemon *d = &daemon_under_test;
	if (geteuid() != 0)
		cr_skip_test("needs root to act as other uids");
	if (front_is_run())
		cr_skip_test("--control-group is mshv-emu's");
	d->control_group = "65534";
	daemon_start(d, NULL);
	chmod(d->dir, 0755);
	char sock[128], out[4096];
	control_of(d, d->pid, sock, sizeof(sock));
	struct stat st;
	cr_assert_eq(lstat(sock, &st), 0, "%s: %s", sock, strerror(errno));
	cr_expect((st.st_mode & 0777) == 0660 && st.st_gid == 65534, "%s: mode 0%o, gid %u", sock,
		  st.st_mode & 0777, (unsigned)st.st_gid);
	const char *const status[] = {"status", NULL};
	const gid_t member = 65534;
	cr_expect_eq(ctl_as(d, 65533, 65534, NULL, 0, out, sizeof(out), status), 0,
		     "primary group: %s", out);
	cr_expect(strstr(out, "profile     negotiated"), "%s", out);
	cr_expect_eq(ctl_as(d, 65533, 65533, &member, 1, out, sizeof(out), status), 0,
		     "another group: %s", out);
	cr_expect_eq(ctl_as(d, 65533, 65533, NULL, 0, out, sizeof(out), status), 1,
		     "not a member: %s", out);
	cr_expect(strstr(out, "Permission denied") || strstr(out, "permission denied"), "%s", out);
}

/* Run an impostor as uid 65534 on DIR/ctl.sock, answering "ok" to anyone,
 * and root's `mshvctl status` against it; mshvctl's status, output in OUT. */
static int ctl_against_impostor(const char *dir, char *out, size_t size)
{
	char sock[96];
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	pid_t impostor = fork();
	cr_assert_geq(impostor, 0);
	if (impostor == 0) {
		close(ready[0]);
		signal(SIGPIPE, SIG_IGN);
		if (!become(65534))
			_exit(99);
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
		int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		umask(0077);
		if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
		    listen(listener, 4) != 0 || write(ready[1], "r", 1) != 1)
			_exit(98);
		for (;;) {
			int fd = accept(listener, NULL, NULL);
			if (fd < 0)
				_exit(97);
			const char reply[] = "ok\nIMPOSTOR: all is well\n";
			ssize_t sent = write(fd, reply, sizeof(reply) - 1);
			(void)sent;
			close(fd);
		}
	}
	close(ready[1]);
	char byte = 0;
	struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
	cr_assert(poll(&pfd, 1, 10000) == 1 && read(ready[0], &byte, 1) == 1,
		  "the impostor did not start");
	close(ready[0]);
	const char *argv[] = {env_or("MSHV_EMU_CTL", "mshvctl"), "--socket", sock, "status", NULL};
	int status = run_command(argv, out, size);
	kill(impostor, SIGKILL);
	waitpid(impostor, NULL, 0);
	unlink(sock);
	return status;
}

/*
 * Another user's server where root's mshvctl looks for the daemon: it
 * refuses to believe it, or to tell it anything.  Both in a directory
 * others can write (the socket replaced, as in /tmp), and in one the other
 * user made for itself first, where the socket, the directory and the
 * server are all that user's (a path squatted before the daemon started).
 */
Test(faults, mshvctl_trusts_no_server_of_another_uid)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to act as another uid");
	static const struct {
		const char *what;
		mode_t mode;
		uid_t owner;
	} cases[] = {
		{"a directory others can write", 01777, 0},
		{"a directory the impostor owns alone", 0700, 65534},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dir[] = "/tmp/mshv-live-impostor-XXXXXX", out[4096];
		cr_assert_not_null(mkdtemp(dir));
		cr_assert_eq(chown(dir, cases[i].owner, cases[i].owner), 0);
		cr_assert_eq(chmod(dir, cases[i].mode), 0);
		int status = ctl_against_impostor(dir, out, sizeof(out));
		rmdir(dir);
		cr_expect_eq(status, 1, "%s: %s", cases[i].what, out);
		cr_expect(strstr(out, "its server runs as uid 65534") &&
				  strstr(out, "not trusting it"),
			  "%s: %s", cases[i].what, out);
		cr_expect_null(strstr(out, "IMPOSTOR"), "%s: the impostor's reply was printed: %s",
			       cases[i].what, out);
	}
}

/* A relative FILE is the caller's: mshvctl sends it from its current
 * directory, and the daemon refuses a relative path another client sends,
 * which it would resolve in its own. */
Test(faults, mshvctl_sends_files_as_absolute_paths)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, HEAD);
	char policy[128], trace[128], out[4096], want[256];
	snprintf(policy, sizeof(policy), "%.*s/p.yaml", (int)sizeof(d->dir) - 1, d->dir);
	snprintf(trace, sizeof(trace), "%.*s/t.jsonl", (int)sizeof(d->dir) - 1, d->dir);
	FILE *file = fopen(policy, "w");
	cr_assert_not_null(file);
	fputs(HEAD, file);
	fclose(file);
	/* mshvctl's own path must survive the chdir. */
	char *bin = realpath(env_or("MSHV_EMU_CTL", "mshvctl"), NULL);
	if (bin)
		setenv("MSHV_EMU_CTL", bin, 1);
	free(bin);
	int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(here, 0);
	cr_assert_eq(chdir(d->dir), 0);
	int reload = ctl(d, out, sizeof(out), (const char *[]){"reload", "./p.yaml", NULL});
	snprintf(want, sizeof(want), "serving %s as generation 2", policy);
	cr_expect(reload == 0 && strstr(out, want), "%s", out);
	int start = ctl(d, out, sizeof(out), (const char *[]){"trace", "start", "t.jsonl", NULL});
	snprintf(want, sizeof(want), "tracing to %s", trace);
	cr_expect(start == 0 && strstr(out, want), "%s", out);
	cr_expect_eq(access(trace, F_OK), 0, "no transcript at %s", trace);
	ctl(d, out, sizeof(out), (const char *[]){"trace", "stop", NULL});
	cr_assert_eq(fchdir(here), 0);
	close(here);

	int fd = control_connect(d);
	cr_assert_geq(fd, 0);
	const char request[] = "reload\np.yaml\n\n";
	cr_assert_eq(write(fd, request, sizeof(request) - 1), (ssize_t)sizeof(request) - 1);
	read_until_closed(fd, out, sizeof(out), 10000);
	close(fd);
	cr_expect_str_eq(out, "error\np.yaml: a relative path, which this daemon would resolve "
			      "in its own working directory, not yours; give an absolute path\n");
	unlink(trace);
	unlink(policy);
}

/* A delayed hypercall still follows its pointers when it is answered: over
 * FUSE by the side channel, over CUSE by the retry the held call asks the
 * kernel for.  The delay is counted once, and the answer is the policy's. */
Test(faults, a_held_hypercall_follows_its_pointers)
{
	struct daemon *d = &daemon_under_test;
	start_with(d, "profile: microsoft\n"
		      "hypervisor:\n  properties:\n"
		      "    - {name: PHYSICAL_ADDRESS_WIDTH, value: 52}\n"
		      "faults:\n  rules:\n"
		      "    - {name: slow-hvcall, match: {ioctl: ROOT_HVCALL}, when: {once: true},\n"
		      "       action: {delay_ms: 50}}\n");
	int fd = open_node(d);
	struct mshv_emu_hv_get_property_in in = {
		.partition_id = MSHV_EMU_HV_PARTITION_ID_SELF,
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	for (int call = 0; call < 2; call++) {
		uint64_t value = 0;
		struct mshv_root_hvcall hdr = {.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
					       .in_sz = sizeof(in),
					       .out_sz = sizeof(value),
					       .in_ptr = (uintptr_t)&in,
					       .out_ptr = (uintptr_t)&value};
		long start = now_ms();
		cr_expect_eq(ioctl(fd, MSHV_ROOT_HVCALL, &hdr), 0, "call %d: errno %d", call,
			     errno);
		long took = now_ms() - start;
		cr_expect_eq(value, 52, "call %d: PHYSICAL_ADDRESS_WIDTH %llu", call,
			     (unsigned long long)value);
		cr_expect_eq(hdr.status, 0, "call %d: status 0x%x", call, hdr.status);
		if (call == 0)
			cr_expect_geq(took, 50, "the first call is held");
	}
	close(fd);
	char out[4096];
	const char *const stats[] = {"stats", NULL};
	cr_assert_eq(ctl(d, out, sizeof(out), stats), 0, "%s", out);
	/* "slow-hvcall  policy  on  MATCHED  FIRED": each call is one match, for
	 * however many requests the front end needed to carry it. */
	const char *row = strstr(out, "slow-hvcall");
	unsigned matched = 0, fired = 0;
	cr_assert(row && sscanf(row, "%*s %*s %*s %u %u", &matched, &fired) == 2, "%s", out);
	cr_expect_eq(matched, 2, "matched %u times in 2 calls", matched);
	cr_expect_eq(fired, 1, "fired %u times", fired);
}
