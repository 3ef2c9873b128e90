/*
 * rcu.h - every use of liburcu (urcu-bp) in the emulator goes through here,
 * so that ThreadSanitizer can see what RCU publishes.
 *
 * liburcu 0.13 (Debian 12) writes a publication with a compiler barrier and
 * a volatile store or inline assembly (uatomic's xchg on x86), reads it with
 * a volatile load, and waits for readers in code of its own.  ThreadSanitizer
 * sees a volatile access as a plain one and assembly not at all: to it, a
 * reader's first look at a snapshot races with the loader that filled it,
 * and the free after a grace period races with the readers it waited for.
 * Only a ThreadSanitizer build changes here, and only in how it says what
 * liburcu already promises, in terms the tool models:
 *
 *   emu_rcu_dereference  an acquire load.  liburcu's is a consume
 *                        (dependency-ordered) load, which the tool and the
 *                        compilers treat as acquire anyway.
 *   emu_rcu_assign       a release store, as rcu_assign_pointer.
 *   emu_rcu_xchg         a sequentially consistent exchange, as
 *                        rcu_xchg_pointer (a full barrier).
 *   emu_rcu_read_unlock  releases one process-wide object, and
 *   emu_rcu_synchronize  acquires it once the grace period is over: every
 *                        read section that ended before then happens before
 *                        what follows (the free).  A grace period promises
 *                        that for the sections that began before it; the
 *                        ones that began during it saw the new pointer.
 *
 * liburcu still does the work in every build: the read sections, the grace
 * periods.  Anywhere else these are liburcu's own macros and functions,
 * inlined as before (MSHV_EMU_URCU_INLINE).
 */
#ifndef MSHV_EMU_RCU_H
#define MSHV_EMU_RCU_H

#include <urcu/urcu-bp.h>

#if defined(__SANITIZE_THREAD__)
#define EMU_RCU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EMU_RCU_TSAN 1
#endif
#endif

#ifdef EMU_RCU_TSAN
#include <sanitizer/tsan_interface.h>

/* What read sections release and grace periods acquire (core.c). */
extern char emu_rcu_grace;

#define emu_rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define emu_rcu_assign(p, v)   __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define emu_rcu_xchg(pp, v)    __atomic_exchange_n((pp), (v), __ATOMIC_SEQ_CST)

static inline void emu_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

static inline void emu_rcu_read_unlock(void)
{
	__tsan_release(&emu_rcu_grace);
	urcu_bp_read_unlock();
}

static inline void emu_rcu_synchronize(void)
{
	urcu_bp_synchronize_rcu();
	__tsan_acquire(&emu_rcu_grace);
}
#else
#define emu_rcu_dereference(p) rcu_dereference(p)
#define emu_rcu_assign(p, v)   rcu_assign_pointer(p, v)
#define emu_rcu_xchg(pp, v)    rcu_xchg_pointer(pp, v)

static inline void emu_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

static inline void emu_rcu_read_unlock(void)
{
	urcu_bp_read_unlock();
}

static inline void emu_rcu_synchronize(void)
{
	urcu_bp_synchronize_rcu();
}
#endif

#endif
