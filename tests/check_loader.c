/*
 * check_loader.c - the plugin loader refuses each deliberately bad plugin
 * with its own clear error, and none of them crashes the core.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "testutil.h"

static const struct {
	const char *plugin;
	const char *error_has[3];
} bad[] = {
	{"abi_major", {"abi_major.so", "built for plugin ABI 2.0", "this vigil has ABI 1.1"}},
	{"abi_minor", {"abi_minor.so", "ABI 1.2, newer than this vigil's ABI 1.1"}},
	{"signature", {"signature.so", "build signature 0x", "does not match"}},
	{"no_symbol", {"no_symbol.so", "no 'vigil_plugin' symbol"}},
	{"nosuch", {"nosuch.so", "No such file"}},
	{"../etc/passwd", {"not a plain name"}},
};

START_TEST(test_bad_plugins)
{
	char *dir = xasprintf("%s/plugins", tu_fresh());
	char *error = NULL;
	ck_assert_ptr_null(loader_open(dir, bad[_i].plugin, &error));
	ck_assert_ptr_nonnull(error);
	for (int k = 0; k < 3 && bad[_i].error_has[k]; k++)
		ck_assert_msg(strstr(error, bad[_i].error_has[k]) != NULL,
			      "%s: '%s' lacks '%s'", bad[_i].plugin, error,
			      bad[_i].error_has[k]);
	free(error);
	free(dir);
}
END_TEST

/* Copy a plugin file for real (the links point into the build tree). */
static char *copy_plugin(const char *name, mode_t mode)
{
	char *src = xasprintf("%s/%s.so", TEST_PLUGIN_DIR, name);
	char *dir = xasprintf("%s/own", tu_fresh());
	mkdir(dir, 0755);
	char *dst = xasprintf("%s/%s.so", dir, name);
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	ck_assert(in && out);
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		ck_assert_int_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	chmod(dst, mode);
	free(src);
	free(dst);
	return dir;
}

START_TEST(test_world_writable_refused)
{
	char *dir = copy_plugin("pending", 0666);
	char *error = NULL;
	ck_assert_ptr_null(loader_open(dir, "pending", &error));
	ck_assert_msg(strstr(error, "writable by group or others") != NULL,
		      "%s", error);
	free(error);
	free(dir);
}
END_TEST

START_TEST(test_directory_refused)
{
	char *dir = xasprintf("%s/plugins", tu_fresh());
	char *sub = xasprintf("%s/adir.so", dir);
	mkdir(sub, 0755);
	char *error = NULL;
	ck_assert_ptr_null(loader_open(dir, "adir", &error));
	ck_assert_msg(strstr(error, "not a regular file") != NULL, "%s", error);
	free(error);
	free(sub);
	free(dir);
}
END_TEST

START_TEST(test_good_plugin_loads_once)
{
	char *dir = copy_plugin("pending", 0644);
	char *error = NULL;
	const vigil_plugin_def *a = loader_open(dir, "pending", &error);
	ck_assert_msg(a != NULL, "%s", error);
	ck_assert_str_eq(a->name, "pending");
	ck_assert_int_eq(a->abi_major, VIGIL_ABI_MAJOR);
	/* a reload finds the same definition: no second dlopen, no dlclose */
	ck_assert_ptr_eq(loader_open(dir, "pending", &error), a);
	free(dir);
}
END_TEST

START_TEST(test_init_failure_is_an_error_not_a_crash)
{
	tu_fresh();
	char *errors = NULL;
	struct host *h = tu_host("plugins = ( { name = \"init_fails\"; }, "
				 "{ name = \"extension\"; } );\n", &errors);
	ck_assert_ptr_null(h);
	ck_assert_msg(strstr(errors, "vigil.conf:2: plugin 'init_fails' failed "
				     "to start: cannot reach the license server"),
		      "%s", errors);
	free(errors);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_bad_plugins, 0, sizeof bad / sizeof bad[0]);
	tcase_add_test(tc, test_world_writable_refused);
	tcase_add_test(tc, test_directory_refused);
	tcase_add_test(tc, test_good_plugin_loads_once);
	tcase_add_test(tc, test_init_failure_is_an_error_not_a_crash);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
