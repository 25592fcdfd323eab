/* SPDX-License-Identifier: MIT */
/*
 * dmabuf_probe.c - prove, inside the test VM (tests/vm/run.sh), that the
 * kernel mechanisms RKVision builds on work with real DMA-BUFs:
 *
 *  (a) V4L2 (vivid): every capture node, single- and multi-planar: QUERYCAP,
 *      ENUM_FMT, S_FMT 640x480, REQBUFS (MMAP, 4), VIDIOC_EXPBUF of every
 *      plane, the export mmapped read-only, a few frames streamed, each
 *      frame's bytes equal through the DMA-BUF and the V4L2 mappings, with
 *      DMA_BUF_IOCTL_SYNC around the reads; bytes written through the V4L2
 *      mapping show through the DMA-BUF one (the same pages). An O_RDONLY
 *      export is checked for what a consumer can and cannot do with it.
 *  (b) DRM (vgem): DRM_IOCTL_MODE_CREATE_DUMB, DRM_IOCTL_PRIME_HANDLE_TO_FD
 *      (DRM_RDWR | DRM_CLOEXEC), write through one mapping and read back
 *      through a second one, with DMA_BUF_IOCTL_SYNC; a PRIME export without
 *      DRM_RDWR checked like the V4L2 read-only one.
 *  (c) A DMA-BUF created after fork() is passed to the child over a Unix
 *      socket (SCM_RIGHTS); the child maps it read-only and sees the bytes
 *      the parent wrote, and reports whether it could map it writable.
 *
 * Prints PASS/FAIL/INFO/FINDING lines and "dmabuf_probe: N passed, M failed";
 * exits 0 when nothing failed, 1 otherwise, 77 when there is neither a
 * /dev/video* nor a /dev/dri/card* node (not in the VM).
 *
 * Only kernel uapi headers: linux/videodev2.h and linux/dma-buf.h from
 * linux-libc-dev; drm.h and drm_mode.h from libdrm-dev's copy of the uapi
 * (Debian's linux-libc-dev leaves them out). No library but libc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/videodev2.h>

#include <drm.h>
#include <drm_mode.h>

#define NBUFS 4
#define NFRAMES 6
#define DQBUF_TIMEOUT_MS 20000 /* generous: the guest may run under TCG */

static unsigned passed, failed;

static void say(const char *tag, const char *fmt, va_list ap)
{
	printf("%-8s ", tag);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

static void pass(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pass(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("PASS:", fmt, ap);
	va_end(ap);
	passed++;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("FAIL:", fmt, ap);
	va_end(ap);
	failed++;
}

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("INFO:", fmt, ap);
	va_end(ap);
}

static void finding(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void finding(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("FINDING:", fmt, ap);
	va_end(ap);
}

/* PASS or FAIL on a condition; returns it. */
#define CHECK(cond, ...) ((cond) ? (pass(__VA_ARGS__), true) : (fail(__VA_ARGS__), false))

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;
	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

/* "NV12", "Y10" (trailing blanks dropped), "Y16-BE" (V4L2's big-endian bit). */
static const char *fourcc_str(uint32_t f, char buf[8])
{
	bool be = f & (1u << 31);
	f &= ~(1u << 31);
	int n = 0;
	for (int i = 0; i < 4; i++) {
		char c = (char)((f >> (8 * i)) & 0xff);
		buf[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	while (n > 1 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	if (be)
		strcat(buf, "-BE");
	return buf;
}

/* A byte pattern that does not repeat with any small period. */
static uint8_t pattern(uint32_t seed, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u + seed;
	x ^= x >> 15;
	return (uint8_t)(x >> 7);
}

static void fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(seed, i);
}

/* The first index where p differs from the pattern, or len. */
static size_t check_pattern(const uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(seed, i))
			return i;
	return len;
}

static int dmabuf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };
	return xioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
}

/* One line of /proc/self/fdinfo/FD ("exp_name", "flags", ...), or "?". */
static const char *fdinfo_field(int fd, const char *key, char *out, size_t outlen)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	snprintf(out, outlen, "?");
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "re");
	if (!f)
		return out;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			char *v = line + klen + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, outlen, "%s", v);
			break;
		}
	}
	fclose(f);
	return out;
}

static const char *accmode_str(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return "F_GETFL failed";
	switch (fl & O_ACCMODE) {
	case O_RDONLY: return "O_RDONLY";
	case O_WRONLY: return "O_WRONLY";
	case O_RDWR: return "O_RDWR";
	default: return "O_ACCMODE?";
	}
}

