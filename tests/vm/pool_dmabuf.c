/* SPDX-License-Identifier: MIT */
/*
 * pool_dmabuf.c - the pool's external (DMA-BUF) slots with real DMA-BUFs,
 * inside the test VM (tests/vm/run.sh), where Debian's kernel has vivid and
 * vgem. On the host there is no DMA-BUF exporter: this program exits 77.
 *
 *   1. capture: vivid's capture buffers, exported with VIDIOC_EXPBUF (a
 *      read-write export for the pool, a read-only one for consumers), are
 *      the pool's slots: the zero-copy camera's flow. A driver buffer is
 *      published as it comes out of VIDIOC_DQBUF and put back with
 *      VIDIOC_QBUF exactly when rkv_producer_loan_slot() says no consumer
 *      holds or has it queued (waiting on rkv_producer_fd() otherwise). The
 *      producer checksums each frame through its own V4L2 mapping; a block
 *      consumer in another process checks that checksum through its
 *      read-only DMA-BUF mapping, so a buffer the driver wrote while a
 *      consumer held it would show. A second consumer takes frames by fd
 *      only (RKV_CONSUMER_NO_MAP).
 *   2. cpu: vgem dumb buffers, exported with PRIME, as slots the producer
 *      fills with the CPU (RKV_POOL_CPU_WRITE: DMA_BUF_IOCTL_SYNC around
 *      each loan); a consumer checks every byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drm.h>
#include <drm_mode.h>
#include <linux/videodev2.h>

#include <rkv/pool.h>

#define NBUF 8
#define FRAMES 150
#define SKIP 77

static int failures;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			failures++;                                         \
			return -1;                                          \
		}                                                           \
	} while (0)

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

static uint64_t fnv(const uint8_t *p, uint64_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Is @fd a DMA-BUF? Its fdinfo says so. */
static int is_dmabuf(int fd)
{
	char path[64], line[256];
	int yes = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "exp_name:", 9) == 0)
			yes = 1;
	fclose(f);
	return yes;
}

/* ==== consumers (forked children) ======================================= */

/* Check view @v as the producer saw it. */
static int check_capture_view(const struct rkv_view *v, const char *when)
{
	uint64_t sum = fnv(v->data, v->frame.bytes_used);

	CHECK(sum == v->frame.user, "frame %" PRIu64 " (slot %u) %s: checksum %016" PRIx64
	      ", producer saw %016" PRIx64 ": the buffer changed under the view",
	      v->frame.seq, v->slot, when, sum, v->frame.user);
	return 0;
}

/*
 * Every eighth frame is kept while the next eight are taken and given
 * back, then checked again: by then the driver has filled every buffer it
 * was given several times over, so one handed back to it while this view
 * held it would show.
 */
static int consume_capture(const char *pool, int frames)
{
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_BLOCK, .queue_depth = 1, .max_held = 2 };
	char err[256] = "";
	struct rkv_view kept;
	int keeping = 0, kept_for = 0;
	rkv_consumer *c;
	int got = 0, r, long_held = 0;

	o.errbuf = err;
	o.errbuf_len = sizeof err;
	r = rkv_consumer_attach(pool, &o, &c);
	CHECK(r == 0, "attach %d: %s", r, err);
	while (got < frames) {
		struct rkv_view v;
		r = rkv_consumer_acquire(c, &v, 10000000000LL);
		if (r == -EPIPE)
			break;
		CHECK(r == 0, "acquire %d (%s) after %d frames", r, strerror(-r), got);
		CHECK(v.fd >= 0 && is_dmabuf(v.fd), "view fd %d is not a DMA-BUF", v.fd);
		CHECK((fcntl(v.fd, F_GETFL) & O_ACCMODE) == O_RDONLY, "consumer's fd is writable");
		long pg = sysconf(_SC_PAGESIZE);
		void *page = (void *)((uintptr_t)v.data & ~(uintptr_t)(pg - 1));
		CHECK(mprotect(page, (size_t)pg, PROT_READ | PROT_WRITE) < 0 && errno == EACCES,
		      "the view's mapping could be made writable");
		CHECK(v.frame.fourcc == RKV_FMT_NV12 && v.frame.num_planes == 2, "descriptor");
		if (check_capture_view(&v, "when taken"))
			return -1;
		got++;
		if (!keeping) {
			kept = v;
			keeping = 1;
			kept_for = 0;
			continue;
		}
		CHECK(rkv_consumer_release(c, &v) == 0, "release");
		if (++kept_for == 8) {
			if (check_capture_view(&kept, "after 8 more frames"))
				return -1;
			CHECK(rkv_consumer_release(c, &kept) == 0, "release");
			keeping = 0;
			long_held++;
		}
	}
	if (keeping)
		CHECK(rkv_consumer_release(c, &kept) == 0, "release");
	rkv_consumer_detach(c);
	CHECK(got == frames, "got %d of %d frames", got, frames);
	printf("capture consumer: %d frames (%d kept across 8 more), every checksum matched through "
	       "a read-only DMA-BUF mapping\n", got, long_held);
	return 0;
}

