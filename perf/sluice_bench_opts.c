/* SPDX-License-Identifier: MIT */
/* sluice_bench_opts.c: sluice-bench's options, --help, and the connections and threads set up. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_net.h"
#include "bench_opts.h"
#include "sluice_bench.h"

static const struct bench_opt sb_opt_table[] = {
        {"--target", BENCH_OPT_STR, 0, 0, 0, "tcp://127.0.0.1:5140", "URL",
         "tcp://HOST:PORT or udp://HOST:PORT; http://HOST:PORT with --protocol otlp",
         offsetof(struct sb_opts, target)},
        {"--protocol", BENCH_OPT_STR, 0, 0, 0, "framed", "P",
         "framed (messages in --framing over --target), forward (Fluent Forward: "
         "PackedForward batches of [EventTime, {\"log\": stamp}] entries, for "
         "framing=forward) or otlp (POST /v1/logs, protobuf, keep-alive)",
         offsetof(struct sb_opts, protocol)},
        {"--batch", BENCH_OPT_INT, 512, 1, 65536, NULL, "N",
         "with --protocol otlp: log records per request", offsetof(struct sb_opts, otlp_batch)},
        {"--connections", BENCH_OPT_INT, 4, 1, 65536, NULL, "N",
         "TCP connections (UDP: sockets, one source port each)",
         offsetof(struct sb_opts, connections)},
        {"--threads", BENCH_OPT_INT, 1, 1, 256, NULL, "T",
         "sender threads; the connections are spread over them", offsetof(struct sb_opts, threads)},
        {"--size", BENCH_OPT_INT, 100, 1, SB_SIZE_MAX, NULL, "BYTES",
         "message bytes as delivered (frame payload, or datagram)", offsetof(struct sb_opts, size)},
        {"--framing", BENCH_OPT_STR, 0, 0, 0, "lines", "F", "lines, len32 or syslog",
         offsetof(struct sb_opts, framing_name)},
        {"--forward-chunk", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "with --protocol forward: each batch asks for an ack (option chunk), and a "
         "connection sends its next batch once the ack came",
         offsetof(struct sb_opts, forward_chunk)},
        {"--keys", BENCH_OPT_INT, 1000, 1, INT64_C(1) << 40, NULL, "N",
         "distinct keys (k0 .. k<N-1>)", offsetof(struct sb_opts, keys)},
        {"--dist", BENCH_OPT_STR, 0, 0, 0, "uniform", "D",
         "key distribution: uniform or zipf:S (exponent S > 0)", offsetof(struct sb_opts, dist)},
        {"--rate", BENCH_OPT_INT, 0, 0, INT64_C(10000000000), NULL, "MSGS_PER_S",
         "open-loop rate over all connections; 0: as fast as possible",
         offsetof(struct sb_opts, rate)},
        {"--duration", BENCH_OPT_INT, 0, 0, 7 * 86400, NULL, "S",
         "seconds of sending; 0: 10, or until --count", offsetof(struct sb_opts, duration)},
        {"--count", BENCH_OPT_INT, 0, 0, INT64_C(1) << 50, NULL, "N",
         "messages to send in all; 0: no limit", offsetof(struct sb_opts, count)},
        {"--metrics", BENCH_OPT_STR, 0, 0, 0, NULL, "URL",
         "sluiced's Prometheus endpoint, http://HOST:PORT[/PATH] (path /metrics)",
         offsetof(struct sb_opts, metrics)},
        {"--wait-drain", BENCH_OPT_INT, 5, 0, 3600, NULL, "S",
         "after sending, wait up to S s for processed to catch up",
         offsetof(struct sb_opts, wait_drain)},
        {"--acks", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "len32+ack: acknowledged delivery, resent after reconnects (implies --framing len32)",
         offsetof(struct sb_opts, acks)},
        {"--tls", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "a TLS session on each TCP connection (for tls:// listeners); the handshakes run "
         "before the clock starts",
         offsetof(struct sb_opts, tls)},
        {"--tls-ca", BENCH_OPT_STR, 0, 0, 0, NULL, "FILE",
         "with --tls: verify the server's certificate against this CA (PEM); default: no check",
         offsetof(struct sb_opts, tls_ca)},
        {"--reconnect-for", BENCH_OPT_INT, 30, 0, 3600, NULL, "S",
         "with --acks: reconnect for up to S s after a failure; wait as long for the last acks",
         offsetof(struct sb_opts, reconnect_for)},
        {"--verify", BENCH_OPT_STR, 0, 0, 0, NULL, "DIR",
         "the file sink's DIR: read it back, check each sent message is there once",
         offsetof(struct sb_opts, verify)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "a CSV header and one row, no progress",
         offsetof(struct sb_opts, csv)},
        {"--json", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "one JSON object, the --csv fields, no progress", offsetof(struct sb_opts, json)},
        {"--no-header", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "with --csv: the row alone",
         offsetof(struct sb_opts, no_header)},
        {"--quiet", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "no live progress line",
         offsetof(struct sb_opts, quiet)},
        {"--help", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "print this help",
         offsetof(struct sb_opts, help)},
        {"--help-man", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "print the manual page (roff, docs/sluice-bench.1)", offsetof(struct sb_opts, help_man)},
};

#define SB_NOPTS (sizeof(sb_opt_table) / sizeof(sb_opt_table[0]))

static void
zipf_init(struct sb_zipf *z, uint64_t n, double s)
{
	z->s = s;
	z->n = (double)n;
	z->h_x1 = zipf_hint(z, 1.5) - 1;
	z->h_n = zipf_hint(z, z->n + 0.5);
	z->sq = 2 - zipf_hint_inv(z, zipf_hint(z, 2.5) - zipf_h(z, 2));
}

/* ---- addresses, connections -------------------------------------------------------- */