static ino_t fd_ino(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/*
 * What a consumer holding the DMA-BUF fd `fd` of `len` bytes can do with it.
 * Run in a child process, so that a fault cannot take the probe down; the
 * child reports through its exit status:
 *   bit 0  mmap(PROT_READ, MAP_SHARED) failed
 *   bit 1  mmap(PROT_READ|PROT_WRITE, MAP_SHARED) succeeded
 *   bit 2  mprotect(PROT_WRITE) of the read-only mapping succeeded
 *   bit 3  open("/proc/self/fd/N", O_RDWR) succeeded
 *   bit 4  mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE) succeeded
 *   bit 5  ... and a write through it reached the producer's bytes
 *   bit 6  DMA_BUF_IOCTL_SYNC(START|WRITE) accepted
 * `producer` is the producer's own view of the same bytes, for bit 5.
 */
enum {
	RO_MAP_FAILED = 1 << 0,
	RW_SHARED_OK = 1 << 1,
	MPROTECT_OK = 1 << 2,
	REOPEN_RW_OK = 1 << 3,
	RW_PRIVATE_OK = 1 << 4,
	PRIVATE_LEAKED = 1 << 5,
	SYNC_WRITE_OK = 1 << 6,
};

static int consumer_rights(int fd, size_t len, const volatile uint8_t *producer)
{
	int r = 0;
	void *ro = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (ro == MAP_FAILED) {
		r |= RO_MAP_FAILED;
	} else {
		if (mprotect(ro, len, PROT_READ | PROT_WRITE) == 0)
			r |= MPROTECT_OK;
		munmap(ro, len);
	}
	void *rw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rw != MAP_FAILED) {
		r |= RW_SHARED_OK;
		munmap(rw, len);
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int fd2 = open(path, O_RDWR | O_CLOEXEC);
	if (fd2 >= 0) {
		r |= REOPEN_RW_OK;
		close(fd2);
	}
	void *pr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (pr != MAP_FAILED) {
		r |= RW_PRIVATE_OK;
		volatile uint8_t *p = pr;
		uint8_t old = producer[0];
		p[0] = (uint8_t)~old;
		if (producer[0] != old)
			r |= PRIVATE_LEAKED;
		munmap(pr, len);
	}
	if (dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE) == 0) {
		r |= SYNC_WRITE_OK;
		dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
	}
	return r;
}

/* consumer_rights() in a child; -1 if the child did not exit normally. */
static int consumer_rights_forked(int fd, size_t len, const volatile uint8_t *producer)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(consumer_rights(fd, len, producer));
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (!WIFEXITED(st)) {
		info("consumer-rights child died (signal %d)", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
		return -1;
	}
	return WEXITSTATUS(st);
}

/*
 * Check what an export meant to be read-only allows; `what` names it.
 * Returns true when a consumer cannot write to the producer's bytes.
 */
static bool check_readonly_export(const char *what, int fd, size_t len,
				  const volatile uint8_t *producer)
{
	char name[64], flags[32];
	info("%s: file mode %s, fdinfo exp_name %s flags %s", what, accmode_str(fd),
	     fdinfo_field(fd, "exp_name", name, sizeof name),
	     fdinfo_field(fd, "flags", flags, sizeof flags));
	int r = consumer_rights_forked(fd, len, producer);
	if (r < 0) {
		fail("%s: consumer-rights child failed", what);
		return false;
	}
	bool ok = true;
	ok &= CHECK(!(r & RO_MAP_FAILED), "%s: mmap(PROT_READ, MAP_SHARED) works", what);
	ok &= CHECK(!(r & RW_SHARED_OK), "%s: mmap(PROT_READ|PROT_WRITE, MAP_SHARED) is refused", what);
	finding("%s: mmap(PROT_READ|PROT_WRITE, MAP_SHARED) %s", what,
		(r & RW_SHARED_OK) ? "SUCCEEDS (the export is writable)" : "fails (EACCES)");
	ok &= CHECK(!(r & MPROTECT_OK), "%s: mprotect(PROT_WRITE) of a read-only mapping is refused", what);
	ok &= CHECK(!(r & REOPEN_RW_OK), "%s: reopening /proc/self/fd/N O_RDWR is refused", what);
	finding("%s: open(/proc/self/fd/N, O_RDWR) %s", what,
		(r & REOPEN_RW_OK) ? "SUCCEEDS" : "fails");
	if (r & RW_PRIVATE_OK)
		ok &= CHECK(!(r & PRIVATE_LEAKED),
			    "%s: a MAP_PRIVATE writable mapping is allowed, its writes stay private", what);
	else
		info("%s: mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE) is refused", what);
	finding("%s: mmap(PROT_WRITE, MAP_PRIVATE) %s; DMA_BUF_IOCTL_SYNC(START|WRITE) %s", what,
		(r & RW_PRIVATE_OK) ? ((r & PRIVATE_LEAKED) ? "allowed and LEAKS to the producer"
							    : "allowed, copy-on-write")
				    : "refused",
		(r & SYNC_WRITE_OK) ? "accepted (sync does not check the file mode)" : "refused");
	return ok;
}

/* ---- (c) passing a DMA-BUF over a Unix socket ------------------------------ */

struct share_msg {
	uint64_t len;
	uint32_t seed;
};

static int send_fd(int sock, int fd, const struct share_msg *m)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof *m };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof u.buf,
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *m ? 0 : -1;
}

static int recv_fd(int sock, struct share_msg *m)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof *m };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof u.buf,
	};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof *m || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

/*
 * The child's side: receive one DMA-BUF, map it read-only, check the bytes.
 * Exit status: 0 all good, 1 no fd, 2 mmap failed, 3 bytes differ,
 * 4 DMA_BUF_IOCTL_SYNC failed; +16 if a writable shared mapping worked.
 */
