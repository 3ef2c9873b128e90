/*
 * sessions.c - the open sessions of the FUSE and CUSE fronts.
 */
#include <pthread.h>
#include <stdlib.h>

#include "front.h"

/*
 * Open sessions, listed so that shutdown frees them: the kernel sends
 * RELEASE asynchronously, and a daemon stopped right after a close may
 * never see it.  Open and release only, never the ioctl path.
 */
struct session_node {
	struct emu_session session; /* first: fi->fh points here */
	struct session_node *prev, *next;
};

static struct {
	pthread_mutex_t lock;
	struct session_node *head;
} sessions = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct emu_session *front_session_new(void)
{
	struct session_node *node = calloc(1, sizeof(*node));
	if (!node)
		return NULL;
	pthread_mutex_lock(&sessions.lock);
	node->next = sessions.head;
	if (sessions.head)
		sessions.head->prev = node;
	sessions.head = node;
	pthread_mutex_unlock(&sessions.lock);
	return &node->session;
}

void front_session_free(struct emu_session *session)
{
	struct session_node *node = (struct session_node *)session;
	pthread_mutex_lock(&sessions.lock);
	if (node->prev)
		node->prev->next = node->next;
	else
		sessions.head = node->next;
	if (node->next)
		node->next->prev = node->prev;
	pthread_mutex_unlock(&sessions.lock);
	free(node);
}

void front_sessions_free_all(void)
{
	pthread_mutex_lock(&sessions.lock);
	struct session_node *node = sessions.head;
	sessions.head = NULL;
	pthread_mutex_unlock(&sessions.lock);
	while (node) {
		struct session_node *next = node->next;
		free(node);
		node = next;
	}
}
