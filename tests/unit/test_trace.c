/*
 * test_trace.c - the transcript: exact JSON lines, comm from /proc, no event
 * lost silently under concurrent producers, overflow or write errors, open
 * errors as diagnostics.
 *
 * The transcript is read back only after trace_close, which drains the ring:
 * no test waits on the writer's timing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "trace.h"

/* trace.c's ring size: the first drop cannot come before this many events. */
#define RING_SLOTS 16384

/* 2026-11-20T23:41:07Z is 1795218067 s after the epoch (date -u -d ... +%s). */
#define TIME_NS 1795218067123456789ULL

struct transcript {
	char *text;
	char **lines;
	size_t count;
};

static void temp_path(char *path, size_t size)
{
	snprintf(path, size, "/tmp/mshv-emu-trace-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	close(fd);
}

static struct transcript transcript_read(const char *path)
{
	struct transcript t = {0};
	FILE *file = fopen(path, "r");
	cr_assert_not_null(file, "open %s: %s", path, strerror(errno));
	size_t size = 0;
	FILE *mem = open_memstream(&t.text, &size);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), file)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(mem);
	fclose(file);
	cr_assert(size == 0 || t.text[size - 1] == '\n', "the transcript ends with a newline");
	for (size_t i = 0; i < size; i++)
		t.count += t.text[i] == '\n';
	t.lines = calloc(t.count + 1, sizeof(*t.lines));
	char *line = t.text;
	for (size_t i = 0; i < t.count; i++) {
		char *end = strchr(line, '\n');
		*end = '\0';
		t.lines[i] = line;
		line = end + 1;
	}
	unlink(path);
	return t;
}

static void transcript_free(struct transcript *t)
{
	free(t->lines);
	free(t->text);
}

static void self_comm(char *comm, size_t size)
{
	FILE *file = fopen("/proc/self/comm", "r");
	cr_assert_not_null(file);
	cr_assert_not_null(fgets(comm, (int)size, file));
	fclose(file);
	comm[strcspn(comm, "\n")] = '\0';
}

static struct trace *open_temp(char *path, size_t size)
{
	struct diag_list diags = {0};
	temp_path(path, size);
	struct trace *trace = trace_open(path, &diags);
	cr_assert_not_null(trace, "trace_open %s", path);
	cr_assert_eq(diags.count, 0);
	cr_assert_str_eq(trace_path(trace), path);
	return trace;
}

static struct trace_event event_at(enum trace_kind kind, uint64_t time_ns)
{
	return (struct trace_event){
		.time_ns = time_ns,
		.session = 4,
		.generation = 2,
		.pid = getpid(),
		.uid = 1000,
		.kind = kind,
	};
}

/* Counts from a {"event":"dropped",...} line, or false if LINE is not one. */
static bool line_drop_counts(const char *line, uint64_t *count, uint64_t *total)
{
	return sscanf(line, "{\"event\":\"dropped\",\"count\":%" SCNu64 ",\"total\":%" SCNu64 "}",
		      count, total) == 2 &&
	       line[strlen(line) - 1] == '}';
}

static bool line_is_event(const char *line)
{
	size_t len = strlen(line);
	return !strncmp(line, "{\"time\":", 8) && len > 8 && line[len - 1] == '}';
}

static uint64_t line_field_u64(const char *line, const char *key)
{
	const char *at = strstr(line, key);
	cr_assert_not_null(at, "%s in %s", key, line);
	return strtoull(at + strlen(key), NULL, 10);
}

