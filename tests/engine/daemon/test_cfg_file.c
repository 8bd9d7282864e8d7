/* SPDX-License-Identifier: MIT */
/* test_cfg_file.c: --config files and --check-config: lines, overrides, one line per problem. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"

static struct slc_cfg cfg;
static char path[64];
static char out_text[1 << 16];
static char err_text[1 << 14];

static void
setup(void)
{
	int fd;

	strcpy(path, "/tmp/sluice-cfg-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void
teardown(void)
{
	unlink(path);
}

static void
write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f != NULL);
	cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	cr_assert_eq(fclose(f), 0);
}

/* Writes text to the file, then parses "--config FILE" and the NULL-terminated args after
 * it; out_text and err_text get what it printed. */
static int
parse_with(const char *text, const char *const *args)
{
	char *argv[32] = {"sluiced", "--config", path};
	int argc = 3, rc;
	char *o = NULL, *e = NULL;
	size_t olen = 0, elen = 0;
	FILE *out = open_memstream(&o, &olen), *err = open_memstream(&e, &elen);

	cr_assert(out != NULL && err != NULL);
	if (text != NULL)
		write_file(text);
	for (; args != NULL && *args != NULL; args++) {
		cr_assert_lt(argc, 31);
		argv[argc++] = (char *)*args;
	}
	argv[argc] = NULL;
	rc = slc_cfg_parse(&cfg, argc, argv, out, err);
	fclose(out);
	fclose(err);
	cr_assert_lt(olen, sizeof(out_text));
	cr_assert_lt(elen, sizeof(err_text));
	memcpy(out_text, o, olen);
	out_text[olen] = '\0';
	memcpy(err_text, e, elen);
	err_text[elen] = '\0';
	free(o);
	free(e);
	return rc;
}

/* How many lines err_text holds, each checked to start with prefix. */
static unsigned
problem_lines(const char *prefix)
{
	unsigned n = 0;

	for (const char *p = err_text; *p != '\0'; n++) {
		const char *nl = strchr(p, '\n');

		cr_assert(nl != NULL, "an unterminated line: %s", p);
		cr_expect_eq(strncmp(p, prefix, strlen(prefix)), 0, "line \"%.*s\" lacks \"%s\"",
		             (int)(nl - p), p, prefix);
		p = nl + 1;
	}
	return n;
}

/* Every test gets its own directory: .init and .fini on each test (the tsan shim has no
 * TestSuite). */

Test(cfg_file, lines_set_flags_like_the_command_line, .init = setup, .fini = teardown,
     .timeout = 10)
{
	int rc = parse_with("# a comment\n"
	                    "\n"
	                    "  max-frame = 1M   # trailing comment\n"
	                    "--pools=3\n"
	                    "workers\t=\t2\r\n"
	                    "print-topology\n"
	                    "key = \"line: # not a comment \\\"q\\\" \"\n"
	                    "strategy = sticky\n"
	                    "listen = tcp://127.0.0.1:7001?framing=len32\n"
	                    "listen = udp://127.0.0.1:7002\n"
	                    "max-step = 3.5",
	                    NULL);

	cr_assert_eq(rc, SLC_CFG_RUN, "%s", err_text);
	cr_expect_eq(cfg.max_frame, 1024u * 1024u);
	cr_expect_eq(cfg.pools, 3u);
	cr_expect_eq(cfg.workers, 2u);
	cr_expect(cfg.print_topology);
	cr_expect_str_eq(cfg.key, "line: # not a comment \"q\" ");
	cr_expect_eq(cfg.strategy, SLC_ROUTE_STICKY);
	cr_expect_eq(cfg.nlisten, 2u, "the file's listeners replace the default and add");
	cr_expect_eq(cfg.listen[1].proto, SLC_LISTENER_UDP);
	cr_expect_eq(cfg.ctl.max_step, 3.5);
	cr_expect_str_eq(cfg.config, path);
	cr_expect_neq(cfg.config_hash, 0);
	cr_expect_gt(cfg.config_mtime_s, 0);
}

Test(cfg_file, bools_take_true_false_or_nothing, .init = setup, .fini = teardown, .timeout = 10)
{
	cr_assert_eq(parse_with("print-topology = true\n", NULL), SLC_CFG_RUN);
	cr_expect(cfg.print_topology);
	cr_assert_eq(parse_with("print-topology = false\n", NULL), SLC_CFG_RUN);
	cr_expect_not(cfg.print_topology);
	cr_assert_eq(parse_with("print-topology = yes\n", NULL), SLC_CFG_USAGE);
	cr_expect_eq(problem_lines(path), 1u);
	cr_expect(strstr(err_text, ":1: --print-topology: takes no value") != NULL, "%s", err_text);
}

Test(cfg_file, the_command_line_overrides_the_file, .init = setup, .fini = teardown, .timeout = 10)
{
	static const char *const args[] = {"--pools", "4", "--listen", "tcp://127.0.0.1:7003",
	                                   NULL};

	cr_assert_eq(parse_with("pools = 2\nworkers = 3\nlisten = tcp://127.0.0.1:7001\n"
	                        "listen = tcp://127.0.0.1:7002\n",
	                        args),
	             SLC_CFG_RUN, "%s", err_text);
	cr_expect_eq(cfg.pools, 4u);
	cr_expect_eq(cfg.workers, 3u, "what the command line leaves alone stays the file's");
	cr_expect_eq(cfg.nlisten, 1u, "the command line's --listen replaces the file's list");
}