static int share_child(int sock)
{
	struct share_msg m;
	int fd = recv_fd(sock, &m);
	if (fd < 0) {
		printf("  child: recvmsg(SCM_RIGHTS) failed: %s\n", strerror(errno));
		return 1;
	}
	char name[64];
	printf("  child: got fd %d (%s, exp_name %s, %" PRIu64 " bytes)\n", fd, accmode_str(fd),
	       fdinfo_field(fd, "exp_name", name, sizeof name), m.len);
	int rc = 0;
	const uint8_t *p = mmap(NULL, m.len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("  child: mmap(PROT_READ) failed: %s\n", strerror(errno));
		return 2;
	}
	if (dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) != 0) {
		printf("  child: DMA_BUF_IOCTL_SYNC(START|READ) failed: %s\n", strerror(errno));
		rc = 4;
	}
	size_t bad = check_pattern(p, m.len, m.seed);
	if (bad != m.len) {
		printf("  child: byte %zu differs from the parent's\n", bad);
		rc = 3;
	}
	if (dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ) != 0 && rc == 0)
		rc = 4;
	munmap((void *)p, m.len);
	void *rw = mmap(NULL, m.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rw != MAP_FAILED) {
		rc += 16;
		munmap(rw, m.len);
	} else {
		printf("  child: mmap(PROT_READ|PROT_WRITE, MAP_SHARED): %s\n", strerror(errno));
	}
	close(fd);
	fflush(stdout);
	return rc;
}

/*
 * Fork a child, then get a fresh DMA-BUF from `make` (so the child cannot
 * have inherited it), write a pattern into it through `write_view` (the
 * producer's mapping, filled by make), and send it over SCM_RIGHTS.
 * `expect_rw` says whether the child should be able to map it writable.
 */
typedef int (*make_export_fn)(void *ctx, uint8_t **view, size_t *len);

static void share_with_child(const char *what, make_export_fn make, void *ctx, bool expect_rw)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		fail("%s: socketpair: %s", what, strerror(errno));
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fail("%s: fork: %s", what, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(share_child(sv[1]));
	}
	close(sv[1]);
	uint8_t *view = NULL;
	size_t len = 0;
	int fd = make(ctx, &view, &len);
	if (fd < 0) {
		fail("%s: export after fork failed", what);
		close(sv[0]); /* the child's recvmsg sees EOF */
		waitpid(pid, NULL, 0);
		return;
	}
	uint32_t seed = (uint32_t)getpid() * 7919u + (uint32_t)fd;
	fill_pattern(view, len, seed);
	struct share_msg m = { .len = len, .seed = seed };
	if (send_fd(sv[0], fd, &m) != 0)
		fail("%s: sendmsg(SCM_RIGHTS): %s", what, strerror(errno));
	close(fd);
	close(sv[0]);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) {
		fail("%s: child did not exit normally", what);
		return;
	}
	int rc = WEXITSTATUS(st);
	bool rw = rc >= 16;
	rc %= 16;
	CHECK(rc == 0, "%s: child got the fd over SCM_RIGHTS, mapped it read-only and saw the "
		       "parent's %zu bytes (child status %d)", what, len, rc);
	CHECK(rw == expect_rw, "%s: child %s map it writable (expected %s)", what,
	      rw ? "could" : "could not", expect_rw ? "writable" : "read-only");
}

/* ---- (a) V4L2 -------------------------------------------------------------- */

struct vplane {
	uint8_t *map;  /* the V4L2 MMAP mapping, read-write */
	size_t len;
	int dmafd;     /* VIDIOC_EXPBUF, O_RDWR */
	uint8_t *dmamap; /* mmap of dmafd, PROT_READ */
};

struct vdev {
	const char *path;
	int fd;
	bool mplane;
	enum v4l2_buf_type type;
	unsigned nplanes;
	unsigned nbufs;
	struct vplane buf[NBUFS][VIDEO_MAX_PLANES];
};

static void vdev_release(struct vdev *d)
{
	for (unsigned b = 0; b < NBUFS; b++) {
		for (unsigned p = 0; p < VIDEO_MAX_PLANES; p++) {
			struct vplane *vp = &d->buf[b][p];
			if (vp->dmamap)
				munmap(vp->dmamap, vp->len);
			if (vp->map)
				munmap(vp->map, vp->len);
			if (vp->dmafd > 0)
				close(vp->dmafd);
			memset(vp, 0, sizeof *vp);
		}
	}
	if (d->fd >= 0) {
		struct v4l2_requestbuffers rb = { .count = 0, .type = d->type, .memory = V4L2_MEMORY_MMAP };
		xioctl(d->fd, VIDIOC_REQBUFS, &rb);
		close(d->fd);
		d->fd = -1;
	}
}

static void v4l2_list_formats(struct vdev *d, uint32_t *fmts, unsigned *nfmts, unsigned max)
{
	char line[2048];
	size_t off = 0;
	unsigned i;
	*nfmts = 0;
	for (i = 0;; i++) {
		struct v4l2_fmtdesc fd = { .index = i, .type = d->type };
		if (xioctl(d->fd, VIDIOC_ENUM_FMT, &fd) != 0)
			break;
		if (*nfmts < max)
			fmts[(*nfmts)++] = fd.pixelformat;
		char cc[8];
		if (off < sizeof line)
			off += (size_t)snprintf(line + off, sizeof line - off, "%s%s", i ? " " : "",
						fourcc_str(fd.pixelformat, cc));
	}
	finding("%s offers %u %s capture formats: %s", d->path, i,
		d->mplane ? "multi-planar" : "single-planar", i ? line : "(none)");
}

