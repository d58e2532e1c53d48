/*
 * check_policy.c - the policy engine: routes, phases and order, any/all
 * and negate, terminal intercepts, scanning exceptions, and a PENDING
 * evaluation saved as JSON and resumed at its rule.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "testutil.h"

#define PLUGINS "plugins = ( { name = \"extension\"; }, { name = \"pending\"; verdict_source = true; } );\n"
#define EXT(globs) "{ type = \"extension\"; names = \"" globs "\"; }"

static const char *message =
	"From: Alice <alice@example.org>\n"
	"To: bob@example.com\n"
	"Subject: invoice\n"
	"Message-ID: <1@example.org>\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"b\"\n"
	"\n"
	"--b\n"
	"Content-Type: text/plain\n"
	"\n"
	"see attached\n"
	"--b\n"
	"Content-Type: application/octet-stream; name=\"invoice.pdf.exe\"\n"
	"Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\n"
	"--b--\n";

/* Rules -> final action, the deciding rule, and the applied rules. */
static const struct {
	const char *rules;
	const char *final;
	const char *decided_by;
	const char *matched; /* space-separated names */
} engine[] = {
	/* a pass rule's modifiers add up; a terminal intercept stops */
	{"{ name = \"tag\"; order = 10; conditions = (" EXT("*.exe") ");"
	 "  actions = { tag_subject = \"[EXE]\"; }; },"
	 "{ name = \"q\"; order = 20; conditions = (" EXT("*.exe") ");"
	 "  actions = { intercept = \"quarantine\"; }; },"
	 "{ name = \"never\"; order = 30; conditions = (" EXT("*") ");"
	 "  actions = { intercept = \"delete\"; }; }",
	 "quarantine", "q", "tag q"},
	/* order numbers, not file order */
	{"{ name = \"late\"; order = 50; conditions = (" EXT("*.exe") ");"
	 "  actions = { intercept = \"delete\"; }; },"
	 "{ name = \"early\"; order = 5; conditions = (" EXT("*.exe") ");"
	 "  actions = { intercept = \"handoff\"; handoff = \"127.0.0.1:2525\"; }; }",
	 "handoff", "early", "early"},
	/* the virus phase runs before user rules whatever their order */
	{"{ name = \"user\"; order = 1; conditions = (" EXT("*.exe") ");"
	 "  actions = { intercept = \"quarantine\"; }; },"
	 "{ name = \"virus\"; phase = \"virus\"; order = 900; conditions = (" EXT("*.exe") ");"
	 "  actions = { intercept = \"delete\"; }; }",
	 "delete", "virus", "virus"},
	/* all: one condition fails -> no match */
	{"{ name = \"all\"; match = \"all\"; conditions = (" EXT("*.exe") "," EXT("*.js") ");"
	 "  actions = { intercept = \"delete\"; }; }",
	 "pass", NULL, ""},
	/* any: one is enough */
	{"{ name = \"any\"; match = \"any\"; conditions = (" EXT("*.js") "," EXT("*.exe") ");"
	 "  actions = { intercept = \"delete\"; }; }",
	 "delete", "any", "any"},
	/* negate */
	{"{ name = \"notjs\"; conditions = ( { type = \"extension\"; names = \"*.js\"; negate = true; } );"
	 "  actions = { intercept = \"change_recipient\"; recipient = \"sec@example.com\"; }; }",
	 "change_recipient", "notjs", "notjs"},
	/* routes: to, from, except, direction */
	{"{ name = \"other-domain\"; route = { to = [\"*@example.net\"]; };"
	 "  conditions = (" EXT("*.exe") "); actions = { intercept = \"delete\"; }; }",
	 "pass", NULL, ""},
	{"{ name = \"from-alice\"; route = { from = [\"ALICE@example.org\"]; to = [\"*@example.com\"]; };"
	 "  conditions = (" EXT("*.exe") "); actions = { intercept = \"delete\"; }; }",
	 "delete", "from-alice", "from-alice"},
	{"{ name = \"except\"; route = { except = ( { from = \"*@example.org\"; to = \"bob@*\"; } ); };"
	 "  conditions = (" EXT("*.exe") "); actions = { intercept = \"delete\"; }; }",
	 "pass", NULL, ""},
	{"{ name = \"in\"; route = { direction = \"incoming\"; };"
	 "  conditions = (" EXT("*.exe") "); actions = { intercept = \"delete\"; }; }",
	 "delete", "in", "in"},
	{"{ name = \"out\"; route = { direction = \"outgoing\"; };"
	 "  conditions = (" EXT("*.exe") "); actions = { intercept = \"delete\"; }; }",
	 "pass", NULL, ""},
	/* a plugin's action is compiled and applied like the core's */
	{"{ name = \"shout\"; conditions = (" EXT("*.exe") "); actions = { shout = true; }; }",
	 "pass", NULL, "shout"},
};

