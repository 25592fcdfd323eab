/* SPDX-License-Identifier: MIT */
/*
 * rkv-camera - run one camera: a source publishing into a pool, with a
 * control channel (rkv status / capture / fps / snapshot / preview), and
 * optionally a JPEG preview in a second pool.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rkv/camera.h>
#include <rkv/imgops.h>

static rkv_camera *cam;
/* What on_signal() stops: the camera while it may run, NULL from just
 * before it is destroyed, so a signal during or after the shutdown (a
 * second SIGTERM, a parent-death signal) never reaches freed memory. The
 * handler may run on any thread that takes signals: main blocks them before
 * clearing this, and a camera thread that is running the handler is joined
 * by rkv_camera_destroy() before the camera's memory and its stop eventfd
 * go. Atomic, as the handler may read it on another thread. */
static _Atomic(rkv_camera *) stoppable;
static pthread_mutex_t cam_lock = PTHREAD_MUTEX_INITIALIZER; /* the reporter's cam */
static rkv_camera *reported;
static int quiet;
static char path_said[sizeof(((struct rkv_camera_stats *)0)->path)];
static uint64_t save_errors_said;

/* Which path runs, on stderr, when it is new (at start, and when a lost
 * device turns zero-copy into copying). */
static void say_path(const struct rkv_camera_stats *st, int always)
{
	if (!always && strcmp(st->path, path_said) == 0)
		return;
	snprintf(path_said, sizeof path_said, "%s", st->path);
	fprintf(stderr, "rkv-camera: %s\n", st->path);
}

/* The camera's image users (RKV_CAMERA_IMGOPS_*), operations
 * (RKV_IMGOPS_OP_*) and fallback reasons (RKV_IMGOPS_WHY_*), as said. */
static const char *const user_name[RKV_CAMERA_IMGOPS_USERS] = { "preview", "save", "encode" };
static const char *const op_name[] = { "transform", "jpeg_encode", "jpeg_decode", "png_encode" };
static const char *const why_name[] = { "method", "format", "size", "alignment", "memory",
					"params", "other" };
#define NOPS (sizeof op_name / sizeof op_name[0])
#define NWHY (sizeof why_name / sizeof why_name[0])

/* Which backends each image user got, and why a hardware one was refused
 * (the probe step that failed), once at start. */
static void say_images(rkv_camera *c)
{
	for (unsigned w = 0; w < RKV_CAMERA_IMGOPS_USERS; w++) {
		struct rkv_imgops_info info;
		char chain[RKV_IMGOPS_MAX_CHAIN * 18] = "";
		size_t n = 0;

		if (rkv_camera_imgops(c, w, &info, sizeof info, NULL, 0) != 0)
			continue; /* no such user (no preview, not encoding) */
		for (uint32_t b = 0; b < info.nbackends && b < RKV_IMGOPS_MAX_CHAIN; b++) {
			int k = snprintf(chain + n, sizeof chain - n, "%s%.16s", b ? ", then " : "",
					 info.backends[b]);
			if (k < 0 || (size_t)k >= sizeof chain - n)
				break;
			n += (size_t)k;
		}
		fprintf(stderr, "rkv-camera: images (%s): %s%.256s%susing %s\n", user_name[w],
			info.refused[0] ? "refused " : "", info.refused, info.refused[0] ? "; " : "",
			chain);
	}
}

/* The first fallback of each (user, operation, reason), looked at every
 * second: at most USERS x ops x reasons lines in all. The counters are by
 * operation and by reason, not by both: when several operations fell back
 * in the same second, one line names them all with the reasons between
 * them. */
static uint64_t fb_seen[RKV_CAMERA_IMGOPS_USERS][NOPS];
static uint64_t why_seen[RKV_CAMERA_IMGOPS_USERS][NWHY];
static uint32_t why_said[RKV_CAMERA_IMGOPS_USERS][NOPS]; /* bit r: reason r said */

