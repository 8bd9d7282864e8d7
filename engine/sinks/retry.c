/* SPDX-License-Identifier: MIT */
/* retry.c: backoff with full jitter and the circuit breaker (retry.h); pure logic. */
#include "retry.h"

#include <errno.h>
#include <stddef.h>

#include "metrics/expo.h"

#define MS 1000000ull

static uint32_t
or_default(uint32_t v, uint32_t dflt)
{
	return v != 0 ? v : dflt;
}

void
slc_retry_init(struct slc_retry *r, const struct slc_retry_cfg *cfg, uint64_t seed)
{
	*r = (struct slc_retry){
	        .cfg =
	                {
	                        .initial_ms =
	                                or_default(cfg->initial_ms, SLC_RETRY_INITIAL_MS_DEFAULT),
	                        .max_ms = or_default(cfg->max_ms, SLC_RETRY_MAX_MS_DEFAULT),
	                        .max_elapsed_ms = cfg->max_elapsed_ms,
	                        .breaker_failures = or_default(cfg->breaker_failures,
	                                                       SLC_RETRY_BREAKER_FAILURES_DEFAULT),
	                        .breaker_cooldown_ms =
	                                or_default(cfg->breaker_cooldown_ms,
	                                           SLC_RETRY_BREAKER_COOLDOWN_MS_DEFAULT),
	                },
	        .rng = seed != 0 ? seed : 1,
	};
	/* An unchecked cfg with initial above max would make every wait max: harmless. */
	if (r->cfg.initial_ms > r->cfg.max_ms)
		r->cfg.initial_ms = r->cfg.max_ms;
}

void
slc_retry_set_rand(struct slc_retry *r, slc_retry_rand_fn fn, void *ctx)
{
	r->rand = fn;
	r->rand_ctx = ctx;
}

static uint64_t
next_rand(struct slc_retry *r)
{
	if (r->rand != NULL)
		return r->rand(r->rand_ctx);
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

uint64_t
slc_retry_ceiling_ns(const struct slc_retry *r)
{
	uint64_t c = (uint64_t)r->cfg.initial_ms * MS;
	uint64_t max = (uint64_t)r->cfg.max_ms * MS;

	/* Doubling stops at max: no overflow however long the run. */
	for (uint32_t i = 0; i < r->failures && c < max; i++)
		c *= 2;
	return c < max ? c : max;
}

int
slc_retry_failed(struct slc_retry *r, uint64_t now_ns, uint64_t *wait_ns)
{
	uint64_t ceiling, w;

	if (r->failures == 0)
		r->first_ns = now_ns;
	ceiling = slc_retry_ceiling_ns(r);
	if (r->cfg.max_elapsed_ms != 0) {
		uint64_t deadline = r->first_ns + (uint64_t)r->cfg.max_elapsed_ms * MS;

		if (now_ns >= deadline) {
			r->failures = 0;
			return -ETIMEDOUT;
		}
		if (ceiling > deadline - now_ns)
			ceiling = deadline - now_ns;
	}
	/* Uniform over [0, ceiling]; the modulo's bias is below 2^-20 for any ceiling
	 * under an hour in ns (< 2^42), far below what a backoff can notice. */
	w = next_rand(r) % (ceiling + 1);
	if (r->failures != UINT32_MAX)
		r->failures++;
	*wait_ns = w;
	return 0;
}

uint64_t
slc_retry_left_ns(const struct slc_retry *r, uint64_t now_ns)
{
	uint64_t deadline;

	if (r->failures == 0 || r->cfg.max_elapsed_ms == 0)
		return UINT64_MAX;
	deadline = r->first_ns + (uint64_t)r->cfg.max_elapsed_ms * MS;
	return now_ns < deadline ? deadline - now_ns : 0;
}

void
slc_retry_give_up(struct slc_retry *r)
{
	r->failures = 0;
}

void
slc_retry_succeeded(struct slc_retry *r)
{
	r->failures = 0;
}

void
slc_breaker_init(struct slc_breaker *b, const struct slc_retry_cfg *cfg)
{
	*b = (struct slc_breaker){
	        .state = SLC_BREAKER_CLOSED,
	        .threshold = or_default(cfg->breaker_failures, SLC_RETRY_BREAKER_FAILURES_DEFAULT),
	        .cooldown_ns = (uint64_t)or_default(cfg->breaker_cooldown_ms,
	                                            SLC_RETRY_BREAKER_COOLDOWN_MS_DEFAULT) *
	                       MS,
	};
}

uint64_t
slc_breaker_wait_ns(struct slc_breaker *b, uint64_t now_ns, bool *changed)
{
	uint64_t until;

	*changed = false;
	if (b->state != SLC_BREAKER_OPEN)
		return 0;
	until = b->opened_ns + b->cooldown_ns;
	if (now_ns < until)
		return until - now_ns;
	b->state = SLC_BREAKER_HALF_OPEN;
	*changed = true;
	return 0;
}

bool
slc_breaker_failed(struct slc_breaker *b, uint64_t now_ns)
{
	switch (b->state) {
	case SLC_BREAKER_CLOSED:
		if (++b->failures < b->threshold)
			return false;
		break;
	case SLC_BREAKER_HALF_OPEN:
		break;
	case SLC_BREAKER_OPEN:
	default:
		/* An attempt made while open (the caller did not ask): the cool-down starts
		 * again, which is what a failed probe does too. */
		b->opened_ns = now_ns;
		return false;
	}
	b->state = SLC_BREAKER_OPEN;
	b->opened_ns = now_ns;
	b->failures = 0;
	return true;
}

bool
slc_breaker_succeeded(struct slc_breaker *b)
{
	bool changed = b->state != SLC_BREAKER_CLOSED;

	b->state = SLC_BREAKER_CLOSED;
	b->failures = 0;
	return changed;
}

const char *
slc_breaker_state_name(enum slc_breaker_state s)
{
	switch (s) {
	case SLC_BREAKER_CLOSED:
		return "closed";
	case SLC_BREAKER_OPEN:
		return "open";
	case SLC_BREAKER_HALF_OPEN:
		return "half_open";
	default:
		return "unknown";
	}
}

enum slc_retry_reason
slc_retry_reason_of_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case ECONNREFUSED:
		return SLC_RETRY_REFUSED;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
	case ESHUTDOWN:
		return SLC_RETRY_RESET;
	case ETIMEDOUT:
		return SLC_RETRY_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return SLC_RETRY_UNREACHABLE;
	case EAGAIN:
		return SLC_RETRY_LATER;
	default:
		return SLC_RETRY_OTHER;
	}
}

