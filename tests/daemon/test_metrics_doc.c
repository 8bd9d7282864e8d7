/* SPDX-License-Identifier: MIT */
/* test_metrics_doc.c: docs/metrics.md names every metric family sluiced renders, and no other. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "tls_client.h"

/*
 * sluiced is scraped with each sink and the flags that add families (a len32+ack, a UDP and
 * a tls:// and an http:// listener, --tenant, --qos-class, --key, --latency-stamps, --config, --dead-letter); the union of the families
 * is compared with the tables of docs/metrics.md: each family there with its type, and
 * every label its samples carry named in its row (histograms' le aside).
 */

#define FAMS_MAX   256
#define SCRAPE_MAX (1u << 20)

struct fam {
	char name[96];
	char type[16];
	char labels[256]; /* ",a,b," */
};

struct fams {
	struct fam f[FAMS_MAX];
	unsigned n;
};

static struct fam *
fam_find(struct fams *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->f[i].name, name) == 0)
			return &s->f[i];
	return NULL;
}

static void
label_add(struct fam *f, const char *l, size_t n)
{
	char want[72];

	if (n == 0 || n >= 64 || (n == 2 && strncmp(l, "le", 2) == 0))
		return;
	snprintf(want, sizeof(want), ",%.*s,", (int)n, l);
	if (strstr(f->labels, want) != NULL)
		return;
	if (f->labels[0] == '\0')
		snprintf(f->labels, sizeof(f->labels), "%s", want);
	else
		snprintf(f->labels + strlen(f->labels), sizeof(f->labels) - strlen(f->labels),
		         "%.*s,", (int)n, l);
}

/* The families of one scrape, and their samples' label names, into s. */
static void
collect(struct fams *s, char *text)
{
	struct fam *cur = NULL;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[96], type[16];
		const char *p;

		if (sscanf(line, "# TYPE %95s %15s", name, type) == 2) {
			cur = fam_find(s, name);
			if (cur == NULL) {
				cr_assert_lt(s->n, FAMS_MAX);
				cur = &s->f[s->n++];
				snprintf(cur->name, sizeof(cur->name), "%s", name);
				snprintf(cur->type, sizeof(cur->type), "%s", type);
			}
			continue;
		}
		if (line[0] == '#' || cur == NULL || (p = strchr(line, '{')) == NULL)
			continue;
		/* name{a="x",b="y\"z"} value: the names before each =" */
		for (p++; *p != '\0' && *p != '}';) {
			const char *eq = strchr(p, '=');

			if (eq == NULL)
				break;
			label_add(cur, p, (size_t)(eq - p));
			for (p = eq + 2; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			p += *p == '"';
			p += *p == ',';
		}
	}
}

static void
scrape(struct fams *s, const char *const *args)
{
	static struct dproc d;
	static char text[SCRAPE_MAX];

	dproc_start(&d, args);
	cr_assert_eq(dproc_scrape(&d, text, sizeof(text)), 0);
	collect(s, text);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
}

/* docs/metrics.md's rows "| `name` | type | `label`, ... | meaning |". */
static void
read_doc(struct fams *s)
{
	FILE *f = fopen(SLC_DOCS_DIR "/metrics.md", "r");
	char line[4096];

	cr_assert_not_null(f, "docs/metrics.md is missing");
	while (fgets(line, sizeof(line), f) != NULL) {
		struct fam *e;
		char *cell[4], *save = NULL;
		int n = 0;

		if (strncmp(line, "| `sluice_", 10) != 0)
			continue;
		for (char *c = strtok_r(line, "|", &save); c != NULL && n < 4;
		     c = strtok_r(NULL, "|", &save))
			cell[n++] = c;
		cr_assert_eq(n, 4, "a row of docs/metrics.md has not 4 cells: %s", line);
		cr_assert_lt(s->n, FAMS_MAX);
		e = &s->f[s->n++];
		cr_assert_eq(sscanf(cell[0], " `%95[^`]`", e->name), 1, "%s", cell[0]);
		cr_assert_eq(sscanf(cell[1], " %15s", e->type), 1, "%s", cell[1]);
		for (char *b = strchr(cell[2], '`'); b != NULL; b = strchr(b + 1, '`')) {
			char *end = strchr(b + 1, '`');

			if (end == NULL)
				break;
			label_add(e, b + 1, (size_t)(end - b - 1));
			b = end;
		}
	}
	fclose(f);
}

