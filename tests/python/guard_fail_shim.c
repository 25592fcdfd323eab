/* SPDX-License-Identifier: MIT */
/*
 * guard_fail_shim.c - LD_PRELOADed into a test_guard.py child: while
 * guard_shim_fail(1) is in force, the calls the binding's guard uses to
 * take a released frame's addresses away fail with ENOMEM, as they would
 * at vm.max_map_count: mmap of a PROT_NONE placeholder over a range,
 * mprotect to PROT_NONE, munmap, and moves by mremap. Everything else
 * goes to libc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>

static int fail;

void guard_shim_fail(int on);
void guard_shim_fail(int on)
{
	fail = on;
}

void *mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "mmap");
	if (fail && prot == PROT_NONE && (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return real(a, n, prot, flags, fd, off);
}

int mprotect(void *a, size_t n, int prot)
{
	static int (*real)(void *, size_t, int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "mprotect");
	if (fail && prot == PROT_NONE) {
		errno = ENOMEM;
		return -1;
	}
	return real(a, n, prot);
}

int munmap(void *a, size_t n)
{
	static int (*real)(void *, size_t);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "munmap");
	if (fail) {
		errno = ENOMEM;
		return -1;
	}
	return real(a, n);
}

void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...)
{
	static void *(*real)(void *, size_t, size_t, int, ...);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "mremap");
	void *to = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		to = va_arg(ap, void *);
		va_end(ap);
	}
	if (fail && old_size == new_size) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return real(old, old_size, new_size, flags, to);
}
