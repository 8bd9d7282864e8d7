/* SPDX-License-Identifier: MIT */
/* sluice_bench_verify.c: --verify DIR: the file sink's segments read back, each sent seq once. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_net.h"
#include "reader.h"
#include "segment.h"
#include "sluice_bench.h"

/*
 * Loss counted from what the sink holds, not from the daemon's counters (which count a
 * message the sink refused as processed). Connection c sent the seqs [lo[c], hi[c]): from 0
 * on a plain connection (sb_fill), from 1 with --acks (frames 1 .. next - 1, every one
 * formatted was written at least once). One bit per sent seq says it was found.
 *
 * A record is this run's when its stamp parses, its connection is one of ours and its
 * send_ns is not before the run's start: the same monotonic clock, so records an earlier
 * run left in DIR (or in a segment the daemon still appends to) are told apart without a
 * run id in the stamp. They count as foreign and are skipped.
 *
 * The daemon may still be writing when sending ends (the file sink flushes in batches), so
 * DIR is read again, from scratch, while records are still missing: until none is, the
 * count stands still for SB_DRAIN_STILL_NS, or --wait-drain seconds pass.
 */

struct sb_vset {
	uint32_t n;
	uint64_t *lo, *hi; /* by connection id */
	uint64_t **bits;   /* by connection id: hi - lo bits */
	uint64_t total;
};

static void
sb_vset_free(struct sb_vset *v)
{
	for (uint32_t i = 0; v->bits != NULL && i < v->n; i++)
		free(v->bits[i]);
	free(v->bits);
	free(v->lo);
	free(v->hi);
}

static int
sb_vset_init(struct sb_vset *v, const struct sb_run *r, const struct sb_conn *cs)
{
	v->n = (uint32_t)r->o.connections;
	v->lo = calloc(v->n, sizeof(*v->lo));
	v->hi = calloc(v->n, sizeof(*v->hi));
	v->bits = calloc(v->n, sizeof(*v->bits));
	if (v->lo == NULL || v->hi == NULL || v->bits == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < v->n; i++) {
		const struct sb_conn *c = &cs[i];
		uint32_t id = c->id;

		v->lo[id] = r->o.acks ? 1 : 0;
		v->hi[id] = r->o.acks ? c->ack->next : c->seq;
		v->total += v->hi[id] - v->lo[id];
		v->bits[id] = calloc((size_t)((v->hi[id] - v->lo[id]) / 64 + 1), sizeof(uint64_t));
		if (v->bits[id] == NULL)
			return -ENOMEM;
	}
	return 0;
}

/* One record's payload into res; the bits say which seqs were seen in this pass. */
static void
sb_verify_record(const struct sb_run *r, struct sb_vset *v, const uint8_t *p, uint32_t len,
                 struct sb_result *res)
{
	struct slc_stamp st;
	uint64_t off, *w, bit;

	if (!slc_stamp_find(p, len, &st) || st.conn >= v->n || st.send_ns < r->start_ns) {
		res->foreign++;
		return;
	}
	if (st.seq < v->lo[st.conn] || st.seq >= v->hi[st.conn]) {
		res->unexpected++;
		return;
	}
	off = st.seq - v->lo[st.conn];
	w = &v->bits[st.conn][off / 64];
	bit = UINT64_C(1) << (off % 64);
	if (*w & bit) {
		res->duplicated++;
	} else {
		*w |= bit;
		res->verified++;
	}
}

/* One pass over DIR: 0, or -errno. */
static int
sb_verify_pass(const struct sb_run *r, struct sb_vset *v, struct sb_result *res)
{
	struct slc_sink_file_seg *segs = NULL;
	size_t nsegs = 0;
	int rc;

	for (uint32_t i = 0; i < v->n; i++)
		memset(v->bits[i], 0, (size_t)((v->hi[i] - v->lo[i]) / 64 + 1) * sizeof(uint64_t));
	res->verified = res->duplicated = res->unexpected = res->foreign = res->damaged = 0;
	rc = slc_sink_file_dir_scan(r->o.verify, &segs, &nsegs);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < nsegs && rc == 0; i++) {
		char path[4096];
		struct slc_sink_file_reader *rd;
		struct slc_sink_file_ev ev;
		int err;

		snprintf(path, sizeof(path), "%s/%s", r->o.verify, segs[i].name);
		rd = slc_sink_file_reader_open(path, &err);
		if (rd == NULL) {
			if (err == -ENOENT)
				continue; /* removed since the listing (retention): its records miss */
			rc = err;
			break;
		}
		while ((rc = slc_sink_file_reader_next(rd, &ev)) == 0 &&
		       ev.kind != SLC_SINK_FILE_EV_END) {
			if (ev.kind == SLC_SINK_FILE_EV_RECORD)
				sb_verify_record(r, v, ev.payload, ev.payload_len, res);
			else
				res->damaged++; /* a torn tail is also a batch still being written */
		}
		slc_sink_file_reader_close(rd);
	}
	free(segs);
	res->missing = v->total - res->verified;
	return rc;
}

int
sb_verify(const struct sb_run *r, const struct sb_conn *cs, struct sb_result *res)
{
	uint64_t start = bench_now_ns();
	uint64_t deadline = start + (uint64_t)r->o.wait_drain * 1000000000u;
	uint64_t still_since = start, last = UINT64_MAX;
	struct sb_vset v = {0};
	int rc;

	res->verify = true;
	rc = sb_vset_init(&v, r, cs);
	while (rc == 0) {
		uint64_t now;

		rc = sb_verify_pass(r, &v, res);
		now = bench_now_ns();
		if (rc != 0 || res->missing == 0)
			break;
		if (res->missing != last) {
			last = res->missing;
			still_since = now;
		}
		if (now - still_since >= SB_DRAIN_STILL_NS || now >= deadline)
			break;
		nanosleep(&(struct timespec){.tv_nsec = SB_DRAIN_POLL_NS}, NULL);
	}
	sb_vset_free(&v);
	if (r->o.acks)
		res->dup_allowed = res->resent;
	return rc;
}
