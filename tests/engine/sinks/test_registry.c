/* SPDX-License-Identifier: MIT */
/* test_registry.c: the sink registry: lookup by scheme, specs parsed, unknown schemes refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sinks/registry.h"

Test(sink_registry, every_sink_has_a_desc_and_complete_ops)
{
	size_t n;
	const struct slc_sink_desc *const *d = slc_sink_descs(&n);

	cr_assert_eq(n, 5);
	for (size_t i = 0; i < n; i++) {
		const struct slc_sink_ops *o = slc_sink_ops_of(d[i]);

		cr_assert_not_null(o, "%s has no ops", d[i]->name);
		cr_expect_str_eq(o->name, d[i]->name);
		cr_expect_eq(o->desc, d[i]);
		cr_expect(o->create != NULL && o->worker_open != NULL && o->write != NULL &&
		                  o->worker_close != NULL && o->destroy != NULL,
		          "%s lacks a mandatory op", d[i]->name);
		cr_expect(d[i]->scheme != NULL && d[i]->syntax != NULL && d[i]->help != NULL);
		cr_expect(d[i]->nflags == 0 || d[i]->settings_size != 0, "%s", d[i]->name);
	}
}

Test(sink_registry, lookup_by_scheme)
{
	static const struct {
		const char *text;
		const char *name;
		const char *arg;
	} ok[] = {
	        {"null", "null", ""},
	        {"file:/var/spool/sluice", "file", "/var/spool/sluice"},
	        {"forward:collector:6000", "forward", "collector:6000"},
	        {"kafka://k1/events", "kafka", "k1/events"},
	        {"plugin:/x/a.so?b", "plugin", "/x/a.so?b"},
	};
	char msg[512];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *arg = NULL;
		const struct slc_sink_desc *d = slc_sink_desc_find(ok[i].text, &arg);
		const struct slc_sink_ops *o = slc_sink_lookup(ok[i].text, msg, sizeof(msg));

		cr_assert_not_null(d, "%s", ok[i].text);
		cr_expect_str_eq(d->name, ok[i].name);
		cr_expect_str_eq(arg, ok[i].arg);
		cr_assert_not_null(o, "%s", ok[i].text);
		cr_expect_eq(o->desc, d);
	}
	/* "null" is the whole value; the cancel op is there for sinks that wait on a peer. */
	cr_expect_null(slc_sink_lookup("nullx", msg, sizeof(msg)));
	cr_expect_not_null(slc_sink_lookup("kafka://k/t", msg, sizeof(msg))->cancel);
	cr_expect_not_null(slc_sink_lookup("forward:h:1", msg, sizeof(msg))->cancel);
	cr_expect_null(slc_sink_lookup("file:/x", msg, sizeof(msg))->cancel);
}

Test(sink_registry, unknown_scheme_is_refused_naming_the_known_ones)
{
	char msg[512] = "";
	struct slc_sink_spec spec;
	const char *why = NULL;

	cr_expect_null(slc_sink_lookup("s3://bucket", msg, sizeof(msg)));
	cr_expect_str_eq(msg, "unknown sink \"s3://bucket\"; known: null, file:DIR, "
	                      "forward:HOST:PORT, kafka://BROKERS/TOPIC or plugin:PATH.so[?ARG]");
	cr_expect_eq(slc_sink_spec_parse("s3://bucket", &spec, &why), -EINVAL);
	cr_expect_str_eq(why, "unknown kind");
	cr_expect_eq(slc_sink_spec_parse("kafka:k1:9092", &spec, &why), -EINVAL);
	cr_expect_str_eq(why, "unknown kind; kafka is kafka://BROKERS/TOPIC");
}

Test(sink_registry, specs_are_parsed_by_their_sink)
{
	struct slc_sink_spec spec;
	const char *why = NULL;

	cr_assert_eq(slc_sink_spec_parse("forward:[fd00::1]:6000", &spec, &why), 0);
	cr_expect_str_eq(spec.desc->name, "forward");
	cr_expect_str_eq(spec.arg, "fd00::1");
	cr_expect_eq(spec.port, 6000);
	cr_expect_eq(slc_sink_spec_parse("forward:h:0", &spec, &why), -EINVAL);
	cr_expect(strstr(why, "PORT") != NULL, "%s", why);
	cr_expect_eq(slc_sink_spec_parse("kafka://k1:9092", &spec, &why), -EINVAL);
	cr_expect(strstr(why, "/TOPIC") != NULL, "%s", why);
	cr_expect_eq(slc_sink_spec_parse("plugin:/x/a.dll", &spec, &why), -EINVAL);
	cr_expect(strstr(why, ".so") != NULL, "%s", why);
	cr_expect_eq(slc_sink_spec_parse("file:", &spec, &why), -EINVAL);
	cr_expect_str_eq(why, "nothing after the kind");
}