/*
 * "HOST:PORT[rest]" or "[V6]:PORT[rest]" resolved into *ss; *rest after the port.
 * Returns 0, -EINVAL if s does not read so, or -ENOENT after saying why on stderr.
 */
static int
sb_resolve(const char *s, int type, struct sockaddr_storage *ss, socklen_t *len, const char **rest)
{
	struct addrinfo hints = {.ai_socktype = type}, *ai;
	char host[256], port[8];
	const char *colon, *end;
	size_t hl, pl;
	int rc;

	end = colon = strchr(s, ':');
	if (*s == '[') {
		end = strchr(s++, ']');
		colon = end != NULL && end[1] == ':' ? end + 1 : NULL;
	}
	if (colon == NULL)
		return -EINVAL;
	hl = (size_t)(end - s);
	pl = strspn(colon + 1, "0123456789");
	if (hl == 0 || hl >= sizeof(host) || pl == 0 || pl >= sizeof(port))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl);
	port[pl] = '\0';
	*rest = colon + 1 + pl;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, SB_PROG ": %s:%s: %s\n", host, port, gai_strerror(rc));
		return -ENOENT;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* ---- set-up ------------------------------------------------------------------------ */

const struct bench_opt *
sb_opts_table(size_t *n)
{
	*n = SB_NOPTS;
	return sb_opt_table;
}

void
sb_usage(FILE *f)
{
	fprintf(f, "usage: " SB_PROG " [options]: stamped messages to sluiced over TCP or UDP; "
	           "see the top of perf/sluice_bench.c\n");
	bench_opt_table_print(f, sb_opt_table, SB_NOPTS);
}

static int
sb_bad(const char *what, const char *val)
{
	fprintf(stderr, SB_PROG ": %s: '%s'\n", what, val);
	return -EINVAL;
}