static bool v4l2_set_format(struct vdev *d, const uint32_t *offered, unsigned noffered)
{
	static const uint32_t want_mp[] = { V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_YUYV };
	static const uint32_t want_sp[] = { V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_YUYV };
	const uint32_t *want = d->mplane ? want_mp : want_sp;
	unsigned nwant = d->mplane ? 3 : 2;
	uint32_t pick = noffered ? offered[0] : V4L2_PIX_FMT_YUYV;
	for (unsigned w = nwant; w-- > 0;)
		for (unsigned i = 0; i < noffered; i++)
			if (offered[i] == want[w])
				pick = want[w];

	struct v4l2_format f = { .type = d->type };
	if (d->mplane) {
		f.fmt.pix_mp.width = 640;
		f.fmt.pix_mp.height = 480;
		f.fmt.pix_mp.pixelformat = pick;
		f.fmt.pix_mp.field = V4L2_FIELD_NONE;
	} else {
		f.fmt.pix.width = 640;
		f.fmt.pix.height = 480;
		f.fmt.pix.pixelformat = pick;
		f.fmt.pix.field = V4L2_FIELD_NONE;
	}
	char cc[8], cc2[8];
	if (xioctl(d->fd, VIDIOC_S_FMT, &f) != 0) {
		fail("%s: VIDIOC_S_FMT 640x480 %s: %s", d->path, fourcc_str(pick, cc), strerror(errno));
		return false;
	}
	if (d->mplane) {
		struct v4l2_pix_format_mplane *mp = &f.fmt.pix_mp;
		d->nplanes = mp->num_planes;
		char planes[256];
		size_t off = 0;
		for (unsigned p = 0; p < mp->num_planes && p < VIDEO_MAX_PLANES; p++)
			off += (size_t)snprintf(planes + off, sizeof planes - off, " [%u: bpl %u size %u]",
						p, mp->plane_fmt[p].bytesperline, mp->plane_fmt[p].sizeimage);
		pass("%s: VIDIOC_S_FMT asked 640x480 %s, got %ux%u %s, %u memory plane(s)%s", d->path,
		     fourcc_str(pick, cc), mp->width, mp->height, fourcc_str(mp->pixelformat, cc2),
		     mp->num_planes, planes);
	} else {
		d->nplanes = 1;
		pass("%s: VIDIOC_S_FMT asked 640x480 %s, got %ux%u %s, bpl %u sizeimage %u", d->path,
		     fourcc_str(pick, cc), f.fmt.pix.width, f.fmt.pix.height,
		     fourcc_str(f.fmt.pix.pixelformat, cc2), f.fmt.pix.bytesperline, f.fmt.pix.sizeimage);
	}
	return d->nplanes >= 1 && d->nplanes <= VIDEO_MAX_PLANES;
}

static bool v4l2_querybuf(struct vdev *d, unsigned index, struct v4l2_buffer *b,
			  struct v4l2_plane *planes)
{
	memset(b, 0, sizeof *b);
	b->type = d->type;
	b->memory = V4L2_MEMORY_MMAP;
	b->index = index;
	if (d->mplane) {
		memset(planes, 0, sizeof(struct v4l2_plane) * VIDEO_MAX_PLANES);
		b->m.planes = planes;
		b->length = VIDEO_MAX_PLANES;
	}
	return xioctl(d->fd, VIDIOC_QUERYBUF, b) == 0;
}

static int v4l2_expbuf(struct vdev *d, unsigned index, unsigned plane, int flags)
{
	struct v4l2_exportbuffer e = { .type = d->type, .index = index, .plane = plane, .flags = (uint32_t)flags };
	if (xioctl(d->fd, VIDIOC_EXPBUF, &e) != 0)
		return -1;
	return e.fd;
}

static bool v4l2_map_and_export(struct vdev *d)
{
	struct v4l2_requestbuffers rb = { .count = NBUFS, .type = d->type, .memory = V4L2_MEMORY_MMAP };
	if (xioctl(d->fd, VIDIOC_REQBUFS, &rb) != 0) {
		fail("%s: VIDIOC_REQBUFS(MMAP, %d): %s", d->path, NBUFS, strerror(errno));
		return false;
	}
	if (!CHECK(rb.count >= 2 && rb.count <= NBUFS, "%s: VIDIOC_REQBUFS(MMAP, %d) gave %u buffers",
		   d->path, NBUFS, rb.count))
		return false;
	d->nbufs = rb.count;
	bool ok = true;
	for (unsigned i = 0; i < d->nbufs; i++) {
		struct v4l2_buffer b;
		struct v4l2_plane planes[VIDEO_MAX_PLANES];
		if (!v4l2_querybuf(d, i, &b, planes)) {
			fail("%s: VIDIOC_QUERYBUF %u: %s", d->path, i, strerror(errno));
			return false;
		}
		for (unsigned p = 0; p < d->nplanes; p++) {
			struct vplane *vp = &d->buf[i][p];
			size_t len = d->mplane ? planes[p].length : b.length;
			off_t off = d->mplane ? planes[p].m.mem_offset : b.m.offset;
			vp->len = len;
			void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, off);
			if (m == MAP_FAILED) {
				fail("%s: mmap of buffer %u plane %u: %s", d->path, i, p, strerror(errno));
				return false;
			}
			vp->map = m;
			vp->dmafd = v4l2_expbuf(d, i, p, O_RDWR | O_CLOEXEC);
			if (vp->dmafd < 0) {
				fail("%s: VIDIOC_EXPBUF buffer %u plane %u: %s", d->path, i, p, strerror(errno));
				vp->dmafd = 0;
				return false;
			}
			off_t size = lseek(vp->dmafd, 0, SEEK_END);
			if (size < (off_t)len) {
				fail("%s: DMA-BUF of buffer %u plane %u is %jd bytes, plane is %zu", d->path, i,
				     p, (intmax_t)size, len);
				ok = false;
			}
			m = mmap(NULL, len, PROT_READ, MAP_SHARED, vp->dmafd, 0);
			if (m == MAP_FAILED) {
				fail("%s: mmap(PROT_READ) of the DMA-BUF of buffer %u plane %u: %s", d->path, i,
				     p, strerror(errno));
				return false;
			}
			vp->dmamap = m;
		}
	}
	char name[64];
	int fd0 = d->buf[0][0].dmafd;
	pass("%s: %u buffers x %u plane(s) mmapped and exported with VIDIOC_EXPBUF, each DMA-BUF "
	     "mmapped read-only (exp_name %s, %zu bytes)", d->path, d->nbufs, d->nplanes,
	     fdinfo_field(fd0, "exp_name", name, sizeof name), d->buf[0][0].len);
	int again = v4l2_expbuf(d, 0, 0, O_RDWR | O_CLOEXEC);
	if (again >= 0) {
		finding("%s: a second VIDIOC_EXPBUF of the same plane gives %s DMA-BUF", d->path,
			fd_ino(again) == fd_ino(fd0) ? "the same" : "a new, separate");
		close(again);
	}
	struct dma_buf_sync bad = { .flags = ~(uint64_t)0 };
	CHECK(xioctl(fd0, DMA_BUF_IOCTL_SYNC, &bad) != 0 && errno == EINVAL,
	      "%s: DMA_BUF_IOCTL_SYNC is implemented (bad flags give EINVAL)", d->path);
	return ok;
}

