/* SPDX-License-Identifier: MIT */
/* sluice_bench.c: sluice-bench, the load generator: stamped messages over TCP or UDP. */
/*
 * Examples:
 *   sluice-bench                                   4 TCP connections to 127.0.0.1:5140,
 *                                                  100-byte lines, 10 s, as fast as possible
 *   sluice-bench --metrics http://127.0.0.1:9100   the same, then processed, latency
 *   sluice-bench --verify /var/lib/sluice --count 1000000   sluiced --sink file:/var/lib/sluice:
 *                                                  each message read back from the segments
 *   sluice-bench --acks --target tcp://127.0.0.1:5141 --verify DIR --json   every frame's
 *                                                  send-to-durable latency, and read back
 *   sluice-bench --rate 200000 --duration 30 --dist zipf:1.1 --keys 100000
 *   sluice-bench --target udp://127.0.0.1:5140 --size 512 --rate 100000 --count 1000000
 *   sluice-bench --framing len32 --connections 64 --threads 2 --count 50000000
 *   sluice-bench --csv --metrics http://127.0.0.1:9100 --rate 500000 >> runs.csv
 *   sluice-bench --csv --no-header --framing syslog --size 200 >> runs.csv
 *   sluice-bench --protocol otlp --target http://127.0.0.1:4318 --batch 512   OTLP/HTTP
 *                                                  protobuf requests (sluice_bench_otlp.c)
 *
 * Every message carries a stamp (engine/route/stamp.h): its key, connection, sequence number on
 * that connection, and CLOCK_MONOTONIC when it was formatted; sluiced's null sink turns the
 * stamp into the end-to-end latency histogram. Latency is meaningful only when sluice-bench
 * runs on the daemon's host (one monotonic clock). Keys are "k<id>", id drawn per message
 * from --dist over --keys; the daemon finds them with --key field:2 (lines), len32 (the
 * len32 key header) or field:9 (syslog).
 *
 * --size is the message as the daemon delivers it: the frame's payload (len32: the key
 * header included; syslog: the RFC 5424 header included), or the datagram for UDP.
 * Framing adds its own bytes on TCP (lines: a LF; len32: 4 length bytes; syslog: the octet
 * count and a SP); UDP sends one message per datagram, with no framing bytes. Bytes and
 * MB/s (10^6 bytes) count what was written to the sockets.
 *
 * Sending: --threads threads share the --connections sockets (connection i goes to thread
 * i % T); each thread formats batches of whole messages (64 KiB for TCP, up to 64
 * datagrams for UDP's sendmmsg; less with very many connections) and writes them on non-blocking sockets, waiting in ppoll
 * while all of its sockets are full. As fast as possible by default; --rate paces each
 * thread at rate/T against the monotonic clock, open loop: whatever is due is sent at
 * once, however late, and a thread that has written everything due sleeps until the next
 * message is due (nanosleep: the kernel's timer slack, 50 us, makes that a write of about
 * 50 messages at 1M msgs/s; going round at once wrote one message a system call on both
 * sides of the loopback, which measured the kernel's TCP path, not the daemon). The stamp is the time of formatting, not the time the schedule
 * meant: a sender that falls behind (the daemon pushing back, or this process short of
 * CPU) delays messages that then measure short, which is coordinated omission; the report
 * warns when the achieved rate is more than 1% under --rate. Time spent blocked in a full
 * socket after formatting is part of the measured latency.
 *
 * With --metrics, sluiced's Prometheus endpoint is scraped before and after (HTTP/1.0):
 * sluice_worker_processed_total, sluice_udp_drops_total and the histogram
 * sluice_e2e_latency_seconds and sluice_daemon_latency_seconds (each summed over its label
 * sets; the deltas count). After
 * sending, it polls every 100 ms until processed reaches sent, stops moving for 1 s, or
 * --wait-drain seconds pass. processed msgs/s is processed over the time from the start to
 * the scrape that first saw the final count. unprocessed is sent - processed: the daemon's
 * own counter, which counts a message its sink refused, so it is no loss figure.
 *
 * Loss, counted from the sink's output: --verify DIR (the DIR of sluiced's --sink file:DIR)
 * reads DIR's segments back after sending (engine/sinks/file/reader.h, the reader of
 * sluice-cat and recovery) and finds each record's stamp: every seq sent on every
 * connection must be there exactly once. Records of earlier runs (a stamp whose send_ns is
 * before this run's start, or none) are skipped. While some are missing it reads DIR again
 * every 100 ms, until none is, the count stands still for 1 s, or --wait-drain s pass. It
 * reports verified, missing (sent, not in DIR), duplicated (copies beyond the first) and
 * unexpected (a stamp of this run with a seq it never sent). Without --acks nothing is sent
 * twice, so any duplicate is a fault; with --acks the protocol is at least once: a frame
 * resent after a reconnect may be stored twice, and up to `resent` duplicates are allowed.
 *
 * Latency. With --acks, every frame's: from its first formatting to the ack that covers it
 * (sluice-bench's own clock; the ack says the sink made it durable: the null sink at once,
 * the file sink when its --fsync mode counts it durable), whatever the sink. Without
 * --acks nothing comes back to sluice-bench, so latency is sluiced's over --metrics: with
 * --latency-stamps (start for lines, find for len32 and syslog) every worker reads the stamp
 * of every message its sink took, whatever the sink, and counts send_ns to the sink's
 * write returning into sluice_e2e_latency_seconds, and the reactor's receive to the same
 * moment into sluice_daemon_latency_seconds (the daemon's own part: the "in daemon" line,
 * daemon_p*_us). Both are in sluice-bench's own buckets (route/lat_hist.h), so quantiles,
 * min and max are within 0.8%. For the file sink "delivered" is written, not durable.
 * Both clocks are CLOCK_MONOTONIC: sender and daemon must share a host.
 * sluice-bench's histogram (sluice_bench_hist.h) is log-linear: 128 linear sub-buckets
 * per power of two, every quantile within 0.4% (bucket midpoint); min and max are exact.
 *
 * --acks speaks len32+ack (docs/protocol.md) to a listener of that framing: it reads the
 * greeting, never has more than the window W unacknowledged frames per connection, and
 * keeps those frames' bytes (so a frame sent again is byte-identical: its stamp's seq is
 * the frame's sequence number, from 1 on each connection, and its send_ns the time of its
 * first formatting). When a connection fails (reset, EOF, refused) it reconnects, backing
 * off from 10 ms to 1 s, for up to --reconnect-for seconds, and sends again from the
 * oldest unacknowledged frame. After sending it waits, again at most --reconnect-for s,
 * for every frame's ack, and reports acknowledged, resent (frames written more than once)
 * and unacked (sent, never acknowledged). With --count N, connection i sends frames
 * 1 .. N/C (+1 for i < N % C); a receiver then expects exactly those "<i>.<seq>" stamps.
 *
 *   sluice-bench --acks --target tcp://127.0.0.1:5141 --connections 2 --count 1000000
 *
 * --csv columns (--json: one object with the same fields; empty means unknown, JSON null):
 *   transport,connections,size,framing,rate,keys,dist  the run's options
 *   sent,seconds,msgs_per_s,mb_per_s                   what was written to the sockets
 *   processed,processed_msgs_per_s,unprocessed         --metrics: the daemon's counter
 *   lat_source       acks (every frame, send to ack), metrics (every stamped message)
 *   lat_count        latencies counted
 *   lat_min_us,p50_us,p95_us,p99_us,p999_us,lat_max_us
 *   daemon_p50_us,daemon_p95_us,daemon_p99_us,daemon_p999_us  --metrics: received to
 *                    delivered, inside sluiced
 *   acked,acked_msgs_per_s,resent,unacked,reconnects   --acks
 *   verified,missing,duplicated,unexpected             --verify
 * Exit status: 0; 1 on a bad option, a failed connect, send, scrape or read of DIR; 2 if
 * the daemon counted fewer TCP messages processed than sent after the drain wait; 3 with
 * --acks if frames were never acknowledged (or a connection gave up reconnecting); 4 with
 * --verify if any is missing or unexpected, or duplicated beyond what --acks allows. The
 * last that applies wins. Ctrl-C stops sending and still reports.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_net.h"
#include "sluice_bench.h"

atomic_bool sb_stop;
static _Atomic uint64_t sb_signal_ns;

/*
 * The first SIGINT or SIGTERM stops the senders, which finish their batches, and the
 * report still comes. Another one a second later kills at once; one sooner is the same
 * signal sent twice (timeout(1) sends it to the process and to its group) and is ignored.
 */
