/* SPDX-License-Identifier: MIT */
/* cfg_hook.h: the flag parser's fuzz targets give --key the daemon's check, as main.c does. */
#ifndef SLC_TESTS_FUZZ_CFG_HOOK_H
#define SLC_TESTS_FUZZ_CFG_HOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "route/key.h"

static int
cfg_fuzz_key_check(const char *text, char *msg, size_t msg_len)
{
	struct slc_key_spec spec;

	return slc_key_spec_parse(text, &spec, msg, msg_len);
}

/* Installs the check once per process (slc_cfg_hook_set is not thread-safe, nor needs to
 * be: libFuzzer runs one input at a time). */
static inline void
cfg_fuzz_hook(void)
{
	static bool hooked;

	if (!hooked) {
		slc_cfg_hook_set("--key", cfg_fuzz_key_check);
		hooked = true;
	}
}

#endif /* SLC_TESTS_FUZZ_CFG_HOOK_H */
