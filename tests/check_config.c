/*
 * check_config.c - the configuration contract: every mistake is reported
 * as FILE:LINE: message naming the setting, and the drop-in directory is
 * read in lexical order with its lists concatenated.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#define EXT "plugins = ( { name = \"extension\"; } );\n"
#define RULE(body) "rules = ( { name = \"r\"; " body " } );\n"
#define OK_COND "conditions = ( { type = \"extension\"; names = \"*.js\"; } );"
#define OK_ACT "actions = { intercept = \"pass\"; };"

static const struct {
	const char *body;        /* main file after line 1 (plugin_dir) */
	const char *dropin;      /* conf.d/50-x.conf, or NULL */
	const char *error_has[2];
} bad[] = {
	{"colour = 1;\n", NULL, {"vigil.conf:2: unknown setting 'colour'"}},
	{EXT RULE(OK_COND OK_ACT " colour = 1;"), NULL,
	 {"vigil.conf:3:", "unknown setting 'colour'"}},
	{"internal_domains = 5;\n", NULL,
	 {"vigil.conf:2:", "'internal_domains' must be a list of strings"}},
	{EXT RULE("conditions = ( { type = \"nosuch\"; } );" OK_ACT), NULL,
	 {"vigil.conf:3:", "unknown condition type 'nosuch'"}},
	{EXT RULE("conditions = ( { type = \"truetype\"; categories = [\"executable\"]; } );" OK_ACT),
	 NULL, {"unknown condition type 'truetype': no loaded plugin"}},
	{EXT "rules = ( { name = \"r\"; " OK_COND OK_ACT " },\n"
	     "          { name = \"r\"; " OK_COND OK_ACT " } );\n",
	 NULL, {"vigil.conf:4:", "duplicate rule name 'r'"}},
	{"rules = ( { name = \"r\" } \n", NULL, {"vigil.conf:", "syntax error"}},
	{EXT RULE(OK_COND "actions = { intercept = \"quarantine\"; area = \"nowhere\"; };"),
	 NULL, {"unknown quarantine area 'nowhere'"}},
	{EXT RULE(OK_COND "actions = { notify = [\"nobody\"]; };"), NULL,
	 {"unknown notification 'nobody'"}},
	{"limits = { max_recipients = -1; };\n", NULL,
	 {"vigil.conf:2:", "'limits.max_recipients' must be a positive integer"}},
	{"limits = { max_size = 1; };\n", NULL,
	 {"unknown setting 'limits.max_size'"}},
	{EXT RULE("conditions = ( { type = \"extension\"; names = \"*.js\"; va_submit = true; } );" OK_ACT),
	 NULL, {"va_submit", "'ddan' plugin is loaded"}},
	{"plugins = ( { name = \"nosuch\"; } );\n", NULL,
	 {"vigil.conf:2:", "plugins/nosuch.so"}},
	{"plugins = ( { name = \"extension\"; colour = 2; } );\n", NULL,
	 {"vigil.conf:2:", "unknown setting 'colour'"}},
	{EXT RULE(OK_COND "actions = { intercept = \"explode\"; };"), NULL,
	 {"unknown intercept 'explode'"}},
	{EXT RULE(OK_COND "actions = { explode = true; };"), NULL,
	 {"unknown action 'explode'"}},
	{EXT RULE(OK_COND "actions = { x_header = \"Bad header\"; };"), NULL,
	 {"x_header must look like"}},
	{EXT RULE(OK_COND "actions = { intercept = \"handoff\"; };"), NULL,
	 {"handoff needs"}},
	{EXT RULE(OK_COND "actions = { postpone = \"25:00\"; };"), NULL,
	 {"postpone must be"}},
	{EXT, "\nrules = ( { name = \"d\"; conditions = ( { type = \"nosuch\"; } ); " OK_ACT " } );\n",
	 {"50-x.conf:2:", "unknown condition type 'nosuch'"}},
	{"", "limits = { max_recipients = 5; };\n",
	 {"50-x.conf:1:", "unknown setting 'limits'"}},
	{"plugins = ( { name = \"init_fails\"; } );\n", NULL,
	 {"vigil.conf:2:", "license server"}},
	{EXT RULE(OK_COND), NULL, {"rule 'r' has no actions"}},
	{EXT RULE(OK_ACT), NULL, {"rule 'r' has no conditions"}},
	{"notifications = ( { name = \"n\"; } );\n", NULL,
	 {"notification 'n' has no 'to'"}},
};

START_TEST(test_bad_config)
{
	tu_fresh();
	if (bad[_i].dropin)
		free(tu_write("conf.d/50-x.conf", bad[_i].dropin));
	char *errors = NULL;
	struct host *h = tu_host(bad[_i].body, &errors);
	ck_assert_msg(h == NULL, "case %d: accepted a bad config", _i);
	for (int k = 0; k < 2 && bad[_i].error_has[k]; k++)
		ck_assert_msg(strstr(errors, bad[_i].error_has[k]) != NULL,
			      "case %d: errors lack '%s':\n%s", _i,
			      bad[_i].error_has[k], errors);
	free(errors);
}
END_TEST