Test(trace, scripted_sequence_is_written_exactly)
{
	char path[64], comm[64], expected[4][1024];
	struct trace *trace = open_temp(path, sizeof(path));
	self_comm(comm, sizeof(comm));

	struct trace_event open_ev = event_at(TRACE_OPEN, TIME_NS);
	struct trace_event check_ev = event_at(TRACE_IOCTL, TIME_NS + 1);
	check_ev.cmd = 0x4004b801;
	check_ev.has_arg = true;
	check_ev.arg = 3;
	check_ev.result = 1;
	strcpy(check_ev.ioctl, "MSHV_CHECK_EXTENSION");
	struct trace_event create_ev = event_at(TRACE_IOCTL, TIME_NS + 876543211);
	create_ev.cmd = 0x4010b800;
	create_ev.result = -524;
	create_ev.deferred = true;
	create_ev.generation = 3;
	strcpy(create_ev.ioctl, "MSHV_CREATE_PARTITION");
	strcpy(create_ev.fault, "slow-create");
	struct trace_event release_ev = event_at(TRACE_RELEASE, TIME_NS + 1000000000);
	release_ev.generation = 3;
	trace_record(trace, &open_ev);
	trace_record(trace, &check_ev);
	trace_record(trace, &create_ev);
	trace_record(trace, &release_ev);
	cr_assert_eq(trace_dropped(trace), 0);
	trace_close(trace, NULL);

	int pid = getpid();
	snprintf(expected[0], sizeof(expected[0]),
		 "{\"time\":\"2026-11-20T23:41:07.123456789Z\",\"event\":\"open\",\"pid\":%d,"
		 "\"comm\":\"%s\",\"uid\":1000,\"session\":4,\"result\":0,\"fault\":null,"
		 "\"generation\":2}",
		 pid, comm);
	snprintf(expected[1], sizeof(expected[1]),
		 "{\"time\":\"2026-11-20T23:41:07.123456790Z\",\"event\":\"ioctl\",\"pid\":%d,"
		 "\"comm\":\"%s\",\"uid\":1000,\"session\":4,\"ioctl\":\"MSHV_CHECK_EXTENSION\","
		 "\"cmd\":\"0x4004b801\",\"arg\":3,\"result\":1,\"fault\":null,\"generation\":2}",
		 pid, comm);
	snprintf(expected[2], sizeof(expected[2]),
		 "{\"time\":\"2026-11-20T23:41:08.000000000Z\",\"event\":\"ioctl\",\"pid\":%d,"
		 "\"comm\":\"%s\",\"uid\":1000,\"session\":4,\"ioctl\":\"MSHV_CREATE_PARTITION\","
		 "\"cmd\":\"0x4010b800\",\"arg\":null,\"result\":-1,\"errno\":524,"
		 "\"errno_name\":\"ENOTSUPP\",\"deferred\":true,\"fault\":\"slow-create\","
		 "\"generation\":3}",
		 pid, comm);
	snprintf(expected[3], sizeof(expected[3]),
		 "{\"time\":\"2026-11-20T23:41:08.123456789Z\",\"event\":\"release\",\"pid\":%d,"
		 "\"comm\":\"%s\",\"uid\":1000,\"session\":4,\"result\":0,\"fault\":null,"
		 "\"generation\":3}",
		 pid, comm);

	struct transcript t = transcript_read(path);
	cr_assert_eq(t.count, 4, "%zu lines:\n%s", t.count, t.text);
	for (int i = 0; i < 4; i++)
		cr_expect_str_eq(t.lines[i], expected[i], "line %d", i + 1);
	transcript_free(&t);
}

/* Root-driver calls carry what replays them: the hypercall (with its
 * status once it ran) or CREATE_PARTITION's flags and banks. */
