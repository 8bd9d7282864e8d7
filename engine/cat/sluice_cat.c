/* SPDX-License-Identifier: MIT */
/* sluice_cat.c: sluice-cat, which prints or verifies the records of a file sink's directory. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The segment format, its reader and the checkpoints are the file sink's own (engine/sinks/file/):
 * sluice-cat reads what the writer wrote with the code recovery reads it with. */
#include "cat.h"
#include "cat_json.h"
#include "checkpoint.h"
#include "reader.h"
#include "segment.h"

/*
 *   sluice-cat DIR             every record's payload and "\n", worker by worker in
 *                              ascending order, each worker's segments in seq order
 *   sluice-cat --keys DIR      "key<TAB>payload\n" instead
 *   sluice-cat --json DIR      one JSON object per record (cat_json.h): worker, seq,
 *                              offset, key, payload, and a dead letter's sink, reason
 *                              and time (--dead-letter DIR)
 *   sluice-cat --verify DIR    checks every header, record and trailer; prints a summary
 *   --from-checkpoint          prints only what follows the position each worker has in
 *                              DIR/consumed (all of it when there is no DIR/consumed)
 *   --follow DIR               the same, then what the sink appends, segment after
 *                              segment, until SIGINT or SIGTERM (cat_follow.c); with
 *                              --keys, --json, --from-checkpoint, never --commit
 *   --commit                   once everything printed is written out, records in
 *                              DIR/consumed the position after each worker's last printed
 *                              record (slc_sink_file_checkpoint_consumed)
 *
 * Problems go to stderr as "DIR/file: offset N: ...". Exit status (docs/file-format.md):
 *   0  every segment is whole
 *   1  damage (bytes that fail their checks with valid records after them, a bad
 *      segment header, a header that disagrees with the file name, bytes after a
 *      trailer), a file that cannot be read (or is named like a segment and is not a
 *      regular file: a FIFO is not waited on), output that cannot be written, or
 *      (--commit) a position that cannot be recorded in DIR/consumed
 *   2  usage
 *   3  no damage, but torn tails: segments that end in a record cut short, which a
 *      crash (or sluice-cat racing a live writer) leaves. Any segment may have one: a
 *      restarted daemon starts a new segment rather than append after a torn tail, so
 *      the torn one need not be its worker's newest.
 */

static void
usage(FILE *f)
{
	fprintf(f, "usage: sluice-cat [--keys | --json] [--from-checkpoint] [--commit] DIR\n"
	           "       sluice-cat [--keys | --json] [--from-checkpoint] --follow DIR\n"
	           "       sluice-cat --verify DIR\n"
	           "  DIR                a file sink's directory (--sink file:DIR)\n"
	           "  --keys             print key<TAB>payload per record\n"
	           "  --json             print a JSON object per record (dead letters: with\n"
	           "                     their sink, reason and time)\n"
	           "  --verify           check every record's CRC; print a summary, no records\n"
	           "  --from-checkpoint  print only records after DIR/consumed's positions\n"
	           "  --commit           afterwards, record what was printed in DIR/consumed\n"
	           "  --follow, -f       then print records as they are written, until SIGINT\n"
	           "                     (writes no checkpoint)\n"
	           "exit: 0 whole, 1 damaged, 2 usage, 3 torn tail(s) only\n");
}

void
slc_cat_print(enum slc_cat_out mode, uint32_t worker, uint64_t seq, uint64_t offset,
              const uint8_t *key, uint32_t key_len, const uint8_t *payload, uint32_t payload_len)
{
	if (mode == SLC_CAT_OUT_JSON) {
		/* An error shows in ferror(stdout), which the end checks. */
		(void)slc_cat_json_record(stdout, worker, seq, offset, key, key_len, payload,
		                          payload_len);
		return;
	}
	if (mode == SLC_CAT_OUT_KEYS) {
		fwrite(key, 1, key_len, stdout);
		putchar('\t');
	}
	fwrite(payload, 1, payload_len, stdout);
	putchar('\n');
}