Test(metrics_doc, every_family_is_documented_and_every_documented_one_exists, .timeout = 120)
{
	static struct fams seen, doc;
	char dir[64], conf[96], tls_cert[96], tls_key[96], file[128], fwd_dl[128], kafka_dl[128],
	        plugin_dl[128], plugin[512];
	const char *file_args[] = {"--listen",
	                           "tcp://127.0.0.1:0?framing=len32+ack",
	                           "--listen",
	                           "udp://127.0.0.1:0",
	                           "--metrics",
	                           "127.0.0.1:0",
	                           "--sink",
	                           file,
	                           "--key",
	                           "field:1",
	                           "--latency-stamps",
	                           "start",
	                           "--config",
	                           conf,
	                           NULL};
	const char *null_args[] = {
	        "--listen", "tcp://127.0.0.1:0", "--metrics", "127.0.0.1:0", "--sink", "null",
	        NULL};
	const char *fwd_args[] = {"--listen",
	                          "tcp://127.0.0.1:0",
	                          "--metrics",
	                          "127.0.0.1:0",
	                          "--sink",
	                          "forward:127.0.0.1:1",
	                          "--dead-letter",
	                          fwd_dl,
	                          "--drain-timeout",
	                          "1s",
	                          NULL};
	const char *kafka_args[] = {"--listen",
	                            "tcp://127.0.0.1:0",
	                            "--metrics",
	                            "127.0.0.1:0",
	                            "--sink",
	                            "kafka://127.0.0.1:1/t",
	                            "--dead-letter",
	                            kafka_dl,
	                            "--drain-timeout",
	                            "1s",
	                            NULL};
	const char *tls_args[] = {
	        "--listen", "tls://127.0.0.1:0", "--metrics", "127.0.0.1:0", "--sink",
	        "null",     "--tls-cert",        tls_cert,    "--tls-key",   tls_key,
	        NULL};
	const char *tenant_args[] = {"--listen",    "tcp://127.0.0.1:0",
	                             "--metrics",   "127.0.0.1:0",
	                             "--sink",      "null",
	                             "--tenant",    "a:cidr=127.0.0.0/8,class=gold,rate=1000",
	                             "--qos-class", "gold:weight=8",
	                             NULL};
	const char *http_args[] = {
	        "--listen", "http://127.0.0.1:0", "--metrics", "127.0.0.1:0", "--sink", "null",
	        NULL};
	const char *plugin_args[] = {
	        "--listen", "tcp://127.0.0.1:0", "--metrics", "127.0.0.1:0", "--sink",
	        plugin,     "--dead-letter",     plugin_dl,   NULL};
	unsigned bad = 0;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/sluice-mdoc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/sluiced.conf", dir);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "log-level = info\n");
	cr_assert_eq(fclose(f), 0);
	snprintf(file, sizeof(file), "file:%s/file", dir);
	snprintf(fwd_dl, sizeof(fwd_dl), "%s/dl-forward", dir);
	snprintf(kafka_dl, sizeof(kafka_dl), "%s/dl-kafka", dir);
	snprintf(plugin_dl, sizeof(plugin_dl), "%s/dl-plugin", dir);
	snprintf(plugin, sizeof(plugin), "plugin:%s?%s/plugin.out", SLC_PLUGIN_EXAMPLE, dir);

	scrape(&seen, file_args);
	scrape(&seen, null_args);
	scrape(&seen, fwd_args);
#ifndef SLC_TSAN
	/* Under TSan a kafka:// sluiced cannot start (test_kafka_health.c says why): its
	 * families are then only checked to exist in the other builds. */
	scrape(&seen, kafka_args);
#else
	(void)kafka_args;
#endif
	scrape(&seen, plugin_args);
	tlsc_make_certs(dir);
	snprintf(tls_cert, sizeof(tls_cert), "%s/srv.pem", dir);
	snprintf(tls_key, sizeof(tls_key), "%s/srv.key", dir);
	scrape(&seen, tls_args);
	scrape(&seen, tenant_args);
	scrape(&seen, http_args);
	read_doc(&doc);

	for (unsigned i = 0; i < seen.n; i++) {
		const struct fam *s = &seen.f[i], *e = fam_find(&doc, s->name);
		char *save = NULL, labels[256];

		if (e == NULL) {
			cr_expect(false, "docs/metrics.md lacks %s (%s)", s->name, s->type);
			bad++;
			continue;
		}
		cr_expect_str_eq(e->type, s->type, "%s: docs/metrics.md says %s", s->name, e->type);
		snprintf(labels, sizeof(labels), "%s", s->labels);
		for (char *l = strtok_r(labels, ",", &save); l != NULL;
		     l = strtok_r(NULL, ",", &save)) {
			char want[72];

			snprintf(want, sizeof(want), ",%s,", l);
			cr_expect_not_null(strstr(e->labels, want),
			                   "%s: docs/metrics.md does not name its label %s",
			                   s->name, l);
		}
	}
	for (unsigned i = 0; i < doc.n; i++) {
#ifdef SLC_TSAN
		if (strncmp(doc.f[i].name, "sluice_sink_kafka_", 18) == 0)
			continue;
#endif
#ifdef SLC_SANITIZED
		/* Sanitizer builds allocate with libc malloc: no jemalloc to report on. */
		if (strncmp(doc.f[i].name, "sluice_jemalloc_", 16) == 0)
			continue;
#endif
		if (fam_find(&seen, doc.f[i].name) == NULL) {
			cr_expect(false,
			          "docs/metrics.md documents %s, which sluiced no longer renders",
			          doc.f[i].name);
			bad++;
		}
	}
	cr_expect_eq(bad, 0);
	/* A floor that says the scrapes worked (99 families in release, 89 under TSan). */
	cr_expect_gt(seen.n, 80, "the scrapes found only %u families", seen.n);
	dproc_remove_dir(dir);
}
