/*
 * util.c - what every part of the daemon (and mshv-emu-run's device)
 * shares: its helper threads, the caller's command name (its log: log.c).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "front.h"

int front_thread_create(pthread_t *thread, void *(*start)(void *), void *arg)
{
	sigset_t all, previous;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &previous);
	int err = pthread_create(thread, NULL, start, arg);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	return err;
}

/* The caller's command name, read only when a fault rule asks for it. */
const char *front_caller_comm(struct emu_caller *caller)
{
	if (caller->comm_known)
		return caller->comm[0] ? caller->comm : NULL;
	caller->comm_known = true;
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)caller->pid);
	FILE *file = fopen(path, "r");
	if (!file)
		return NULL;
	if (!fgets(caller->comm, sizeof(caller->comm), file))
		caller->comm[0] = '\0';
	fclose(file);
	caller->comm[strcspn(caller->comm, "\n")] = '\0';
	return caller->comm[0] ? caller->comm : NULL;
}