Test(trace, root_driver_details_are_written_exactly)
{
	char path[64], comm[64], expected[4][1024];
	struct trace *trace = open_temp(path, sizeof(path));
	self_comm(comm, sizeof(comm));
	struct trace_event ev[4];
	for (int i = 0; i < 4; i++) {
		ev[i] = event_at(TRACE_IOCTL, TIME_NS);
		ev[i].cmd = 0xc020b807;
		strcpy(ev[i].ioctl, "MSHV_ROOT_HVCALL");
	}
	/* A property read the hypervisor refused: the status, no value. */
	ev[0].result = -5;
	ev[0].detail = (struct trace_detail){.kind = TRACE_DETAIL_HVCALL,
					     .called = true,
					     .has_property = true,
					     .hv_code = 0x101,
					     .hv_status = 6,
					     .property = 0x00090007,
					     .value = 99};
	/* A set: the value it tried, an unnamed property code. */
	ev[1].detail = (struct trace_detail){.kind = TRACE_DETAIL_HVCALL,
					     .called = true,
					     .has_property = true,
					     .hv_code = 0x45,
					     .property = 0x12345,
					     .value = 0xFFFFFFFFFFFFFFFFull};
	/* Refused by the driver before the call: only the code. */
	ev[2].result = -22;
	ev[2].detail = (struct trace_detail){.kind = TRACE_DETAIL_HVCALL, .hv_code = 0x1ff};
	ev[3].cmd = 0x4010b800;
	strcpy(ev[3].ioctl, "MSHV_CREATE_PARTITION");
	ev[3].result = -95;
	ev[3].detail = (struct trace_detail){.kind = TRACE_DETAIL_CREATE_PARTITION,
					     .flags = 0xF,
					     .has_banks = true,
					     .bank_count = 2,
					     .banks = {0x8000000000000001ull, 0xFF},
					     .no_fd = true};
	for (int i = 0; i < 4; i++)
		trace_record(trace, &ev[i]);
	trace_close(trace, NULL);

	const char *details[4] = {
		"\"arg\":null,\"hvcall\":{\"code\":\"0x0101\",\"name\":"
		"\"GET_PARTITION_PROPERTY_EX\",\"property\":\"0x00090007\",\"property_name\":"
		"\"VMM_CAPABILITIES\",\"status\":6,\"status_name\":\"ACCESS_DENIED\"},"
		"\"result\":-1,\"errno\":5,\"errno_name\":\"EIO\"",
		"\"arg\":null,\"hvcall\":{\"code\":\"0x0045\",\"name\":"
		"\"SET_PARTITION_PROPERTY\",\"property\":\"0x00012345\",\"property_name\":null,"
		"\"value\":\"0xffffffffffffffff\",\"status\":0,\"status_name\":\"SUCCESS\"},"
		"\"result\":0",
		"\"arg\":null,\"hvcall\":{\"code\":\"0x01ff\",\"name\":null},\"result\":-1,"
		"\"errno\":22,\"errno_name\":\"EINVAL\"",
		"\"arg\":null,\"create_partition\":{\"flags\":\"0xf\",\"isolation\":0,"
		"\"bank_count\":2,\"banks\":[\"0x8000000000000001\",\"0xff\"],\"no_fd\":true},"
		"\"result\":-1,"
		"\"errno\":95,\"errno_name\":\"EOPNOTSUPP\"",
	};
	for (int i = 0; i < 4; i++)
		snprintf(expected[i], sizeof(expected[i]),
			 "{\"time\":\"2026-11-20T23:41:07.123456789Z\",\"event\":\"ioctl\","
			 "\"pid\":%d,\"comm\":\"%s\",\"uid\":1000,\"session\":4,\"ioctl\":\"%s\","
			 "\"cmd\":\"0x%08x\",%s,\"fault\":null,\"generation\":2}",
			 getpid(), comm, ev[i].ioctl, ev[i].cmd, details[i]);
	struct transcript t = transcript_read(path);
	cr_assert_eq(t.count, 4, "%zu lines:\n%s", t.count, t.text);
	for (int i = 0; i < 4; i++)
		cr_expect_str_eq(t.lines[i], expected[i], "line %d", i + 1);
	transcript_free(&t);
}

Test(trace, comm_is_the_recording_process_name)
{
	char path[64], comm[64], field[128];
	struct trace *trace = open_temp(path, sizeof(path));
	struct trace_event ev = event_at(TRACE_OPEN, TIME_NS);
	trace_record(trace, &ev);
	trace_close(trace, NULL);

	self_comm(comm, sizeof(comm));
	snprintf(field, sizeof(field), ",\"comm\":\"%s\",", comm);
	struct transcript t = transcript_read(path);
	cr_assert_eq(t.count, 1);
	cr_expect_not_null(strstr(t.lines[0], field), "%s not in %s", field, t.lines[0]);
	transcript_free(&t);
}

Test(trace, comm_of_a_process_that_is_gone_is_null)
{
	char path[64];
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0)
		_exit(0);
	cr_assert_eq(waitpid(child, NULL, 0), child);

	struct trace *trace = open_temp(path, sizeof(path));
	struct trace_event ev = event_at(TRACE_RELEASE, TIME_NS);
	ev.pid = child;
	trace_record(trace, &ev);
	trace_close(trace, NULL);

	struct transcript t = transcript_read(path);
	cr_assert_eq(t.count, 1);
	cr_expect_not_null(strstr(t.lines[0], ",\"comm\":null,"), "%s", t.lines[0]);
	transcript_free(&t);
}