static char *joined(const struct strvec *sv)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < sv->n; i++) {
		char *t = xasprintf("%s%s%s", s, i ? " " : "", sv->v[i]);
		free(s);
		s = t;
	}
	return s;
}

START_TEST(test_engine_table)
{
	tu_fresh();
	char *cfg = xasprintf(PLUGINS "internal_domains = [\"example.com\"];\n"
			      "rules = ( %s );\n", engine[_i].rules);
	char *errors = NULL;
	struct host *h = tu_host(cfg, &errors);
	ck_assert_msg(h != NULL, "case %d: %s", _i, errors);
	struct msg *m = tu_msg(h, message);
	struct policy_state st;
	policy_state_init(&st);
	ck_assert_int_eq(policy_eval(h, m, &st), VIGIL_MATCH);
	ck_assert_msg(strcmp(report_final_action(&st), engine[_i].final) == 0,
		      "case %d: final %s, expected %s", _i,
		      report_final_action(&st), engine[_i].final);
	if (engine[_i].decided_by)
		ck_assert_str_eq(st.intercept_rule, engine[_i].decided_by);
	else
		ck_assert_ptr_null(st.intercept_rule);
	char *matched = joined(&st.matched);
	ck_assert_msg(strcmp(matched, engine[_i].matched) == 0,
		      "case %d: matched '%s', expected '%s'", _i, matched,
		      engine[_i].matched);
	free(matched);
	policy_state_clear(&st);
	msg_free(m);
	host_free(h);
	free(cfg);
	free(errors);
}
END_TEST

START_TEST(test_precedence_vocabulary)
{
	ck_assert_int_lt(vigil_action_rank(VIGIL_ACTION_PASS),
			 vigil_action_rank(VIGIL_ACTION_HANDOFF));
	ck_assert_int_eq(vigil_action_rank(VIGIL_ACTION_HANDOFF),
			 vigil_action_rank(VIGIL_ACTION_CHANGE_RECIPIENT));
	ck_assert_int_lt(vigil_action_rank(VIGIL_ACTION_CHANGE_RECIPIENT),
			 vigil_action_rank(VIGIL_ACTION_QUARANTINE));
	ck_assert_int_lt(vigil_action_rank(VIGIL_ACTION_QUARANTINE),
			 vigil_action_rank(VIGIL_ACTION_DELETE));
	for (int a = 0; a < VIGIL_ACTION_COUNT; a++) {
		vigil_action back;
		ck_assert_int_eq(action_parse(action_name((vigil_action)a), &back), 0);
		ck_assert_int_eq(back, a);
	}
}
END_TEST

/* Scanning exceptions come before every rule. */
START_TEST(test_security_violation_first)
{
	tu_fresh();
	struct host *h = tu_host(PLUGINS "limits = { max_message_size = 100; };\n"
				 "rules = ( { name = \"d\"; conditions = (" EXT("*") ");"
				 " actions = { intercept = \"delete\"; }; } );\n", NULL);
	ck_assert_ptr_nonnull(h);
	struct msg *m = tu_msg(h, message);
	struct policy_state st;
	policy_state_init(&st);
	policy_eval(h, m, &st);
	ck_assert_str_eq(report_final_action(&st), "quarantine");
	ck_assert_str_eq(st.area, "default");
	ck_assert_str_eq(st.exceptions.v[0], "security_violation");
	json_t *e = json_array_get(st.report, 0);
	const char *detail = json_string_value(json_object_get(
		json_array_get(json_object_get(e, "conditions"), 0), "detail"));
	ck_assert_str_eq(detail, "max_message_size (100)");
	ck_assert_int_eq(json_array_size(st.report), 1); /* no rule ran */
	policy_state_clear(&st);
	msg_free(m);
	host_free(h);
}
END_TEST