START_TEST(test_dropins_in_lexical_order)
{
	tu_fresh();
	free(tu_write("conf.d/20-b.conf",
		      "rules = ( { name = \"b\"; order = 5; " OK_COND OK_ACT " } );\n"));
	free(tu_write("conf.d/10-a.conf", EXT
		      "rules = ( { name = \"a\"; order = 5; " OK_COND OK_ACT " } );\n"
		      "areas = ( { name = \"suspicious\"; retention_days = 7; } );\n"));
	free(tu_write("conf.d/vigil.conf", "this is not even valid"));
	free(tu_write("conf.d/README", "not a .conf file"));
	char *errors = NULL;
	struct host *h = tu_host("internal_domains = [\"example.com\"];\n", &errors);
	ck_assert_msg(h != NULL, "%s", errors);
	ck_assert_int_eq(h->cfg->n_files, 3);
	ck_assert_int_eq(h->cfg->n_rules, 2);
	ck_assert_int_eq(h->policy.n_rules, 2);
	ck_assert_str_eq(h->policy.rules[0].name, "a"); /* same order: file order */
	ck_assert_str_eq(h->policy.rules[1].name, "b");
	ck_assert_ptr_nonnull(config_area(h->cfg, "suspicious"));
	ck_assert_ptr_nonnull(config_area(h->cfg, "default"));
	ck_assert_int_eq(h->n_plugins, 1);
	host_free(h);
	free(errors);
}
END_TEST

START_TEST(test_defaults)
{
	tu_fresh();
	struct host *h = tu_host("", NULL);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(h->cfg->limits.max_message_size, 30u << 20);
	ck_assert_int_eq(h->cfg->limits.max_recipients, 1000);
	ck_assert_int_eq(h->cfg->limits.archive_max_depth, 10);
	ck_assert_int_eq(h->cfg->limits.archive_max_members, 1000);
	ck_assert_int_eq(h->cfg->limits.archive_max_total_size, 200u << 20);
	ck_assert_int_eq(h->cfg->limits.archive_max_ratio, 100);
	ck_assert_int_eq(h->policy.security_violation.intercept,
			 VIGIL_ACTION_QUARANTINE);
	ck_assert_int_eq(h->policy.malformed.intercept, VIGIL_ACTION_PASS);
	host_free(h);
}
END_TEST

START_TEST(test_disabled_rule_may_name_missing_plugin)
{
	tu_fresh();
	char *errors = NULL;
	struct host *h = tu_host(
		"rules = ( { name = \"later\"; enabled = false; "
		"conditions = ( { type = \"ddan\"; } ); " OK_ACT " } );\n",
		&errors);
	ck_assert_msg(h != NULL, "%s", errors);
	ck_assert_int_eq(h->policy.n_rules, 0);
	host_free(h);
	free(errors);
}
END_TEST

START_TEST(test_group_writable_config_refused)
{
	tu_fresh();
	char *path = tu_write("conf.d/10-a.conf", EXT);
	chmod(path, 0664);
	char *errors = NULL;
	ck_assert_ptr_null(tu_host("", &errors));
	ck_assert_msg(strstr(errors, "writable by group or others"), "%s", errors);
	free(path);
	free(errors);
}
END_TEST

START_TEST(test_limits_and_exceptions_settings)
{
	tu_fresh();
	char *errors = NULL;
	struct host *h = tu_host(
		"limits = { max_message_size = 1000; archive_max_ratio = 7; };\n"
		"exceptions = { malformed = { intercept = \"quarantine\"; }; "
		"security_violation = { intercept = \"delete\"; }; };\n",
		&errors);
	ck_assert_msg(h != NULL, "%s", errors);
	ck_assert_int_eq(h->cfg->limits.max_message_size, 1000);
	ck_assert_int_eq(h->cfg->limits.archive_max_ratio, 7);
	ck_assert_int_eq(h->policy.malformed.intercept, VIGIL_ACTION_QUARANTINE);
	ck_assert_str_eq(h->policy.malformed.area, "default");
	ck_assert_int_eq(h->policy.security_violation.intercept,
			 VIGIL_ACTION_DELETE);
	host_free(h);
	free(errors);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_bad_config, 0, sizeof bad / sizeof bad[0]);
	tcase_add_test(tc, test_dropins_in_lexical_order);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_disabled_rule_may_name_missing_plugin);
	tcase_add_test(tc, test_group_writable_config_refused);
	tcase_add_test(tc, test_limits_and_exceptions_settings);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