static int consume_fd_only(const char *pool)
{
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_LATEST, .max_held = 1,
				       .flags = RKV_CONSUMER_NO_MAP };
	rkv_consumer *c;
	int got = 0, r;

	r = rkv_consumer_attach(pool, &o, &c);
	CHECK(r == 0, "attach %d", r);
	for (;;) {
		struct rkv_view v;
		r = rkv_consumer_acquire(c, &v, 10000000000LL);
		if (r == -EPIPE)
			break;
		CHECK(r == 0, "acquire %d", r);
		CHECK(v.data == NULL && v.fd >= 0 && is_dmabuf(v.fd), "fd-only view");
		/* what hardware would do: take the frame through the fd */
		void *m = mmap(NULL, (size_t)(v.fd_offset + v.frame.bytes_used), PROT_READ, MAP_SHARED, v.fd, 0);
		CHECK(m != MAP_FAILED, "mmap of the view's fd: %s", strerror(errno));
		CHECK(fnv((const uint8_t *)m + v.fd_offset, v.frame.bytes_used) == v.frame.user,
		      "checksum through the fd");
		munmap(m, (size_t)(v.fd_offset + v.frame.bytes_used));
		CHECK(rkv_consumer_release(c, &v) == 0, "release");
		got++;
	}
	rkv_consumer_detach(c);
	CHECK(got > 0, "no frame by fd");
	printf("fd-only consumer: %d frames through the view's fd\n", got);
	return 0;
}

static int run_child(int (*fn)(const char *, int), const char *pool, int frames, pid_t *pid)
{
	fflush(stdout);
	*pid = fork();
	if (*pid < 0)
		return -1;
	if (*pid == 0)
		_exit(fn(pool, frames) == 0 && failures == 0 ? 0 : 1);
	return 0;
}

static int fd_only_adapter(const char *pool, int frames)
{
	(void)frames;
	return consume_fd_only(pool);
}

static int wait_child(pid_t pid, const char *who)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid, "waitpid %s", who);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited with %d", who,
	      WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
	return 0;
}

/* ==== 1. capture ========================================================= */

struct cap {
	int fd;
	int mplane;
	enum v4l2_buf_type type;
	uint32_t width, height, bpl, size;
	void *map[NBUF];
	uint32_t maplen[NBUF];
	int rw[NBUF], ro[NBUF];
};

static int find_capture(struct cap *c)
{
	/* the multi-planar node first: dma-contig, like the boards' ISPs */
	static const char *const nodes[] = { "/dev/video1", "/dev/video0", "/dev/video2", "/dev/video3" };

	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		struct v4l2_capability cap;
		int fd = open(nodes[i], O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&cap, 0, sizeof cap);
		if (xioctl(fd, VIDIOC_QUERYCAP, &cap) == 0) {
			uint32_t caps = cap.device_caps;
			if ((caps & V4L2_CAP_STREAMING) &&
			    (caps & (V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_VIDEO_CAPTURE))) {
				c->fd = fd;
				c->mplane = (caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE) != 0;
				c->type = c->mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
						    : V4L2_BUF_TYPE_VIDEO_CAPTURE;
				printf("capture node %s (%s, %s)\n", nodes[i], (char *)cap.driver,
				       c->mplane ? "multi-planar API" : "single-planar API");
				return 0;
			}
		}
		close(fd);
	}
	return -ENODEV;
}