START_TEST(test_malformed_default_pass_then_rules)
{
	tu_fresh();
	struct host *h = tu_host(PLUGINS
				 "rules = ( { name = \"t\"; conditions = (" EXT("*.exe") ");"
				 " actions = { tag_subject = \"[x]\"; }; } );\n", NULL);
	ck_assert_ptr_nonnull(h);
	/* no closing boundary */
	char *broken = xstrdup(message);
	*strstr(broken, "--b--") = '\0';
	struct msg *m = tu_msg(h, broken);
	struct policy_state st;
	policy_state_init(&st);
	policy_eval(h, m, &st);
	ck_assert_str_eq(report_final_action(&st), "pass");
	ck_assert_int_eq(st.exceptions.n, 1);
	ck_assert_str_eq(st.exceptions.v[0], "malformed");
	ck_assert_int_eq(st.matched.n, 2); /* malformed + t */
	policy_state_clear(&st);
	msg_free(m);
	host_free(h);
	free(broken);
}
END_TEST

#define PENDING_RULES                                                          \
	"rules = ( { name = \"tag\"; order = 10; conditions = (" EXT("*.exe") ");" \
	" actions = { tag_subject = \"[EXE]\"; }; },"                          \
	" { name = \"wait\"; order = 20; conditions = ( { type = \"pending_test\"; ticket = \"T1\"; } );" \
	" actions = { intercept = \"quarantine\"; }; } );\n"

/* PENDING parks the evaluation; its JSON form resumes at the rule. */
START_TEST(test_pending_save_resume)
{
	tu_fresh();
	char *errors = NULL;
	struct host *h = tu_host(PLUGINS PENDING_RULES, &errors);
	ck_assert_msg(h != NULL, "%s", errors);
	struct msg *m = tu_msg(h, message);
	struct policy_state st;
	policy_state_init(&st);
	ck_assert_int_eq(policy_eval(h, m, &st), VIGIL_PENDING);
	ck_assert_str_eq(report_final_action(&st), "pending");
	ck_assert_int_eq(st.tickets.n, 1);
	ck_assert_str_eq(st.tickets.v[0], "T1");
	ck_assert_int_eq(st.matched.n, 1);

	/* save, forget, load: the state is a value */
	char *saved = policy_state_save(&st);
	policy_state_clear(&st);
	const char *err = NULL;
	ck_assert_int_eq(policy_state_load(&st, saved, &err), 0);
	ck_assert(st.pending);

	/* the verdict arrives: the plugin's timer resolves the ticket */
	host_run_timers(h, time(NULL) + 5);
	struct strvec done = {0};
	host_take_done_tickets(&done);
	ck_assert_int_eq(done.n, 1);
	ck_assert_str_eq(done.v[0], "T1");
	strvec_free(&done);

	ck_assert_int_eq(policy_eval(h, m, &st), VIGIL_MATCH);
	ck_assert_str_eq(report_final_action(&st), "quarantine");
	ck_assert_str_eq(st.intercept_rule, "wait");
	ck_assert_int_eq(st.matched.n, 2);
	ck_assert_str_eq(st.matched.v[0], "tag"); /* kept across the park */
	ck_assert_int_eq(json_array_size(st.report), 2); /* no stale entry */
	policy_state_clear(&st);
	free(saved);
	msg_free(m);
	host_free(h);
	free(errors);
}
END_TEST