int
sb_setup(struct sb_run *r, int argc, char **argv)
{
	struct sb_opts *o = &r->o;
	uint64_t dur_s, seq_max, ns_max, key_max, per_conn;
	uint32_t hdr_len = 0, need;
	const char *rest;
	int rc;

	if (bench_opt_table_parse(o, sb_opt_table, SB_NOPTS, SB_PROG, argc, argv) != 0)
		return -EINVAL;
	if (o->help || o->help_man)
		return 0;
	if (strcmp(o->protocol, "otlp") == 0) {
		if (strncmp(o->target, "http://", 7) != 0 || o->acks ||
		    strcmp(o->framing_name, "lines") != 0)
			return sb_bad(
			        "--protocol otlp wants an http://HOST:PORT --target, no --acks "
			        "and no --framing",
			        o->target);
		r->otlp = true;
	} else if (strcmp(o->protocol, "framed") != 0 && strcmp(o->protocol, "forward") != 0) {
		return sb_bad("--protocol wants framed, forward or otlp", o->protocol);
	} else if (strncmp(o->target, "tcp://", 6) != 0 && strncmp(o->target, "udp://", 6) != 0) {
		return sb_bad("--target wants tcp://HOST:PORT or udp://HOST:PORT", o->target);
	}
	r->udp = o->target[0] == 'u';
	rc = sb_resolve(o->target + (r->otlp ? 7 : 6), r->udp ? SOCK_DGRAM : SOCK_STREAM, &r->addr,
	                &r->addr_len, &rest);
	if (rc == -EINVAL || (rc == 0 && *rest != '\0'))
		return sb_bad("--target wants tcp://HOST:PORT or udp://HOST:PORT", o->target);
	if (rc != 0)
		return rc;
	if (o->metrics != NULL) {
		rc = strncmp(o->metrics, "http://", 7) != 0
		             ? -EINVAL
		             : sb_resolve(o->metrics + 7, SOCK_STREAM, &r->maddr, &r->maddr_len,
		                          &rest);
		if (rc == -EINVAL || (rc == 0 && *rest != '\0' && *rest != '/'))
			return sb_bad("--metrics wants http://HOST:PORT[/PATH]", o->metrics);
		if (rc != 0)
			return rc;
		r->mhost_len = (int)(rest - (o->metrics + 7));
		r->mpath = *rest == '/' ? rest : "/metrics";
	}
	if (strcmp(o->protocol, "forward") == 0) {
		if (r->udp || o->acks || o->verify != NULL || strcmp(o->framing_name, "lines") != 0)
			return sb_bad(
			        "--protocol forward sends PackedForward over TCP: it takes no "
			        "udp:// --target, --acks, --verify or --framing",
			        o->protocol);
		r->forward = true;
		o->framing_name = "forward";
		if (o->size < SB_FWD_ENTRY_HDR + 1 || o->size > 65535)
			return sb_bad("--protocol forward takes a --size of 17 to 65535 bytes "
			              "(an entry's time and record)",
			              o->protocol);
	} else if (o->forward_chunk) {
		return sb_bad("--forward-chunk goes with --protocol forward", o->protocol);
	}
	if (o->acks && strcmp(o->framing_name, "lines") == 0)
		o->framing_name = "len32"; /* the default; --acks means len32 */
	if (slc_frame_format_parse(o->framing_name, &r->framing) != 0)
		return sb_bad("--framing wants lines, len32 or syslog", o->framing_name);
	if (o->acks && (r->framing != SLC_FRAME_LEN32 || o->target[0] != 't'))
		return sb_bad("--acks speaks len32+ack over TCP; it takes --framing len32 and a "
		              "tcp:// --target",
		              o->framing_name);
	if (o->tls && (r->udp || o->acks)) {
		fprintf(stderr, SB_PROG ": --tls takes a tcp:// --target and no --acks\n");
		return -EINVAL;
	}
	if (o->tls_ca != NULL && !o->tls) {
		fprintf(stderr, SB_PROG ": --tls-ca goes with --tls\n");
		return -EINVAL;
	}
	if (strncmp(o->dist, "zipf:", 5) == 0) {
		char *end;
		double s = strtod(o->dist + 5, &end);

		if (end == o->dist + 5 || *end != '\0' || !(s > 0 && s <= 100))
			return sb_bad("--dist zipf:S wants an exponent S in (0, 100]", o->dist);
		zipf_init(&r->zipf, (uint64_t)o->keys, s);
		r->zipf_on = true;
	} else if (strcmp(o->dist, "uniform") != 0) {
		return sb_bad("--dist wants uniform or zipf:S", o->dist);
	}
	if (o->csv && o->json) {
		fprintf(stderr, SB_PROG ": --csv and --json: one of them\n");
		return -EINVAL;
	}
	if (o->threads > o->connections) {
		fprintf(stderr,
		        SB_PROG ": --threads %" PRId64 " is more than --connections %" PRId64 "\n",
		        o->threads, o->connections);
		return -EINVAL;
	}
	if (r->udp && o->size > SB_UDP_SIZE_MAX) {
		fprintf(stderr, SB_PROG ": --size over UDP is at most %u bytes\n", SB_UDP_SIZE_MAX);
		return -EINVAL;
	}
	if (o->duration == 0 && o->count == 0)
		o->duration = 10;
	r->duration_ns = (uint64_t)o->duration * 1000000000u;

	/* The stamp grows with seq and send_ns: refuse now a --size that would not hold the
	 * last message rather than fail midway (a run past these bounds still fails cleanly,
	 * in sb_fill). */
	dur_s = o->duration ? (uint64_t)o->duration : 10;
	seq_max = o->count ? (uint64_t)o->count
	                   : (o->rate ? (uint64_t)o->rate : SB_SEQ_PER_S_GUESS) * dur_s;
	ns_max = bench_now_ns() + (dur_s + 86400) * 1000000000u;
	key_max = (uint64_t)o->keys - 1;
	if (gethostname(r->host_name, sizeof(r->host_name)) != 0)
		strcpy(r->host_name, "-");
	r->host_name[sizeof(r->host_name) - 1] = '\0';
	r->host_name[strcspn(r->host_name, ". ")] = '\0';
	if (r->host_name[0] == '\0')
		strcpy(r->host_name, "-");
	if (r->framing == SLC_FRAME_SYSLOG)
		hdr_len = (uint32_t)snprintf(
		        NULL, 0, "<14>1 1970-01-01T00:00:00Z %s " SB_PROG " - - - ", r->host_name);
	need = sb_prefix_len(r, key_max, hdr_len) +
	       slc_stamp_len(key_max, (uint32_t)o->connections - 1, seq_max, ns_max);
	if ((uint64_t)o->size < need) {
		fprintf(stderr,
		        SB_PROG ": --size %" PRId64
		                " is too small: %s messages of this run need at "
		                "least %" PRIu32 " bytes for the stamp%s\n",
		        o->size, o->framing_name, need,
		        r->framing == SLC_FRAME_LINES ? "" : " and the header");
		return -EINVAL;
	}
	r->wire = (uint32_t)o->size;
	if (r->otlp) { /* a record's body: the line without its LF */
		o->framing_name = "otlp";
		r->batch = (uint32_t)o->otlp_batch;
		return 0;
	}
	if (!r->udp && r->framing == SLC_FRAME_LINES)
		r->wire += 1;
	else if (!r->udp && r->framing == SLC_FRAME_LEN32)
		r->wire += o->acks ? SB_ACK_HDR : 4;
	else if (r->forward)
		r->wire += 1; /* the entry's array header */
	else if (!r->udp)
		r->wire += slc_stamp_digits((uint64_t)o->size) + 1;
	/* Batches of 64 KiB (TCP) or 64 datagrams, smaller when there are so many connections
	 * that their buffers would pass SB_BUFFERS_MAX. */
	per_conn = SB_BUFFERS_MAX / (uint64_t)o->connections;
	r->batch = (uint32_t)((r->udp ? SB_UDP_BATCH * (uint64_t)r->wire : SB_TCP_BATCH) / r->wire);
	if ((uint64_t)r->batch * r->wire > per_conn)
		r->batch = (uint32_t)(per_conn / r->wire);
	if (r->batch == 0)
		r->batch = 1;
	return 0;
}

