/* SPDX-License-Identifier: MIT */
/* test_cfg_retry.c: the retry, breaker and dead-letter flags checked together (flags.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"

static struct slc_cfg cfg;
static char err_text[1024];

/* slc_cfg_parse of "sluiced" and the NULL-terminated args; its stderr in err_text. */
static int
parse_args(const char *const *args)
{
	char *argv[16] = {"sluiced"};
	FILE *out = fopen("/dev/null", "w"), *err = fmemopen(err_text, sizeof(err_text), "w");
	int argc = 1, rc;

	cr_assert(out != NULL && err != NULL);
	memset(err_text, 0, sizeof(err_text));
	for (; args[argc - 1] != NULL && argc < 15; argc++)
		argv[argc] = (char *)args[argc - 1];
	rc = slc_cfg_parse(&cfg, argc, argv, out, err);
	fclose(out);
	fclose(err);
	return rc;
}

Test(cfg_retry, checked_together)
{
	const char *inverted[] = {"--retry-initial", "2s", "--retry-max", "1s", NULL};
	const char *short_elapsed[] = {
	        "--retry-initial", "2s", "--retry-max-elapsed", "1", "--dead-letter",
	        "/tmp/dl",         NULL};
	const char *no_dead_letter[] = {"--retry-max-elapsed", "30s", NULL};
	const char *both[] = {"--retry-max-elapsed", "30s", "--dead-letter", "/tmp/dl", NULL};
	const char *none[] = {NULL};

	cr_assert_eq(parse_args(inverted), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "--retry-initial is longer than --retry-max") != NULL, "%s",
	          err_text);
	cr_assert_eq(parse_args(short_elapsed), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "--retry-max-elapsed is shorter") != NULL, "%s", err_text);
	/* Giving up without a place for what is given up would drop messages silently. */
	cr_assert_eq(parse_args(no_dead_letter), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "needs --dead-letter") != NULL, "%s", err_text);
	cr_assert_eq(parse_args(both), SLC_CFG_RUN, "%s", err_text);
	cr_expect_eq(cfg.retry.max_elapsed_ms, 30000);
	cr_expect_str_eq(cfg.dead_letter, "/tmp/dl");
	/* Without them: retry for ever, no dead letters (the behaviour before these flags). */
	cr_assert_eq(parse_args(none), SLC_CFG_RUN, "%s", err_text);
	cr_expect_eq(cfg.retry.max_elapsed_ms, 0);
	cr_expect_eq(cfg.retry.initial_ms, 100);
	cr_expect_eq(cfg.retry.max_ms, 5000);
	cr_expect_eq(cfg.retry.breaker_failures, 5);
	cr_expect_eq(cfg.retry.breaker_cooldown_ms, 10000);
	cr_expect_str_empty(cfg.dead_letter);
}
