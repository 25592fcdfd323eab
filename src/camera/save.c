/* SPDX-License-Identifier: MIT */
/*
 * save.c - the camera's saver: snapshots and periodic saves as JPEG, PNG or
 * raw files, encoded and written off the capture thread (camera/save.h).
 *
 * Why a copy: the frame to save lives in a pool slot (copy path) or in a
 * driver buffer (zero-copy). Holding either while a JPEG or PNG is made
 * (4 ms to seconds) and written (a slow disk: anything) takes it from the
 * camera's budget: a held copy-path slot is one the consumers' budget
 * counts on, and a held driver buffer is one the driver cannot fill, so
 * a stuck disk would starve capture. A copy into the saver's own buffer is
 * one memcpy on the capture thread (~0.3 ms for 1080p NV12, against a
 * 33 ms frame period), bounded by the queue: at most @queue copies wait
 * for the worker, and one more drops the oldest waiting (its client gets
 * an ECANCELED answer) instead of anything waiting. The buffers are kept
 * and reused, so a save costs no allocation once the first ones are made.
 *
 * Requests waiting for their frame (the next one, or a given sequence
 * number) belong to the camera thread alone. The queue of copies, the
 * answers and the counters are shared with the worker under @lock; an
 * answer is posted with the eventfd written under the same lock, and the
 * camera thread reads the eventfd only when it finds no answer under it,
 * so no wake-up is lost.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <rkv/imgops.h>
#include <rkv/pool.h>

#include "camera/save.h"

#define MAX_WAIT 32       /* requests waiting for their frame */
#define MAX_QUEUE 64
#define DEFAULT_QUEUE 4u
#define DEFAULT_JPEG_Q 85u
#define DEFAULT_PNG_LEVEL 1u
#define FORMAT_DEFAULT UINT32_MAX /* the camera's format */

struct wait {
	int used;
	uint64_t tag;
	struct rkv__save_req req;
};

struct job {
	uint64_t tag;
	struct rkv__save_req req;   /* format and quality resolved */
	struct rkv_frame frame;
	uint8_t *buf;
	size_t cap;
	struct job *next;           /* on the free list */
};

struct answer {
	struct answer *next;
	uint64_t tag;
	char text[];
};

struct rkv__saver {
	char camera[RKV_NAME_MAX + 1];
	char dir[RKV_SAVE_PATH_MAX];
	int dir_is_default;
	uint32_t format, jpeg_q, png_level, queue_max;
	int64_t every_ns, next_due;
	uint64_t max_bytes;
	struct rkv_transform orient;  /* rotate and flip, for JPEG and PNG */
	struct wait waits[MAX_WAIT]; /* the camera thread's */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue[MAX_QUEUE]; /* copies waiting for the worker, oldest at head */
	uint32_t head, count;
	struct job *free_jobs;
	struct answer *ans_head, *ans_tail;
	int stop, started, efd;
	uint64_t saved, errors, dropped;
	pthread_t thread;

	/* the worker's */
	rkv_imgops *ops;
	uint8_t *out, *turned;
	size_t out_cap, turned_cap;
};

/* ==== requests ============================================================== */

static int ends_with(const char *s, const char *ext)
{
	size_t n = strlen(s), e = strlen(ext);

	return n > e && strcasecmp(s + n - e, ext) == 0;
}