/* A reload that inserts a rule still resumes at the parked rule. */
START_TEST(test_pending_resume_after_reload)
{
	tu_fresh();
	struct host *h1 = tu_host(PLUGINS PENDING_RULES, NULL);
	ck_assert_ptr_nonnull(h1);
	struct msg *m = tu_msg(h1, message);
	struct policy_state st;
	policy_state_init(&st);
	ck_assert_int_eq(policy_eval(h1, m, &st), VIGIL_PENDING);
	char *saved = policy_state_save(&st);
	policy_state_clear(&st);
	msg_free(m);
	host_free(h1);

	struct host *h2 = tu_host(PLUGINS
		"rules = ( { name = \"new\"; order = 1; conditions = (" EXT("*.zzz") ");"
		" actions = { intercept = \"delete\"; }; },"
		" { name = \"tag\"; order = 10; conditions = (" EXT("*.exe") ");"
		" actions = { tag_subject = \"[EXE]\"; }; },"
		" { name = \"wait\"; order = 20; conditions = ( { type = \"pending_test\"; ticket = \"T1\"; } );"
		" actions = { intercept = \"quarantine\"; }; } );\n", NULL);
	ck_assert_ptr_nonnull(h2);
	const char *err;
	ck_assert_int_eq(policy_state_load(&st, saved, &err), 0);
	m = tu_msg(h2, message);
	/* the new generation's plugin has not resolved it yet */
	ck_assert_int_eq(policy_eval(h2, m, &st), VIGIL_PENDING);
	ck_assert_str_eq(st.next_rule_name, "wait");
	ck_assert_int_eq(st.next_rule, 2);
	host_run_timers(h2, time(NULL) + 5);
	ck_assert_int_eq(policy_eval(h2, m, &st), VIGIL_MATCH);
	ck_assert_str_eq(st.intercept_rule, "wait");
	policy_state_clear(&st);
	free(saved);
	msg_free(m);
	host_free(h2);
}
END_TEST

/* va_submit: a matching part goes to the verdict source, whose PENDING
 * parks the message and whose verdict decides. */
START_TEST(test_va_submit_through_verdict_source)
{
	tu_fresh();
	char *errors = NULL;
	struct host *h = tu_host(PLUGINS
		"rules = ( { name = \"exe-to-va\"; conditions = ( { type = \"extension\";"
		" names = \"*.exe\"; va_submit = true; } ); actions = { intercept = \"delete\"; }; } );\n",
		&errors);
	ck_assert_msg(h != NULL, "%s", errors);
	struct msg *m = tu_msg(h, message);
	size_t n;
	const vigil_part *parts = msg_parts(m, &n);
	ck_assert_int_eq(n, 2);
	struct policy_state st;
	policy_state_init(&st);
	ck_assert_int_eq(policy_eval(h, m, &st), VIGIL_PENDING);
	ck_assert_str_eq(st.tickets.v[0], parts[1].sha1);
	host_run_timers(h, time(NULL) + 5);
	ck_assert_int_eq(policy_eval(h, m, &st), VIGIL_MATCH);
	ck_assert_str_eq(report_final_action(&st), "delete");
	json_t *c = json_array_get(json_object_get(json_array_get(st.report, 0),
						   "conditions"), 0);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(c, "detail")),
				     "sandbox says"));
	policy_state_clear(&st);
	msg_free(m);
	host_free(h);
	free(errors);
}
END_TEST

START_TEST(test_state_load_rejects_garbage)
{
	static const char *garbage[] = {"", "[]", "{\"next_rule\":\"x\"}",
					"{\"next_rule\":1,\"intercept\":\"explode\","
					"\"report\":[],\"matched\":[],\"tickets\":[],"
					"\"exceptions\":[]}"};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
		struct policy_state st;
		const char *err = NULL;
		ck_assert_int_eq(policy_state_load(&st, garbage[i], &err), -1);
		ck_assert_ptr_nonnull(err);
		policy_state_clear(&st);
	}
}
END_TEST

int main(void)
{
	msg_library_init();
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_engine_table, 0,
			    sizeof engine / sizeof engine[0]);
	tcase_add_test(tc, test_precedence_vocabulary);
	tcase_add_test(tc, test_security_violation_first);
	tcase_add_test(tc, test_malformed_default_pass_then_rules);
	tcase_add_test(tc, test_pending_save_resume);
	tcase_add_test(tc, test_pending_resume_after_reload);
	tcase_add_test(tc, test_va_submit_through_verdict_source);
	tcase_add_test(tc, test_state_load_rejects_garbage);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
