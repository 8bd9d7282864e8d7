/* SPDX-License-Identifier: MIT */
/* bench_kafka.c: the Kafka sink against librdkafka's own producer loop, into a mock cluster. */
/*
 * What sluice adds on top of the client it feeds. Both sides produce the same N keyed
 * records of --size bytes into librdkafka's in-process mock cluster (--brokers brokers, a
 * topic of --partitions partitions), with the same properties (the sink's defaults:
 * enable.idempotence=true, partitioner=murmur2_random; librdkafka's own for the rest, plus
 * any --prop), and are timed from the first record to the last delivery report:
 *
 *   librdkafka  a minimal producer loop: rd_kafka_produce(RD_KAFKA_MSG_F_COPY) with the key
 *               already at hand, rd_kafka_poll(rk, 0) every --batch records, a 10 ms poll
 *               when the queue is full, then rd_kafka_flush until every report came;
 *   sluice      the sink's write() in batches of --batch records, as a worker calls it,
 *               the key found in each record by the daemon's own key code (--key field:1),
 *               then sync(); once with producers=shared, once with per-worker.
 *
 * Each run gets a fresh mock cluster (it keeps every record in memory); the configurations
 * take turns within a run, each run starting with the next one, --runs times. msgs_per_s
 * is the median over the runs. ratio is the median over the runs of the configuration's
 * rate divided by librdkafka's in the same run: the two ran seconds apart, so a machine
 * whose load drifts moves both. Target: sluice >= 0.8 x librdkafka.
 *
 *   bench_kafka                                   # 1M records of 100 bytes, 3 runs
 *   bench_kafka --csv --runs 5
 *   bench_kafka --messages 200000 --prop linger.ms=20 --prop compression.type=lz4
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_opts.h"
#include "bench_util.h"
#include "route/key.h"
#include "sinks/kafka.h"

#define TOPIC     "bench"
#define PAYLOADS  4096 /* distinct payloads, reused round robin */
#define PROPS_MAX 8

struct opts {
	int64_t messages;
	int64_t size;
	int64_t keys;
	int64_t batch;
	int64_t runs;
	int64_t brokers;
	int64_t partitions;
	const char *configs;
	const char *prop;
	bool csv;
};

static const struct bench_opt opt_table[] = {
        {"--messages", BENCH_OPT_INT, 1000000, 1000, 100000000, NULL, "N", "records per run",
         offsetof(struct opts, messages)},
        {"--size", BENCH_OPT_INT, 100, 16, 1 << 20, NULL, "BYTES", "bytes per record",
         offsetof(struct opts, size)},
        {"--keys", BENCH_OPT_INT, 1000, 1, 1000000, NULL, "K", "distinct keys, round robin",
         offsetof(struct opts, keys)},
        {"--batch", BENCH_OPT_INT, 64, 1, 4096, NULL, "N",
         "records per write() call (and per poll of the librdkafka loop)",
         offsetof(struct opts, batch)},
        {"--runs", BENCH_OPT_INT, 3, 1, 100, NULL, "N", "runs (the median is shown)",
         offsetof(struct opts, runs)},
        {"--brokers", BENCH_OPT_INT, 3, 1, 16, NULL, "N", "brokers of the mock cluster",
         offsetof(struct opts, brokers)},
        {"--partitions", BENCH_OPT_INT, 6, 1, 256, NULL, "N", "partitions of the topic",
         offsetof(struct opts, partitions)},
        {"--configs", BENCH_OPT_STR, 0, 0, 0, "librdkafka,shared,per-worker", "LIST",
         "configurations, in order; librdkafka is always run (the ratios' base)",
         offsetof(struct opts, configs)},
        {"--prop", BENCH_OPT_STR, 0, 0, 0, NULL, "NAME=VALUE[;NAME=VALUE...]",
         "librdkafka properties for both sides", offsetof(struct opts, prop)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "one CSV row per configuration",
         offsetof(struct opts, csv)},
};

enum config { CFG_LIBRDKAFKA, CFG_SHARED, CFG_PER_WORKER, CFG_COUNT };
static const char *const config_name[CFG_COUNT] = {"librdkafka", "shared", "per-worker"};

