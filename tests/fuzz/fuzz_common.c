/*
 * fuzz_common.c - the shipped policies for the targets (fuzz_common.h).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

struct fuzz_policy *fuzz_policies;
unsigned fuzz_policy_count;

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static char *read_all(const char *path, size_t *len)
{
	FILE *file = fopen(path, "rb");
	if (!file)
		fuzz_fail("%s: cannot open; the targets read the shipped policies from the "
			  "source tree they were built from",
			  path);
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	char buf[4096];
	size_t got;
	while ((got = fread(buf, 1, sizeof(buf), file)) > 0)
		fwrite(buf, 1, got, mem);
	fclose(mem);
	fclose(file);
	*len = size;
	return text;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct fuzz_policy *)a)->name, ((const struct fuzz_policy *)b)->name);
}

struct policy_snapshot *fuzz_load(unsigned i)
{
	struct diag_list diags = {0};
	struct fuzz_policy *p = &fuzz_policies[i];
	struct policy_snapshot *snap = policy_load_buffer(p->name, p->text, p->len, &diags);
	if (!snap) {
		diag_print(&diags, stderr);
		fuzz_fail("policies/%s does not load", p->name);
	}
	diag_free(&diags);
	return snap;
}

void fuzz_load_policies(void)
{
	if (fuzz_policies)
		return;
	const char *dir_path = MSHV_EMU_SOURCE_DIR "/policies";
	DIR *dir = opendir(dir_path);
	if (!dir)
		fuzz_fail("%s: cannot open; the targets read the shipped policies from the "
			  "source tree they were built from",
			  dir_path);
	unsigned capacity = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		size_t n = strlen(entry->d_name);
		if (n < 6 || strcmp(entry->d_name + n - 5, ".yaml"))
			continue;
		if (fuzz_policy_count == capacity) {
			capacity = capacity ? capacity * 2 : 32;
			fuzz_policies = realloc(fuzz_policies, capacity * sizeof(*fuzz_policies));
			if (!fuzz_policies)
				abort();
		}
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir_path, entry->d_name);
		struct fuzz_policy *p = &fuzz_policies[fuzz_policy_count++];
		p->name = strdup(entry->d_name);
		p->text = read_all(path, &p->len);
		p->snap = NULL;
	}
	closedir(dir);
	if (!fuzz_policy_count)
		fuzz_fail("%s: no policy in it", dir_path);
	qsort(fuzz_policies, fuzz_policy_count, sizeof(*fuzz_policies), by_name);
	for (unsigned i = 0; i < fuzz_policy_count; i++)
		fuzz_policies[i].snap = fuzz_load(i);
}
