/*
 * test_policy.c - the policy corpus: every shipped policy loads clean; every
 * broken one under tests/policies/bad/ is rejected with exactly the
 * diagnostics in its .err file (whole text, in order, FILE:LINE:COL).  And
 * the loader's bounds (docs/policy.md): inputs too big, too deep or too long
 * to commit are generated here, and refused at their first excess.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core.h"

static char *read_text(const char *path)
{
	FILE *file = fopen(path, "r");
	cr_assert_not_null(file, "cannot open %s", path);
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	char buf[4096];
	size_t got;
	while ((got = fread(buf, 1, sizeof(buf), file)) > 0)
		fwrite(buf, 1, got, mem);
	fclose(mem);
	fclose(file);
	return text;
}

static char *diagnostics_of(const char *path, struct policy_snapshot **snap_out)
{
	struct diag_list diags = {0};
	*snap_out = policy_load_file(path, &diags);
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	diag_print(&diags, mem);
	fclose(mem);
	diag_free(&diags);
	return text;
}

/* Paths in diagnostics are as given: run from the source tree. */
static void in_source_dir(void)
{
	cr_assert_eq(chdir(MSHV_EMU_SOURCE_DIR), 0);
}

Test(policy, every_shipped_policy_loads_clean, .init = in_source_dir)
{
	DIR *dir = opendir("policies");
	cr_assert_not_null(dir);
	unsigned count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (!strstr(entry->d_name, ".yaml"))
			continue;
		char path[512];
		struct policy_snapshot *snap;
		snprintf(path, sizeof(path), "policies/%s", entry->d_name);
		char *text = diagnostics_of(path, &snap);
		cr_expect_not_null(snap, "%s rejected:\n%s", path, text);
		cr_expect_str_empty(text, "%s has diagnostics:\n%s", path, text);
		policy_free(snap);
		free(text);
		count++;
	}
	closedir(dir);
	cr_expect_geq(count, 9, "only %u policies found", count);
}

Test(policy, broken_policies_give_their_whole_diagnostics, .init = in_source_dir)
{
	DIR *dir = opendir("tests/policies/bad");
	cr_assert_not_null(dir);
	unsigned count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		size_t len = strlen(entry->d_name);
		if (len < 6 || strcmp(entry->d_name + len - 5, ".yaml"))
			continue;
		char path[512], expected_path[512];
		struct policy_snapshot *snap;
		snprintf(path, sizeof(path), "tests/policies/bad/%s", entry->d_name);
		snprintf(expected_path, sizeof(expected_path), "tests/policies/bad/%.*s.err",
			 (int)(len - 5), entry->d_name);
		char *got = diagnostics_of(path, &snap);
		char *want = read_text(expected_path);
		cr_expect_null(snap, "%s was accepted", path);
		cr_expect_str_eq(got, want, "%s:\n--- got ---\n%s--- want ---\n%s", path, got,
				 want);
		policy_free(snap);
		free(got);
		free(want);
		count++;
	}
	closedir(dir);
	cr_expect_geq(count, 10, "only %u broken policies found", count);
}

Test(policy, missing_file_names_the_file, .init = in_source_dir)
{
	struct policy_snapshot *snap;
	char *text = diagnostics_of("policies/no-such.yaml", &snap);
	cr_expect_null(snap);
	cr_expect_str_eq(text, "policies/no-such.yaml: error: no such file; give the path of a "
			       "policy file\n");
	free(text);
}

Test(policy, embedded_default_is_policies_default_yaml, .init = in_source_dir)
{
	struct diag_list diags = {0};
	struct policy_snapshot *embedded = policy_load_default(&diags);
	struct policy_snapshot *file = policy_load_file("policies/default.yaml", &diags);
	cr_assert_not_null(embedded);
	cr_assert_not_null(file);
	cr_expect_str_eq(embedded->digest, file->digest);
	cr_expect_str_eq(embedded->source, "<embedded default>");
	cr_expect_eq(embedded->profile, EMU_PROFILE_NEGOTIATED);
	cr_expect_str_eq(embedded->device_name, "mshv");
	cr_expect_eq(embedded->device_mode, 0600);
	policy_free(embedded);
	policy_free(file);
	diag_free(&diags);
}