/* vivid draws the same picture frame after frame unless told to move it:
 * make every frame differ (a rewritten buffer must show in its checksum).
 * The control is vivid's own; it is looked up by name. */
static int set_movement(struct cap *c)
{
	struct v4l2_query_ext_ctrl q;

	memset(&q, 0, sizeof q);
	q.id = V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
	while (xioctl(c->fd, VIDIOC_QUERY_EXT_CTRL, &q) == 0) {
		if (strcmp(q.name, "Horizontal Movement") == 0) {
			struct v4l2_control ctl = { .id = q.id, .value = (int32_t)q.maximum };
			CHECK(xioctl(c->fd, VIDIOC_S_CTRL, &ctl) == 0, "set movement: %s", strerror(errno));
			return 0;
		}
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
	}
	CHECK(0, "vivid has no Horizontal Movement control");
	return -1;
}

static int cap_setup(struct cap *c)
{
	struct v4l2_format f;
	struct v4l2_requestbuffers rb;

	memset(&f, 0, sizeof f);
	f.type = c->type;
	if (c->mplane) {
		f.fmt.pix_mp.width = 640;
		f.fmt.pix_mp.height = 480;
		f.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_NV12;
		f.fmt.pix_mp.num_planes = 1;
	} else {
		f.fmt.pix.width = 640;
		f.fmt.pix.height = 480;
		f.fmt.pix.pixelformat = V4L2_PIX_FMT_NV12;
	}
	CHECK(xioctl(c->fd, VIDIOC_S_FMT, &f) == 0, "S_FMT: %s", strerror(errno));
	if (set_movement(c))
		return -1;
	if (c->mplane) {
		CHECK(f.fmt.pix_mp.pixelformat == V4L2_PIX_FMT_NV12 && f.fmt.pix_mp.num_planes == 1,
		      "NV12 in one plane refused");
		c->width = f.fmt.pix_mp.width;
		c->height = f.fmt.pix_mp.height;
		c->bpl = f.fmt.pix_mp.plane_fmt[0].bytesperline;
		c->size = f.fmt.pix_mp.plane_fmt[0].sizeimage;
	} else {
		CHECK(f.fmt.pix.pixelformat == V4L2_PIX_FMT_NV12, "NV12 refused");
		c->width = f.fmt.pix.width;
		c->height = f.fmt.pix.height;
		c->bpl = f.fmt.pix.bytesperline;
		c->size = f.fmt.pix.sizeimage;
	}
	memset(&rb, 0, sizeof rb);
	rb.count = NBUF;
	rb.type = c->type;
	rb.memory = V4L2_MEMORY_MMAP;
	CHECK(xioctl(c->fd, VIDIOC_REQBUFS, &rb) == 0 && rb.count == NBUF, "REQBUFS %u: %s", rb.count,
	      strerror(errno));
	for (unsigned i = 0; i < NBUF; i++) {
		struct v4l2_buffer b;
		struct v4l2_plane pl[1];
		struct v4l2_exportbuffer e;
		uint32_t off;

		memset(&b, 0, sizeof b);
		memset(pl, 0, sizeof pl);
		b.type = c->type;
		b.memory = V4L2_MEMORY_MMAP;
		b.index = i;
		if (c->mplane) {
			b.m.planes = pl;
			b.length = 1;
		}
		CHECK(xioctl(c->fd, VIDIOC_QUERYBUF, &b) == 0, "QUERYBUF: %s", strerror(errno));
		c->maplen[i] = c->mplane ? pl[0].length : b.length;
		off = c->mplane ? pl[0].m.mem_offset : b.m.offset;
		c->map[i] = mmap(NULL, c->maplen[i], PROT_READ, MAP_SHARED, c->fd, off);
		CHECK(c->map[i] != MAP_FAILED, "mmap buffer %u: %s", i, strerror(errno));
		memset(&e, 0, sizeof e);
		e.type = c->type;
		e.index = i;
		e.flags = O_RDWR | O_CLOEXEC;
		CHECK(xioctl(c->fd, VIDIOC_EXPBUF, &e) == 0, "EXPBUF rw: %s", strerror(errno));
		c->rw[i] = e.fd;
		e.flags = O_RDONLY | O_CLOEXEC;
		CHECK(xioctl(c->fd, VIDIOC_EXPBUF, &e) == 0, "EXPBUF ro: %s", strerror(errno));
		c->ro[i] = e.fd;
	}
	printf("%ux%u NV12, %u bytes per line, %u bytes per frame, %d buffers exported\n",
	       c->width, c->height, c->bpl, c->size, NBUF);
	return 0;
}

