/* SPDX-License-Identifier: MIT */
/* main.c: sluiced, the ingest daemon: flags in, daemon run. */
#include <stdio.h>

#include "cfg.h"
#include "daemon.h"
#include "route/key.h"

/* --key's check beyond its syntax: the key module says what it accepts. */
static int
key_check(const char *text, char *msg, size_t msg_len)
{
	struct slc_key_spec spec;

	return slc_key_spec_parse(text, &spec, msg, msg_len);
}

int
main(int argc, char **argv)
{
	static struct slc_cfg cfg; /* large: listeners and paths */
	int rc;

	slc_cfg_hook_set("--key", key_check);
	rc = slc_cfg_parse(&cfg, argc, argv, stdout, stderr);
	if (rc == SLC_CFG_EXIT)
		return 0;
	if (rc != SLC_CFG_RUN)
		return 2;
	if (cfg.print_topology)
		return slc_daemon_print_topology(&cfg, stdout) == 0 ? 0 : 1;
	return slc_daemon_run_argv(&cfg, argc, argv);
}