Test(policy, large_policy_loads)
{
	/* 20,000 capabilities: names are checked for duplicates by hash, not by pairs. */
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	fprintf(mem, "profile: rfc-2021\ncapabilities:\n");
	for (int id = 0; id < 20000; id++)
		fprintf(mem, "  - {name: CAP_%d, id: %d, value: %d}\n", id, id * 3, id);
	fclose(mem);
	struct diag_list diags = {0};
	struct policy_snapshot *snap = policy_load_buffer("large.yaml", text, size, &diags);
	cr_assert_not_null(snap);
	cr_expect_eq(snap->cap_count, 20000);
	cr_expect_eq(snap->cap_slots, 3 * 19999 + 1);
	cr_expect_eq(snap->caps[3 * 1234].value, 1234);
	cr_expect_eq(snap->caps[3 * 1234 + 1].version_mask, 0);
	policy_free(snap);
	diag_free(&diags);
	free(text);
}

/* A FIFO or a directory named as the policy is refused at once, saying
 * what it is: --check and a reload must not wait on a FIFO's writer. */
Test(policy, a_fifo_or_a_directory_is_not_a_policy)
{
	char dir[64], fifo[128], text[512];
	snprintf(dir, sizeof(dir), "/tmp/mshv-emu-policy-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/policy.yaml", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	struct diag_list diags = {0};
	cr_expect_null(policy_load_file(fifo, &diags));
	cr_assert_eq(diags.count, 1);
	diag_format(&diags.items[0], text, sizeof(text));
	cr_expect(strstr(text, "a FIFO, not a regular file; give the path of a policy file"), "%s",
		  text);
	diag_free(&diags);
	diags = (struct diag_list){0};
	cr_expect_null(policy_load_file(dir, &diags));
	cr_assert_eq(diags.count, 1);
	diag_format(&diags.items[0], text, sizeof(text));
	cr_expect(strstr(text, "a directory, not a regular file"), "%s", text);
	diag_free(&diags);
	unlink(fifo);
	rmdir(dir);
}

/* ---- the loader's bounds ---- */

/* A temporary directory for generated policies, and its file NAME. */
struct scratch {
	char dir[64], path[128];
};

static void scratch_make(struct scratch *s, const char *name)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/mshv-emu-bounds-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/%s", s->dir, name);
}

static void scratch_remove(struct scratch *s)
{
	unlink(s->path);
	rmdir(s->dir);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *file = fopen(path, "w");
	cr_assert_not_null(file);
	cr_assert_eq(fwrite(text, 1, len, file), len);
	cr_assert_eq(fclose(file), 0);
}

/* Resident set of this process now, in KiB. */
static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *statm = fopen("/proc/self/statm", "r");
	cr_assert_not_null(statm);
	cr_assert_eq(fscanf(statm, "%ld %ld", &pages, &resident), 2);
	fclose(statm);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * Load PATH in a child and return its diagnostics; *GROWTH_KIB: how far the
 * child's peak resident set rose above what it started with (this
 * process's), which is what loading cost.
 */
static char *load_in_child(const char *path, long *growth_kib)
{
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	long before = rss_kib();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		struct diag_list diags = {0};
		struct policy_snapshot *snap = policy_load_file(path, &diags);
		FILE *out = fdopen(pipefd[1], "w");
		diag_print(&diags, out);
		if (snap)
			fprintf(out, "loaded\n");
		fclose(out);
		_exit(0);
	}
	close(pipefd[1]);
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	FILE *in = fdopen(pipefd[0], "r");
	char buf[4096];
	size_t got;
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, got, mem);
	fclose(in);
	fclose(mem);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct rusage usage;
	cr_assert_eq(getrusage(RUSAGE_CHILDREN, &usage), 0);
	*growth_kib = usage.ru_maxrss - before;
	return text;
}

/* A file of HEAD, a 100,000-deep nest of flow sequences (200 KB), then TAIL. */
static void write_deep(const char *path, const char *head, const char *tail)
{
	size_t depth = 100000, head_len = strlen(head), tail_len = strlen(tail);
	size_t len = head_len + 2 * depth + tail_len;
	char *text = malloc(len);
	cr_assert_not_null(text);
	memcpy(text, head, head_len);
	memset(text + head_len, '[', depth);
	memset(text + head_len + depth, ']', depth);
	memcpy(text + head_len + 2 * depth, tail, tail_len);
	write_file(path, text, len);
	free(text);
}