static bool v4l2_stream(struct vdev *d)
{
	for (unsigned i = 0; i < d->nbufs; i++) {
		struct v4l2_buffer b = { .type = d->type, .memory = V4L2_MEMORY_MMAP, .index = i };
		struct v4l2_plane planes[VIDEO_MAX_PLANES];
		if (d->mplane) {
			memset(planes, 0, sizeof planes);
			b.m.planes = planes;
			b.length = d->nplanes;
		}
		if (xioctl(d->fd, VIDIOC_QBUF, &b) != 0) {
			fail("%s: VIDIOC_QBUF %u: %s", d->path, i, strerror(errno));
			return false;
		}
	}
	int type = d->type;
	if (xioctl(d->fd, VIDIOC_STREAMON, &type) != 0) {
		fail("%s: VIDIOC_STREAMON: %s", d->path, strerror(errno));
		return false;
	}
	bool ok = true;
	unsigned frames = 0, same = 0, syncs = 0, blank = 0;
	uint32_t first_seq = 0, last_seq = 0;
	while (frames < NFRAMES) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, DQBUF_TIMEOUT_MS);
		if (pr <= 0) {
			fail("%s: no frame within %d ms (poll: %s)", d->path, DQBUF_TIMEOUT_MS,
			     pr == 0 ? "timeout" : strerror(errno));
			ok = false;
			break;
		}
		struct v4l2_buffer b = { .type = d->type, .memory = V4L2_MEMORY_MMAP };
		struct v4l2_plane planes[VIDEO_MAX_PLANES];
		if (d->mplane) {
			memset(planes, 0, sizeof planes);
			b.m.planes = planes;
			b.length = d->nplanes;
		}
		if (xioctl(d->fd, VIDIOC_DQBUF, &b) != 0) {
			fail("%s: VIDIOC_DQBUF: %s", d->path, strerror(errno));
			ok = false;
			break;
		}
		if (b.index >= d->nbufs) {
			fail("%s: VIDIOC_DQBUF returned index %u", d->path, b.index);
			ok = false;
			break;
		}
		if (frames == 0)
			first_seq = b.sequence;
		last_seq = b.sequence;
		frames++;
		bool frame_same = true;
		for (unsigned p = 0; p < d->nplanes; p++) {
			struct vplane *vp = &d->buf[b.index][p];
			size_t used = d->mplane ? planes[p].bytesused : b.bytesused;
			if (used == 0 || used > vp->len)
				used = vp->len;
			if (dmabuf_sync(vp->dmafd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) == 0)
				syncs++;
			else
				fail("%s: DMA_BUF_IOCTL_SYNC(START|READ): %s", d->path, strerror(errno));
			if (memcmp(vp->dmamap, vp->map, used) != 0)
				frame_same = false;
			bool uniform = true;
			for (size_t k = 1; k < used && uniform; k++)
				uniform = vp->dmamap[k] == vp->dmamap[0];
			blank += uniform;
			if (dmabuf_sync(vp->dmafd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ) == 0)
				syncs++;
			else
				fail("%s: DMA_BUF_IOCTL_SYNC(END|READ): %s", d->path, strerror(errno));
		}
		same += frame_same;
		if (xioctl(d->fd, VIDIOC_QBUF, &b) != 0) {
			fail("%s: VIDIOC_QBUF (requeue) %u: %s", d->path, b.index, strerror(errno));
			ok = false;
			break;
		}
	}
	if (xioctl(d->fd, VIDIOC_STREAMOFF, &type) != 0) {
		fail("%s: VIDIOC_STREAMOFF: %s", d->path, strerror(errno));
		ok = false;
	}
	ok &= CHECK(frames == NFRAMES, "%s: streamed %u frames (sequence %u..%u)", d->path, frames,
		    first_seq, last_seq);
	ok &= CHECK(frames > 0 && same == frames,
		    "%s: every frame's bytes are equal through the DMA-BUF and the V4L2 mappings "
		    "(%u of %u)", d->path, same, frames);
	ok &= CHECK(frames > 0 && syncs == 2 * frames * d->nplanes,
		    "%s: DMA_BUF_IOCTL_SYNC(START/END|READ) around every read (%u calls)", d->path, syncs);
	ok &= CHECK(frames > 0 && blank == 0, "%s: frames carry an image (%u uniform planes)", d->path,
		    blank);
	return ok;
}