static void say_fallbacks(rkv_camera *c)
{
	for (unsigned w = 0; w < RKV_CAMERA_IMGOPS_USERS; w++) {
		struct rkv_imgops_info info;
		struct rkv_imgops_stats st;
		uint32_t fresh = 0, news = 0, ops = 0;
		char line[256] = "";
		size_t n = 0;
		int k;

		if (rkv_camera_imgops(c, w, &info, sizeof info, &st, sizeof st) != 0)
			continue;
		for (unsigned r = 0; r < NWHY; r++) {
			if (st.reasons[r] > why_seen[w][r])
				fresh |= 1u << r;
			why_seen[w][r] = st.reasons[r];
		}
		for (unsigned op = 0; op < NOPS; op++) {
			if (st.fallbacks[op] <= fb_seen[w][op])
				continue;
			fb_seen[w][op] = st.fallbacks[op];
			ops |= 1u << op;
			news |= fresh & ~why_said[w][op];
		}
		if (!news)
			continue;
		unsigned last = 0;
		for (unsigned op = 0; op < NOPS; op++) {
			if (!(ops & (1u << op)))
				continue;
			why_said[w][op] |= fresh;
			last = op;
			k = snprintf(line + n, sizeof line - n, "%s%s", n ? " and " : "", op_name[op]);
			if (k > 0 && (size_t)k < sizeof line - n)
				n += (size_t)k;
		}
		for (unsigned r = 0, first = 1; r < NWHY; r++) {
			if (!(fresh & (1u << r)))
				continue;
			k = snprintf(line + n, sizeof line - n, "%s%s", first ? " fell back (" : ", ",
				     why_name[r]);
			if (k > 0 && (size_t)k < sizeof line - n)
				n += (size_t)k;
			first = 0;
		}
		k = snprintf(line + n, sizeof line - n, ")");
		if (k > 0 && (size_t)k < sizeof line - n)
			n += (size_t)k;
		if ((ops & (ops - 1)) == 0) { /* one operation: who does it now */
			for (uint32_t b = 0, first = 1; b < info.nbackends && b < RKV_IMGOPS_MAX_CHAIN; b++) {
				if (!st.done_by[b][last])
					continue;
				k = snprintf(line + n, sizeof line - n, "%s%.16s", first ? ", done by " : "+",
					     info.backends[b]);
				if (k > 0 && (size_t)k < sizeof line - n)
					n += (size_t)k;
				first = 0;
			}
		}
		fprintf(stderr, "rkv-camera: images (%s): %s\n", user_name[w], line);
	}
}

/* A status line every 5 s, unless quiet, and the path when it changes,
 * looked at every second (rkv_camera_run() owns the main thread;
 * rkv_camera_stats() may be called from any thread). */
static void *report(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
	for (unsigned t = 1;; t++) {
		struct rkv_camera_stats st;
		int r;
		sleep(1);
		pthread_mutex_lock(&cam_lock); /* main may destroy the camera */
		r = reported ? rkv_camera_stats(reported, &st, sizeof st) : -EINVAL;
		if (r == 0)
			say_fallbacks(reported);
		pthread_mutex_unlock(&cam_lock);
		if (r != 0)
			continue;
		say_path(&st, 0);
		if (st.save_errors > save_errors_said) { /* the answers say why */
			fprintf(stderr, "rkv-camera: %" PRIu64 " save(s) failed (%" PRIu64 " so far)\n",
				st.save_errors - save_errors_said, st.save_errors);
			save_errors_said = st.save_errors;
		}
		if (!quiet && t % 5 == 0) {
			printf("rkv-camera: capture %.1f fps, publish %.1f fps, published %" PRIu64
			       ", skipped %" PRIu64 ", pool dropped %" PRIu64 ", source errors %" PRIu64 "\n",
			       st.capture_fps, st.publish_fps, st.published, st.skipped,
			       st.pool_dropped, st.source_errors);
			fflush(stdout);
		}
	}
	return NULL;
}