static int format_parse(const char *s, uint32_t *out)
{
	if (!strcmp(s, "jpeg") || !strcmp(s, "jpg"))
		*out = RKV_FMT_JPEG;
	else if (!strcmp(s, "png"))
		*out = RKV_FMT_PNG;
	else if (!strcmp(s, "raw"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static const char *format_name(uint32_t f)
{
	return f == RKV_FMT_JPEG ? "jpeg" : f == RKV_FMT_PNG ? "png" : "raw";
}

static const char *format_ext(uint32_t f)
{
	return f == RKV_FMT_JPEG ? "jpg" : f == RKV_FMT_PNG ? "png" : "raw";
}

int rkv__save_parse(struct json_object *o, struct rkv__save_req *req, char *why, size_t why_len)
{
	struct json_object *v;

	memset(req, 0, sizeof(*req));
	req->format = FORMAT_DEFAULT;
	req->quality = UINT32_MAX;
	if (json_object_object_get_ex(o, "path", &v)) {
		const char *p = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (p[0] != '/' || strlen(p) >= RKV_SAVE_PATH_MAX || p[strlen(p) - 1] == '/') {
			snprintf(why, why_len, "snapshot's \"path\" is an absolute file name shorter than "
				 "%d bytes", RKV_SAVE_PATH_MAX);
			return -EINVAL;
		}
		snprintf(req->path, sizeof(req->path), "%s", p);
		/* No format named: the file's extension says it (.jpg, .jpeg,
		 * .png), any other one is raw bytes. */
		req->format = ends_with(p, ".jpg") || ends_with(p, ".jpeg") ? RKV_FMT_JPEG
			      : ends_with(p, ".png")				   ? RKV_FMT_PNG
											   : 0;
	}
	if (json_object_object_get_ex(o, "format", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     format_parse(json_object_get_string(v), &req->format))) {
		snprintf(why, why_len, "snapshot's \"format\" is \"jpeg\", \"png\" or \"raw\"");
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "quality", &v)) {
		int64_t q = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
		if (q < 0 || q > 100) {
			snprintf(why, why_len, "snapshot's \"quality\" is 1..100 (JPEG) or 0..9 (PNG)");
			return -EINVAL;
		}
		req->quality = (uint32_t)q;
	}
	if (json_object_object_get_ex(o, "seq", &v)) {
		int64_t q = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
		if (q < 0) {
			snprintf(why, why_len, "snapshot's \"seq\" is a frame's sequence number (0 or more)");
			return -EINVAL;
		}
		req->has_seq = 1;
		req->seq = (uint64_t)q;
	}
	return 0;
}

/* Format and quality as the camera's defaults fill them in, and checked. */
static int resolve(const rkv__saver *s, struct rkv__save_req *r, char *why, size_t why_len)
{
	if (r->format == FORMAT_DEFAULT)
		r->format = s->format;
	if (r->quality == UINT32_MAX)
		r->quality = r->format == RKV_FMT_PNG ? s->png_level : s->jpeg_q;
	if (r->format == RKV_FMT_JPEG && (r->quality < 1 || r->quality > 100)) {
		snprintf(why, why_len, "a JPEG's quality is 1..100");
		return -EINVAL;
	}
	if (r->format == RKV_FMT_PNG && r->quality > 9) {
		snprintf(why, why_len, "a PNG's quality is its zlib level, 0..9");
		return -EINVAL;
	}
	return 0;
}

/* ==== answers =============================================================== */

static void error_text(char *out, size_t len, int err, const char *why)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(why));
	json_object_object_add(o, "errno", json_object_new_int(err));
	snprintf(out, len, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* Post an answer for @tag (@o is consumed). Called with s->lock held. */
static void post_locked(rkv__saver *s, uint64_t tag, struct json_object *o)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(t);
	struct answer *a = malloc(sizeof(*a) + n + 1);
	uint64_t one = 1;

	if (a) { /* out of memory: the client times out, the counters still count */
		a->next = NULL;
		a->tag = tag;
		memcpy(a->text, t, n + 1);
		if (s->ans_tail)
			s->ans_tail->next = a;
		else
			s->ans_head = a;
		s->ans_tail = a;
		ssize_t w = write(s->efd, &one, sizeof(one));
		(void)w;
	}
	json_object_put(o);
}

static void post_error_locked(rkv__saver *s, uint64_t tag, int err, const char *why)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(why));
	json_object_object_add(o, "errno", json_object_new_int(err));
	post_locked(s, tag, o);
}

int rkv__saver_answer(rkv__saver *s, uint64_t *tag, char *reply, size_t reply_len)
{
	struct answer *a;
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	a = s->ans_head;
	if (a) {
		s->ans_head = a->next;
		if (!s->ans_head)
			s->ans_tail = NULL;
	} else {
		ssize_t r = read(s->efd, &v, sizeof(v)); /* none left: clear the wake-up */
		(void)r;
	}
	pthread_mutex_unlock(&s->lock);
	if (!a)
		return 0;
	*tag = a->tag;
	snprintf(reply, reply_len, "%s", a->text);
	free(a);
	return 1;
}

/* ==== the camera thread's side ============================================== */