struct bench {
	const struct opts *o;
	const char *props[PROPS_MAX];
	uint32_t nprops;
	char bootstraps[512];
	uint8_t *payload;  /* PAYLOADS records of size bytes: "k<key> <n> aaaa..." */
	uint32_t *key_len; /* of each payload's key, the bytes before its first space */
	struct slc_key_spec key;
};

static void
quiet_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (level > 1)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the mock cluster: a fresh one per run ---- */

struct mock {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
};

static int
mock_start(struct bench *b, struct mock *m)
{
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (m->rk == NULL) {
		fprintf(stderr, "bench_kafka: %s\n", errstr);
		return -EINVAL;
	}
	m->mc = rd_kafka_mock_cluster_new(m->rk, (int)b->o->brokers);
	if (m->mc == NULL ||
	    rd_kafka_mock_topic_create(m->mc, TOPIC, (int)b->o->partitions,
	                               (int)(b->o->brokers < 3 ? b->o->brokers : 3)) != 0) {
		fprintf(stderr, "bench_kafka: cannot start the mock cluster\n");
		return -EIO;
	}
	snprintf(b->bootstraps, sizeof(b->bootstraps), "%s",
	         rd_kafka_mock_cluster_bootstraps(m->mc));
	return 0;
}

static void
mock_stop(struct mock *m)
{
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
}

/* ---- librdkafka alone ---- */

static uint64_t delivered, failed;

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		failed++;
	else
		delivered++;
}

static int
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char errstr[256];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "bench_kafka: %s: %s\n", name, errstr);
		return -EINVAL;
	}
	return 0;
}

/* Records per second, or a negative errno. The same properties as the sink's. */
static double
run_librdkafka(struct bench *b)
{
	const struct opts *o = b->o;
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	uint64_t t0, n = (uint64_t)o->messages;

	if (conf_set(conf, "client.id", "bench") != 0 ||
	    conf_set(conf, "enable.idempotence", "true") != 0 ||
	    conf_set(conf, "partitioner", "murmur2_random") != 0 ||
	    conf_set(conf, "bootstrap.servers", b->bootstraps) != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < b->nprops; i++) {
		char name[256];
		const char *eq = strchr(b->props[i], '=');

		snprintf(name, sizeof(name), "%.*s", (int)(eq - b->props[i]), b->props[i]);
		if (conf_set(conf, name, eq + 1) != 0)
			return -EINVAL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "bench_kafka: %s\n", errstr);
		return -EINVAL;
	}
	rkt = rd_kafka_topic_new(rk, TOPIC, NULL);
	delivered = failed = 0;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *p = b->payload + (i % PAYLOADS) * (size_t)o->size;

		while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, p,
		                        (size_t)o->size, p, b->key_len[i % PAYLOADS], NULL) != 0) {
			if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				fprintf(stderr, "bench_kafka: produce: %s\n",
				        rd_kafka_err2str(rd_kafka_last_error()));
				return -EIO;
			}
			rd_kafka_poll(rk, 10);
		}
		if (i % (uint64_t)o->batch == (uint64_t)o->batch - 1)
			rd_kafka_poll(rk, 0);
	}
	while (delivered + failed < n)
		rd_kafka_flush(rk, 100);
	t0 = bench_now_ns() - t0;
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	if (failed != 0) {
		fprintf(stderr, "bench_kafka: librdkafka: %llu records failed\n",
		        (unsigned long long)failed);
		return -EIO;
	}
	return (double)n * 1e9 / (double)t0;
}

/* ---- the sink ---- */

static int
bench_key(void *ctx, const struct slc_msg *m, const uint8_t **key, uint32_t *key_len)
{
	const struct bench *b = ctx;

	/* What the daemon's sink_key does: slc_key_extract with --key's spec. */
	return slc_key_extract(&b->key, m->data, m->len, key, key_len) == 0 ? 0 : -ENOENT;
}