/* After STREAMOFF: the V4L2 mapping and the DMA-BUF mapping are one memory. */
static bool v4l2_same_pages(struct vdev *d)
{
	bool ok = true;
	for (unsigned i = 0; i < d->nbufs; i++) {
		for (unsigned p = 0; p < d->nplanes; p++) {
			struct vplane *vp = &d->buf[i][p];
			uint32_t seed = 0x9e3779b9u * (i * VIDEO_MAX_PLANES + p + 1);
			fill_pattern(vp->map, vp->len, seed);
			dmabuf_sync(vp->dmafd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
			size_t bad = check_pattern(vp->dmamap, vp->len, seed);
			dmabuf_sync(vp->dmafd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
			if (bad != vp->len) {
				fail("%s: buffer %u plane %u: byte %zu written through the V4L2 mapping "
				     "is not seen through the DMA-BUF", d->path, i, p, bad);
				ok = false;
			}
		}
	}
	if (ok)
		pass("%s: bytes written through the V4L2 mapping are read back through the DMA-BUF "
		     "mapping (same pages), every buffer and plane", d->path);
	return ok;
}

struct v4l2_share_ctx {
	struct vdev *d;
	int flags;
};

static int v4l2_make_export(void *ctx, uint8_t **view, size_t *len)
{
	struct v4l2_share_ctx *c = ctx;
	int fd = v4l2_expbuf(c->d, 1, 0, c->flags);
	*view = c->d->buf[1][0].map;
	*len = c->d->buf[1][0].len;
	return fd;
}

static void v4l2_readonly(struct vdev *d)
{
	struct vplane *vp = &d->buf[0][0];
	int ro = v4l2_expbuf(d, 0, 0, O_RDONLY | O_CLOEXEC);
	if (!CHECK(ro >= 0, "%s: VIDIOC_EXPBUF with flags O_RDONLY is accepted%s%s", d->path,
		   ro < 0 ? ": " : "", ro < 0 ? strerror(errno) : ""))
		return;
	char what[96];
	snprintf(what, sizeof what, "%s EXPBUF(O_RDONLY)", d->path);
	check_readonly_export(what, ro, vp->len, vp->map);
	close(ro);
}

static void test_v4l2_node(const char *path, unsigned *found_sp, unsigned *found_mp)
{
	struct vdev d;
	memset(&d, 0, sizeof d);
	d.path = path;
	d.fd = open(path, O_RDWR | O_CLOEXEC);
	if (d.fd < 0) {
		fail("%s: open: %s", path, strerror(errno));
		return;
	}
	struct v4l2_capability cap;
	memset(&cap, 0, sizeof cap);
	if (xioctl(d.fd, VIDIOC_QUERYCAP, &cap) != 0) {
		fail("%s: VIDIOC_QUERYCAP: %s", path, strerror(errno));
		close(d.fd);
		return;
	}
	uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
	info("%s: driver %s, card \"%s\", bus %s, device caps 0x%08x", path, (const char *)cap.driver,
	     (const char *)cap.card, (const char *)cap.bus_info, caps);
	if (caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE) {
		d.mplane = true;
		d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	} else if (caps & V4L2_CAP_VIDEO_CAPTURE) {
		d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	} else {
		info("%s: not a video capture node, skipped", path);
		close(d.fd);
		return;
	}
	if (!(caps & V4L2_CAP_STREAMING)) {
		info("%s: no streaming I/O, skipped", path);
		close(d.fd);
		return;
	}
	pass("%s: VIDIOC_QUERYCAP: %s video capture node", path,
	     d.mplane ? "multi-planar" : "single-planar");
	++*(d.mplane ? found_mp : found_sp);

	uint32_t fmts[256];
	unsigned nfmts;
	v4l2_list_formats(&d, fmts, &nfmts, 256);
	if (v4l2_set_format(&d, fmts, nfmts) && v4l2_map_and_export(&d) && v4l2_stream(&d)) {
		v4l2_same_pages(&d);
		v4l2_readonly(&d);
		char what[96];
		struct v4l2_share_ctx ctx = { .d = &d, .flags = O_RDONLY | O_CLOEXEC };
		snprintf(what, sizeof what, "%s SCM_RIGHTS EXPBUF(O_RDONLY)", path);
		share_with_child(what, v4l2_make_export, &ctx, false);
		ctx.flags = O_RDWR | O_CLOEXEC;
		snprintf(what, sizeof what, "%s SCM_RIGHTS EXPBUF(O_RDWR)", path);
		share_with_child(what, v4l2_make_export, &ctx, true);
	}
	vdev_release(&d);
}

/* ---- (b) DRM / vgem -------------------------------------------------------- */

struct dumb {
	int card;
	uint32_t handle;
	uint64_t size;
	uint32_t pitch;
};

static bool dumb_create(int card, struct dumb *b)
{
	struct drm_mode_create_dumb c = { .width = 640, .height = 480, .bpp = 32 };
	if (xioctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &c) != 0)
		return false;
	b->card = card;
	b->handle = c.handle;
	b->size = c.size;
	b->pitch = c.pitch;
	return true;
}

static void dumb_destroy(struct dumb *b)
{
	struct drm_mode_destroy_dumb d = { .handle = b->handle };
	xioctl(b->card, DRM_IOCTL_MODE_DESTROY_DUMB, &d);
}

static int prime_export(int card, uint32_t handle, uint32_t flags)
{
	struct drm_prime_handle p = { .handle = handle, .flags = flags, .fd = -1 };
	if (xioctl(card, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p) != 0)
		return -1;
	return p.fd;
}

static int open_vgem(char *path, size_t pathlen)
{
	for (int i = 0; i < 16; i++) {
		snprintf(path, pathlen, "/dev/dri/card%d", i);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		char name[64] = "";
		struct drm_version v = { .name = name, .name_len = sizeof name - 1 };
		if (xioctl(fd, DRM_IOCTL_VERSION, &v) == 0) {
			info("%s: DRM driver %s %d.%d.%d", path, name, v.version_major,
			     v.version_minor, v.version_patchlevel);
			if (strcmp(name, "vgem") == 0)
				return fd;
		}
		close(fd);
	}
	return -1;
}

struct vgem_share_ctx {
	int card;
	uint32_t flags;
	struct dumb b;
	uint8_t *view;
};

static int vgem_make_export(void *ctx, uint8_t **view, size_t *len)
{
	struct vgem_share_ctx *c = ctx;
	if (!dumb_create(c->card, &c->b))
		return -1;
	int fd = prime_export(c->card, c->b.handle, c->flags);
	if (fd < 0)
		return -1;
	/* The producer writes through its own DRM_RDWR view. */
	void *m = mmap(NULL, c->b.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int rw = prime_export(c->card, c->b.handle, DRM_RDWR | DRM_CLOEXEC);
		m = rw < 0 ? MAP_FAILED : mmap(NULL, c->b.size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
		if (rw >= 0)
			close(rw);
		if (m == MAP_FAILED) {
			struct drm_mode_map_dumb md = { .handle = c->b.handle };
			if (xioctl(c->card, DRM_IOCTL_MODE_MAP_DUMB, &md) == 0)
				m = mmap(NULL, c->b.size, PROT_READ | PROT_WRITE, MAP_SHARED, c->card,
					 (off_t)md.offset);
		}
	}
	if (m == MAP_FAILED) {
		close(fd);
		return -1;
	}
	c->view = m;
	*view = m;
	*len = c->b.size;
	return fd;
}

static void vgem_share_done(struct vgem_share_ctx *c)
{
	if (c->view)
		munmap(c->view, c->b.size);
	if (c->b.handle)
		dumb_destroy(&c->b);
	memset(&c->b, 0, sizeof c->b);
	c->view = NULL;
}

static void test_vgem(void)
{
	char path[64];
	int card = open_vgem(path, sizeof path);
	if (!CHECK(card >= 0, "vgem: a /dev/dri/card* node of the vgem driver is there"))
		return;
	struct dumb b;
	bool created = dumb_create(card, &b);
	if (!CHECK(created, "vgem: DRM_IOCTL_MODE_CREATE_DUMB 640x480x32%s%s",
		   created ? "" : ": ", created ? "" : strerror(errno))) {
		close(card);
		return;
	}
	info("vgem: dumb buffer handle %u, pitch %u, size %" PRIu64, b.handle, b.pitch, b.size);
	size_t len = b.size;
	int fd = prime_export(card, b.handle, DRM_RDWR | DRM_CLOEXEC);
	if (!CHECK(fd >= 0, "vgem: DRM_IOCTL_PRIME_HANDLE_TO_FD(DRM_RDWR|DRM_CLOEXEC)%s%s",
		   fd < 0 ? ": " : "", fd < 0 ? strerror(errno) : "")) {
		dumb_destroy(&b);
		close(card);
		return;
	}
	char name[64];
	off_t size = lseek(fd, 0, SEEK_END);
	CHECK(size >= (off_t)len, "vgem: DMA-BUF is %jd bytes (exp_name %s, %s, FD_CLOEXEC %s)",
	      (intmax_t)size, fdinfo_field(fd, "exp_name", name, sizeof name), accmode_str(fd),
	      (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? "set" : "clear");

	int fd2 = prime_export(card, b.handle, DRM_CLOEXEC);
	if (fd2 >= 0) {
		finding("vgem: a second PRIME export of one GEM object gives %s DMA-BUF (%s, asked "
			"without DRM_RDWR)", fd_ino(fd2) == fd_ino(fd) ? "the same" : "a separate",
			accmode_str(fd2));
	} else {
		fail("vgem: second DRM_IOCTL_PRIME_HANDLE_TO_FD: %s", strerror(errno));
		fd2 = dup(fd);
	}

	uint8_t *w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint8_t *r = mmap(NULL, len, PROT_READ, MAP_SHARED, fd2, 0);
	if (CHECK(w != MAP_FAILED && r != MAP_FAILED, "vgem: DMA-BUF mmapped twice (read-write and "
		  "read-only)%s%s", (w == MAP_FAILED || r == MAP_FAILED) ? ": " : "",
		  (w == MAP_FAILED || r == MAP_FAILED) ? strerror(errno) : "")) {
		int s1 = dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
		fill_pattern(w, len, 0x5eed1234u);
		int s2 = dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
		int s3 = dmabuf_sync(fd2, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
		size_t bad = check_pattern(r, len, 0x5eed1234u);
		int s4 = dmabuf_sync(fd2, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
		CHECK(bad == len, "vgem: %zu bytes written through one mapping read back through the "
		      "other%s", len, bad == len ? "" : " (MISMATCH)");
		CHECK(s1 == 0 && s2 == 0 && s3 == 0 && s4 == 0,
		      "vgem: DMA_BUF_IOCTL_SYNC START/END for WRITE and READ (%d %d %d %d)", s1, s2, s3, s4);
		struct dma_buf_sync bad_sync = { .flags = ~(uint64_t)0 };
		CHECK(xioctl(fd, DMA_BUF_IOCTL_SYNC, &bad_sync) != 0 && errno == EINVAL,
		      "vgem: DMA_BUF_IOCTL_SYNC is implemented (bad flags give EINVAL)");

		struct drm_mode_map_dumb md = { .handle = b.handle };
		if (xioctl(card, DRM_IOCTL_MODE_MAP_DUMB, &md) == 0) {
			uint8_t *v = mmap(NULL, len, PROT_READ, MAP_SHARED, card, (off_t)md.offset);
			if (v != MAP_FAILED) {
				CHECK(check_pattern(v, len, 0x5eed1234u) == len,
				      "vgem: the DRM dumb mapping (MODE_MAP_DUMB) sees the same bytes");
				munmap(v, len);
			} else {
				info("vgem: mmap of MODE_MAP_DUMB offset: %s", strerror(errno));
			}
		}
	}
	if (w != MAP_FAILED)
		munmap(w, len);
	if (r != MAP_FAILED)
		munmap(r, len);
	close(fd2);
	close(fd);

	/* A PRIME export without DRM_RDWR, of a fresh object (the first export
	 * of an object fixes its DMA-BUF's file mode, see the FINDING above). */
	struct dumb b2;
	if (dumb_create(card, &b2)) {
		int ro = prime_export(card, b2.handle, DRM_CLOEXEC);
		struct drm_mode_map_dumb md = { .handle = b2.handle };
		uint8_t *view = MAP_FAILED;
		if (xioctl(card, DRM_IOCTL_MODE_MAP_DUMB, &md) == 0)
			view = mmap(NULL, b2.size, PROT_READ | PROT_WRITE, MAP_SHARED, card, (off_t)md.offset);
		if (CHECK(ro >= 0 && view != MAP_FAILED,
			  "vgem: PRIME export without DRM_RDWR, producer view through MODE_MAP_DUMB")) {
			fill_pattern(view, b2.size, 77);
			check_readonly_export("vgem PRIME(no DRM_RDWR)", ro, b2.size, view);
			int rw = prime_export(card, b2.handle, DRM_RDWR | DRM_CLOEXEC);
			if (rw >= 0) {
				finding("vgem: after an export without DRM_RDWR, an export with DRM_RDWR "
					"gives %s (the mode is per DMA-BUF, fixed by the first export)",
					accmode_str(rw));
				close(rw);
			}
		}
		if (view != MAP_FAILED)
			munmap(view, b2.size);
		if (ro >= 0)
			close(ro);
		dumb_destroy(&b2);
	} else {
		fail("vgem: second DRM_IOCTL_MODE_CREATE_DUMB: %s", strerror(errno));
	}

	/* (c) with vgem: one export read-write, one without DRM_RDWR. */
	struct vgem_share_ctx ctx = { .card = card, .flags = DRM_RDWR | DRM_CLOEXEC };
	share_with_child("vgem SCM_RIGHTS PRIME(DRM_RDWR)", vgem_make_export, &ctx, true);
	vgem_share_done(&ctx);
	ctx.flags = DRM_CLOEXEC;
	share_with_child("vgem SCM_RIGHTS PRIME(no DRM_RDWR)", vgem_make_export, &ctx, false);
	vgem_share_done(&ctx);

	dumb_destroy(&b);
	close(card);
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	bool any_video = false, any_dri = false;
	for (int i = 0; i < 64; i++) {
		char p[32];
		snprintf(p, sizeof p, "/dev/video%d", i);
		any_video |= access(p, F_OK) == 0;
	}
	for (int i = 0; i < 16; i++) {
		char p[32];
		snprintf(p, sizeof p, "/dev/dri/card%d", i);
		any_dri |= access(p, F_OK) == 0;
	}
	if (!any_video && !any_dri) {
		printf("SKIP: no /dev/video* and no /dev/dri/card* here; run me in the VM: "
		       "tests/vm/test-vm.sh\n");
		return 77;
	}

	printf("== (a) V4L2 (vivid): VIDIOC_EXPBUF DMA-BUFs\n");
	unsigned found_sp = 0, found_mp = 0;
	static char paths[64][32];
	for (int i = 0; i < 64; i++) {
		snprintf(paths[i], sizeof paths[i], "/dev/video%d", i);
		if (access(paths[i], F_OK) == 0)
			test_v4l2_node(paths[i], &found_sp, &found_mp);
	}
	CHECK(found_sp > 0, "found %u single-planar video capture node(s)", found_sp);
	CHECK(found_mp > 0, "found %u multi-planar video capture node(s)", found_mp);

	printf("== (b) DRM (vgem): dumb buffers exported with PRIME\n");
	test_vgem();

	printf("dmabuf_probe: %u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