Test(trace, strings_are_json_escaped)
{
	char path[64], old_comm[64], expected[1024];
	self_comm(old_comm, sizeof(old_comm));
	/* A quote, a backslash, a control byte and a UTF-8 lead byte cut off:
	 * what PR_SET_NAME's 15-byte limit does to a non-ASCII name. */
	cr_assert_eq(prctl(PR_SET_NAME, "q\"b\\s\x01\xc3", 0, 0, 0), 0);
	struct trace *trace = open_temp(path, sizeof(path));
	struct trace_event ev = event_at(TRACE_IOCTL, TIME_NS);
	ev.cmd = 0xdeadbeef;
	ev.result = -4000;
	strcpy(ev.fault, "caf\xc3\xa9\ttab\x7f");
	trace_record(trace, &ev);
	trace_close(trace, NULL);
	prctl(PR_SET_NAME, old_comm, 0, 0, 0);

	snprintf(expected, sizeof(expected),
		 "{\"time\":\"2026-11-20T23:41:07.123456789Z\",\"event\":\"ioctl\",\"pid\":%d,"
		 "\"comm\":\"q\\\"b\\\\s\\u0001\\ufffd\",\"uid\":1000,\"session\":4,\"ioctl\":null,"
		 "\"cmd\":\"0xdeadbeef\",\"arg\":null,\"result\":-1,\"errno\":4000,"
		 "\"errno_name\":null,\"fault\":\"caf\xc3\xa9\\u0009tab\x7f\",\"generation\":2}",
		 (int)getpid());
	struct transcript t = transcript_read(path);
	cr_assert_eq(t.count, 1);
	cr_expect_str_eq(t.lines[0], expected);
	transcript_free(&t);
}

enum {
	PRODUCERS = 4,
	PER_PRODUCER = 50000,
};

struct producer {
	struct trace *trace;
	unsigned index;
};

static void *producer_run(void *arg)
{
	struct producer *p = arg;
	struct trace_event ev = event_at(TRACE_IOCTL, TIME_NS);
	ev.session = p->index;
	ev.has_arg = true;
	strcpy(ev.ioctl, "MSHV_CHECK_EXTENSION");
	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		ev.arg = i;
		trace_record(p->trace, &ev);
	}
	return NULL;
}

Test(trace, concurrent_producers_lose_nothing_silently)
{
	char path[64];
	struct trace *trace = open_temp(path, sizeof(path));
	struct producer producers[PRODUCERS];
	pthread_t threads[PRODUCERS];
	for (unsigned i = 0; i < PRODUCERS; i++) {
		producers[i] = (struct producer){.trace = trace, .index = i};
		cr_assert_eq(pthread_create(&threads[i], NULL, producer_run, &producers[i]), 0);
	}
	for (unsigned i = 0; i < PRODUCERS; i++)
		pthread_join(threads[i], NULL);
	uint64_t dropped = trace_dropped(trace);
	trace_close(trace, NULL);

	struct transcript t = transcript_read(path);
	uint64_t events = 0, reported = 0, count, total, last_total = 0;
	int64_t last_arg[PRODUCERS] = {-1, -1, -1, -1};
	for (size_t i = 0; i < t.count; i++) {
		const char *line = t.lines[i];
		if (line_drop_counts(line, &count, &total)) {
			reported += count;
			cr_expect_eq(total, reported, "line %zu: %s", i + 1, line);
			last_total = total;
			continue;
		}
		cr_assert(line_is_event(line), "line %zu: %s", i + 1, line);
		events++;
		/* The ring is FIFO, so each producer's events stay in order. */
		uint64_t session = line_field_u64(line, "\"session\":");
		int64_t arg = (int64_t)line_field_u64(line, "\"arg\":");
		cr_assert_lt(session, PRODUCERS);
		cr_expect_gt(arg, last_arg[session], "line %zu out of order", i + 1);
		last_arg[session] = arg;
	}
	cr_expect_eq(events + reported, PRODUCERS * PER_PRODUCER,
		     "%" PRIu64 " lines + %" PRIu64 " dropped", events, reported);
	cr_expect_eq(last_total, dropped);
	transcript_free(&t);
}