static void
sb_on_signal(int sig)
{
	uint64_t now = bench_now_ns(); /* clock_gettime: async-signal-safe */
	uint64_t first = atomic_load_explicit(&sb_signal_ns, memory_order_relaxed);

	if (first != 0 && now - first > 1000000000u) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	if (first == 0)
		atomic_store_explicit(&sb_signal_ns, now, memory_order_relaxed);
	atomic_store_explicit(&sb_stop, true, memory_order_relaxed);
}

static pthread_barrier_t sb_go;

static void *
sb_thread_main(void *arg)
{
	struct sb_thread *t = arg;

	pthread_barrier_wait(&sb_go);
	t->err = t->r->o.acks ? sb_thread_run_acks(t)
	         : t->r->otlp ? sb_thread_run_otlp(t)
	                      : sb_thread_run(t);
	t->end_ns = bench_now_ns();
	if (t->send_end_ns == 0)
		t->send_end_ns = t->end_ns;
	if (t->err != 0)
		atomic_store_explicit(&sb_stop, true, memory_order_relaxed);
	/* R1: pairs with A1 in main's wait for the threads */
	atomic_store_explicit(&t->done, true, memory_order_release);
	return NULL;
}

/* ---- main -------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	static struct sb_run r;
	struct sb_result res = {
	        .p = {-1, -1, -1, -1}, .dp = {-1, -1, -1, -1}, .lat_min = -1, .lat_max = -1};
	struct bench_prom_sample *ps = NULL; /* [0] before the run, [1] and [2] live, alternating */
	struct sigaction sa = {.sa_handler = sb_on_signal};
	struct sb_thread *ts = NULL;
	struct sb_conn *cs = NULL;
	struct pollfd *pfd = NULL;
	size_t cap = 1 << 18;
	char *buf = NULL;
	uint64_t last_msgs = 0, last_ns, end_ns = 0, send_end_ns = 0;
	double send_rate;
	bool live, failed = false;
	int rc = 1, live_i = 1;

	if (sb_setup(&r, argc, argv) != 0)
		return 1;
	if (r.o.help || r.o.help_man) {
		(r.o.help ? sb_usage : sb_man)(stdout);
		return 0;
	}
	live = isatty(STDOUT_FILENO) && !r.o.csv && !r.o.json && !r.o.quiet;
	if ((uint64_t)r.o.connections + 64 > bench_raise_nofile())
		fprintf(stderr, SB_PROG ": warning: the open-file limit may be too low\n");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ts = calloc((size_t)r.o.threads, sizeof(*ts));
	cs = calloc((size_t)r.o.connections, sizeof(*cs));
	pfd = calloc((size_t)r.o.connections, sizeof(*pfd));
	ps = calloc(3, sizeof(*ps));
	buf = malloc(cap);
	if (ts == NULL || cs == NULL || pfd == NULL || ps == NULL || buf == NULL) {
		fprintf(stderr, SB_PROG ": out of memory\n");
		goto out;
	}
	if (r.o.metrics != NULL) {
		int err = sb_scrape(&r, &buf, &cap, &ps[0]);

		if (err != 0) {
			fprintf(stderr, SB_PROG ": cannot scrape %s: %s\n", r.o.metrics,
			        strerror(-err));
			goto out;
		}
		ps[1] = ps[0];
		res.metrics = true;
	}
	if (sb_threads_init(&r, ts, cs, pfd) != 0)
		goto out_close;

	pthread_barrier_init(&sb_go, NULL, (unsigned)r.o.threads + 1);
	for (int64_t i = 0; i < r.o.threads; i++) {
		int err = pthread_create(&ts[i].tid, NULL, sb_thread_main, &ts[i]);

		if (err != 0)
			bench_die(SB_PROG ": pthread_create: %s\n", strerror(err));
	}
	r.start_ns = last_ns = bench_now_ns();
	pthread_barrier_wait(&sb_go);
	for (;;) {
		uint64_t now = bench_now_ns();
		bool all = true;

		for (int64_t i = 0; i < r.o.threads; i++) {
			/* A1: pairs with R1 in sb_thread_main */
			all &= atomic_load_explicit(&ts[i].done, memory_order_acquire);
		}
		if (all)
			break;
		if (live && now - last_ns >= SB_TICK_NS) {
			const struct bench_prom_sample *cur = NULL;

			if (res.metrics && sb_scrape(&r, &buf, &cap, &ps[3 - live_i]) == 0) {
				live_i = 3 - live_i;
				cur = &ps[live_i];
			}
			sb_progress(&r, ts, now, &last_msgs, &last_ns, &ps[3 - live_i], cur);
		}
		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
	}
	if (live)
		printf("\r\033[K");
	for (int64_t i = 0; i < r.o.threads; i++) {
		pthread_join(ts[i].tid, NULL);
		res.sent += atomic_load_explicit(&ts[i].msgs, memory_order_relaxed);
		res.bytes += atomic_load_explicit(&ts[i].bytes, memory_order_relaxed);
		end_ns = ts[i].end_ns > end_ns ? ts[i].end_ns : end_ns;
		send_end_ns = ts[i].send_end_ns > send_end_ns ? ts[i].send_end_ns : send_end_ns;
		if (ts[i].err != 0) {
			fprintf(stderr, SB_PROG ": thread %" PRId64 ": %s\n", i, ts[i].errmsg);
			failed = true;
		}
	}
	pthread_barrier_destroy(&sb_go);
	if (failed)
		goto out_close;
	if (r.o.acks) {
		static const double q[SB_NQ] = {0.5, 0.95, 0.99, 0.999};
		uint64_t last = r.start_ns, v;

		for (int64_t i = 0; i < r.o.connections; i++) {
			const struct sb_ack *a = cs[i].ack;

			res.acked += a->acked;
			res.resent += a->resent;
			res.unacked += a->next - 1 - a->acked;
			res.reconnects += a->reconnects;
			res.gave_up |= a->gave_up;
			last = a->last_ack_ns > last ? a->last_ack_ns : last;
		}
		res.acked_s = last > r.start_ns ? (double)(last - r.start_ns) / 1e9 : 1e-9;
		/* Every acknowledged frame's latency, whatever the sink. */
		res.lat = ts[0].lat;
		for (int64_t i = 1; i < r.o.threads; i++)
			sb_hist_merge(res.lat, ts[i].lat);
		res.lat_source = SB_LAT_ACKS;
		res.lat_samples = (double)res.lat->count;
		for (int i = 0; i < SB_NQ; i++)
			if (sb_hist_quantile(res.lat, q[i], &v))
				res.p[i] = (double)v / 1e9;
		if (res.lat->count > 0) {
			res.lat_min = (double)res.lat->min / 1e9;
			res.lat_max = (double)res.lat->max / 1e9;
		}
	}
	res.seconds = end_ns > r.start_ns ? (double)(end_ns - r.start_ns) / 1e9 : 1e-9;
	/* Against the measured sending time: seconds also holds, with --acks, the wait for the
	 * last acks, which would read as a sender that fell behind. */
	send_rate = (double)res.sent * 1e9 /
	            (double)(send_end_ns > r.start_ns ? send_end_ns - r.start_ns : 1);
	if (r.o.rate > 0 && send_rate < 0.99 * (double)r.o.rate)
		fprintf(stderr,
		        SB_PROG ": warning: sent %.0f msgs/s, under --rate %" PRId64 ": the sender "
		                "fell behind, and latency leaves out how late messages started\n",
		        send_rate, r.o.rate);
	if (res.metrics)
		sb_drain(&r, &buf, &cap, &ps[0], &ps[1], &res, end_ns);
	if (r.o.verify != NULL) {
		int err = sb_verify(&r, cs, &res);

		if (err != 0) {
			fprintf(stderr, SB_PROG ": --verify %s: %s\n", r.o.verify, strerror(-err));
			goto out_close;
		}
	}
	sb_report(&r, &res);
	rc = 0;
	if (res.has_processed && !r.udp && res.unprocessed > 0) {
		fprintf(stderr,
		        SB_PROG ": the daemon did not count %.0f TCP messages as processed (lost, "
		                "or still in flight after --wait-drain %" PRId64 " s)\n",
		        res.unprocessed, r.o.wait_drain);
		rc = 2;
	}
	if (r.o.acks && (res.unacked > 0 || res.gave_up)) {
		fprintf(stderr, SB_PROG ": %" PRIu64 " frames were never acknowledged%s\n",
		        res.unacked, res.gave_up ? "; a connection gave up reconnecting" : "");
		rc = 3;
	}
	if (res.verify &&
	    (res.missing > 0 || res.duplicated > res.dup_allowed || res.unexpected > 0)) {
		fprintf(stderr,
		        SB_PROG ": --verify %s: %" PRIu64 " missing, %" PRIu64
		                " duplicated (%" PRIu64 " allowed), %" PRIu64 " unexpected\n",
		        r.o.verify, res.missing, res.duplicated, res.dup_allowed, res.unexpected);
		rc = 4;
	}

out_close:
	for (int64_t i = 0; cs != NULL && i < r.o.connections; i++) {
		sb_tls_close(&cs[i]);
		if (cs[i].fd >= 0 && cs[i].buf != NULL)
			close(cs[i].fd);
		if (cs[i].ack != NULL) {
			free(cs[i].ack->ring);
			free(cs[i].ack->sent_ns);
		}
		free(cs[i].ack);
		free(cs[i].buf);
		free(cs[i].mm);
		free(cs[i].iov);
	}
out:
	sb_tls_fini(&r);
	for (int64_t i = 0; ts != NULL && i < r.o.threads; i++)
		free(ts[i].lat);
	free(ts);
	free(cs);
	free(pfd);
	free(ps);
	free(buf);
	return rc;
}
