/* SPDX-License-Identifier: MIT */
/* retry.h: retries with exponential backoff and full jitter, and a circuit breaker; pure logic. */
#ifndef SLC_ENGINE_SINKS_RETRY_H
#define SLC_ENGINE_SINKS_RETRY_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * What every sink that waits on a peer (forward, Kafka, a plugin that answers "retry
 * later") does when an attempt fails transiently. Nothing here reads a clock, sleeps or
 * allocates: the caller passes the time in and waits itself, so tests drive it with an
 * injected clock and random source. One struct slc_retry and one struct slc_breaker per
 * worker (one thread): no locking.
 *
 * Backoff: the n-th wait after consecutive failures (n = 0, 1, ...) is drawn uniformly
 * from [0, min(max_ms, initial_ms * 2^n)] ("full jitter": workers that lost the peer
 * together spread out over the whole window instead of coming back in step). When
 * max_elapsed_ms is set, no attempt is made later than max_elapsed_ms after the first
 * failure of the run: the last wait is cut to end at that deadline, and the failure after
 * it reports -ETIMEDOUT (give up: the caller's policy says what then). A success ends
 * the run.
 *
 * The breaker (forward, Kafka), one per peer connection:
 *
 *            breaker_failures consecutive failures
 *   CLOSED ----------------------------------------> OPEN  (no attempt for cooldown_ms)
 *     ^                                                |  ^
 *     | success                       cooldown elapsed |  | the probe failed
 *     |                                                v  |
 *     +------------------------------------------- HALF_OPEN (one probe attempt)
 *
 * While it is open, a sink does not hammer a dead peer: it waits out the cool-down, then
 * makes one probe; a success closes it, a failure opens it for another cool-down.
 */

#define SLC_RETRY_INITIAL_MS_DEFAULT          100u
#define SLC_RETRY_MAX_MS_DEFAULT              5000u
#define SLC_RETRY_BREAKER_FAILURES_DEFAULT    5u
#define SLC_RETRY_BREAKER_COOLDOWN_MS_DEFAULT 10000u
#define SLC_RETRY_LIMIT_MS                    3600000u /* largest wait or cool-down: 1 h */

/* Settings; 0 in a field means its default (max_elapsed_ms: retry for ever). */
struct slc_retry_cfg {
	uint32_t initial_ms;          /* --retry-initial: the first wait's upper bound */
	uint32_t max_ms;              /* --retry-max: no wait is longer */
	uint32_t max_elapsed_ms;      /* --retry-max-elapsed: 0: never give up */
	uint32_t breaker_failures;    /* --breaker-failures: failures in a row that open it */
	uint32_t breaker_cooldown_ms; /* --breaker-cooldown: how long it stays open */
};

/* Why an attempt failed, for sluice_sink_retries_total{sink,reason}. */
enum slc_retry_reason {
	SLC_RETRY_REFUSED,     /* connection refused */
	SLC_RETRY_RESET,       /* connection reset, broken or closed by the peer */
	SLC_RETRY_TIMEOUT,     /* connect or request timed out (Kafka: broker timeout) */
	SLC_RETRY_UNREACHABLE, /* no route to the host or network */
	SLC_RETRY_TRANSPORT,   /* Kafka: a transport error or broker down */
	SLC_RETRY_LATER,       /* a plugin answered "retry later" */
	SLC_RETRY_OTHER,
	SLC_RETRY_REASONS
};

enum slc_breaker_state {
	SLC_BREAKER_CLOSED,
	SLC_BREAKER_OPEN,
	SLC_BREAKER_HALF_OPEN,
	SLC_BREAKER_STATES
};

/* A random 64-bit value; for tests. */
typedef uint64_t (*slc_retry_rand_fn)(void *ctx);

struct slc_retry {
	struct slc_retry_cfg cfg; /* defaults filled in */
	uint32_t failures;        /* in the current run; 0: no run */
	uint64_t first_ns;        /* when the run's first failure was */
	uint64_t rng;             /* xorshift64 state, never 0 */
	slc_retry_rand_fn rand;   /* NULL: rng */
	void *rand_ctx;
};

struct slc_breaker {
	enum slc_breaker_state state;
	uint32_t failures;  /* consecutive, while closed */
	uint32_t threshold; /* breaker_failures */
	uint64_t cooldown_ns;
	uint64_t opened_ns; /* when it last opened */
};

/* Counters of one worker, for the metrics (the worker adds, any thread reads). */
struct slc_retry_counters {
	_Atomic uint64_t retries[SLC_RETRY_REASONS];
	_Atomic uint64_t transitions[SLC_BREAKER_STATES]; /* by the state entered */
	_Atomic uint64_t given_up;                        /* runs ended by max_elapsed */
	/* enum slc_breaker_state + 1; 0: no worker uses these counters (not in the gauge) */
	_Atomic int state;
};

/*
 * Checks cfg: 0, or -EINVAL with *why a static phrase (initial above max, a wait or
 * cool-down above SLC_RETRY_LIMIT_MS, max_elapsed shorter than initial). Inline: the flag
 * parser, which links no sink, checks with it too.
 */
static inline int
slc_retry_cfg_check(const struct slc_retry_cfg *cfg, const char **why)
{
	uint32_t initial = cfg->initial_ms != 0 ? cfg->initial_ms : SLC_RETRY_INITIAL_MS_DEFAULT;
	uint32_t max = cfg->max_ms != 0 ? cfg->max_ms : SLC_RETRY_MAX_MS_DEFAULT;

	if (max > SLC_RETRY_LIMIT_MS || initial > SLC_RETRY_LIMIT_MS ||
	    cfg->breaker_cooldown_ms > SLC_RETRY_LIMIT_MS) {
		*why = "a retry wait or breaker cool-down is longer than 1 h";
		return -EINVAL;
	}
	if (initial > max) {
		*why = "--retry-initial is longer than --retry-max";
		return -EINVAL;
	}
	if (cfg->max_elapsed_ms != 0 && cfg->max_elapsed_ms < initial) {
		*why = "--retry-max-elapsed is shorter than --retry-initial";
		return -EINVAL;
	}
	return 0;
}

/* Fills in cfg's defaults into r, no run under way; seed 0 is taken as 1. */
void slc_retry_init(struct slc_retry *r, const struct slc_retry_cfg *cfg, uint64_t seed);

/* Uses fn(ctx) instead of the built-in generator (tests). */
void slc_retry_set_rand(struct slc_retry *r, slc_retry_rand_fn fn, void *ctx);

/*
 * An attempt failed at now_ns: 0 and *wait_ns, how long to wait before the next attempt
 * (full jitter, see above; never past the max_elapsed deadline); or -ETIMEDOUT when
 * max_elapsed_ms has passed since the run's first failure (the run ends: the next failure
 * starts a new one).
 */
int slc_retry_failed(struct slc_retry *r, uint64_t now_ns, uint64_t *wait_ns);

/* How long from now_ns until max_elapsed_ms ends the current run (0: it has); UINT64_MAX
 * when there is no run or no max_elapsed_ms. A caller that must wait longer than this
 * for another reason (an open breaker) gives up at the deadline instead. */
uint64_t slc_retry_left_ns(const struct slc_retry *r, uint64_t now_ns);

/* Ends the current run as a -ETIMEDOUT from slc_retry_failed would. */
void slc_retry_give_up(struct slc_retry *r);

/* The upper bound of the next wait, in ns (for logs and tests). */
uint64_t slc_retry_ceiling_ns(const struct slc_retry *r);

/* An attempt succeeded: the run ends, the next failure waits at most initial_ms again. */
void slc_retry_succeeded(struct slc_retry *r);

/* A closed breaker with cfg's threshold and cool-down (defaults filled in). */
void slc_breaker_init(struct slc_breaker *b, const struct slc_retry_cfg *cfg);

/*
 * Before an attempt at now_ns: 0 when it may go (closed, or half-open: the probe), else
 * the ns left of the cool-down. An open breaker whose cool-down is over turns half-open
 * here; *changed says whether the state changed.
 */
uint64_t slc_breaker_wait_ns(struct slc_breaker *b, uint64_t now_ns, bool *changed);

/* An attempt failed at now_ns. Returns true when the state changed (closed -> open at the
 * threshold; half-open -> open). */
bool slc_breaker_failed(struct slc_breaker *b, uint64_t now_ns);

/* An attempt succeeded. Returns true when the state changed (to closed). */
bool slc_breaker_succeeded(struct slc_breaker *b);

/* "closed", "open", "half_open". */
const char *slc_breaker_state_name(enum slc_breaker_state s);

/* The reason of an errno value (positive or negative): ECONNREFUSED refused, ... */
enum slc_retry_reason slc_retry_reason_of_errno(int err);

/* "refused", "reset", "timeout", "unreachable", "transport", "later", "other". */
const char *slc_retry_reason_name(enum slc_retry_reason r);

/* Relaxed adds, for counters that order nothing. _open: a worker uses c (its breaker is
 * closed); _count_state: its breaker entered state `to`. */
void slc_retry_counters_open(struct slc_retry_counters *c);
void slc_retry_count(struct slc_retry_counters *c, enum slc_retry_reason why);
void slc_retry_count_state(struct slc_retry_counters *c, enum slc_breaker_state to);

/* Totals over several workers' counters (breaker states: how many workers are in each). */
struct slc_retry_totals {
	uint64_t retries[SLC_RETRY_REASONS];
	uint64_t transitions[SLC_BREAKER_STATES];
	uint64_t given_up;
	uint64_t in_state[SLC_BREAKER_STATES];
};

/* Adds c to t (relaxed loads). */
void slc_retry_totals_add(struct slc_retry_totals *t, const struct slc_retry_counters *c);

struct slc_metrics_buf;

/* Renders sluice_sink_retries_total{sink,reason}, sluice_sink_retries_given_up_total{sink}
 * and, with breaker, sluice_sink_breaker_state{sink,state} (workers in each state) and
 * sluice_sink_breaker_transitions_total{sink,to} into b. */
void slc_retry_metrics(struct slc_metrics_buf *b, const char *sink,
                       const struct slc_retry_totals *t, bool breaker);

#endif /* SLC_ENGINE_SINKS_RETRY_H */
