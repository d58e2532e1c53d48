/*
 * check_extension.c - the extension condition against the mock host: a
 * table of (globs, file name) -> match, and a table of bad settings.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mock_host.h"

extern const vigil_plugin_def vigil_plugin;

static const struct {
	const char *names;
	const char *file;
	unsigned depth;
	int match;
} cases[] = {
	{"\"*.js;*.vbs\"", "dropper.js", 0, 1},
	{"\"*.js;*.vbs\"", "DROPPER.VBS", 0, 1},
	{"\"*.js;*.vbs\"", "readme.txt", 0, 0},
	{"\"*.exe\"", "invoice.pdf.exe", 0, 1},
	{"\"*.exe\"", "invoice.exe.pdf", 0, 0},
	{"\"invoice.pdf\"", "Invoice.PDF", 0, 1},
	{"\"invoice.pdf\"", "my-invoice.pdf", 0, 0},
	{"\" *.js ; ;*.hta \"", "x.hta", 0, 1},
	{"[\"*.scr\", \"*.js;*.lnk\"]", "a.lnk", 0, 1},
	{"\"*.exe\"", "b.exe", 3, 1}, /* inside archives */
	{"\"*.exe\"", "", 0, 0},      /* nameless parts never match */
	{"\"€uro*.pdf\"", "€uro-rechnung.pdf", 0, 1},
};

START_TEST(test_match_table)
{
	mock_host *m = mock_host_new();
	const char *err = NULL;
	ck_assert_int_eq(mock_host_load(m, &vigil_plugin, "name = \"extension\";",
					&err), 0);
	ck_assert_int_eq(mock_host_count(m, "condition"), 1);
	vigil_message *msg = mock_message_new(m, "a@b", NULL, 0);
	mock_message_add_part(msg, "1", "body.txt", "text/plain", "hi", 2, 0);
	mock_message_add_part(msg, "2", cases[_i].file, "application/octet-stream",
			      "x", 1, cases[_i].depth);
	char cond[256];
	snprintf(cond, sizeof cond, "type = \"extension\"; names = %s;",
		 cases[_i].names);
	struct mock_eval_report r;
	vigil_result res = mock_eval(m, cond, msg, &r, &err);
	ck_assert_msg(res == (cases[_i].match ? VIGIL_MATCH : VIGIL_NO_MATCH),
		      "case %d: names %s file '%s': got %d", _i, cases[_i].names,
		      cases[_i].file, res);
	if (cases[_i].match) {
		ck_assert_ptr_nonnull(r.part);
		ck_assert_str_eq(r.part->path, "2");
		ck_assert_ptr_nonnull(strstr(r.detail, cases[_i].file));
	}
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

static const struct {
	const char *cond;
	const char *error_has;
} bad[] = {
	{"type = \"extension\";", "names"},
	{"type = \"extension\"; names = \"\";", "names"},
	{"type = \"extension\"; names = \";;\";", "names"},
	{"type = \"extension\"; names = 5;", "names"},
	{"type = \"extension\"; names = [1, 2];", "names"},
	{"type = \"extension\"; names = \"*.js\"; nmaes = \"x\";", "nmaes"},
};

START_TEST(test_bad_settings)
{
	mock_host *m = mock_host_new();
	const char *err = NULL;
	ck_assert_int_eq(mock_host_load(m, &vigil_plugin, "name = \"extension\";",
					&err), 0);
	vigil_message *msg = mock_message_new(m, "a@b", NULL, 0);
	struct mock_eval_report r;
	err = NULL;
	ck_assert_int_eq(mock_eval(m, bad[_i].cond, msg, &r, &err), VIGIL_ERROR);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, bad[_i].error_has) != NULL,
		      "case %d: error '%s' lacks '%s'", _i, err, bad[_i].error_has);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

START_TEST(test_plugin_rejects_unknown_setting)
{
	mock_host *m = mock_host_new();
	const char *err = NULL;
	ck_assert_int_ne(mock_host_load(m, &vigil_plugin,
					"name = \"extension\"; colour = 1;", &err),
			 0);
	ck_assert_ptr_nonnull(strstr(err, "colour"));
	mock_host_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("extension");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_match_table, 0,
			    sizeof cases / sizeof cases[0]);
	tcase_add_loop_test(tc, test_bad_settings, 0, sizeof bad / sizeof bad[0]);
	tcase_add_test(tc, test_plugin_rejects_unknown_setting);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
