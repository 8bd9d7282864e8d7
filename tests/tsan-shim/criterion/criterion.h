/* SPDX-License-Identifier: MIT */
/* criterion.h: a minimal stand-in for Criterion's API, used only by the TSan build. */
#ifndef SLC_TSAN_SHIM_CRITERION_H
#define SLC_TSAN_SHIM_CRITERION_H

/*
 * Criterion cannot start under ThreadSanitizer: its sandbox maps a shared arena at random
 * fixed addresses, which collide with TSan's shadow memory ("Could not initialize
 * inheritable arena", Snaipe/Criterion#274, open). The TSan build puts this folder first
 * on the include path instead, so the very same test sources build against this small
 * runner: each Test() registers itself, main() runs them one after another in this process,
 * and the closing line is "N passed, N failed".
 *
 * It covers what our tests use: Test(suite, name, ...) with .disabled (the test is counted as
 * skipped), .init and .fini (run before and after the test, .fini also after a failed one)
 * and .timeout (seconds; a watchdog thread ends the whole run with "[TIME] suite::name"
 * and exit status 1 when one test outlives it, as Criterion fails that test), and the
 * cr_assert_* (stop the test) and cr_expect_* (note and go on) checks below, whose optional
 * message is a format string literal with arguments.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct slc_shim_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
	double timeout;     /* seconds, 0: none */
	void (*init)(void); /* .init: before the test; NULL: none */
	void (*fini)(void); /* .fini: after it, passed or failed; NULL: none */
	struct slc_shim_test *next;
};

void slc_shim_register(struct slc_shim_test *t);
void slc_shim_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
void slc_shim_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The options a Test() may give; disabled, timeout, init and fini are acted on. */
struct slc_shim_opts {
	int first; /* lets Test() write {0, __VA_ARGS__} whatever the options are */
	double timeout;
	bool disabled;
	void (*init)(void);
	void (*fini)(void);
};

#define Test(suite, name, ...)                                              \
	static void suite##_##name##_impl(void);                            \
	static struct slc_shim_test suite##_##name##_desc = {               \
	        #suite, #name, suite##_##name##_impl, 0, NULL, NULL, NULL}; \
	__attribute__((constructor)) static void suite##_##name##_reg(void) \
	{                                                                   \
		struct slc_shim_opts o = {0, __VA_ARGS__};                  \
                                                                            \
		if (o.disabled)                                             \
			suite##_##name##_desc.fn = NULL;                    \
		suite##_##name##_desc.timeout = o.timeout;                  \
		suite##_##name##_desc.init = o.init;                        \
		suite##_##name##_desc.fini = o.fini;                        \
		slc_shim_register(&suite##_##name##_desc);                  \
	}                                                                   \
	static void suite##_##name##_impl(void)

#define SLC_SHIM_CHECK(fatal, cond, expr, ...)                                           \
	do {                                                                             \
		if (!(cond))                                                             \
			slc_shim_fail(fatal, __FILE__, __LINE__, expr, " " __VA_ARGS__); \
	} while (0)

#define cr_skip_test(...) slc_shim_skip(" " __VA_ARGS__)

#define cr_assert(c, ...)          SLC_SHIM_CHECK(true, (c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...)      SLC_SHIM_CHECK(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...)    SLC_SHIM_CHECK(true, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)   SLC_SHIM_CHECK(true, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)    SLC_SHIM_CHECK(true, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)   SLC_SHIM_CHECK(true, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)    SLC_SHIM_CHECK(true, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)   SLC_SHIM_CHECK(true, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...)     SLC_SHIM_CHECK(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) SLC_SHIM_CHECK(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) \
	SLC_SHIM_CHECK(true, strcmp((a), (b)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) \
	SLC_SHIM_CHECK(true, memcmp((a), (b), (n)) == 0, #a " == " #b, __VA_ARGS__)

#define cr_expect(c, ...)          SLC_SHIM_CHECK(false, (c), #c, __VA_ARGS__)
#define cr_expect_not(c, ...)      SLC_SHIM_CHECK(false, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_expect_eq(a, b, ...)    SLC_SHIM_CHECK(false, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...)   SLC_SHIM_CHECK(false, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...)    SLC_SHIM_CHECK(false, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...)   SLC_SHIM_CHECK(false, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...)    SLC_SHIM_CHECK(false, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...)   SLC_SHIM_CHECK(false, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_null(p, ...)     SLC_SHIM_CHECK(false, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) SLC_SHIM_CHECK(false, (p) != NULL, #p " != NULL", __VA_ARGS__)
/* Criterion's log lines: on stderr, one a call. */
#define cr_log_info(...) (fprintf(stderr, "[LOG] " __VA_ARGS__), fputc('\n', stderr))
#define cr_log_warn(...) (fprintf(stderr, "[WARN] " __VA_ARGS__), fputc('\n', stderr))
#define cr_log_error(...) (fprintf(stderr, "[ERR] " __VA_ARGS__), fputc('\n', stderr))

/* |a - b| <= eps, as Criterion's (no libm: the difference both ways). */
#define cr_assert_float_eq(a, b, eps, ...)                                                       \
	SLC_SHIM_CHECK(true,                                                                     \
	               (double)(a) - (double)(b) <= (eps) && (double)(b) - (double)(a) <= (eps), \
	               #a " ~= " #b, __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...)                                                       \
	SLC_SHIM_CHECK(false,                                                                    \
	               (double)(a) - (double)(b) <= (eps) && (double)(b) - (double)(a) <= (eps), \
	               #a " ~= " #b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) \
	SLC_SHIM_CHECK(false, strcmp((a), (b)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_expect_arr_eq(a, b, n, ...) \
	SLC_SHIM_CHECK(false, memcmp((a), (b), (n)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...) \
	SLC_SHIM_CHECK(false, strcmp((a), (b)) != 0, #a " != " #b, __VA_ARGS__)
#define cr_expect_str_empty(s, ...) \
	SLC_SHIM_CHECK(false, (s)[0] == '\0', #s " is empty", __VA_ARGS__)
#define cr_expect_str_not_empty(s, ...) \
	SLC_SHIM_CHECK(false, (s)[0] != '\0', #s " is not empty", __VA_ARGS__)

#endif /* SLC_TSAN_SHIM_CRITERION_H */
