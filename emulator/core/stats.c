/*
 * stats.c - the counters behind `mshvctl stats`, kept per thread.
 *
 * Every call bumps two or three counters.  Shared atomics made that the
 * largest cost of a call, and worse with two threads, whose adds bounced
 * one cache line between CPUs (bench/dispatch.c measured it).  So each
 * thread counts in a shard of its own, cache-line aligned, that only it
 * writes (a plain load and store, no lock prefix); a reader sums the shards.
 *
 * A thread gets a process-wide slot number once (kept in TLS as a number,
 * so nothing dangles when a core is freed); each core allocates a thread's
 * shard on its first call.  Beyond CORE_SHARD_SLOTS threads, calls count in
 * one shared overflow shard with atomic adds: slower, never lost.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_impl.h"

struct core_shard {
	_Atomic uint64_t calls;
	_Atomic uint64_t unknown_ioctls;
	_Atomic uint64_t generation; /* the snapshot ioctl_calls counts for */
	_Atomic uint64_t ioctl_calls[CORE_MAX_ENTRIES];
	_Atomic uint64_t refusals[CORE_ERRNO_SLOTS];
} __attribute__((aligned(64)));

static _Atomic int next_slot;
static __thread int thread_slot = -1;

/* One writer: a relaxed load and store, which compile to a plain add. */
static inline void bump_owned(_Atomic uint64_t *counter)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static inline void bump_shared(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static struct core_shard *shard_new(void)
{
	struct core_shard *shard = aligned_alloc(64, sizeof(*shard));
	if (!shard)
		abort();
	memset(shard, 0, sizeof(*shard));
	return shard;
}

void core_stats_init(struct emu_core *core)
{
	core->shards = calloc(CORE_SHARD_SLOTS, sizeof(*core->shards));
	if (!core->shards)
		abort();
	core->overflow = shard_new();
}

void core_stats_fini(struct emu_core *core)
{
	for (int slot = 0; core->shards && slot < CORE_SHARD_SLOTS; slot++)
		free(atomic_load(&core->shards[slot]));
	free(core->shards);
	free(core->overflow);
	core->shards = NULL;
	core->overflow = NULL;
}

void core_count(struct emu_core *core, const struct policy_snapshot *snap,
		const struct policy_ioctl *entry, int result)
{
	int slot = thread_slot;
	if (slot < 0)
		slot = thread_slot = atomic_fetch_add(&next_slot, 1);
	struct core_shard *shard = NULL;
	if (slot < CORE_SHARD_SLOTS) {
		shard = atomic_load_explicit(&core->shards[slot], memory_order_acquire);
		if (!shard) {
			/* Only this thread ever writes this slot: no race to install. */
			shard = shard_new();
			atomic_store_explicit(&core->shards[slot], shard, memory_order_release);
		}
	}
	void (*bump)(_Atomic uint64_t *) = shard ? bump_owned : bump_shared;
	if (!shard)
		shard = core->overflow;
	bump(&shard->calls);
	if (entry) {
		if (atomic_load_explicit(&shard->generation, memory_order_relaxed) !=
		    snap->generation) {
			/* Per-ioctl counts are for one snapshot: start again after a reload. */
			for (unsigned i = 0; i < CORE_MAX_ENTRIES; i++)
				atomic_store_explicit(&shard->ioctl_calls[i], 0,
						      memory_order_relaxed);
			atomic_store_explicit(&shard->generation, snap->generation,
					      memory_order_relaxed);
		}
		bump(&shard->ioctl_calls[entry - snap->ioctls]);
	} else {
		bump(&shard->unknown_ioctls);
	}
	if (result < 0)
		bump(&shard->refusals[-result < CORE_ERRNO_SLOTS ? -result : 0]);
}

static void add_shard(struct core_stats *out, struct core_shard *shard)
{
	out->calls += atomic_load_explicit(&shard->calls, memory_order_relaxed);
	out->unknown_ioctls += atomic_load_explicit(&shard->unknown_ioctls, memory_order_relaxed);
	if (atomic_load_explicit(&shard->generation, memory_order_relaxed) == out->generation)
		for (unsigned i = 0; i < CORE_MAX_ENTRIES; i++)
			out->ioctl_calls[i] +=
				atomic_load_explicit(&shard->ioctl_calls[i], memory_order_relaxed);
	for (unsigned i = 0; i < CORE_ERRNO_SLOTS; i++)
		out->refusals[i] += atomic_load_explicit(&shard->refusals[i], memory_order_relaxed);
}

void core_stats(struct emu_core *core, uint64_t generation, struct core_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->generation = generation;
	int slots = atomic_load(&next_slot);
	for (int slot = 0; slot < slots && slot < CORE_SHARD_SLOTS; slot++) {
		struct core_shard *shard =
			atomic_load_explicit(&core->shards[slot], memory_order_acquire);
		if (shard)
			add_shard(out, shard);
	}
	add_shard(out, core->overflow);
}
