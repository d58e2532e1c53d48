/*
 * check_spool.c - the spool's promises: what spool_add() returned is on
 * disk with its state; a state replace is atomic; recovery finds every
 * stated message, drops unfinished writes and orphans; ids are unique
 * and checked before they become paths.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

static char *fresh_dir(void)
{
	char *dir = xstrdup("/tmp/vigil-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static const unsigned char msg[] = "From: a@example.org\nSubject: x\n\nbody\n";

static json_t *envelope(void)
{
	return json_pack("{s:s, s:[s,s], s:s}", "sender", "a@example.org",
			 "rcpts", "b@example.com", "c@example.com", "stage",
			 "incoming");
}

START_TEST(test_add_read_state)
{
	char *dir = fresh_dir(), *err = NULL, id[SPOOL_ID_SIZE];
	struct spool *sp = spool_open(dir, &err);
	ck_assert_msg(sp != NULL, "%s", err);
	json_t *env = envelope();
	ck_assert_int_eq(spool_add(sp, msg, sizeof msg - 1, env, id, &err), 0);
	ck_assert(spool_id_valid(id));
	unsigned char *data;
	size_t size;
	ck_assert_int_eq(spool_read(sp, id, "msg", &data, &size, &err), 0);
	ck_assert_uint_eq(size, sizeof msg - 1);
	ck_assert_int_eq(memcmp(data, msg, size), 0);
	free(data);
	json_t *st = spool_state(sp, id, &err);
	ck_assert_str_eq(json_string_value(json_object_get(st, "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(st, "sender")),
			 "a@example.org");
	json_object_set_new(st, "stage", json_string("deliver"));
	ck_assert_int_eq(spool_set_state(sp, id, st, &err), 0);
	json_decref(st);
	st = spool_state(sp, id, &err);
	ck_assert_str_eq(json_string_value(json_object_get(st, "stage")), "deliver");
	json_decref(st);
	/* the modified copy sits beside the original, which never changes */
	ck_assert_int_eq(spool_write_out(sp, id, (const unsigned char *)"new", 3, &err), 0);
	ck_assert_int_eq(spool_read(sp, id, "out", &data, &size, &err), 0);
	ck_assert_uint_eq(size, 3);
	free(data);
	ck_assert_int_eq(spool_read(sp, id, "msg", &data, &size, &err), 0);
	ck_assert_uint_eq(size, sizeof msg - 1);
	free(data);
	/* quarantine keeps the original bytes */
	char *path = NULL;
	ck_assert_int_eq(spool_quarantine(sp, id, "default", &path, &err), 0);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_size, (off_t)(sizeof msg - 1));
	ck_assert_int_ne(spool_quarantine(sp, id, "../etc", &path, &err), 0);
	free(err);
	err = NULL;
	free(path);
	spool_remove(sp, id);
	ck_assert_ptr_null(spool_state(sp, id, &err));
	free(err);
	json_decref(env);
	spool_close(sp);
	free(dir);
}
END_TEST

static void count_cb(void *ctx, const char *id)
{
	(void)id;
	(*(int *)ctx)++;
}

START_TEST(test_recover)
{
	char *dir = fresh_dir(), *err = NULL, id[SPOOL_ID_SIZE];
	struct spool *sp = spool_open(dir, &err);
	json_t *env = envelope();
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(spool_add(sp, msg, sizeof msg - 1, env, id, &err), 0);
	/* a crash mid-write: a tmp file, and a message whose state never
	 * made it (no 250 was given for it) */
	char *p = xasprintf("%s/tmp/DEADBEEF00000001.msg", dir);
	FILE *f = fopen(p, "w");
	fputs("partial", f);
	fclose(f);
	free(p);
	p = xasprintf("%s/queue/2/DEADBEEF00000002.msg", dir);
	f = fopen(p, "w");
	fputs("orphan", f);
	fclose(f);
	char *q = xasprintf("%s/queue/3/.DEADBEEF00000003.env.tmp", dir);
	f = fopen(q, "w");
	fputs("unfinished", f);
	fclose(f);
	int n = 0;
	ck_assert_uint_eq(spool_recover(sp, count_cb, &n), 5);
	ck_assert_int_ne(access(q, F_OK), 0); /* unfinished write gone */
	free(q);
	ck_assert_int_eq(n, 5);
	ck_assert_int_ne(access(p, F_OK), 0); /* orphan gone */
	free(p);
	p = xasprintf("%s/tmp/DEADBEEF00000001.msg", dir);
	ck_assert_int_ne(access(p, F_OK), 0);
	free(p);
	json_decref(env);
	spool_close(sp);
	free(dir);
}
END_TEST

START_TEST(test_bad_ids_never_become_paths)
{
	static const char *bad[] = {"", "../../etc/passwd", "abc", "12345678/x",
				    "0123456789abcdef", "0123456789ABCDEF0123456789"};
	char *dir = fresh_dir(), *err = NULL;
	struct spool *sp = spool_open(dir, &err);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unsigned char *data;
		size_t size;
		ck_assert_msg(!spool_id_valid(bad[i]), "%s", bad[i]);
		ck_assert_int_ne(spool_read(sp, bad[i], "msg", &data, &size, &err), 0);
		free(err);
		err = NULL;
		ck_assert_int_ne(spool_remove(sp, bad[i]), 0);
	}
	spool_close(sp);
	free(dir);
}
END_TEST

struct adder {
	struct spool *sp;
	char ids[200][SPOOL_ID_SIZE];
};

static void *add_many(void *arg)
{
	struct adder *a = arg;
	char *err = NULL;
	for (int i = 0; i < 200; i++) {
		json_t *env = envelope();
		if (spool_add(a->sp, msg, sizeof msg - 1, env, a->ids[i], &err) != 0)
			abort();
		json_decref(env);
	}
	return NULL;
}

START_TEST(test_ids_unique_across_threads)
{
	char *dir = fresh_dir(), *err = NULL;
	struct spool *sp = spool_open(dir, &err);
	struct adder *a = xcalloc(4, sizeof *a);
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		a[i].sp = sp;
		pthread_create(&t[i], NULL, add_many, &a[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	int n = 0;
	ck_assert_uint_eq(spool_recover(sp, count_cb, &n), 800);
	free(a);
	spool_close(sp);
	free(dir);
}
END_TEST

START_TEST(test_unwritable_dir_is_an_error)
{
	char *err = NULL;
	ck_assert_ptr_null(spool_open("/proc/vigil-no-such/spool", &err));
	ck_assert_ptr_nonnull(err);
	free(err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_add_read_state);
	tcase_add_test(tc, test_recover);
	tcase_add_test(tc, test_bad_ids_never_become_paths);
	tcase_add_test(tc, test_ids_unique_across_threads);
	tcase_add_test(tc, test_unwritable_dir_is_an_error);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