void
slc_cat_segment(const char *path, const struct slc_sink_file_seg *seg, bool verify,
                enum slc_cat_out mode, struct slc_cat_positions *pos, struct slc_cat_totals *t)
{
	const struct slc_sink_file_pos *from = NULL;
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	uint32_t worker;
	uint64_t seq;
	int rc;

	if (pos != NULL && seg->worker < SLC_SINK_FILE_WORKERS_MAX &&
	    pos->from[seg->worker].valid) {
		from = &pos->from[seg->worker];
		/* Consumed whole: not even read (its damage was reported when it was). */
		if (seg->seq < from->seq)
			return;
		if (seg->seq > from->seq)
			from = NULL;
	}
	r = slc_sink_file_reader_open(path, &rc);
	if (r == NULL) {
		/* A FIFO (or a directory, socket, device) named like a segment: the reader
		 * refuses it rather than wait on it. */
		if (rc == -EINVAL || rc == -EISDIR)
			fprintf(stderr, "%s: not a regular file; not read\n", path);
		else
			fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		t->unreadable = true;
		return;
	}
	t->segments++;
	/* A segment renamed by hand would put its records out of order. */
	if (slc_sink_file_reader_header(r, &worker, &seq) &&
	    (worker != seg->worker || seq != seg->seq)) {
		fprintf(stderr, "%s: offset 0: header says worker %u seq %llu, the name does not\n",
		        path, worker, (unsigned long long)seq);
		t->damaged++;
	}
	for (;;) {
		rc = slc_sink_file_reader_next(r, &ev);
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(-rc));
			t->unreadable = true;
			break;
		}
		if (ev.kind == SLC_SINK_FILE_EV_END) {
			if (ev.closed)
				t->closed++;
			break;
		}
		/* Before the consumed position: printed (and reported) by an earlier run. */
		if (from != NULL && ev.offset < from->offset)
			continue;
		switch (ev.kind) {
		case SLC_SINK_FILE_EV_RECORD:
			t->records++;
			t->bytes += (uint64_t)ev.key_len + ev.payload_len;
			if (verify)
				break;
			if (pos != NULL && seg->worker < SLC_SINK_FILE_WORKERS_MAX)
				pos->last[seg->worker] =
				        (struct slc_sink_file_pos){.valid = true,
				                                   .seq = seg->seq,
				                                   .offset = ev.offset + ev.len};
			else if (pos != NULL)
				pos->beyond = true;
			slc_cat_print(mode, seg->worker, seg->seq, ev.offset, ev.key, ev.key_len,
			              ev.payload, ev.payload_len);
			break;
		case SLC_SINK_FILE_EV_DAMAGE:
			fprintf(stderr, "%s: offset %llu: %s (%llu bytes skipped)\n", path,
			        (unsigned long long)ev.offset, ev.what, (unsigned long long)ev.len);
			t->damaged++;
			break;
		case SLC_SINK_FILE_EV_TORN:
			fprintf(stderr, "%s: offset %llu: torn tail: %s (%llu bytes)\n", path,
			        (unsigned long long)ev.offset, ev.what, (unsigned long long)ev.len);
			t->torn++;
			break;
		case SLC_SINK_FILE_EV_END:
			break;
		}
	}
	slc_sink_file_reader_close(r);
}