Test(trace, overflow_is_reported_in_band)
{
	enum {
		RECORDS = 100000
	};
	char path[64];
	struct trace *trace = open_temp(path, sizeof(path));
	struct trace_event ev = event_at(TRACE_IOCTL, TIME_NS);
	ev.has_arg = true;
	for (uint32_t i = 0; i < RECORDS; i++) {
		ev.arg = i;
		trace_record(trace, &ev);
	}
	uint64_t dropped = trace_dropped(trace);
	trace_close(trace, NULL);
	cr_assert_gt(dropped, 0, "the writer kept up with a tight loop: nothing to test");

	struct transcript t = transcript_read(path);
	uint64_t events = 0, reported = 0, drop_lines = 0, count, total;
	for (size_t i = 0; i < t.count; i++) {
		if (line_drop_counts(t.lines[i], &count, &total)) {
			/* A gap is reported after the events queued before it,
			 * and the ring held a full lap of them then. */
			if (!drop_lines++)
				cr_expect_geq(events, RING_SLOTS, "first drop line %zu", i + 1);
			cr_expect_gt(count, 0);
			reported += count;
			cr_expect_eq(total, reported);
			continue;
		}
		cr_assert(line_is_event(t.lines[i]), "line %zu: %s", i + 1, t.lines[i]);
		uint64_t arg = line_field_u64(t.lines[i], "\"arg\":");
		if (events < RING_SLOTS)
			cr_expect_eq(arg, events, "no gap within the first lap");
		events++;
	}
	cr_expect_gt(drop_lines, 0);
	cr_expect_eq(reported, dropped);
	cr_expect_eq(events + reported, RECORDS);
	transcript_free(&t);
}

static char logged[4][512];
static int log_count;

static void test_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (log_count < 4)
		vsnprintf(logged[log_count], sizeof(logged[0]), fmt, ap);
	log_count++;
	va_end(ap);
}

/* Record N events, then wait (with a deadline) until the writer has tried
 * to write them and counted them lost: every write fails. */
static void record_lost(struct trace *trace, struct trace_event *ev, unsigned n, uint64_t want)
{
	for (unsigned i = 0; i < n; i++) {
		ev->arg++;
		trace_record(trace, ev);
	}
	struct trace_counts counts;
	for (int waited = 0; waited < 10000; waited += 5) {
		trace_counts(trace, &counts);
		if (counts.unwritten >= want)
			break;
		poll(NULL, 0, 5);
	}
	cr_assert_eq(counts.unwritten, want, "%" PRIu64 " lines counted lost", counts.unwritten);
	cr_assert_eq(counts.write_errno, EFBIG);
	cr_assert_eq(counts.dropped, 0);
}

/* A write error loses whole lines: counted, logged once however often it
 * recurs, the part of a line written cut off again, and the gap marked in
 * the file once writing works again.  The file size limit (one byte, so
 * every write stops partway) stands in for a full disk. */
Test(trace, write_errors_are_counted_logged_once_and_marked)
{
	char path[64];
	trace_set_log(test_log);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit limit;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &limit), 0);
	rlim_t unlimited = limit.rlim_cur;
	struct trace *trace = open_temp(path, sizeof(path));
	limit.rlim_cur = 1;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
	struct trace_event ev = event_at(TRACE_IOCTL, TIME_NS);
	ev.has_arg = true;
	record_lost(trace, &ev, 20, 20);
	record_lost(trace, &ev, 20, 40);
	cr_expect_eq(log_count, 1, "the failure is logged once: %d lines", log_count);
	char want[256];
	snprintf(want, sizeof(want), "transcript %s: write failed: File too large (EFBIG); ", path);
	cr_expect(!strncmp(logged[0], want, strlen(want)), "%s", logged[0]);

	limit.rlim_cur = unlimited;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
	ev.arg = 1000;
	trace_record(trace, &ev);
	struct trace_counts final;
	trace_close(trace, &final);
	trace_set_log(NULL);
	cr_expect_eq(final.unwritten, 40);
	cr_expect_eq(final.write_errno, EFBIG);
	cr_expect_eq(log_count, 2, "%d log lines", log_count);
	snprintf(want, sizeof(want), "transcript %s: writing again; 40 lines lost in all", path);
	cr_expect_str_eq(logged[1], want);

	struct transcript t = transcript_read(path);
	cr_assert_eq(t.count, 2, "%zu lines", t.count);
	cr_expect_str_eq(t.lines[0], "{\"event\":\"unwritten\",\"count\":40,\"total\":40}");
	cr_expect(line_is_event(t.lines[1]) && line_field_u64(t.lines[1], "\"arg\":") == 1000, "%s",
		  t.lines[1]);
	transcript_free(&t);
}

