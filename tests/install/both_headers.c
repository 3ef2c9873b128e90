/*
 * both_headers.c - the installed <mshv-emu/mshv_emu.h> and the kernel's
 * <linux/mshv.h> in one translation unit, kernel's first when KERNEL_FIRST is 1
 * (tests/install/headers.sh builds it both ways): no redefinition, and the
 * emulator's names mean what the kernel's do.
 */
#if KERNEL_FIRST
#include <linux/mshv.h>
#include <mshv-emu/mshv_emu.h>
#else
#include <mshv-emu/mshv_emu.h>
#include <linux/mshv.h>
#endif

_Static_assert(MSHV_CREATE_PARTITION == 0x4010B800, "MSHV_CREATE_PARTITION");
_Static_assert(MSHV_ROOT_HVCALL == 0xC020B807, "MSHV_ROOT_HVCALL");
_Static_assert(MSHV_CHECK_EXTENSION == 0x4004B800, "MSHV_CHECK_EXTENSION");
_Static_assert(MSHV_CREATE_VTL == 0x8001B81D, "MSHV_CREATE_VTL");
_Static_assert(MSHV_EMU_PT_FLAGS_MASK_6_15 == 0x7, "6.15's flags");
_Static_assert(sizeof(struct mshv_emu_create_partition_v2) == 64, "v2 is 64 bytes");
_Static_assert(MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES == 3, "feature banks bit");

int main(void)
{
	struct mshv_create_partition arg = {.pt_flags = 1 << MSHV_PT_BIT_LAPIC};
	return (int)arg.pt_isolation;
}