const char *
slc_retry_reason_name(enum slc_retry_reason r)
{
	static const char *const names[SLC_RETRY_REASONS] = {
	        [SLC_RETRY_REFUSED] = "refused",     [SLC_RETRY_RESET] = "reset",
	        [SLC_RETRY_TIMEOUT] = "timeout",     [SLC_RETRY_UNREACHABLE] = "unreachable",
	        [SLC_RETRY_TRANSPORT] = "transport", [SLC_RETRY_LATER] = "later",
	        [SLC_RETRY_OTHER] = "other",
	};

	return (unsigned)r < SLC_RETRY_REASONS ? names[r] : "other";
}

void
slc_retry_counters_open(struct slc_retry_counters *c)
{
	atomic_store_explicit(&c->state, SLC_BREAKER_CLOSED + 1, memory_order_relaxed);
}

void
slc_retry_count(struct slc_retry_counters *c, enum slc_retry_reason why)
{
	if ((unsigned)why >= SLC_RETRY_REASONS)
		why = SLC_RETRY_OTHER;
	atomic_fetch_add_explicit(&c->retries[why], 1, memory_order_relaxed);
}

void
slc_retry_count_state(struct slc_retry_counters *c, enum slc_breaker_state to)
{
	atomic_fetch_add_explicit(&c->transitions[to], 1, memory_order_relaxed);
	atomic_store_explicit(&c->state, (int)to + 1, memory_order_relaxed);
}

void
slc_retry_totals_add(struct slc_retry_totals *t, const struct slc_retry_counters *c)
{
	int s = atomic_load_explicit(&c->state, memory_order_relaxed) - 1;

	for (int i = 0; i < SLC_RETRY_REASONS; i++)
		t->retries[i] += atomic_load_explicit(&c->retries[i], memory_order_relaxed);
	for (int i = 0; i < SLC_BREAKER_STATES; i++)
		t->transitions[i] += atomic_load_explicit(&c->transitions[i], memory_order_relaxed);
	t->given_up += atomic_load_explicit(&c->given_up, memory_order_relaxed);
	if (s >= 0 && s < SLC_BREAKER_STATES)
		t->in_state[s]++;
}

void
slc_retry_metrics(struct slc_metrics_buf *b, const char *sink, const struct slc_retry_totals *t,
                  bool breaker)
{
	char l[128];

	slc_metrics_family(b, "sluice_sink_retries_total", "counter",
	                   "attempts that failed transiently and were retried, by reason");
	for (int i = 0; i < SLC_RETRY_REASONS; i++) {
		slc_metrics_labels(l, sizeof(l), "sink", sink, "reason",
		                   slc_retry_reason_name((enum slc_retry_reason)i), NULL);
		slc_metrics_u64(b, "sluice_sink_retries_total", l, t->retries[i]);
	}
	slc_metrics_family(b, "sluice_sink_retries_given_up_total", "counter",
	                   "retry runs that reached --retry-max-elapsed");
	slc_metrics_labels(l, sizeof(l), "sink", sink, NULL);
	slc_metrics_u64(b, "sluice_sink_retries_given_up_total", l, t->given_up);
	if (!breaker)
		return;
	slc_metrics_family(b, "sluice_sink_breaker_state", "gauge",
	                   "workers whose circuit breaker is in each state");
	for (int i = 0; i < SLC_BREAKER_STATES; i++) {
		slc_metrics_labels(l, sizeof(l), "sink", sink, "state",
		                   slc_breaker_state_name((enum slc_breaker_state)i), NULL);
		slc_metrics_u64(b, "sluice_sink_breaker_state", l, t->in_state[i]);
	}
	slc_metrics_family(b, "sluice_sink_breaker_transitions_total", "counter",
	                   "circuit breaker state changes, by the state entered");
	for (int i = 0; i < SLC_BREAKER_STATES; i++) {
		slc_metrics_labels(l, sizeof(l), "sink", sink, "to",
		                   slc_breaker_state_name((enum slc_breaker_state)i), NULL);
		slc_metrics_u64(b, "sluice_sink_breaker_transitions_total", l, t->transitions[i]);
	}
}
