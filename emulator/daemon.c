/*
 * daemon.c - what the running daemon does on request, whoever asks: a
 * SIGHUP (the reload thread below) or mshvctl (control.c).  Both call in
 * here; nothing here calls back into control.c or main.c.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

int daemon_reload(struct daemon *daemon, const char *path, FILE *report)
{
	pthread_mutex_lock(&daemon->reload_lock);
	struct core_identity before;
	core_identity(&daemon->core, &before);
	const char *file = path ? path : daemon->policy_path;
	int rc = 1;
	if (daemon->reloading)
		daemon->reloading(daemon, file);
	if (!file) {
		emu_warn("reload: serving the embedded default (no --policy): nothing to reload");
		if (report)
			fprintf(report, "serving the embedded default: give a FILE to reload\n");
		goto out;
	}
	struct diag_list diags = {0};
	struct policy_snapshot *snap = policy_load_file(file, &diags);
	if (!snap) {
		char line[1024];
		for (size_t i = 0; i < diags.count; i++) {
			diag_format(&diags.items[i], line, sizeof(line));
			emu_warn("reload: %s", line);
			if (report)
				fprintf(report, "%s\n", line);
		}
		emu_warn("reload: %s rejected; still serving generation %llu (%s)", file,
			 (unsigned long long)before.generation, before.digest);
		if (report)
			fprintf(report, "rejected; still serving generation %llu (%s)\n",
				(unsigned long long)before.generation, before.digest);
		diag_free(&diags);
		goto out;
	}
	diag_free(&diags);
	char digest[sizeof(snap->digest)];
	memcpy(digest, snap->digest, sizeof(digest));
	bool renamed = strcmp(snap->device_name, before.device_name) ||
		       snap->device_mode != before.device_mode;
	char clash[128];
	uint64_t generation = core_reload(&daemon->core, snap, clash, sizeof(clash));
	if (!generation) {
		/* One rule per name, or `fault enable NAME` would switch two. */
		char line[1024];
		snprintf(line, sizeof(line),
			 "%s: error: fault rule `%s` has the name of a rule injected with mshvctl "
			 "inject; rename it in the file (injected rules last until mshv-emu "
			 "restarts)",
			 file, clash);
		emu_warn("reload: %s", line);
		emu_warn("reload: %s rejected; still serving generation %llu (%s)", file,
			 (unsigned long long)before.generation, before.digest);
		if (report)
			fprintf(report, "%s\nrejected; still serving generation %llu (%s)\n", line,
				(unsigned long long)before.generation, before.digest);
		policy_free(snap);
		goto out;
	}
	if (path) {
		char *copy = strdup(path);
		if (copy) {
			free(daemon->policy_path);
			daemon->policy_path = copy;
		}
	}
	emu_log("reload: serving %s as generation %llu (%s)", file, (unsigned long long)generation,
		digest);
	if (report)
		fprintf(report, "serving %s as generation %llu (%s)\n", file,
			(unsigned long long)generation, digest);
	if (renamed)
		emu_logp(LOG_NOTICE, "reload: device name and mode take effect at the next start");
	rc = 0;
out:
	if (daemon->reloaded)
		daemon->reloaded(daemon, file, rc);
	pthread_mutex_unlock(&daemon->reload_lock);
	return rc;
}

struct policy_snapshot *daemon_load_policy(const char *path)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap =
		path ? policy_load_file(path, &diags) : policy_load_default(&diags);
	diag_print(&diags, stderr);
	diag_free(&diags);
	return snap;
}

static void *reload_thread(void *arg)
{
	struct daemon *daemon = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (atomic_load(&daemon->reloader_stopping))
			return NULL;
		daemon_reload(daemon, NULL, NULL);
	}
}

int daemon_reloader_start(struct daemon *daemon)
{
	atomic_init(&daemon->reloader_stopping, false);
	/* It only sigwaits SIGHUP; nothing else may land there. */
	return front_thread_create(&daemon->reloader, reload_thread, daemon);
}

void daemon_reloader_stop(struct daemon *daemon)
{
	atomic_store(&daemon->reloader_stopping, true);
	pthread_kill(daemon->reloader, SIGHUP);
	pthread_join(daemon->reloader, NULL);
}