int rkv__saver_want(rkv__saver *s, const struct rkv__save_req *req_in, uint64_t tag,
		    int64_t last_seq, char *reply, size_t reply_len)
{
	struct rkv__save_req req = *req_in;
	char why[256];

	if (resolve(s, &req, why, sizeof(why))) {
		error_text(reply, reply_len, EINVAL, why);
		return -EINVAL;
	}
	if (req.has_seq && last_seq >= 0 && req.seq <= (uint64_t)last_seq) {
		snprintf(why, sizeof(why), "frame %" PRIu64 " has gone: the camera has captured up to frame "
			 "%" PRId64 ", and a snapshot takes a frame still in its pool or one to come",
			 req.seq, last_seq);
		error_text(reply, reply_len, ENODATA, why);
		return -ENODATA;
	}
	for (int i = 0; i < MAX_WAIT; i++) {
		if (!s->waits[i].used) {
			s->waits[i].used = 1;
			s->waits[i].tag = tag;
			s->waits[i].req = req;
			return 0;
		}
	}
	error_text(reply, reply_len, EBUSY, "too many snapshot requests are waiting for their frames");
	return -EBUSY;
}

static void submit(rkv__saver *s, uint64_t tag, const struct rkv__save_req *req,
		   const struct rkv_frame *f, const void *data);

int rkv__saver_want_frame(rkv__saver *s, const struct rkv__save_req *req_in, uint64_t tag,
			  const struct rkv_frame *f, const void *data, char *reply,
			  size_t reply_len)
{
	struct rkv__save_req req = *req_in;
	char why[256];

	if (resolve(s, &req, why, sizeof(why))) {
		error_text(reply, reply_len, EINVAL, why);
		return -EINVAL;
	}
	submit(s, tag, &req, f, data);
	return 0;
}

void rkv__saver_cancel(rkv__saver *s, uint64_t tag)
{
	for (int i = 0; i < MAX_WAIT; i++)
		if (s->waits[i].used && s->waits[i].tag == tag)
			s->waits[i].used = 0;
}

/* Copy frame @f for request @req of client @tag and queue it for the
 * worker; when @queue copies wait already, the oldest of them fails. */
