/*
 * gather.h - a transport over the caller's memory that the caller (or the
 * kernel, for CUSE) sends with the call, region by region, once an op has
 * named what it needs.
 *
 * A call goes in passes.  In the first, the gather holds only the
 * argument; an op that reaches for more (transport read, write or prepare)
 * has the region recorded and the pass ends with -EMU_RETRY_WITH_MEMORY.
 * Whoever carries the call then fetches every region recorded, in order,
 * and runs the call again (emu_call.continued) with emu_gather_supply: each
 * region is found at the next offset of its direction's bytes as the op
 * asks for it again, in the same order.  Write regions land in OUT, and go
 * back to the caller after the argument.
 */
#ifndef MSHV_EMU_GATHER_H
#define MSHV_EMU_GATHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

#define EMU_GATHER_MAX	 8		  /* regions of one call */
#define EMU_GATHER_BYTES (2 * 4096 + 256) /* in or out, beyond the argument */

struct emu_gather {
	struct emu_transport base; /* read, write and prepare; no install */
	size_t base_in, base_out;  /* the argument's own bytes, from _IOC_DIR and _IOC_SIZE */
	const uint8_t *in;	   /* the read regions' bytes, in order (NULL: none yet) */
	size_t in_len;
	uint8_t *out; /* where writes to write regions go, in order */
	size_t out_len;
	size_t in_used, out_used;
	unsigned count; /* regions found in IN/OUT, then regions to fetch */
	struct emu_region regions[EMU_GATHER_MAX];
	size_t offset[EMU_GATHER_MAX];	/* in IN or OUT; SIZE_MAX: not there yet */
	size_t written[EMU_GATHER_MAX]; /* write regions: bytes written from the start */
	bool too_many;
};

/* emu_gather_init - a gather for one call of CMD, holding no region yet. */
void emu_gather_init(struct emu_gather *gather, uint32_t cmd);

/* emu_gather_supply - the regions fetched: IN_LEN bytes of read regions, in
 * order; OUT has room for OUT_LEN bytes of write regions. */
void emu_gather_supply(struct emu_gather *gather, const uint8_t *in, size_t in_len, uint8_t *out,
		       size_t out_len);

/* emu_gather_fits - the regions recorded can be fetched in one more pass
 * (at most EMU_GATHER_MAX, EMU_GATHER_BYTES each way). */
bool emu_gather_fits(const struct emu_gather *gather);

/* emu_gather_written - how many bytes of OUT go back: up to the end of the
 * last write region written; -1 when a write region before it was not
 * written whole (nothing the ops do). */
ssize_t emu_gather_written(const struct emu_gather *gather);

#endif