/*
 * 100,000 levels in 200 KB took 37 s to refuse: locating the error parsed
 * the whole file into a node tree, and libyaml's scanner is quadratic in
 * the depth.  The format nests 5 levels, so a collection deeper than that
 * is where the format has none: libcyaml refuses it where it starts, and
 * locating reads no further than libcyaml did.  Also when the error is
 * before the nest and locating it needs the end of its list, and when the
 * nest is a second document.
 */
Test(policy_bounds, deep_nesting_is_refused_where_it_starts)
{
	static const struct {
		const char *head, *tail, *error;
	} cases[] = {
		{"profile: negotiated\nversions: ", "\n",
		 "2:12: error: versions[0]: expected a scalar, found a sequence"},
		{"profile: negotiated\nversions: []\nfaults: ", "\n",
		 "2:11: error: versions: empty version list; list the versions REQUEST_VERSION "
		 "accepts"},
		{"profile: negotiated\nversions: [1]\n---\n", "\n",
		 "3:1: error: a second YAML document; a policy is one document: remove this one, "
		 "or merge it into the first"},
	};
	struct scratch s;
	scratch_make(&s, "deep.yaml");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_deep(s.path, cases[i].head, cases[i].tail);
		long growth;
		char *got = load_in_child(s.path, &growth);
		char want[512];
		snprintf(want, sizeof(want), "%s:%s\n", s.path, cases[i].error);
		cr_expect_str_eq(got, want);
		free(got);
	}
	scratch_remove(&s);
}

/* A 10 MB `versions:` list took 1 GB.  A list just under the size cap is
 * refused at its 65th entry, before libcyaml allocates it, in memory that
 * does not grow with the list. */
Test(policy_bounds, a_long_list_is_refused_at_its_first_entry_too_many)
{
	struct scratch s;
	scratch_make(&s, "wide.yaml");
	const char head[] = "profile: negotiated\nversions:\n", entry[] = "- 12345\n";
	size_t size = sizeof(head) - 1, limit = 8u << 20;
	char *text = malloc(limit);
	cr_assert_not_null(text);
	memcpy(text, head, size);
	for (; size + sizeof(entry) - 1 <= limit; size += sizeof(entry) - 1)
		memcpy(text + size, entry, sizeof(entry) - 1);
	write_file(s.path, text, size);
	free(text);
	long growth;
	char *got = load_in_child(s.path, &growth);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:67:3: error: versions[64]: a list of at most 64 entries; remove this one and "
		 "those after it\n",
		 s.path);
	cr_expect_str_eq(got, want);
	/* The file is read whole (8 MiB); keeping its million entries cost 35
	 * times that.  (Under ASan, the peak counts freed memory held in its
	 * quarantine: libyaml's events of the whole pre-pass.) */
#ifndef __SANITIZE_ADDRESS__
	cr_expect_lt(growth, 16 * 1024, "loading an 8 MiB list grew the peak RSS by %ld KiB",
		     growth);
#endif
	free(got);
	scratch_remove(&s);
}

/* The size cap is checked before a byte is read: a 10 MB file (sparse, so
 * making it costs nothing) is refused by its size.  8 MiB is still a policy. */
Test(policy_bounds, a_file_over_one_mib_is_refused_by_its_size)
{
	struct scratch s;
	scratch_make(&s, "big.yaml");
	int fd = open(s.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 10 << 20), 0);
	close(fd);
	long growth;
	char *got = load_in_child(s.path, &growth);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s: error: 10485760 bytes, more than the 8 MiB a policy may have; a policy is "
		 "a few kilobytes: is this the right file?\n",
		 s.path);
	cr_expect_str_eq(got, want);
	free(got);

	/* Exactly 8 MiB (a policy, then a comment to fill it) loads. */
	const char head[] = "profile: negotiated\nversions: [1]\n#";
	char *text = malloc(8u << 20);
	cr_assert_not_null(text);
	memset(text, 'x', 8u << 20);
	memcpy(text, head, sizeof(head) - 1);
	text[(8u << 20) - 1] = '\n';
	write_file(s.path, text, 8u << 20);
	got = load_in_child(s.path, &growth);
	cr_expect_str_eq(got, "loaded\n");
	free(got);
	/* One byte more does not. */
	FILE *file = fopen(s.path, "a");
	cr_assert_not_null(file);
	fputc('\n', file);
	fclose(file);
	got = load_in_child(s.path, &growth);
	snprintf(want, sizeof(want),
		 "%s: error: 8388609 bytes, more than the 8 MiB a policy may have; a policy is "
		 "a few kilobytes: is this the right file?\n",
		 s.path);
	cr_expect_str_eq(got, want);
	free(got);
	free(text);
	scratch_remove(&s);
}

