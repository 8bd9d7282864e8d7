/* SPDX-License-Identifier: MIT */
/* kafka_spec.c: what the flag parser knows of the Kafka sink: kafka:// values, --kafka-prop. */
#include "kafka.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "base/addr.h"
#include "cfg_types.h"
#include "common.h"

static_assert(SLC_CFG_PROPS_MAX == SLC_SINK_KAFKA_PROPS_MAX,
              "--kafka-prop holds what the sink takes");

/* One BROKER: HOST[:PORT] or [IPv6][:PORT]. */
static bool
broker_ok(const char *b, size_t n)
{
	char host[SLC_ADDR_HOST_MAX + 1];
	const char *why;
	uint16_t port;

	return slc_addr_split(b, n, true, host, sizeof(host), &port, &why) == 0;
}

static bool
topic_ok(const char *t, size_t n)
{
	if (n == 0 || n > SLC_SINK_KAFKA_TOPIC_MAX || (n == 1 && t[0] == '.') ||
	    (n == 2 && t[0] == '.' && t[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = t[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return false;
	}
	return true;
}

int
slc_sink_kafka_spec_parse(const char *spec, struct slc_sink_kafka_spec *out, const char **why)
{
	const char *q, *end, *slash = NULL, *b;
	const char *dummy;
	bool per_worker = false;
	size_t bn, tn;

	if (why == NULL)
		why = &dummy;
	if (spec == NULL) {
		*why = "no spec";
		return -EINVAL;
	}
	q = strchr(spec, '?');
	end = q != NULL ? q : spec + strlen(spec);
	for (const char *p = spec; p < end; p++)
		if (*p == '/')
			slash = p;
	if (slash == NULL) {
		*why = "no /TOPIC after the brokers";
		return -EINVAL;
	}
	bn = (size_t)(slash - spec);
	tn = (size_t)(end - slash - 1);
	if (bn == 0) {
		*why = "no BROKER before /TOPIC";
		return -EINVAL;
	}
	if (bn > SLC_SINK_KAFKA_BROKERS_MAX) {
		*why = "the BROKER list is longer than 1024 characters";
		return -EINVAL;
	}
	for (b = spec; b < slash;) {
		const char *comma = memchr(b, ',', (size_t)(slash - b));
		size_t n = (size_t)((comma != NULL ? comma : slash) - b);

		if (!broker_ok(b, n)) {
			*why = "a BROKER is not HOST[:PORT] or [IPv6][:PORT] (PORT 1..65535)";
			return -EINVAL;
		}
		b += n + (comma != NULL);
		if (comma != NULL && b == slash) {
			*why = "a BROKER is not HOST[:PORT] or [IPv6][:PORT] (PORT 1..65535)";
			return -EINVAL;
		}
	}
	if (!topic_ok(slash + 1, tn)) {
		*why = "TOPIC is not 1..249 of letters, digits, '.', '_' and '-'";
		return -EINVAL;
	}
	if (q != NULL) {
		if (strcmp(q + 1, "producers=per-worker") == 0) {
			per_worker = true;
		} else if (strcmp(q + 1, "producers=shared") != 0) {
			*why = "the only option is ?producers=shared or ?producers=per-worker";
			return -EINVAL;
		}
	}
	if (out != NULL) {
		memcpy(out->brokers, spec, bn);
		out->brokers[bn] = '\0';
		memcpy(out->topic, slash + 1, tn);
		out->topic[tn] = '\0';
		out->per_worker = per_worker;
	}
	return 0;
}

static int
kafka_parse_spec(const char *arg, struct slc_sink_spec *out, const char **why)
{
	if (slc_sink_kafka_spec_parse(arg, NULL, why) != 0)
		return -EINVAL;
	memcpy(out->arg, arg, strlen(arg) + 1);
	return 0;
}

static const struct slc_cfg_opt flags[] = {
        {.name = "--kafka-prop",
         .type = SLC_CFG_PROPS,
         .group = SLC_CFG_G_SINK,
         .metavar = "NAME=VALUE",
         .unset = "none",
         .flags = SLC_CFG_F_SINK_ONLY,
         .allowed = "NAME=VALUE, NAME a librdkafka property; up to 32 names",
         .help = "A librdkafka property for the kafka sink: linger.ms, batch.size, "
                 "compression.type, acks, security.protocol, sasl.*, ssl.*, ... Repeatable; "
                 "a NAME given again replaces its value. librdkafka checks names and values "
                 "at start-up. The start-up log hides values of names with password, secret "
                 "or pem in them.",
         SLC_CFG_FIELD(struct slc_sink_kafka_settings, props)},
};

const struct slc_sink_desc slc_sink_kafka_desc = {
        .name = "kafka",
        .scheme = "kafka://",
        .syntax = "kafka://BROKERS/TOPIC",
        .help = "kafka: records of TOPIC keyed by --key, BROKERS a comma-separated list of "
                "HOST[:PORT]; ?producers=per-worker gives each worker its own producer "
                "(default shared; docs/scale-out.md).",
        .unknown_hint = "unknown kind; kafka is kafka://BROKERS/TOPIC",
        .parse_spec = kafka_parse_spec,
        .flags = flags,
        .nflags = sizeof(flags) / sizeof(flags[0]),
        .settings_size = sizeof(struct slc_sink_kafka_settings),
};