static void submit(rkv__saver *s, uint64_t tag, const struct rkv__save_req *req,
		   const struct rkv_frame *f, const void *data)
{
	struct job *j;

	pthread_mutex_lock(&s->lock);
	if (s->count == s->queue_max) {
		char why[200];
		j = s->queue[s->head];
		s->head = (s->head + 1) % MAX_QUEUE;
		s->count--;
		s->dropped++;
		snprintf(why, sizeof(why), "snapshot of frame %" PRIu64 " dropped: %u saves were waiting "
			 "for the disk or the encoder, and a newer one came", j->frame.seq, s->queue_max);
		post_error_locked(s, j->tag, ECANCELED, why);
	} else {
		j = s->free_jobs;
		if (j)
			s->free_jobs = j->next;
	}
	pthread_mutex_unlock(&s->lock);
	if (!j)
		j = calloc(1, sizeof(*j));
	if (j && j->cap < f->bytes_used) {
		free(j->buf);
		j->cap = 0;
		j->buf = malloc(f->bytes_used);
		if (j->buf)
			j->cap = f->bytes_used;
	}
	pthread_mutex_lock(&s->lock);
	if (!j || !j->buf) {
		if (j) {
			j->next = s->free_jobs;
			s->free_jobs = j;
		}
		s->errors++;
		post_error_locked(s, tag, ENOMEM, "out of memory for the frame's copy");
		pthread_mutex_unlock(&s->lock);
		return;
	}
	pthread_mutex_unlock(&s->lock);
	/* The copy, outside the lock: the worker never waits for it. */
	memcpy(j->buf, data, f->bytes_used);
	j->frame = *f;
	j->tag = tag;
	j->req = *req;
	pthread_mutex_lock(&s->lock);
	s->queue[(s->head + s->count) % MAX_QUEUE] = j;
	s->count++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void rkv__saver_frame(rkv__saver *s, const struct rkv_frame *f, const void *data)
{
	if (s->every_ns && f->timestamp_ns >= s->next_due) {
		struct rkv__save_req req = { .format = s->format,
					     .quality = s->format == RKV_FMT_PNG ? s->png_level
										 : s->jpeg_q };
		submit(s, 0, &req, f, data);
		s->next_due = s->next_due ? s->next_due + s->every_ns : f->timestamp_ns + s->every_ns;
		if (s->next_due <= f->timestamp_ns)
			s->next_due = f->timestamp_ns + s->every_ns;
	}
	for (int i = 0; i < MAX_WAIT; i++) {
		struct wait *w = &s->waits[i];
		if (!w->used)
			continue;
		if (!w->req.has_seq || w->req.seq == f->seq) {
			w->used = 0;
			submit(s, w->tag, &w->req, f, data);
		} else if (w->req.seq < f->seq) {
			char why[160];
			w->used = 0;
			snprintf(why, sizeof(why), "frame %" PRIu64 " was never captured: the source skipped "
				 "from before it to frame %" PRIu64, w->req.seq, f->seq);
			pthread_mutex_lock(&s->lock);
			post_error_locked(s, w->tag, ENODATA, why);
			pthread_mutex_unlock(&s->lock);
		}
	}
}

/* ==== the worker ============================================================ */

/* Write @len bytes at @data to @fd; 0 or an errno. */
static int write_all(int fd, const void *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = write(fd, (const char *)data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		done += (size_t)w;
	}
	return 0;
}

/*
 * Write @path atomically: the bytes go to an unnamed file in the same
 * directory (O_TMPFILE; where the file system has none, ".<name>.XXXXXX"),
 * are synced, get a temporary name, are renamed over @path, and the
 * directory is synced. Nothing is left under any name on failure, and a
 * crash leaves at most a complete temporary file (never with O_TMPFILE).
 * Returns 0 or an errno, with what failed in @why.
 */
static int write_atomic(const char *path, const void *data, size_t len, char *why, size_t why_len)
{
	char dir[RKV_SAVE_PATH_MAX], tmp[RKV_SAVE_PATH_MAX + 32], proc[64];
	const char *base = strrchr(path, '/') + 1;
	int dfd, fd, err = 0, named = 0;
	const char *step = "open the directory of";

	snprintf(dir, sizeof(dir), "%.*s", (int)(base - path), path);
	dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dfd < 0) {
		err = errno;
		goto out;
	}
	step = "create a file for";
	fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		snprintf(tmp, sizeof(tmp), "%s.%s.XXXXXX", dir, base);
		fd = mkostemp(tmp, O_CLOEXEC);
		named = fd >= 0;
		if (named)
			(void)fchmod(fd, 0644);
	}
	if (fd < 0) {
		err = errno;
		goto out_dir;
	}
	step = "write";
	err = write_all(fd, data, len);
	if (!err && fsync(fd) < 0)
		err = errno;
	if (!err && !named) {
		/* An O_TMPFILE gets a name by its /proc link (linkat with
		 * AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH). */
		step = "name the file for";
		snprintf(tmp, sizeof(tmp), "%s.%s.%ld.tmp", dir, base, (long)getpid());
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		unlink(tmp);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
			err = errno;
		else
			named = 1;
	}
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err) {
		step = "rename the file into";
		if (rename(tmp, path) < 0)
			err = errno;
		else
			named = 0;
	}
	if (!err && fsync(dfd) < 0) {
		step = "sync the directory of";
		err = errno;
	}
	if (named)
		unlink(tmp);
out_dir:
	close(dfd);
out:
	if (err)
		snprintf(why, why_len, "cannot %s %s: %s", step, path, strerror(err));
	return err;
}

/* A name this camera gives its files: <camera>-YYYYMMDD-HHMMSS.mmm-<seq>.<ext>. */
static int own_file(const rkv__saver *s, const char *n)
{
	size_t cl = strlen(s->camera);
	static const char shape[] = "########-######.###-";

	if (strncmp(n, s->camera, cl) != 0 || n[cl] != '-')
		return 0;
	n += cl + 1;
	for (size_t i = 0; i < sizeof(shape) - 1; i++, n++)
		if (shape[i] == '#' ? !isdigit((unsigned char)*n) : *n != shape[i])
			return 0;
	size_t d = 0;
	while (isdigit((unsigned char)*n)) {
		n++;
		d++;
	}
	return d >= 6 && (!strcmp(n, ".jpg") || !strcmp(n, ".png") || !strcmp(n, ".raw"));
}