Test(trace, close_while_idle_writes_nothing)
{
	char path[64];
	struct trace *trace = open_temp(path, sizeof(path));
	/* Long enough for the writer to be asleep in its idle poll. */
	usleep(10000);
	trace_close(trace, NULL);
	struct transcript t = transcript_read(path);
	cr_expect_eq(t.count, 0);
	transcript_free(&t);
}

Test(trace, open_in_missing_directory_is_a_diagnostic)
{
	char dir[64], path[128], text[512];
	snprintf(dir, sizeof(dir), "/tmp/mshv-emu-trace-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing/trace.jsonl", dir);
	struct diag_list diags = {0};
	cr_expect_null(trace_open(path, &diags));
	rmdir(dir);
	cr_assert_eq(diags.count, 1);
	diag_format(&diags.items[0], text, sizeof(text));
	char expected[512];
	snprintf(expected, sizeof(expected),
		 "%s: error: no such directory to make the transcript in; create it, or give a "
		 "path in "
		 "one that exists",
		 path);
	cr_expect_str_eq(text, expected);
	diag_free(&diags);
}

/* The transcript is written by a daemon that often runs as root: a symlink
 * planted at its path must not aim it at another file, a FIFO must not
 * hold it, and what it creates is its user's alone (0600). */
Test(trace, open_refuses_symlinks_and_fifos_and_creates_0600)
{
	char dir[64], path[128], target[128], fifo[128], text[512];
	snprintf(dir, sizeof(dir), "/tmp/mshv-emu-trace-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/trace.jsonl", dir);
	snprintf(target, sizeof(target), "%s/precious", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	FILE *f = fopen(target, "w");
	cr_assert_not_null(f);
	fputs("keep me\n", f);
	fclose(f);
	cr_assert_eq(symlink(target, path), 0);
	struct diag_list diags = {0};
	cr_expect_null(trace_open(path, &diags), "a symlink was followed");
	cr_assert_eq(diags.count, 1);
	diag_format(&diags.items[0], text, sizeof(text));
	cr_expect(strstr(text, "a symlink"), "%s", text);
	struct stat st;
	cr_expect(stat(target, &st) == 0 && st.st_size == 8, "the symlink's target was truncated");
	diag_free(&diags);
	unlink(path);

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	diags = (struct diag_list){0};
	cr_expect_null(trace_open(fifo, &diags), "a FIFO was taken"); /* and did not block */
	cr_assert_eq(diags.count, 1);
	diag_format(&diags.items[0], text, sizeof(text));
	cr_expect(strstr(text, "a FIFO, not a regular file"), "%s", text);
	diag_free(&diags);

	diags = (struct diag_list){0};
	cr_expect_null(trace_open("/dev/zero", &diags), "a device other than /dev/null was taken");
	diag_free(&diags);
	diags = (struct diag_list){0};
	struct trace *sink = trace_open("/dev/null", &diags);
	cr_expect_not_null(sink, "/dev/null is a sink a transcript may go to");
	if (sink)
		trace_close(sink, NULL);
	diag_free(&diags);

	diags = (struct diag_list){0};
	struct trace *trace = trace_open(path, &diags);
	cr_assert_not_null(trace);
	cr_expect(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "created mode 0%o",
		  st.st_mode & 0777);
	trace_close(trace, NULL);
	unlink(path);
	unlink(fifo);
	unlink(target);
	rmdir(dir);
}