int
main(int argc, char **argv)
{
	static struct slc_cat_positions pos;
	struct slc_sink_file_seg *segs;
	struct slc_cat_totals t = {0};
	bool verify = false, keys = false, json = false, commit = false, from_ckpt = false;
	bool follow = false;
	const char *dir = NULL;
	enum slc_cat_out mode;
	size_t nsegs, dir_len;
	char *path;
	int rc, argi;

	for (argi = 1; argi < argc; argi++) {
		const char *a = argv[argi];

		if (strcmp(a, "--verify") == 0) {
			verify = true;
		} else if (strcmp(a, "--keys") == 0) {
			keys = true;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--commit") == 0) {
			commit = true;
		} else if (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0) {
			follow = true;
		} else if (strcmp(a, "--from-checkpoint") == 0) {
			from_ckpt = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--") == 0) {
			argi++;
			break;
		} else if (a[0] == '-') {
			fprintf(stderr, "sluice-cat: unknown option %s\n", a);
			usage(stderr);
			return SLC_CAT_EXIT_USAGE;
		} else {
			break;
		}
	}
	if (argi != argc - 1 || (verify && (keys || json || commit || from_ckpt)) ||
	    (keys && json) || (follow && (verify || commit))) {
		usage(stderr);
		return SLC_CAT_EXIT_USAGE;
	}
	dir = argv[argi];
	mode = json ? SLC_CAT_OUT_JSON : keys ? SLC_CAT_OUT_KEYS : SLC_CAT_OUT_PAYLOAD;
	if (from_ckpt) {
		rc = slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_CONSUMED, pos.from);
		if (rc != 0 && rc != -ENOENT) {
			fprintf(stderr, "sluice-cat: %s/%s: %s\n", dir, SLC_SINK_FILE_CONSUMED_NAME,
			        rc == -EINVAL || rc == -EISDIR ? "not a regular file"
			                                       : strerror(-rc));
			return SLC_CAT_EXIT_DAMAGE;
		}
	}

	if (follow)
		return slc_cat_follow(dir, mode, from_ckpt ? pos.from : NULL);
	rc = slc_sink_file_dir_scan(dir, &segs, &nsegs);
	if (rc != 0) {
		fprintf(stderr, "sluice-cat: %s: %s\n", dir, strerror(-rc));
		return SLC_CAT_EXIT_DAMAGE;
	}
	dir_len = strlen(dir);
	path = malloc(dir_len + 1 + SLC_SINK_FILE_NAME_MAX);
	if (path == NULL) {
		fprintf(stderr, "sluice-cat: %s\n", strerror(ENOMEM));
		free(segs);
		return SLC_CAT_EXIT_DAMAGE;
	}
	for (size_t i = 0; i < nsegs; i++) {
		snprintf(path, dir_len + 1 + SLC_SINK_FILE_NAME_MAX, "%s%s%s", dir,
		         dir_len > 0 && dir[dir_len - 1] == '/' ? "" : "/", segs[i].name);
		slc_cat_segment(path, &segs[i], verify, mode, commit || from_ckpt ? &pos : NULL,
		                &t);
	}
	free(path);
	free(segs);

	if (verify)
		printf("segments=%llu closed=%llu records=%llu bytes=%llu damaged=%llu torn=%llu\n",
		       (unsigned long long)t.segments, (unsigned long long)t.closed,
		       (unsigned long long)t.records, (unsigned long long)t.bytes,
		       (unsigned long long)t.damaged, (unsigned long long)t.torn);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "sluice-cat: writing to stdout: %s\n", strerror(errno));
		return SLC_CAT_EXIT_DAMAGE;
	}
	/* Only what reached stdout is consumed; damage does not hold back what was printed. */
	for (uint32_t w = 0; commit && w < SLC_SINK_FILE_WORKERS_MAX; w++) {
		if (!pos.last[w].valid)
			continue;
		rc = slc_sink_file_checkpoint_consumed(dir, w, pos.last[w].seq, pos.last[w].offset);
		if (rc != 0) {
			fprintf(stderr, "sluice-cat: %s/%s: worker %u: %s\n", dir,
			        SLC_SINK_FILE_CONSUMED_NAME, w,
			        rc == -EINVAL || rc == -EISDIR ? "not a regular file"
			                                       : strerror(-rc));
			t.unreadable = true;
		}
	}
	if (commit && pos.beyond) {
		fprintf(stderr,
		        "sluice-cat: records of workers >= %u are not recorded as consumed\n",
		        SLC_SINK_FILE_WORKERS_MAX);
		t.unreadable = true;
	}
	if (t.damaged != 0 || t.unreadable)
		return SLC_CAT_EXIT_DAMAGE;
	if (t.torn != 0)
		return SLC_CAT_EXIT_TORN;
	return 0;
}