static void on_signal(int sig)
{
	rkv_camera *c = atomic_load(&stoppable);

	(void)sig;
	if (c)
		rkv_camera_stop(c);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rkv-camera [OPTIONS]\n"
		"\n"
		"Runs one camera: frames from a source into a pool that any process can\n"
		"attach to, and a control channel for `rkv status|capture|fps|snapshot`.\n"
		"\n"
		"  --name NAME        the camera's name (default cam0)\n"
		"  --pool NAME        the pool's name (default: the camera's)\n"
		"  --source SRC       testpattern (default), v4l2:/dev/videoN, a /dev path,\n"
		"                     a media file (clip.mp4, file:///...), rtsp://, rtspt://\n"
		"                     (RTSP over TCP), rtspu:// (over UDP), http:// (MJPEG)\n"
		"  --decoder ELEMENT  media: the GStreamer decoder to use (mppvideodec on\n"
		"                     Rockchip boards; default: GStreamer picks)\n"
		"  --loop             media files: start again at the end (without it, the\n"
		"                     camera ends with the file, status 0)\n"
		"  --size WxH         frame size (default: the source's)\n"
		"  --fps N            frames per second asked of the source (default 30)\n"
		"  --format FOURCC    NV12, YUYV, YU12, RGB3, BGR3, ... (default: the source's)\n"
		"  --slots N          pool slots (default 8; zero-copy: the driver gets N + 2\n"
		"                     buffers, which are the pool's slots; a preview adds 2)\n"
		"  --copy             copy frames into the pool even where the device can\n"
		"                     export its buffers (the zero-copy path, by default)\n"
		"  --paused           start with publishing stopped (rkv capture NAME start)\n"
		"  --save-dir DIR     where snapshots and periodic saves go, named\n"
		"                     NAME-YYYYMMDD-HHMMSS.mmm-SEQ.jpg (UTC); default\n"
		"                     $XDG_RUNTIME_DIR/rkv, else /tmp/rkv-UID\n"
		"  --save-format F    jpeg (default) or png: periodic saves, and snapshots\n"
		"                     that name no format\n"
		"  --save-quality Q   JPEG quality 1..100 (default 85); PNG zlib level 1..9\n"
		"                     (default 1)\n"
		"  --save-every S     save a frame every S seconds (decimals allowed)\n"
		"  --save-max-mb N    keep this camera's files in the save directory under\n"
		"                     N MiB, removing the oldest\n"
		"  --encode jpeg      publish every frame JPEG-encoded (an encoder thread;\n"
		"                     consumers decode with rkv_imgops_decode_view)\n"
		"  --encode-quality Q its JPEG quality, 1..100 (default 85)\n"
		"  --preview WxH      also publish JPEGs of the frames into pool POOL.preview,\n"
		"                     at most WxH, keeping the aspect ratio (0 leaves a side\n"
		"                     free: 640x0), never larger than the frames, sides even;\n"
		"                     encoded only while a consumer is attached to it\n"
		"  --preview-fps N    previews a second at most (default 10)\n"
		"  --preview-quality Q  JPEG quality 1..100 (default 75)\n"
		"  --preview-timestamp  draw the capture's wall-clock time on the preview\n"
		"  --preview-off      start with the preview off (rkv preview NAME on)\n"
		"  --rotate DEG       turn the preview (and saved images) 0, 90, 180 or 270\n"
		"                     degrees clockwise; 90 and 270 swap the preview's sides\n"
		"  --flip h|v|hv      then mirror them left-right (h) and/or upside down (v)\n"
		"  --backend B        image backend: auto (default), cpu, rga, mpp\n"
		"  --quiet            no status line every 5 s\n"
		"  --help             this text\n"
		"\n"
		"Which path runs, and why, and which image backends the preview, the saver\n"
		"and the encoder got (and why one was refused), are said on stderr and in\n"
		"`rkv status`.\n"
		"SIGINT or SIGTERM ends it cleanly. Exit status: 0 after a signal or at the\n"
		"end of a file, 1 when the camera cannot start or fails, 2 for bad usage.\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static uint32_t fourcc_of(const char *s)
{
	char b[4] = { ' ', ' ', ' ', ' ' };
	size_t n = strlen(s);

	if (n == 0 || n > 4)
		return 0;
	memcpy(b, s, n);
	return RKV_FOURCC(b[0], b[1], b[2], b[3]);
}

int main(int argc, char **argv)
{
	struct rkv_camera_save save = { .size = sizeof save };
	struct rkv_camera_config cfg = { .name = "cam0", .save = &save };
	double secs;
	char *end;
	char err[512] = "";
	int r;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--paused")) {
			cfg.flags |= RKV_CAMERA_PAUSED;
			continue;
		} else if (!strcmp(a, "--quiet")) {
			quiet = 1;
			continue;
		} else if (!strcmp(a, "--loop")) {
			cfg.source.flags |= RKV_SOURCE_LOOP;
			continue;
		} else if (!strcmp(a, "--copy")) {
			cfg.flags |= RKV_CAMERA_COPY;
			continue;
		} else if (!strcmp(a, "--preview-timestamp")) {
			cfg.flags |= RKV_CAMERA_PREVIEW_TIME;
			continue;
		} else if (!strcmp(a, "--preview-off")) {
			cfg.flags |= RKV_CAMERA_PREVIEW_OFF;
			continue;
		} else if (!v) {
			bad = 1;
		} else if (!strcmp(a, "--name")) {
			cfg.name = v;
		} else if (!strcmp(a, "--pool")) {
			cfg.pool = v;
		} else if (!strcmp(a, "--source")) {
			cfg.source.uri = v;
		} else if (!strcmp(a, "--decoder")) {
			cfg.source.decoder = v;
		} else if (!strcmp(a, "--size")) {
			bad = sscanf(v, "%ux%u", &cfg.source.width, &cfg.source.height) != 2;
		} else if (!strcmp(a, "--fps")) {
			bad = parse_u32(v, &cfg.source.fps_num) || cfg.source.fps_num == 0;
		} else if (!strcmp(a, "--format")) {
			cfg.source.fourcc = fourcc_of(v);
			bad = cfg.source.fourcc == 0;
		} else if (!strcmp(a, "--slots")) {
			bad = parse_u32(v, &cfg.slots) || cfg.slots == 0;
		} else if (!strcmp(a, "--save-dir")) {
			static char dir[512];
			char cwd[400];
			save.dir = v;
			if (v[0] != '/') { /* the camera's saver wants it absolute */
				bad = !getcwd(cwd, sizeof cwd) ||
				      snprintf(dir, sizeof dir, "%s/%s", cwd, v) >= (int)sizeof dir;
				save.dir = dir;
			}
		} else if (!strcmp(a, "--save-format")) {
			save.format = !strcmp(v, "jpeg") ? RKV_FMT_JPEG : !strcmp(v, "png") ? RKV_FMT_PNG : 0;
			bad = save.format == 0;
		} else if (!strcmp(a, "--save-quality")) {
			bad = parse_u32(v, &save.quality) || save.quality == 0 || save.quality > 100;
		} else if (!strcmp(a, "--save-every")) {
			secs = strtod(v, &end);
			bad = end == v || *end || !(secs > 0 && secs < 1e6);
			save.every_ns = (int64_t)(secs * 1e9);
		} else if (!strcmp(a, "--encode")) {
			cfg.encode = RKV_FMT_JPEG;
			bad = strcmp(v, "jpeg") != 0;
		} else if (!strcmp(a, "--encode-quality")) {
			bad = parse_u32(v, &cfg.encode_quality) || cfg.encode_quality == 0 ||
			      cfg.encode_quality > 100;
		} else if (!strcmp(a, "--save-max-mb")) {
			uint32_t mb;
			bad = parse_u32(v, &mb) || mb == 0;
			save.max_bytes = (uint64_t)mb << 20;
		} else if (!strcmp(a, "--preview")) {
			char x;
			bad = sscanf(v, "%u%c%u", &cfg.preview_width, &x, &cfg.preview_height) != 3 ||
			      x != 'x' || (!cfg.preview_width && !cfg.preview_height);
		} else if (!strcmp(a, "--preview-fps")) {
			bad = parse_u32(v, &cfg.preview_fps) || cfg.preview_fps == 0 || cfg.preview_fps > 1000;
		} else if (!strcmp(a, "--preview-quality")) {
			bad = parse_u32(v, &cfg.preview_quality) || cfg.preview_quality == 0 ||
			      cfg.preview_quality > 100;
		} else if (!strcmp(a, "--rotate")) {
			bad = parse_u32(v, &cfg.rotate) || cfg.rotate % 90 || cfg.rotate > 270;
		} else if (!strcmp(a, "--flip")) {
			cfg.flip = !strcmp(v, "h") ? RKV_CAMERA_FLIP_H : !strcmp(v, "v") ? RKV_CAMERA_FLIP_V
				 : !strcmp(v, "hv") || !strcmp(v, "vh") ? RKV_CAMERA_FLIP_H | RKV_CAMERA_FLIP_V : 0;
			bad = cfg.flip == 0;
		} else if (!strcmp(a, "--backend")) {
			cfg.backend = v;
			bad = strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "rga") && strcmp(v, "mpp");
		} else {
			bad = 1;
		}
		if (bad) {
			fprintf(stderr, "rkv-camera: bad option or value: %s%s%s (--help)\n", a, v ? " " : "",
				v ? v : "");
			return 2;
		}
		i++;
	}
	cfg.errbuf = err;
	cfg.errbuf_len = sizeof err;
	r = rkv_camera_create(&cfg, &cam);
	if (r) {
		fprintf(stderr, "rkv-camera: %s: %s\n", cfg.name, err[0] ? err : strerror(-r));
		return 1;
	}
	atomic_store(&stoppable, cam);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct rkv_camera_stats st;
	rkv_camera_stats(cam, &st, sizeof st);
	char fcc[5];
	rkv_fourcc_str(st.fourcc, fcc);
	printf("rkv-camera: camera '%s': %s, %ux%u %s, pool '%s' (%s path), control channel "
	       "\"@rkvision-ctl/%s\"\n",
	       cfg.name, st.source, st.width, st.height, fcc, st.pool,
	       st.zero_copy ? "zero-copy" : "copy", cfg.name);
	if (cfg.preview_width || cfg.preview_height)
		printf("rkv-camera: preview: pool '%s.preview', %ux%u JPEG q%u, at most %u fps, %s\n",
		       st.pool, st.preview_width, st.preview_height, st.preview_quality, st.preview_fps,
		       st.preview_on ? "on" : "off");
	fflush(stdout);
	if (cfg.flags & RKV_CAMERA_COPY)
		fprintf(stderr, "rkv-camera: copy: --copy given\n");
	else
		say_path(&st, 1);
	say_images(cam);
	snprintf(path_said, sizeof path_said, "%s", st.path);
	pthread_t reporter;
	reported = cam;
	if (pthread_create(&reporter, NULL, report, NULL) == 0)
		pthread_detach(reporter);
	r = rkv_camera_run(cam);
	rkv_camera_stats(cam, &st, sizeof st);
	printf("rkv-camera: %s: captured %" PRIu64 ", published %" PRIu64 ", skipped %" PRIu64
	       ", pool dropped %" PRIu64 ", source dropped %" PRIu64 "\n",
	       r == -EPIPE ? "the source ended" : r ? strerror(-r) : "stopped", st.captured, st.published, st.skipped, st.pool_dropped,
	       st.source_dropped);
	pthread_mutex_lock(&cam_lock);
	reported = NULL;
	pthread_mutex_unlock(&cam_lock);
	sigset_t stops;
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stops, NULL); /* stopping already: more are moot */
	atomic_store(&stoppable, NULL);
	rkv_camera_destroy(cam);
	return r && r != -EPIPE ? 1 : 0;
}