static int qbuf(struct cap *c, uint32_t i)
{
	struct v4l2_buffer b;
	struct v4l2_plane pl[1];

	memset(&b, 0, sizeof b);
	memset(pl, 0, sizeof pl);
	b.type = c->type;
	b.memory = V4L2_MEMORY_MMAP;
	b.index = i;
	if (c->mplane) {
		b.m.planes = pl;
		b.length = 1;
	}
	return xioctl(c->fd, VIDIOC_QBUF, &b);
}

static int test_capture(void)
{
	const char *name = "vm-capture";
	struct cap c;
	struct rkv_loan loans[NBUF];
	int pending[NBUF] = { 0 }, at_driver[NBUF] = { 0 };
	rkv_producer *p;
	pid_t block_pid, fdonly_pid;
	int published = 0, requeued_later = 0, same = 0, r;
	uint64_t last_sum = 0;

	memset(&c, 0, sizeof c);
	if (find_capture(&c) < 0) {
		printf("no V4L2 capture device (not in the test VM?)\n");
		return SKIP;
	}
	if (cap_setup(&c))
		return -1;

	/* 3 buffers at the driver; the block consumer may pin 3, the fd-only
	 * one 2 */
	struct rkv_pool_opts po = {
		.slot_count = NBUF, .slot_capacity = c.size, .max_loans = 3,
		.block_timeout_ns = 5000000000LL, .slot_fds = c.rw, .slot_ro_fds = c.ro,
	};
	r = rkv_producer_create(name, &po, &p);
	CHECK(r == 0, "create: %d", r);
	CHECK(run_child(consume_capture, name, FRAMES, &block_pid) == 0, "fork");
	CHECK(run_child(fd_only_adapter, name, 0, &fdonly_pid) == 0, "fork");
	CHECK(rkv_producer_wait_consumers(p, 2, 10000000000LL) == 0, "consumers did not attach");

	for (uint32_t i = 0; i < 3; i++) {
		CHECK(rkv_producer_loan_slot(p, i, &loans[i]) == 0, "loan_slot %u", i);
		CHECK(loans[i].fd >= 0 && loans[i].data == NULL, "loan of an external slot");
		CHECK(qbuf(&c, i) == 0, "QBUF %u: %s", i, strerror(errno));
		at_driver[i] = 1;
	}
	for (uint32_t i = 3; i < NBUF; i++)
		pending[i] = 1; /* free: to the driver when a loan is possible */
	enum v4l2_buf_type t = c.type;
	CHECK(xioctl(c.fd, VIDIOC_STREAMON, &t) == 0, "STREAMON: %s", strerror(errno));

	int pfd = rkv_producer_fd(p);
	while (published < FRAMES) {
		struct pollfd pf[2] = { { .fd = c.fd, .events = POLLIN }, { .fd = pfd, .events = POLLIN } };
		r = poll(pf, 2, 5000);
		CHECK(r > 0, "no frame and no release within 5 s");
		if (pf[0].revents & POLLIN) {
			struct v4l2_buffer b;
			struct v4l2_plane pl[1];
			memset(&b, 0, sizeof b);
			memset(pl, 0, sizeof pl);
			b.type = c.type;
			b.memory = V4L2_MEMORY_MMAP;
			if (c.mplane) {
				b.m.planes = pl;
				b.length = 1;
			}
			CHECK(xioctl(c.fd, VIDIOC_DQBUF, &b) == 0, "DQBUF: %s", strerror(errno));
			uint32_t i = b.index;
			uint32_t used = c.mplane ? pl[0].bytesused : b.bytesused;
			CHECK(i < NBUF && at_driver[i], "DQBUF gave buffer %u", i);
			at_driver[i] = 0;
			struct rkv_frame f;
			memset(&f, 0, sizeof f);
			f.seq = b.sequence;
			f.fourcc = RKV_FMT_NV12;
			f.width = c.width;
			f.height = c.height;
			f.bytes_used = used;
			f.num_planes = 2;
			f.planes[0] = (struct rkv_plane){ .offset = 0, .stride = c.bpl,
							  .size = (uint64_t)c.bpl * c.height };
			f.planes[1] = (struct rkv_plane){ .offset = (uint64_t)c.bpl * c.height, .stride = c.bpl,
							  .size = (uint64_t)c.bpl * ((c.height + 1) / 2) };
			f.user = fnv(c.map[i], used);
			same += f.user == last_sum;
			last_sum = f.user;
			r = rkv_producer_publish(p, &loans[i], &f);
			CHECK(r >= 0, "publish: %d", r);
			published++;
			pending[i] = 1;
		}
		/* Back to the driver whatever no consumer holds any more,
		 * while the driver has fewer than its 3 buffers. */
		for (uint32_t i = 0; i < NBUF; i++) {
			int n = 0;
			for (uint32_t k = 0; k < NBUF; k++)
				n += at_driver[k];
			if (!pending[i] || n == 3)
				continue;
			r = rkv_producer_loan_slot(p, i, &loans[i]);
			if (r == -EBUSY) {
				requeued_later++;
				continue;
			}
			CHECK(r == 0, "loan_slot %u: %d", i, r);
			CHECK(qbuf(&c, i) == 0, "QBUF %u: %s", i, strerror(errno));
			pending[i] = 0;
			at_driver[i] = 1;
		}
	}
	CHECK(xioctl(c.fd, VIDIOC_STREAMOFF, &t) == 0, "STREAMOFF");
	struct rkv_pool_stats st;
	CHECK(rkv_producer_stats(p, &st, sizeof st) == 0 && st.external == 1, "stats");
	printf("producer: %d frames published from driver buffers; %d times a buffer was still "
	       "in a consumer's hands and went back later; %" PRIu64 " block timeouts\n",
	       published, requeued_later, st.block_timeouts);
	CHECK(st.block_timeouts == 0, "the block consumer missed frames");
	CHECK(same == 0, "%d frames were the same as the one before: a rewrite could go unseen", same);
	rkv_producer_destroy(p);
	if (wait_child(block_pid, "capture consumer") || wait_child(fdonly_pid, "fd-only consumer"))
		return -1;
	for (unsigned i = 0; i < NBUF; i++) {
		munmap(c.map[i], c.maplen[i]);
		close(c.rw[i]);
		close(c.ro[i]);
	}
	close(c.fd);
	return 0;
}

