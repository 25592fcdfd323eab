/* SPDX-License-Identifier: MIT */
/*
 * imgops/hw.c - loading and probing helpers for the hardware backends.
 *
 * The vendor libraries are not in Debian and not on most machines, so
 * nothing links them: each backend dlopens its library when a context is
 * opened, resolves every symbol it will call before calling any, and says
 * in a sentence which step failed. Environment variables name another
 * library or device node, which is how the test suite points a backend at
 * its stand-in; secure_getenv keeps them from steering a set-uid program.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgops/hw.h"

static int hw_device(const char *env, const char *dflt, char *why, size_t why_len)
{
	const char *path = secure_getenv(env);
	int fd;

	if (!path || !*path)
		path = dflt;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		snprintf(why, why_len, "device %s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

static void *hw_load(const char *env, const char *const *names, char *name, size_t name_len,
		   char *why, size_t why_len)
{
	const char *over = secure_getenv(env);
	const char *one[] = { over, NULL };
	const char *err = NULL;
	void *lib = NULL;

	if (over && *over)
		names = one;
	for (size_t i = 0; names[i] && !lib; i++) {
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
		if (lib)
			snprintf(name, name_len, "%s", names[i]);
		else if (!err)
			err = dlerror();
	}
	if (!lib)
		snprintf(why, why_len, "cannot load %s: %s", names[0], err ? err : "not found");
	return lib;
}

static int hw_resolve(void *lib, const char *libname, const char *const *syms, void **out, size_t n,
		    char *why, size_t why_len)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = dlsym(lib, syms[i]);
		if (!out[i]) {
			snprintf(why, why_len, "symbol %s missing from %s", syms[i], libname);
			return -ENOENT;
		}
	}
	return 0;
}

int rkv__hw_open(const struct rkv__hw_lib *d, void **lib, void **fns, char *why, size_t why_len)
{
	char name[256] = "";
	int r;

	*lib = NULL;
	if ((r = hw_device(d->dev_env, d->dev, why, why_len)) < 0)
		return r;
	*lib = hw_load(d->lib_env, d->names, name, sizeof(name), why, why_len);
	if (!*lib)
		return -ENOENT;
	if ((r = hw_resolve(*lib, name, d->syms, fns, d->nsyms, why, why_len)) < 0) {
		dlclose(*lib);
		*lib = NULL;
	}
	return r;
}

int rkv__hw_layout(const struct rkv_image *img, struct rkv__hw_layout *l)
{
	const struct rkv_frame *f = &img->frame;
	const struct rkv_plane *p = f->planes;
	uint64_t luma;

	memset(l, 0, sizeof(*l));
	switch (f->fourcc) {
	case RKV_FMT_YUYV: l->bpp = 2; break;
	case RKV_FMT_RGB24:
	case RKV_FMT_BGR24: l->bpp = 3; break;
	case RKV_FMT_RGBA: l->bpp = 4; break;
	default: l->bpp = 1; break;
	}
	l->base = p[0].offset;
	l->stride = p[0].stride;
	if (l->stride % l->bpp)
		return -ENOTSUP;
	l->wstride = l->stride / l->bpp;
	if (f->num_planes == 1) {
		l->hstride = f->height;
		l->size = (uint64_t)l->stride * f->height;
		return l->size <= img->capacity - l->base ? 0 : -ENOTSUP;
	}
	/* The chroma planes start where hstride luma rows end. */
	if (p[1].offset <= l->base || (p[1].offset - l->base) % l->stride)
		return -ENOTSUP;
	luma = p[1].offset - l->base;
	if (luma / l->stride > UINT32_MAX)
		return -ENOTSUP;
	l->hstride = (uint32_t)(luma / l->stride);
	switch (f->fourcc) {
	case RKV_FMT_NV12:
		if (p[1].stride != l->stride || l->hstride % 2)
			return -ENOTSUP;
		l->size = luma + luma / 2;
		break;
	case RKV_FMT_NV16:
		if (p[1].stride != l->stride)
			return -ENOTSUP;
		l->size = 2 * luma;
		break;
	case RKV_FMT_I420:
		if (l->stride % 2 || l->hstride % 2 || p[1].stride != l->stride / 2 ||
		    p[2].stride != l->stride / 2 || p[2].offset != p[1].offset + luma / 4)
			return -ENOTSUP;
		l->size = luma + luma / 2;
		break;
	default:
		return -ENOTSUP;
	}
	if (l->hstride < f->height || l->size > img->capacity - l->base)
		return -ENOTSUP;
	return 0;
}
