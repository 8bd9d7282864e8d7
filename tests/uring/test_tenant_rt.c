/* SPDX-License-Identifier: MIT */
/* test_tenant_rt.c: a reactor's tenant table handed over by a reload (tenant_rt.c), its loop
 * running or not. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reactor.h"
#include "tenant.h"

static uint32_t
deliver(void *ctx, struct slc_reactor *r, struct slc_msg *m, uint32_t n)
{
	(void)ctx;
	slc_reactor_release(r, m, n);
	return n;
}

/* One tenant, t, on net/8 (IPv4); what matches no tenant is refused. */
static void
table(struct slc_tenant_table *tt, const char *net)
{
	memset(tt, 0, sizeof(*tt));
	strcpy(tt->t[0].name, "t");
	tt->t[0].cidr[0] = (struct slc_tenant_cidr){.family = AF_INET, .prefix = 8};
	cr_assert_eq(inet_pton(AF_INET, net, tt->t[0].cidr[0].addr), 1);
	tt->t[0].ncidr = 1;
	tt->n = 1;
	tt->dflt = SLC_TENANT_NONE;
}

static struct slc_reactor *
reactor(struct slc_listener_cfg *l, const struct slc_tenant_table *tt)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
	struct slc_reactor_cfg cfg = {
	        .id = 1,
	        .cpu = -1,
	        .node = -1,
	        .buffers = 16,
	        .buffer_size = 4096,
	        .udp_buffers = 16,
	        .max_frame = 1024,
	        .max_conns = 16,
	        .listeners = l,
	        .nlisteners = 1,
	        .tenants = tt,
	        .ops = {.deliver = deliver},
	};
	struct slc_reactor *r;
	int err;

	*l = (struct slc_listener_cfg){.proto = SLC_LISTENER_TCP, .framing = SLC_FRAME_LINES};
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->addrlen = sizeof(*sin);
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "slc_reactor_create: %d", err);
	return r;
}

/* r started, and a connection to its listener from loopback: its descriptor. */
static int
start_and_connect(struct slc_reactor *r)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd;

	cr_assert_eq(slc_reactor_start(r), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(slc_reactor_listener_port(r, 0));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* A reactor not looping takes no table while it does not: a reload must not wait on it
 * (nor free the old table under a reactor that will read it). One not started takes the
 * table at its first loop top; one stopped reads none again. */
Test(tenant_rt, a_reactor_not_looping_needs_no_wait_and_takes_the_table_when_it_starts,
     .timeout = 30)
{
	static struct slc_tenant_table other, after;
	struct slc_tenant_table *loopback = malloc(sizeof(*loopback));
	const struct timespec tick = {0, 1000000};
	struct slc_listener_cfg l;
	struct slc_reactor *r;
	int fd;

	cr_assert_not_null(loopback);
	table(loopback, "127.0.0.0");
	table(&other, "10.0.0.0");
	table(&after, "127.0.0.0");
	r = reactor(&l, loopback);
	cr_assert_eq(slc_reactor_tenants_set(r, &other), 0);
	cr_expect(slc_reactor_tenants_taken(r, &other), "not started: nothing to wait for");
	free(loopback); /* as a reload does then: the reactor must not read it (ASan) */

	/* Its first loop matches against other, where loopback is no tenant's. */
	fd = start_and_connect(r);
	while (atomic_load(&slc_reactor_tenant_refusals(r)->conns) == 0)
		nanosleep(&tick, NULL); /* a condition: the test's timeout bounds it */
	close(fd);

	/* Stopped: it reads no table again. */
	slc_reactor_stop(r, 100);
	cr_assert_eq(slc_reactor_tenants_set(r, &after), 0);
	cr_expect(slc_reactor_tenants_taken(r, &after), "stopped: nothing to wait for");
	slc_reactor_destroy(r);
}

/* A reactor that skipped a table (it took the one after) decides for itself which slots
 * start over: a slot its own table does not give to the same name. Here a tenant e is
 * added in slot 1 (a table the reactor never took), then kept: slot 1 held a removed
 * tenant's counts on this reactor, which e must not show. */
Test(tenant_rt, a_reactor_that_skipped_a_table_zeroes_what_it_had_not_seen_added, .timeout = 30)
{
	static struct slc_tenant_table first, added, kept, gone, again;
	const struct timespec tick = {0, 1000000};
	struct slc_listener_cfg l;
	struct slc_tenant_stats *e;
	struct slc_reactor *r;
	int fd;

	table(&first, "10.0.0.0");
	table(&added, "10.0.0.0");
	strcpy(added.t[1].name, "e");
	added.t[1].cidr[0] = (struct slc_tenant_cidr){.family = AF_INET, .prefix = 8};
	cr_assert_eq(inet_pton(AF_INET, "127.0.0.0", added.t[1].cidr[0].addr), 1);
	added.t[1].ncidr = 1;
	added.t[1].slot = 1;
	added.n = 2;
	kept = added;
	r = reactor(&l, &first);
	/* What a tenant removed before left in slot 1 (the reactor's own counters). */
	e = (struct slc_tenant_stats *)slc_reactor_tenant_stats(r, 1);
	atomic_store(&e->conns_accepted, 5);
	cr_assert_eq(slc_reactor_tenants_set(r, &added), 0);
	cr_assert_eq(slc_reactor_tenants_set(r, &kept), 0);

	fd = start_and_connect(r);
	while (atomic_load(&e->conns_open) == 0)
		nanosleep(&tick, NULL); /* a condition: the test's timeout bounds it */
	cr_expect_eq(atomic_load(&e->conns_accepted), 1, "e's counts start at zero");
	close(fd);

	/* e removed, then added again in the same slot: it starts over all the same. */
	gone = first;
	again = added;
	cr_assert_eq(slc_reactor_tenants_set(r, &gone), 0);
	while (!slc_reactor_tenants_taken(r, &gone))
		nanosleep(&tick, NULL);
	cr_assert_eq(slc_reactor_tenants_set(r, &again), 0);
	while (!slc_reactor_tenants_taken(r, &again))
		nanosleep(&tick, NULL);
	cr_expect_eq(atomic_load(&e->conns_accepted), 0, "added again: from zero");
	slc_reactor_stop(r, 100);
	slc_reactor_destroy(r);
}