struct entry {
	char name[256];
	uint64_t bytes;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The camera's files in the directory over max_bytes: the oldest (by name,
 * which is by capture time) go, never @keep (the file just written). */
static void prune(rkv__saver *s, const char *keep)
{
	DIR *d = opendir(s->dir);
	struct entry *e = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		if (!own_file(s, de->d_name) || strlen(de->d_name) >= sizeof(e->name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			struct entry *ne = realloc(e, nc * sizeof(*e));
			if (!ne)
				break;
			e = ne;
			cap = nc;
		}
		snprintf(e[n].name, sizeof(e[n].name), "%s", de->d_name);
		e[n].bytes = (uint64_t)st.st_size;
		total += e[n].bytes;
		n++;
	}
	if (n)
		qsort(e, n, sizeof(*e), by_name);
	for (size_t i = 0; i < n && total > s->max_bytes; i++) {
		if (!strcmp(e[i].name, keep))
			continue;
		if (unlinkat(dirfd(d), e[i].name, 0) == 0)
			total -= e[i].bytes;
	}
	closedir(d);
	free(e);
}

/* The default directory, /tmp/rkv-<uid>, must be ours: /tmp is anyone's. */
static int make_dir(const rkv__saver *s, char *why, size_t why_len)
{
	struct stat st;

	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		int err = errno;
		snprintf(why, why_len, "cannot make the save directory %s: %s", s->dir, strerror(err));
		return err;
	}
	if (s->dir_is_default && (lstat(s->dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
				  st.st_uid != geteuid())) {
		snprintf(why, why_len, "the save directory %s is not a directory of this user", s->dir);
		return EPERM;
	}
	return 0;
}

/* Job @j's frame turned as the camera's orientation says, into the
 * worker's buffer: @img describes it. 0 or -errno. */
static int turn(rkv__saver *s, const struct job *j, struct rkv_image *img)
{
	const struct rkv_frame *f = &j->frame;
	int quarter = s->orient.rotate == 90 || s->orient.rotate == 270;
	uint32_t w = quarter ? f->height : f->width, h = quarter ? f->width : f->height;
	struct rkv_image src = { .frame = *f, .data = j->buf, .capacity = j->cap, .fd = -1 };
	int64_t need = rkv_imgops_image(img, f->fourcc, w, h, NULL, 0);

	if (need < 0)
		return (int)need;
	if ((uint64_t)need > s->turned_cap) {
		free(s->turned);
		s->turned_cap = 0;
		s->turned = malloc((size_t)need);
		if (!s->turned)
			return -ENOMEM;
		s->turned_cap = (size_t)need;
	}
	rkv_imgops_image(img, f->fourcc, w, h, s->turned, s->turned_cap);
	return rkv_imgops_transform(s->ops, &src, img, &s->orient);
}

/* Job @j's frame as a JPEG or PNG, turned as the camera's orientation
 * says, into the worker's buffer (grown to the format's bound): @dst
 * describes it. 0 or -errno. */
static int encode(rkv__saver *s, const struct job *j, struct rkv_image *dst)
{
	const struct rkv_frame *f = &j->frame;
	struct rkv_image src = { .frame = *f, .data = j->buf, .capacity = j->cap, .fd = -1 };
	uint64_t bound;
	int r;

	if ((s->orient.rotate || s->orient.flip) && (r = turn(s, j, &src)))
		return r;
	bound = j->req.format == RKV_FMT_JPEG
			? rkv_imgops_jpeg_bound(src.frame.width, src.frame.height)
			: rkv_imgops_png_bound(f->fourcc, src.frame.width, src.frame.height);
	if (!bound)
		return -ENOTSUP;
	if (bound > s->out_cap) {
		free(s->out);
		s->out_cap = 0;
		s->out = malloc(bound);
		if (!s->out)
			return -ENOMEM;
		s->out_cap = bound;
	}
	rkv_imgops_image(dst, j->req.format, src.frame.width, src.frame.height, s->out, s->out_cap);
	if (j->req.format == RKV_FMT_JPEG) {
		struct rkv_jpeg_params p = { .quality = j->req.quality };
		return rkv_imgops_jpeg_encode(s->ops, &src, dst, &p);
	}
	struct rkv_png_params p = { .level = j->req.quality };
	return rkv_imgops_png_encode(s->ops, &src, dst, &p);
}

