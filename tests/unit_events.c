/* SPDX-License-Identifier: MIT */
/* The daemon's event log (src/daemon/events.h). */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "daemon/events.h"

static void test_post_and_read(void)
{
	struct rkvd_events *ev;
	CHECK_OK(rkvd_events_new(4, &ev));
	char buf[RKVD_EVENT_MAX];
	CHECK_ERR(rkvd_events_next(ev, 0, buf, sizeof(buf), 0), ETIMEDOUT);
	CHECK_EQ(rkvd_events_post(ev, "camera_online", "cam0", NULL), 1);
	CHECK_EQ(rkvd_events_post(ev, "snapshot_saved", "c\"1\n",
				  "\"path\":\"/x.jpg\",\"seq\":4"), 2);
	CHECK_EQ(rkvd_events_post(ev, "reload", NULL, ""), 3);
	CHECK_EQ(rkvd_events_last(ev), 3);

	CHECK_EQ(rkvd_events_next(ev, 0, buf, sizeof(buf), 0), 1);
	CHECK(strstr(buf, "\"seq\":1,") == buf + 1);
	CHECK(strstr(buf, "\"type\":\"camera_online\",\"camera\":\"cam0\"}"));
	CHECK_EQ(rkvd_events_next(ev, 1, buf, sizeof(buf), 0), 2);
	/* The camera's name is escaped; the caller's fields are kept. */
	CHECK(strstr(buf, "\"camera\":\"c\\\"1\\u000a\",\"path\":\"/x.jpg\",\"seq\":4}"));
	CHECK_EQ(rkvd_events_next(ev, 2, buf, sizeof(buf), 0), 3);
	CHECK(strstr(buf, "\"type\":\"reload\"}"));
	CHECK(!strstr(buf, "camera"));
	CHECK_ERR(rkvd_events_next(ev, 3, buf, sizeof(buf), 0), ETIMEDOUT);

	/* Too small a buffer is refused, not cut. */
	char tiny[8];
	CHECK_ERR(rkvd_events_next(ev, 0, tiny, sizeof(tiny), 0), ENOSPC);
	CHECK_ERR(rkvd_events_post(ev, "", NULL, NULL), EINVAL);
	rkvd_events_free(ev);
}

static void test_overrun(void)
{
	struct rkvd_events *ev;
	CHECK_OK(rkvd_events_new(4, &ev));
	char buf[RKVD_EVENT_MAX];
	for (int i = 0; i < 10; i++)
		CHECK_EQ(rkvd_events_post(ev, "t", NULL, NULL), i + 1);
	/* A reader at 2 lost 3..6: it gets 7, the oldest kept. */
	CHECK_EQ(rkvd_events_next(ev, 2, buf, sizeof(buf), 0), 7);
	CHECK(strstr(buf, "\"seq\":7,"));

	/* An event too large is refused and the kept ones stay whole. */
	char big[RKVD_EVENT_MAX];
	memset(big, 'x', sizeof(big) - 1);
	big[0] = '"';
	big[sizeof(big) - 1] = '\0';
	CHECK_ERR(rkvd_events_post(ev, "t", NULL, big), ENOSPC);
	CHECK_EQ(rkvd_events_last(ev), 10);
	CHECK_EQ(rkvd_events_next(ev, 6, buf, sizeof(buf), 0), 7);
	CHECK(strstr(buf, "\"seq\":7,"));
	rkvd_events_free(ev);
}

static struct rkvd_events *shared;

static void *poster(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 50 * 1000000};
	nanosleep(&ts, NULL);
	rkvd_events_post(shared, "camera_offline", "cam1", NULL);
	nanosleep(&ts, NULL);
	rkvd_events_close(shared);
	return NULL;
}

static void test_wait_and_close(void)
{
	CHECK_OK(rkvd_events_new(0, &shared));
	char buf[RKVD_EVENT_MAX];
	CHECK_ERR(rkvd_events_next(shared, 0, buf, sizeof(buf), 20 * 1000000), ETIMEDOUT);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, poster, NULL), 0);
	CHECK_EQ(rkvd_events_next(shared, 0, buf, sizeof(buf), -1), 1);
	CHECK(strstr(buf, "camera_offline"));
	/* Closing wakes the waiter, which would otherwise wait forever. */
	CHECK_ERR(rkvd_events_next(shared, 1, buf, sizeof(buf), -1), ECANCELED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	rkvd_events_free(shared);
}

int main(void)
{
	test_post_and_read();
	test_overrun();
	test_wait_and_close();
	return 0;
}