/* Past 100 errors, the rest are counted, not kept: a file of a million
 * mistakes costs no more than its size, and what is shown stays readable. */
Test(policy_bounds, errors_past_one_hundred_are_counted)
{
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	fprintf(mem, "profile: rfc-2021\ncapabilities:\n");
	for (int i = 0; i < 150; i++)
		fprintf(mem, "  - {name: C%d, id: x%d, value: 1}\n", i, i);
	fclose(mem);
	struct diag_list diags = {0};
	cr_expect_null(policy_load_buffer("many.yaml", text, size, &diags));
	cr_assert_eq(diags.count, 101);
	char line[512];
	diag_format(&diags.items[0], line, sizeof(line));
	cr_expect_str_eq(line, "many.yaml:3:20: error: capabilities[0].id: `x0` is not a number; "
			       "expected a capability id from 0 to 0xfffff");
	diag_format(&diags.items[99], line, sizeof(line));
	cr_expect_str_eq(line, "many.yaml:102:21: error: capabilities[99].id: `x99` is not a "
			       "number; expected a capability id from 0 to 0xfffff");
	diag_format(&diags.items[100], line, sizeof(line));
	cr_expect_str_eq(line,
			 "many.yaml: error: 50 more errors not shown; fix these, then check again");
	diag_free(&diags);
	free(text);
}

/* `mshvctl inject` rule text has the same checks and bounds. */
Test(policy_bounds, an_injected_rule_has_the_same_checks)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap = policy_load_default(&diags);
	cr_assert_not_null(snap);
	static const struct {
		const char *text, *error;
	} cases[] = {
		{"{name: x, action: {errno: EIO}}\n---\n{name: y}",
		 "inject:2:1: error: a second YAML document; a policy is one document: remove this "
		 "one, or merge it into the first"},
		{"{name: x, action: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}",
		 "inject:1:19: error: action: expected a mapping, found a sequence"},
		{"{name: x, match: {arg: -0}, action: {errno: EIO}}",
		 "inject:1:24: error: match.arg: `-0` is a signed zero; write 0"},
		{"{name: x, match: {comm: cloud-hypervisor}, action: {errno: EIO}}",
		 "inject:1:25: error: match.comm: `cloud-hypervisor` can never match: a command "
		 "name (comm) has at most 15 bytes, and this glob needs 16; shorten it, such as "
		 "cloud-hyper*"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[512];
		cr_expect_null(policy_parse_fault(snap, "inject", cases[i].text, &diags));
		cr_assert_eq(diags.count, 1, "%s", cases[i].text);
		diag_format(&diags.items[0], line, sizeof(line));
		cr_expect_str_eq(line, cases[i].error);
		diag_free(&diags);
	}
	policy_free(snap);
}

/* A quoted scalar may hold any character, and errors quote scalars: each
 * diagnostic stays one line, with no control character a terminal or a log
 * reader would act on (found by tests/fuzz/fuzz_policy.c). */
Test(policy, a_diagnostic_is_one_line_whatever_the_scalar_holds)
{
	static const char text[] = "profile: none\ndevice: {name: \"a\\nb\\r\\x1b[31mc\\x7f\"}\n";
	struct diag_list diags = {0};
	cr_expect_null(policy_load_buffer("ctl.yaml", text, strlen(text), &diags));
	cr_assert_eq(diags.count, 1);
	char line[512];
	diag_format(&diags.items[0], line, sizeof(line));
	cr_expect_str_eq(line,
			 "ctl.yaml:2:16: error: device.name: `a\\nb\\r\\x1b[31mc\\x7f` is not "
			 "a device name; use up to 63 letters, digits, '_', '-' or '.'");
	diag_free(&diags);
}
