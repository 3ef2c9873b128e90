/*
 * hvnames.h - the hypervisor's names, from uapi/mshv-emu/mshv_emu.h's lists:
 * hypercall codes, statuses, partition property codes, VMM capability bits.
 * One table each, shared by the policy loader (names to codes) and the
 * transcript (codes to names).
 */
#ifndef MSHV_EMU_HVNAMES_H
#define MSHV_EMU_HVNAMES_H

#include <stddef.h>
#include <stdint.h>

struct hv_name {
	const char *name;
	uint32_t code;
};

struct hv_names {
	const struct hv_name *names;
	size_t count;
};

extern const struct hv_names hv_hvcalls, hv_statuses, hv_properties, hv_vmm_caps;

/* hv_name_of - the name of CODE in NAMES, or NULL. */
const char *hv_name_of(const struct hv_names *names, uint32_t code);

/* hv_code_of - the code called NAME in NAMES, or -1. */
int64_t hv_code_of(const struct hv_names *names, const char *name);

/* hv_names_list - "A, B, C" into OUT (cut to SIZE), for messages. */
void hv_names_list(const struct hv_names *names, char *out, size_t size);

#endif