static double
run_sink(struct bench *b, bool per_worker)
{
	const struct opts *o = b->o;
	char spec[700];
	struct slc_sink_kafka_cfg cfg = {
	        .spec = spec,
	        .props = b->props,
	        .nprops = b->nprops,
	        .workers = 1,
	        .key_fn = bench_key,
	        .key_ctx = b,
	        .log = quiet_log,
	};
	struct slc_msg *msgs = calloc((size_t)o->batch, sizeof(*msgs));
	struct slc_sink_kafka_stats st;
	struct slc_sink_worker *w;
	uint64_t t0, n = (uint64_t)o->messages, done = 0;
	void *s;
	int err = 0;

	snprintf(spec, sizeof(spec), "%s/%s%s", b->bootstraps, TOPIC,
	         per_worker ? "?producers=per-worker" : "");
	s = slc_sink_kafka_create(&cfg, &err);
	if (s == NULL || msgs == NULL)
		return err != 0 ? err : -ENOMEM;
	err = slc_sink_kafka_ops.worker_open(s, 0, &w);
	if (err != 0)
		return err;
	t0 = bench_now_ns();
	while (done < n) {
		uint32_t k =
		        n - done < (uint64_t)o->batch ? (uint32_t)(n - done) : (uint32_t)o->batch;

		for (uint32_t i = 0; i < k; i++) {
			msgs[i].data = b->payload + ((done + i) % PAYLOADS) * (size_t)o->size;
			msgs[i].len = (uint32_t)o->size;
		}
		err = slc_sink_kafka_ops.write(w, msgs, k);
		if (err != 0)
			break;
		done += k;
	}
	if (err == 0)
		err = slc_sink_kafka_ops.sync(w);
	t0 = bench_now_ns() - t0;
	slc_sink_kafka_ops.worker_close(w);
	slc_sink_kafka_stats(s, &st);
	slc_sink_kafka_ops.destroy(s);
	free(msgs);
	if (err != 0 || st.delivered != n) {
		fprintf(stderr, "bench_kafka: sink: %s, %llu of %llu delivered\n", strerror(-err),
		        (unsigned long long)st.delivered, (unsigned long long)n);
		return err != 0 ? err : -EIO;
	}
	return (double)n * 1e9 / (double)t0;
}

/* ---- main ---- */

static int
parse_configs(const char *s, bool *on)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		int c;

		for (c = 0; c < CFG_COUNT && strcmp(t, config_name[c]) != 0; c++)
			;
		if (c == CFG_COUNT) {
			fprintf(stderr,
			        "bench_kafka: --configs: \"%s\" is not one of librdkafka, shared, "
			        "per-worker\n",
			        t);
			return -EINVAL;
		}
		on[c] = true;
	}
	on[CFG_LIBRDKAFKA] = true;
	return 0;
}