/* ==== 2. vgem, written by the CPU ========================================= */

static uint8_t pat(uint64_t seq, uint64_t i)
{
	return (uint8_t)((seq * 131) ^ (i * 7) ^ (i >> 9));
}

static int consume_cpu(const char *pool, int frames)
{
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_BLOCK, .queue_depth = 2, .max_held = 1 };
	rkv_consumer *c;
	int got = 0, r;

	r = rkv_consumer_attach(pool, &o, &c);
	CHECK(r == 0, "attach %d", r);
	while (got < frames) {
		struct rkv_view v;
		r = rkv_consumer_acquire(c, &v, 10000000000LL);
		CHECK(r == 0, "acquire %d after %d", r, got);
		const uint8_t *d = v.data;
		for (uint64_t i = 0; i < v.frame.bytes_used; i++)
			CHECK(d[i] == pat(v.frame.seq, i), "frame %" PRIu64 " byte %" PRIu64, v.frame.seq, i);
		CHECK(rkv_consumer_release(c, &v) == 0, "release");
		got++;
	}
	rkv_consumer_detach(c);
	printf("cpu consumer: %d frames, every byte as the producer wrote it\n", got);
	return 0;
}

static int test_vgem(void)
{
	const char *name = "vm-vgem";
	int card = -1, fds[NBUF];
	uint32_t handles[NBUF];
	const uint64_t cap = 256 * 1024;
	rkv_producer *p;
	pid_t pid;
	int r;

	for (int i = 0; i < 4 && card < 0; i++) {
		char path[32];
		struct drm_version v;
		char nm[16] = "";
		snprintf(path, sizeof path, "/dev/dri/card%d", i);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&v, 0, sizeof v);
		v.name = nm;
		v.name_len = sizeof nm - 1;
		if (xioctl(fd, DRM_IOCTL_VERSION, &v) == 0 && strcmp(nm, "vgem") == 0)
			card = fd;
		else
			close(fd);
	}
	if (card < 0) {
		printf("no vgem device (not in the test VM?)\n");
		return SKIP;
	}
	for (int i = 0; i < NBUF; i++) {
		struct drm_mode_create_dumb cd = { .width = 256, .height = 256, .bpp = 32 };
		struct drm_prime_handle ph;
		CHECK(xioctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &cd) == 0, "CREATE_DUMB: %s", strerror(errno));
		CHECK(cd.size >= cap, "dumb buffer of %llu bytes", (unsigned long long)cd.size);
		handles[i] = cd.handle;
		memset(&ph, 0, sizeof ph);
		ph.handle = cd.handle;
		ph.flags = DRM_RDWR | DRM_CLOEXEC;
		CHECK(xioctl(card, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ph) == 0, "PRIME: %s", strerror(errno));
		fds[i] = ph.fd;
	}
	struct rkv_pool_opts po = { .slot_count = NBUF, .slot_capacity = cap, .max_loans = 2,
				    .block_timeout_ns = RKV_WAIT_FOREVER, .slot_fds = fds,
				    .flags = RKV_POOL_CPU_WRITE };
	r = rkv_producer_create(name, &po, &p);
	CHECK(r == 0, "create: %d", r);
	CHECK(run_child(consume_cpu, name, FRAMES, &pid) == 0, "fork");
	CHECK(rkv_producer_wait_consumers(p, 1, 10000000000LL) == 0, "no consumer");
	for (uint64_t seq = 0; seq < FRAMES; seq++) {
		struct rkv_loan l;
		struct rkv_frame f = { .seq = seq, .fourcc = RKV_FMT_BYTES };
		CHECK(rkv_producer_loan(p, &l, 5000000000LL) == 0, "loan");
		CHECK(l.data != NULL && l.fd >= 0, "CPU-written external slot has no mapping");
		f.bytes_used = 1000 + (seq * 7919) % (cap - 1000);
		for (uint64_t i = 0; i < f.bytes_used; i++)
			((uint8_t *)l.data)[i] = pat(seq, i);
		CHECK(rkv_producer_publish(p, &l, &f) == 1, "publish");
	}
	if (wait_child(pid, "cpu consumer"))
		return -1;
	rkv_producer_destroy(p);
	for (int i = 0; i < NBUF; i++) {
		struct drm_mode_destroy_dumb dd = { .handle = handles[i] };
		close(fds[i]);
		xioctl(card, DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
	}
	close(card);
	return 0;
}

int main(void)
{
	int a, b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	a = test_capture();
	b = test_vgem();
	if (a == SKIP && b == SKIP)
		return SKIP;
	if (a < 0 || b < 0 || failures) {
		printf("pool_dmabuf: FAILED\n");
		return 1;
	}
	printf("pool_dmabuf: ok%s%s\n", a == SKIP ? " (no capture device)" : "",
	       b == SKIP ? " (no vgem)" : "");
	return a == SKIP || b == SKIP ? 1 : 0;
}