/* Encode and write job @j; its answer is posted. */
static void do_job(rkv__saver *s, struct job *j)
{
	const struct rkv_frame *f = &j->frame;
	char path[RKV_SAVE_PATH_MAX + 128], why[RKV_SAVE_PATH_MAX + 256], fcc[5];
	const void *bytes = j->buf;
	size_t len = f->bytes_used;
	uint32_t out_w = f->width, out_h = f->height; /* of the image saved */
	int err = 0, in_dir = !j->req.path[0];
	int64_t t0 = 0;
	struct timespec ts;

	why[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (in_dir) {
		/* The capture time, on the wall clock (UTC). */
		struct timespec rt;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &rt);
		int64_t wall = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - (t0 - f->timestamp_ns);
		time_t secs = (time_t)(wall / 1000000000);
		gmtime_r(&secs, &tm);
		snprintf(path, sizeof(path), "%s/%s-%04d%02d%02d-%02d%02d%02d.%03d-%06" PRIu64 ".%s", s->dir,
			 s->camera, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(wall % 1000000000 / 1000000), f->seq, format_ext(j->req.format));
		err = make_dir(s, why, sizeof(why));
	} else {
		snprintf(path, sizeof(path), "%s", j->req.path);
	}
	if (!err && j->req.format && !(f->fourcc == RKV_FMT_JPEG && j->req.format == RKV_FMT_JPEG)) {
		struct rkv_image dst;
		int r = encode(s, j, &dst);
		if (r) {
			err = -r;
			snprintf(why, sizeof(why), "cannot encode a %ux%u %s frame as %s: %s", f->width,
				 f->height, rkv_fourcc_str(f->fourcc, fcc), format_name(j->req.format),
				 strerror(err));
		} else {
			bytes = s->out;
			len = dst.frame.bytes_used;
			out_w = dst.frame.width;
			out_h = dst.frame.height;
		}
	}
	if (!err)
		err = write_atomic(path, bytes, len, why, sizeof(why));
	if (!err && in_dir && s->max_bytes)
		prune(s, strrchr(path, '/') + 1);

	pthread_mutex_lock(&s->lock);
	if (err) {
		s->errors++;
		post_error_locked(s, j->tag, err, why);
	} else {
		struct json_object *o = json_object_new_object();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s->saved++;
		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_add(o, "path", json_object_new_string(path));
		json_object_object_add(o, "format", json_object_new_string(format_name(j->req.format)));
		json_object_object_add(o, "bytes", json_object_new_int64((int64_t)len));
		json_object_object_add(o, "seq", json_object_new_int64((int64_t)f->seq));
		json_object_object_add(o, "pixels", json_object_new_string(rkv_fourcc_str(f->fourcc, fcc)));
		json_object_object_add(o, "width", json_object_new_int64(out_w));
		json_object_object_add(o, "height", json_object_new_int64(out_h));
		json_object_object_add(o, "timestamp_ns", json_object_new_int64(f->timestamp_ns));
		json_object_object_add(o, "save_ms",
				       json_object_new_double(((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - t0) / 1e6));
		post_locked(s, j->tag, o);
	}
	pthread_mutex_unlock(&s->lock);
}

static void *worker(void *arg)
{
	rkv__saver *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->stop && s->count == 0)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stop)
			break;
		struct job *j = s->queue[s->head];
		s->head = (s->head + 1) % MAX_QUEUE;
		s->count--;
		pthread_mutex_unlock(&s->lock);
		do_job(s, j);
		pthread_mutex_lock(&s->lock);
		j->next = s->free_jobs;
		s->free_jobs = j;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ==== open / close ========================================================== */