/* "a=1;b=2" into b->props (pointers into a copy that lives as long as the process). */
static int
parse_props(struct bench *b, const char *s)
{
	char *copy, *save = NULL;

	if (s == NULL)
		return 0;
	copy = strdup(s);
	if (copy == NULL)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ";", &save); t != NULL; t = strtok_r(NULL, ";", &save)) {
		if (strchr(t, '=') == NULL || t[0] == '=' || b->nprops == PROPS_MAX) {
			fprintf(stderr,
			        "bench_kafka: --prop: \"%s\" is not NAME=VALUE (at most %d)\n", t,
			        PROPS_MAX);
			return -EINVAL;
		}
		b->props[b->nprops++] = t;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	struct bench b = {.o = &o};
	bool on[CFG_COUNT] = {false};
	double *rate[CFG_COUNT], *ratio[CFG_COUNT], med[CFG_COUNT] = {0}, rmed[CFG_COUNT] = {0};

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: bench_kafka [options]\n");
			bench_opt_table_print(stdout, opt_table,
			                      sizeof(opt_table) / sizeof(opt_table[0]));
			return 0;
		}
	if (bench_opt_table_parse(&o, opt_table, sizeof(opt_table) / sizeof(opt_table[0]),
	                          "bench_kafka", argc, argv) != 0 ||
	    parse_configs(o.configs, on) != 0 || parse_props(&b, o.prop) != 0)
		return 2;
	if (slc_key_spec_parse("field:1", &b.key, NULL, 0) != 0)
		return 1;
	b.payload = malloc((size_t)PAYLOADS * (size_t)o.size);
	b.key_len = malloc(PAYLOADS * sizeof(*b.key_len));
	for (int c = 0; c < CFG_COUNT; c++) {
		rate[c] = calloc((size_t)o.runs, sizeof(double));
		ratio[c] = calloc((size_t)o.runs, sizeof(double));
		if (rate[c] == NULL || ratio[c] == NULL)
			return 1;
	}
	if (b.payload == NULL || b.key_len == NULL)
		return 1;
	for (uint32_t i = 0; i < PAYLOADS; i++) {
		uint8_t *p = b.payload + (size_t)i * (size_t)o.size;
		char head[64];
		int n = snprintf(head, sizeof(head), "k%u %u ", i % (uint32_t)o.keys, i);

		memset(p, 'a' + (int)(i % 26), (size_t)o.size);
		memcpy(p, head, (size_t)n < (size_t)o.size ? (size_t)n : (size_t)o.size);
		b.key_len[i] = (uint32_t)(strchr(head, ' ') - head);
	}

	for (int64_t r = 0; r < o.runs; r++) {
		for (int i = 0; i < CFG_COUNT; i++) {
			/* Each run starts with another configuration: none is always first. */
			int c = (int)((i + r) % CFG_COUNT);
			struct mock m;

			if (!on[c])
				continue;
			if (mock_start(&b, &m) != 0)
				return 1;
			rate[c][r] = c == CFG_LIBRDKAFKA ? run_librdkafka(&b)
			                                 : run_sink(&b, c == CFG_PER_WORKER);
			mock_stop(&m);
			if (rate[c][r] < 0) {
				fprintf(stderr, "bench_kafka: %s failed: %s\n", config_name[c],
				        strerror((int)-rate[c][r]));
				return 1;
			}
			if (!o.csv)
				fprintf(stderr, "run %lld %-10s %10.0f msgs/s\n", (long long)r + 1,
				        config_name[c], rate[c][r]);
		}
	}
	for (int c = 0; c < CFG_COUNT; c++) {
		if (!on[c])
			continue;
		for (int64_t r = 0; r < o.runs; r++)
			ratio[c][r] = rate[c][r] / rate[CFG_LIBRDKAFKA][r];
		med[c] = bench_median(rate[c], (size_t)o.runs);
		rmed[c] = bench_median(ratio[c], (size_t)o.runs);
	}

	if (o.csv)
		printf("config,librdkafka_version,messages,size,keys,batch,brokers,partitions,runs,"
		       "msgs_per_s,ratio\n");
	else
		printf("%-10s %9s %5s %6s %12s %7s\n", "config", "messages", "size", "runs",
		       "msgs/s", "ratio");
	for (int c = 0; c < CFG_COUNT; c++) {
		if (!on[c])
			continue;
		if (o.csv)
			printf("%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%.0f,%.3f\n",
			       config_name[c], rd_kafka_version_str(), (long long)o.messages,
			       (long long)o.size, (long long)o.keys, (long long)o.batch,
			       (long long)o.brokers, (long long)o.partitions, (long long)o.runs,
			       med[c], rmed[c]);
		else
			printf("%-10s %9lld %5lld %6lld %12.0f %7.3f\n", config_name[c],
			       (long long)o.messages, (long long)o.size, (long long)o.runs, med[c],
			       rmed[c]);
	}
	if (!o.csv)
		printf("librdkafka %s, mock cluster of %lld brokers, %lld partitions; msgs/s: "
		       "median of %lld runs; ratio: median of each run's ratio to librdkafka; "
		       "target >= 0.8\n",
		       rd_kafka_version_str(), (long long)o.brokers, (long long)o.partitions,
		       (long long)o.runs);
	for (int c = 0; c < CFG_COUNT; c++) {
		free(rate[c]);
		free(ratio[c]);
	}
	free(b.payload);
	free(b.key_len);
	return 0;
}