int
sb_threads_init(struct sb_run *r, struct sb_thread *ts, struct sb_conn *cs, struct pollfd *pfd)
{
	const struct sb_opts *o = &r->o;
	uint64_t nt = (uint64_t)o->threads, seed = bench_now_ns();
	int rc = sb_tls_setup(r);

	if (rc != 0)
		return rc;

	for (uint32_t i = 0; i < nt; i++) {
		struct sb_thread *t = &ts[i];

		t->r = r;
		/* Connections i, i + T, ... are this thread's: contiguous below. */
		t->conns = cs + (size_t)i * ((uint64_t)o->connections / nt) +
		           (i < o->connections % nt ? i : (uint64_t)o->connections % nt);
		t->nconns = (uint32_t)((uint64_t)o->connections / nt + (i < o->connections % nt));
		t->pfd = pfd + (t->conns - cs);
		t->quota = o->count ? (uint64_t)o->count / nt + (i < (uint64_t)o->count % nt)
		                    : UINT64_MAX;
		t->rate_per_ns = (double)o->rate / (double)nt / 1e9;
		t->rng = seed + i * 0x632be59bd9b4e019u;
		t->lat = malloc(sizeof(*t->lat));
		if (t->lat == NULL)
			return -ENOMEM;
		sb_hist_init(t->lat);
		for (uint32_t j = 0; j < t->nconns; j++)
			t->conns[j].id = i + j * (uint32_t)nt;
	}
	for (int64_t i = 0; i < o->connections; i++) {
		struct sb_conn *c = &cs[i];
		size_t bytes =
		        r->otlp ? sb_otlp_req_cap(r)
		                : (size_t)r->batch * r->wire +
		                          (r->forward ? SB_FWD_BATCH_HDR + SB_FWD_OPT_LEN : 0);

		c->fd = -1;
		c->buf = malloc(bytes);
		if (c->buf == NULL)
			return -ENOMEM;
		if (o->acks) {
			/* The unacknowledged frames: at most SB_ACK_SLOTS_MAX, and the
			 * connection's share of SB_BUFFERS_MAX. */
			uint64_t fit = SB_BUFFERS_MAX / (uint64_t)o->connections / r->wire;
			uint32_t slots = 1;

			while (slots * 2u <= SB_ACK_SLOTS_MAX && slots * 2u <= fit)
				slots *= 2;
			c->ack = calloc(1, sizeof(*c->ack));
			if (c->ack == NULL)
				return -ENOMEM;
			c->ack->nslots = slots;
			c->ack->ring = malloc((size_t)slots * r->wire);
			c->ack->sent_ns = calloc(slots, sizeof(*c->ack->sent_ns));
			if (c->ack->ring == NULL || c->ack->sent_ns == NULL)
				return -ENOMEM;
			c->ack->next = 1;
			c->ack->wseq = 1;
			c->ack->quota = o->count
			                        ? (uint64_t)o->count / (uint64_t)o->connections +
			                                  (c->id < (uint64_t)o->count %
			                                                   (uint64_t)o->connections)
			                        : UINT64_MAX;
			c->ack->state = SB_ACK_GREETING;
		}
		if (r->udp) {
			c->mm = calloc(r->batch, sizeof(*c->mm));
			c->iov = calloc(r->batch, sizeof(*c->iov));
			if (c->mm == NULL || c->iov == NULL)
				return -ENOMEM;
			for (uint32_t k = 0; k < r->batch; k++) {
				c->iov[k].iov_base = c->buf + (size_t)k * r->wire;
				c->iov[k].iov_len = r->wire;
				c->mm[k].msg_hdr.msg_iov = &c->iov[k];
				c->mm[k].msg_hdr.msg_iovlen = 1;
			}
		}
		c->fd = sb_connect(&r->addr, r->addr_len, r->udp ? SOCK_DGRAM : SOCK_STREAM,
		                   SB_CONNECT_MS, true);
		if (c->fd < 0) {
			fprintf(stderr,
			        SB_PROG ": cannot connect to %s (connection %" PRId64 " of %" PRId64
			                "): %s\n",
			        o->target, i + 1, o->connections, strerror(-c->fd));
			return c->fd;
		}
		if (r->tls_ctx != NULL && (rc = sb_tls_start(r, c)) != 0)
			return rc;
	}
	return 0;
}