int rkv__saver_open(rkv__saver **out, const char *camera, const struct rkv_camera_save *cfg,
		    uint32_t rotate, uint32_t flip, const char *backend, char *why, size_t why_len)
{
	struct rkv_camera_save c;
	struct rkv_imgops_config oc = { .backend = backend ? backend : "auto" };
	rkv__saver *s;
	int r;

	memset(&c, 0, sizeof(c));
	if (cfg) {
		if (cfg->size && cfg->size != sizeof(c)) {
			snprintf(why, why_len, "struct rkv_camera_save of an unknown size");
			return cfg->size > sizeof(c) ? -E2BIG : -EINVAL;
		}
		c = *cfg;
	}
	for (size_t i = 0; i < sizeof(c.reserved) / sizeof(c.reserved[0]); i++)
		if (c.reserved[i]) {
			snprintf(why, why_len, "rkv_camera_save: a reserved field is not zero");
			return -EINVAL;
		}
	if ((c.format && c.format != RKV_FMT_JPEG && c.format != RKV_FMT_PNG) ||
	    (c.format == RKV_FMT_PNG ? c.quality > 9 : c.quality > 100) || c.queue > MAX_QUEUE ||
	    c.every_ns < 0 || (c.dir && (c.dir[0] != '/' || strlen(c.dir) >= RKV_SAVE_PATH_MAX - 96)) ||
	    (rotate != 0 && rotate != 90 && rotate != 180 && rotate != 270) ||
	    (flip & ~(RKV_FLIP_H | RKV_FLIP_V))) {
		snprintf(why, why_len, "saving: the format is JPEG or PNG, the quality 1..100 (JPEG) or "
			 "1..9 (PNG), the queue at most %d, the directory an absolute path shorter than "
			 "%d bytes, the rotation 0, 90, 180 or 270", MAX_QUEUE, RKV_SAVE_PATH_MAX - 96);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->efd = -1;
	snprintf(s->camera, sizeof(s->camera), "%s", camera);
	if (c.dir) {
		snprintf(s->dir, sizeof(s->dir), "%s", c.dir);
		size_t n = strlen(s->dir);
		while (n > 1 && s->dir[n - 1] == '/')
			s->dir[--n] = '\0';
	} else {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && xdg[0] == '/' && strlen(xdg) < RKV_SAVE_PATH_MAX - 128)
			snprintf(s->dir, sizeof(s->dir), "%s/rkv", xdg);
		else
			snprintf(s->dir, sizeof(s->dir), "/tmp/rkv-%u", (unsigned)geteuid());
		s->dir_is_default = 1;
	}
	s->format = c.format ? c.format : RKV_FMT_JPEG;
	s->jpeg_q = s->format == RKV_FMT_JPEG && c.quality ? c.quality : DEFAULT_JPEG_Q;
	s->png_level = s->format == RKV_FMT_PNG && c.quality ? c.quality : DEFAULT_PNG_LEVEL;
	s->queue_max = c.queue ? c.queue : DEFAULT_QUEUE;
	s->every_ns = c.every_ns;
	s->max_bytes = c.max_bytes;
	s->orient.rotate = rotate;
	s->orient.flip = flip;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = rkv_imgops_open(&oc, &s->ops);
	if (r) {
		snprintf(why, why_len, "saving: no image context: %s", strerror(-r));
		goto fail;
	}
	r = -pthread_create(&s->thread, NULL, worker, s);
	if (r)
		goto fail;
	s->started = 1;
	*out = s;
	return 0;
fail:
	rkv__saver_close(s);
	return r;
}

void rkv__saver_close(rkv__saver *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->stop = 1;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	for (uint32_t i = 0; i < s->count; i++) {
		struct job *j = s->queue[(s->head + i) % MAX_QUEUE];
		free(j->buf);
		free(j);
	}
	while (s->free_jobs) {
		struct job *j = s->free_jobs;
		s->free_jobs = j->next;
		free(j->buf);
		free(j);
	}
	while (s->ans_head) {
		struct answer *a = s->ans_head;
		s->ans_head = a->next;
		free(a);
	}
	rkv_imgops_close(s->ops);
	free(s->out);
	free(s->turned);
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int rkv__saver_fd(const rkv__saver *s)
{
	return s->efd;
}

void rkv__saver_stats(rkv__saver *s, uint64_t *saved, uint64_t *errors, uint64_t *dropped)
{
	pthread_mutex_lock(&s->lock);
	*saved = s->saved;
	*errors = s->errors;
	*dropped = s->dropped;
	pthread_mutex_unlock(&s->lock);
}

const rkv_imgops *rkv__saver_ops(const rkv__saver *s)
{
	return s->ops;
}

const char *rkv__saver_dir(const rkv__saver *s)
{
	return s->dir;
}
