/*
 * hvnames.c - the tables behind hvnames.h, generated from the uapi lists so
 * that each name is written once.  Lookups are linear: the tables are short
 * and only the loader and the transcript's writer thread use them, never
 * the ioctl path.
 */
#include <stdio.h>
#include <string.h>

#include <mshv-emu/mshv_emu.h>

#include "hvnames.h"

#define ENTRY(name, code) {#name, code},
static const struct hv_name hvcalls[] = {MSHV_EMU_HVCALLS(ENTRY)};
static const struct hv_name statuses[] = {MSHV_EMU_HV_STATUSES(ENTRY)};
static const struct hv_name properties[] = {MSHV_EMU_HV_PROPERTIES(ENTRY)};
static const struct hv_name vmm_caps[] = {MSHV_EMU_VMM_CAPS(ENTRY)};
#undef ENTRY

#define NAMES(table)                                    \
	{                                               \
		table, sizeof(table) / sizeof(table[0]) \
	}
const struct hv_names hv_hvcalls = NAMES(hvcalls);
const struct hv_names hv_statuses = NAMES(statuses);
const struct hv_names hv_properties = NAMES(properties);
const struct hv_names hv_vmm_caps = NAMES(vmm_caps);

const char *hv_name_of(const struct hv_names *names, uint32_t code)
{
	for (size_t i = 0; i < names->count; i++)
		if (names->names[i].code == code)
			return names->names[i].name;
	return NULL;
}

int64_t hv_code_of(const struct hv_names *names, const char *name)
{
	for (size_t i = 0; i < names->count; i++)
		if (!strcmp(names->names[i].name, name))
			return names->names[i].code;
	return -1;
}

void hv_names_list(const struct hv_names *names, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < names->count && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "",
					 names->names[i].name);
}