Test(cfg_file, changing_the_file_changes_its_hash, .init = setup, .fini = teardown, .timeout = 10)
{
	uint64_t h;

	cr_assert_eq(parse_with("pools = 2\n", NULL), SLC_CFG_RUN);
	h = cfg.config_hash;
	cr_assert_eq(parse_with("pools = 2\n", NULL), SLC_CFG_RUN);
	cr_expect_eq(cfg.config_hash, h);
	cr_assert_eq(parse_with("pools = 3\n", NULL), SLC_CFG_RUN);
	cr_expect_neq(cfg.config_hash, h);
}

Test(cfg_file, every_problem_is_one_line_with_file_and_line, .init = setup, .fini = teardown,
     .timeout = 10)
{
	static const char *const args[] = {"--check-config", NULL};
	int rc = parse_with("pools = 0\n"                /* 1: out of range */
	                    "bogus = 1\n"                /* 2: unknown */
	                    "workers\n"                  /* 3: missing value */
	                    "key = \"open\n"             /* 4: quote */
	                    "max-frame 1M\n"             /* 5: no '=' */
	                    "Pools = 2\n"                /* 6: not a name */
	                    "help\n"                     /* 7: an action */
	                    "config = /etc/other.conf\n" /* 8: a file naming a file */
	                    "max-step =\n"               /* 9: empty value */
	                    "# fine\n"
	                    "buffers = 3\n", /* 11: not a power of two */
	                    args);

	cr_assert_eq(rc, SLC_CFG_USAGE);
	cr_expect_str_empty(out_text);
	cr_expect_eq(problem_lines(path), 10u, "%s", err_text);
	for (unsigned l = 1; l <= 11; l++) {
		char at[96];

		if (l == 10)
			continue;
		snprintf(at, sizeof(at), "%s:%u: ", path, l);
		cr_expect(strstr(err_text, at) != NULL, "no problem for line %u:\n%s", l, err_text);
	}
	cr_expect(strstr(err_text, "unknown flag --bogus") != NULL);
	cr_expect(strstr(err_text, "--workers: missing value") != NULL);
	cr_expect(strstr(err_text, "--config: not in a config file") != NULL);
}

Test(cfg_file, a_bad_file_stops_the_start_with_its_problems, .init = setup, .fini = teardown,
     .timeout = 10)
{
	cr_assert_eq(parse_with("pools = 0\nworkers = 0\n", NULL), SLC_CFG_USAGE);
	cr_expect_eq(problem_lines(path), 2u, "%s", err_text);
}

Test(cfg_file, check_config_says_ok_and_exits, .init = setup, .fini = teardown, .timeout = 10)
{
	static const char *const args[] = {"--check-config", NULL};

	cr_assert_eq(parse_with("pools = 2\n", args), SLC_CFG_EXIT, "%s", err_text);
	cr_expect_str_empty(err_text);
	cr_expect(strstr(out_text, "configuration ok") != NULL);
}

Test(cfg_file, check_config_lists_the_command_lines_problems_too, .init = setup, .fini = teardown,
     .timeout = 10)
{
	static const char *const args[] = {"--check-config", "--pools", "0", "--nope", NULL};

	cr_assert_eq(parse_with("workers = 0\n", args), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, ":1: --workers") != NULL, "%s", err_text);
	cr_expect(strstr(err_text, "sluiced: --pools: \"0\"") != NULL, "%s", err_text);
	cr_expect(strstr(err_text, "sluiced: unknown flag --nope") != NULL, "%s", err_text);
}

Test(cfg_file, check_config_checks_flags_together, .init = setup, .fini = teardown, .timeout = 10)
{
	static const char *const args[] = {"--check-config", NULL};

	cr_assert_eq(parse_with("strategy = ordered\n", args), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "sluiced: --strategy ordered needs a --key") != NULL, "%s",
	          err_text);
}

Test(cfg_file, a_file_that_cannot_be_read_is_one_problem, .init = setup, .fini = teardown,
     .timeout = 10)
{
	static const char *const args[] = {"--check-config", NULL};

	unlink(path);
	cr_assert_eq(parse_with(NULL, args), SLC_CFG_USAGE);
	cr_expect_eq(problem_lines(path), 1u, "%s", err_text);
	cr_expect(strstr(err_text, "cannot open: No such file") != NULL, "%s", err_text);
}

Test(cfg_file, a_folder_or_a_nul_byte_is_refused, .init = setup, .fini = teardown, .timeout = 10)
{
	char *argv[] = {"sluiced", "--config=/tmp", NULL};
	FILE *f, *null = fopen("/dev/null", "w");

	cr_assert(null != NULL);
	cr_assert_eq(slc_cfg_parse(&cfg, 2, argv, stdout, null), SLC_CFG_USAGE);
	fclose(null);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fwrite("pools = 2\n\0\n", 1, 12, f);
	fclose(f);
	cr_assert_eq(parse_with(NULL, NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, ":2: holds a NUL byte") != NULL, "%s", err_text);
}

Test(cfg_file, a_value_of_another_flag_is_not_taken_for_config, .init = setup, .fini = teardown,
     .timeout = 10)
{
	/* "--key --config" gives --key the value "--config": no file is read. */
	char *argv[] = {"sluiced", "--strategy", "sticky", "--key", "--config", NULL};
	FILE *err = fopen("/dev/null", "w");

	cr_assert_eq(slc_cfg_parse(&cfg, 5, argv, stdout, err), SLC_CFG_RUN);
	cr_expect_str_eq(cfg.key, "--config");
	cr_expect_str_empty(cfg.config);
	fclose(err);
}
