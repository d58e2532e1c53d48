/*
 * check_atse.c - the atse condition against the mock host and the real
 * engine: tables of (aggressiveness, sample) -> detection name over
 * samples built at test time by samples.py (EICAR plain, zipped, zipped
 * twice, in a password-protected zip; OLE2 and OOXML documents with and
 * without macros; droppers; PDF actions; executables in documents and
 * archives), Debian's clamav-testfiles when installed, which parts are
 * scanned, name tricks, the administrator's signatures, bad settings, and
 * the Virtual Analyzer's double confirmation through a fake "ddan"
 * verdict source answering each value.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock_host.h"

extern const vigil_plugin_def vigil_plugin;

static char samples[600]; /* samples.py's output */
static char sigdir[512];  /* conf.d/atse */
static char scratch[512]; /* other files the tests write */

static void die(const char *what)
{
	fprintf(stderr, "check_atse: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Read a whole file; *size_r gets its size. */
static unsigned char *slurp(const char *path, size_t *size_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0, got;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("realloc");
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*size_r = n;
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		die(path);
}

/* A host with the plugin loaded at `level` on the shipped signatures,
 * plus `extra` settings. */
static mock_host *load(int level, const char *extra)
{
	mock_host *m = mock_host_new();
	char settings[2048];
	snprintf(
	    settings, sizeof settings,
	    "name = \"atse\"; aggressiveness = %d; builtin_dir = \"%s\"; %s",
	    level, sigdir, extra ? extra : "");
	const char *err = NULL;
	int rc = mock_host_load(m, &vigil_plugin, settings, &err);
	ck_assert_msg(rc == 0, "load: %s", err ? err : "?");
	return m;
}

/* A message: a text body, then `file` from the samples as part "2". */
static vigil_message *message_with(mock_host *m, const char *dir,
				   const char *file, const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	size_t size;
	unsigned char *data = slurp(path, &size);
	ck_assert_msg(data != NULL, "%s: %s", path, strerror(errno));
	vigil_message *msg = mock_message_new(m, "a@partner.example", NULL, 0);
	mock_message_add_part(msg, "1", "", "text/plain", "See attached.\r\n",
			      15, 0);
	mock_message_add_part(msg, "2", name ? name : file,
			      "application/octet-stream", data, size, 0);
	free(data);
	return msg;
}

/* ------------------------------------------------------------ detections */

static const struct {
	int level;
	const char *file;
	const char *name; /* expected detection (prefix), NULL: none */
} cases[] = {
    /* EICAR, every way the issue asks for */
    {1, "eicar.com", "Eicar_test_file"},
    {2, "eicar.com", "Eicar_test_file"},
    {2, "eicar.zip", "Eicar_test_file"},
    {2, "eicar-zip.zip", "Eicar_test_file"},
    {2, "eicar-protected.zip", NULL}, /* sealed: only a heuristic sees it */
    {3, "eicar-protected.zip", "HEUR_ENCRYPTED.A"},
    {3, "plain-protected.zip", "HEUR_ENCRYPTED.A"},
    /* macros: OLE2 and OOXML, with and without */
    {2, "macro.doc", NULL},
    {3, "macro.doc", "HEUR_OLEMACRO.A"},
    {3, "macro.docm", "HEUR_OLEMACRO.A"},
    {4, "plain.doc", NULL},
    {4, "plain.docx", NULL},
    /* executables hidden in documents and archives, broken, packed */
    {1, "exe-in.doc", NULL},
    {2, "exe-in.doc", "HEUR_EXEINDOC.A"},
    {2, "tool.zip", NULL},
    {3, "tool.zip", "HEUR_EXEINARC.A"},
    {4, "tool.exe", NULL},
    {2, "broken.exe", NULL},
    {3, "broken.exe", "HEUR_BROKENEXE.A"},
    {3, "packed.exe", NULL},
    {4, "packed.exe", "HEUR_PACKED.A"},
    /* HTML and script droppers */
    {1, "smuggle.html", NULL},
    {2, "smuggle.html", "HEUR_HTMLDROP.A"},
    {2, "dropper.js", "HEUR_SCRDROP."},
    {2, "dropper.vbs", "HEUR_"},
    /* exploits are reported at every level */
    {1, "follina.html", "EXPL_CVE202230190.A"},
    /* PDF: actions that run on opening; any script only at 4 */
    {1, "autojs.pdf", NULL},
    {2, "autojs.pdf", "HEUR_PDFJS.A"},
    {2, "launch.pdf", "HEUR_PDFLAUNCH.A"},
    {3, "names-js.pdf", NULL},
    {4, "names-js.pdf", "HEUR_PDFJS.B"},
    {4, "plain.pdf", NULL},
    {4, "minutes.txt", NULL},
};

START_TEST(test_detection_table)
{
	mock_host *m = load(cases[_i].level, NULL);
	vigil_message *msg = message_with(m, samples, cases[_i].file, NULL);
	struct mock_eval_report r;
	const char *err = NULL;
	vigil_result res = mock_eval(m, "type = \"atse\";", msg, &r, &err);
	const char *want = cases[_i].name;
	ck_assert_msg(res == (want ? VIGIL_MATCH : VIGIL_NO_MATCH),
		      "level %d %s: got %d (%s)", cases[_i].level,
		      cases[_i].file, res, r.detail);
	if (want != NULL) {
		ck_assert_msg(strncmp(r.detail, want, strlen(want)) == 0,
			      "level %d %s: detail '%s' does not start '%s'",
			      cases[_i].level, cases[_i].file, r.detail, want);
		char where[256];
		snprintf(where, sizeof where, " in 2/%s", cases[_i].file);
		ck_assert_msg(strstr(r.detail, where) != NULL,
			      "detail '%s' lacks '%s'", r.detail, where);
		ck_assert_ptr_nonnull(r.part);
		ck_assert_str_eq(r.part->path, "2");
		ck_assert_str_eq(r.threat, "possible virus");
	}
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* The engine's name stays in the detail. */
START_TEST(test_engine_name_in_detail)
{
	mock_host *m = load(3, NULL);
	vigil_message *msg =
	    message_with(m, samples, "macro.doc", "invoice.doc");
	struct mock_eval_report r;
	const char *err = NULL;
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	ck_assert_msg(strstr(r.detail,
			     "HEUR_OLEMACRO.A (engine: "
			     "Heuristics.OLE2.ContainsMacros") == r.detail,
		      "%s", r.detail);
	ck_assert_ptr_nonnull(strstr(r.detail, "in 2/invoice.doc"));
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* Debian's clamav-testfiles: every one is the ClamAV test program, plain,
 * packed, archived, embedded or encoded. */
START_TEST(test_clamav_testfiles)
{
	const char *dir = "/usr/share/clamav-testfiles";
	DIR *d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "check_atse: %s not installed: skipped\n", dir);
		return;
	}
	struct dirent *e;
	int seen = 0, missed = 0;
	char missed_names[1024] = "";
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "clam", 4) != 0)
			continue;
		mock_host *m =
		    load(2, NULL); /* the mock keeps every condition */
		vigil_message *msg = message_with(m, dir, e->d_name, NULL);
		struct mock_eval_report r;
		const char *err = NULL;
		vigil_result res =
		    mock_eval(m, "type = \"atse\";", msg, &r, &err);
		seen++;
		if (res != VIGIL_MATCH ||
		    strncmp(r.detail, "ClamAV-Test-File", 16) != 0) {
			missed++;
			size_t l = strlen(missed_names);
			snprintf(missed_names + l, sizeof missed_names - l,
				 " %s(%d: %s)", e->d_name, res, r.detail);
		}
		mock_message_free(msg);
		mock_host_free(m);
	}
	closedir(d);
	ck_assert_msg(seen >= 30, "only %d test files", seen);
	ck_assert_msg(missed == 0, "%d of %d not detected:%s", missed, seen,
		      missed_names);
}
END_TEST

/* ----------------------------------------------------- what is scanned -- */

/* Archive members are the same bytes as their archive, already scanned
 * through it: alone they are not scanned again. An embedded message is
 * scanned through its leaves, which name the part. */
START_TEST(test_targets)
{
	char path[1024];
	size_t size;
	snprintf(path, sizeof path, "%s/eicar.com", samples);
	unsigned char *eicar = slurp(path, &size);
	ck_assert_ptr_nonnull(eicar);
	mock_host *m = load(2, NULL);
	struct mock_eval_report r;
	const char *err = NULL;

	vigil_message *msg = mock_message_new(m, "a@b", NULL, 0);
	vigil_part *p = mock_message_add_part(msg, "2/x.zip/eicar.com",
					      "eicar.com", "", eicar, size, 1);
	p->flags |= VIGIL_PART_MEMBER;
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_NO_MATCH);
	mock_message_free(msg);

	msg = mock_message_new(m, "a@b", NULL, 0);
	p = mock_message_add_part(msg, "2", "fwd.eml", "message/rfc822", eicar,
				  size, 0);
	p->flags |= VIGIL_PART_CONTAINER;
	p = mock_message_add_part(msg, "2.1", "eicar.com",
				  "application/octet-stream", eicar, size, 1);
	p->parent = 0;
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	ck_assert_str_eq(r.part->path, "2.1");
	mock_message_free(msg);

	/* an HTML body is matched raw */
	msg = mock_message_new(m, "a@b", NULL, 0);
	snprintf(path, sizeof path, "%s/smuggle.html", samples);
	size_t hsize;
	unsigned char *html = slurp(path, &hsize);
	ck_assert_ptr_nonnull(html);
	mock_message_add_part(msg, "1.2", "", "text/html", html, hsize, 0);
	free(html);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	ck_assert_str_eq(r.part->path, "1.2");
	ck_assert_ptr_nonnull(strstr(r.detail, "HEUR_HTMLDROP.A"));
	mock_message_free(msg);

	/* a MIME leaf in the text body */
	msg = mock_message_new(m, "a@b", NULL, 0);
	mock_message_add_part(msg, "1", "", "text/plain", eicar, size, 0);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	ck_assert_str_eq(r.part->path, "1");
	mock_message_free(msg);
	mock_host_free(m);
	free(eicar);
}
END_TEST

/* ------------------------------------------------------------ vigil side */

static const struct {
	int level;
	const char *name;
	const char *category;
	unsigned flags;
	const char *want;
} names[] = {
    {3, "invoice.pdf.exe", "other", 0, "HEUR_DOUBLEEXT.A"},
    {3, "photo.JPG      .scr", "other", 0, "HEUR_DOUBLEEXT.A"},
    {3,
     "Rechnung\xe2\x80\xae"
     "fdp.exe",
     "other", 0, "HEUR_DOUBLEEXT.B"},
    {2, "invoice.pdf.exe", "other", 0, NULL},
    {4, "report.v2.pdf", "other", 0, NULL},
    {4, "setup.exe", "other", 0, NULL},
    {4, "archive.tar.gz", "other", 0, NULL},
    {3, "salaries.xlsx", "document", VIGIL_PART_ENCRYPTED, "HEUR_ENCRYPTED.B"},
    {2, "salaries.xlsx", "document", VIGIL_PART_ENCRYPTED, NULL},
    {4, "salaries.xlsx", "document", 0, NULL},
};

START_TEST(test_vigil_checks)
{
	mock_host *m = load(names[_i].level, NULL);
	vigil_message *msg = mock_message_new(m, "a@b", NULL, 0);
	vigil_part *p =
	    mock_message_add_part(msg, "2", names[_i].name,
				  "application/octet-stream", "hello\n", 6, 0);
	p->category = names[_i].category;
	p->true_type = "xlsx";
	p->flags |= names[_i].flags;
	struct mock_eval_report r;
	const char *err = NULL;
	vigil_result res = mock_eval(m, "type = \"atse\";", msg, &r, &err);
	const char *want = names[_i].want;
	ck_assert_msg(res == (want ? VIGIL_MATCH : VIGIL_NO_MATCH),
		      "case %d '%s': got %d (%s)", _i, names[_i].name, res,
		      r.detail);
	if (want != NULL)
		ck_assert_msg(strncmp(r.detail, want, strlen(want)) == 0,
			      "case %d: '%s'", _i, r.detail);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* ------------------------------------------------- administrator's sigs -- */

/* An administrator's directory: database names are kept, exploits become
 * EXPL_*, and the aggressiveness applies to HEUR_* signatures too. */
START_TEST(test_signature_dirs)
{
	char dir[600], file[700], settings[800];
	snprintf(dir, sizeof dir, "%s/admin-sigs", scratch);
	mkdir(dir, 0755);
	snprintf(file, sizeof file, "%s/local.ndb", dir);
	/* hex of "vigil-trojan-marker", "vigil-exploit-marker",
	 * "vigil-heuristic-marker" */
	write_file(file, "Win.Trojan.VigilTest-9912345-0:0:*:"
			 "766967696c2d74726f6a616e2d6d61726b6572\n"
			 "Doc.Exploit.CVE_2099_0001-9912346-1:0:*:"
			 "766967696c2d6578706c6f69742d6d61726b6572\n"
			 "HEUR_VIGILTEST.A:0:*:"
			 "766967696c2d6865757269737469632d6d61726b6572\n");
	static const struct {
		int level;
		const char *text, *want;
	} t[] = {
	    {1, "x vigil-trojan-marker x", "Win.Trojan.VigilTest-9912345-0 "},
	    {1, "x vigil-exploit-marker x",
	     "EXPL_CVE20990001 (engine: "
	     "Doc.Exploit.CVE_2099_0001"},
	    {2, "x vigil-heuristic-marker x", "HEUR_VIGILTEST.A "},
	    {1, "x vigil-heuristic-marker x", NULL},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		snprintf(settings, sizeof settings,
			 "signature_dirs = [ \"%s\" ];", dir);
		mock_host *m = load(t[i].level, settings);
		vigil_message *msg = mock_message_new(m, "a@b", NULL, 0);
		mock_message_add_part(msg, "1", "", "text/plain", t[i].text,
				      strlen(t[i].text), 0);
		struct mock_eval_report r;
		const char *err = NULL;
		vigil_result res =
		    mock_eval(m, "type = \"atse\";", msg, &r, &err);
		if (t[i].want == NULL) {
			ck_assert_msg(res == VIGIL_NO_MATCH, "%zu: %s", i,
				      r.detail);
		} else {
			ck_assert_msg(res == VIGIL_MATCH, "%zu: got %d", i,
				      res);
			ck_assert_msg(strncmp(r.detail, t[i].want,
					      strlen(t[i].want)) == 0,
				      "%zu: '%s'", i, r.detail);
		}
		mock_message_free(msg);
		mock_host_free(m);
	}
}
END_TEST

/* The engine's scratch files go to tmp_dir: what it extracts from an
 * archive or a document is still scanned. */
START_TEST(test_tmp_dir)
{
	char settings[700];
	snprintf(settings, sizeof settings, "tmp_dir = \"%s\";", scratch);
	mock_host *m = load(3, settings);
	struct mock_eval_report r;
	const char *err = NULL;
	vigil_message *msg = message_with(m, samples, "eicar-zip.zip", NULL);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	mock_message_free(msg);
	msg = message_with(m, samples, "macro.doc", NULL);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* The scratch space goes away while scanning: libclamav would answer
 * "clean" without scanning, so the condition must answer ERROR (after the
 * next check, scratch_check_interval later), and recover when it is back. */
START_TEST(test_scratch_space_lost)
{
	char dir[600], settings[700];
	snprintf(dir, sizeof dir, "%s/lost", scratch);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(settings, sizeof settings,
		 "tmp_dir = \"%s\"; scratch_check_interval = 1;", dir);
	mock_host *m = load(3, settings);
	struct mock_eval_report r;
	const char *err = NULL;
	vigil_message *msg = message_with(m, samples, "eicar.com", NULL);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	ck_assert_int_eq(rmdir(dir), 0);
	sleep(2);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_ERROR);
	ck_assert_msg(strstr(r.detail, "not writable") != NULL, "%s", r.detail);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	sleep(2);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	mock_message_free(msg);
	mock_host_free(m);
	rmdir(dir);
}
END_TEST

/* Without the shipped signatures the engine still has its heuristics. */
START_TEST(test_no_builtin_signatures)
{
	mock_host *m = load(3, "builtin_signatures = false;");
	struct mock_eval_report r;
	const char *err = NULL;
	vigil_message *msg = message_with(m, samples, "eicar.com", NULL);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_NO_MATCH);
	mock_message_free(msg);
	msg = message_with(m, samples, "macro.docm", NULL);
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_MATCH);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* ------------------------------------------------------------- settings -- */

static const struct {
	const char *settings;
	const char *error_has;
} bad[] = {
    {"aggressiveness = 0;", "aggressiveness"},
    {"aggressiveness = 5;", "aggressiveness"},
    {"aggressiveness = \"high\";", "aggressiveness"},
    {"signature_dirs = [ \"/nonexistent/sigs\" ];",
     "'/nonexistent/sigs': No such file or directory"},
    {"signature_dirs = \"/tmp\";", "signature_dirs"},
    {"signature_dirs = [ 1 ];", "signature_dirs"},
    {"signature_dirs = [ \"/etc/hostname\" ];", "not a directory"},
    {"signature_dirs = [ \"@SCRATCH@/writable\" ];", "writable by group"},
    {"signature_dirs = [ \"@SCRATCH@/broken\" ];", "broken"},
    {"builtin_signatures = 3;", "builtin_signatures"},
    {"tmp_dir = \"tmp\";", "absolute"},
    {"tmp_dir = \"/nonexistent/tmp\";", "'/nonexistent/tmp': No such file"},
    {"builtin_dir = \"\";", "builtin_dir"},
    {"colour = 1;", "colour"},
};

START_TEST(test_bad_settings)
{
	char text[1024], dir[700];
	snprintf(dir, sizeof dir, "%s/writable", scratch);
	mkdir(dir, 0755);
	chmod(dir, 0775);
	snprintf(dir, sizeof dir, "%s/broken", scratch);
	mkdir(dir, 0755);
	char file[800];
	snprintf(file, sizeof file, "%s/bad.ldb", dir);
	write_file(file, "HEUR_BAD.A;Engine:81-255,Target:0;0&1;41414141\n");
	const char *s = bad[_i].settings, *at = strstr(s, "@SCRATCH@");
	if (at != NULL)
		snprintf(text, sizeof text, "%.*s%s%s", (int)(at - s), s,
			 scratch, at + 9);
	else
		snprintf(text, sizeof text, "%s", s);
	char settings[2600];
	if (strstr(text, "builtin_dir") != NULL) /* the case sets its own */
		snprintf(settings, sizeof settings, "name = \"atse\"; %s",
			 text);
	else
		snprintf(settings, sizeof settings,
			 "name = \"atse\"; builtin_dir = \"%s\"; %s", sigdir,
			 text);
	mock_host *m = mock_host_new();
	const char *err = NULL;
	ck_assert_int_ne(mock_host_load(m, &vigil_plugin, settings, &err), 0);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, bad[_i].error_has) != NULL,
		      "case %d: error '%s' lacks '%s'", _i, err,
		      bad[_i].error_has);
	mock_host_free(m);
}
END_TEST

START_TEST(test_bad_condition)
{
	mock_host *m = load(2, NULL);
	vigil_message *msg = mock_message_new(m, "a@b", NULL, 0);
	struct mock_eval_report r;
	const char *err = NULL;
	ck_assert_int_eq(
	    mock_eval(m, "type = \"atse\"; level = 3;", msg, &r, &err),
	    VIGIL_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "level"));
	err = NULL;
	ck_assert_int_eq(
	    mock_eval(m, "type = \"atse\"; va_submit = true;", msg, &r, &err),
	    VIGIL_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "va_submit"));
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* ------------------------------------------------- double confirmation -- */

/* A stand-in for the Virtual Analyzer: answers from a script, one value
 * per query, and remembers what it was asked. */
struct fake_ddan {
	vigil_result answers[4];
	size_t n_answers, calls;
	char asked[4][64];
};

static vigil_result fake_query(void *ctx, vigil_message *msg,
			       const vigil_part *part, vigil_eval *ev)
{
	struct fake_ddan *f = ctx;
	(void)msg;
	vigil_result r =
	    f->answers[f->calls < f->n_answers ? f->calls : f->n_answers - 1];
	if (f->calls < 4)
		snprintf(f->asked[f->calls], sizeof f->asked[0], "%s",
			 part->path);
	f->calls++;
	if (r == VIGIL_MATCH) {
		vigil_eval_threat(ev, "Analyzed advanced threat");
		vigil_eval_detail(ev, "risk level 3");
	} else if (r == VIGIL_PENDING) {
		vigil_eval_ticket(ev, part->sha1[0] ? part->sha1 : "ticket-1");
	}
	return r;
}

static const vigil_verdict_ops fake_ops = {.name = "ddan", .query = fake_query};

static const struct {
	const char *what;
	vigil_result answers[2];
	size_t n_answers;
	int infected_parts; /* 1 or 2 infected attachments */
	vigil_result want;
	const char *threat; /* "" for none */
	const char *detail_has;
	const char *part; /* deciding part, NULL: not checked */
	size_t calls;
} confirm[] = {
    {"risk in level: confirmed",
     {VIGIL_MATCH},
     1,
     1,
     VIGIL_MATCH,
     "Analyzed advanced threat",
     "confirmed by the Virtual Analyzer",
     "2",
     1},
    {"no risk: dismissed",
     {VIGIL_NO_MATCH},
     1,
     1,
     VIGIL_NO_MATCH,
     "",
     "dismissed",
     "2",
     1},
    {"no risk on both: dismissed",
     {VIGIL_NO_MATCH},
     1,
     2,
     VIGIL_NO_MATCH,
     "",
     "dismissed",
     NULL,
     2},
    {"second one confirmed",
     {VIGIL_NO_MATCH, VIGIL_MATCH},
     2,
     2,
     VIGIL_MATCH,
     "Analyzed advanced threat",
     "in 3/eicar.zip",
     "3",
     2},
    {"verdict pending",
     {VIGIL_PENDING},
     1,
     1,
     VIGIL_PENDING,
     "",
     "waiting for the Virtual Analyzer",
     "2",
     1},
    {"pending beats dismissed",
     {VIGIL_PENDING, VIGIL_NO_MATCH},
     2,
     2,
     VIGIL_PENDING,
     "",
     "in 2/eicar.com",
     "2",
     2},
    {"analyzer error",
     {VIGIL_ERROR},
     1,
     1,
     VIGIL_ERROR,
     "",
     "no Virtual Analyzer verdict",
     "2",
     1},
    {"async: detection stands",
     {VIGIL_UNDECIDED},
     1,
     1,
     VIGIL_MATCH,
     "possible virus",
     "not held",
     "2",
     1},
};

START_TEST(test_double_confirmation)
{
	mock_host *m = load(2, NULL);
	struct fake_ddan f;
	memset(&f, 0, sizeof f);
	memcpy(f.answers, confirm[_i].answers, sizeof confirm[_i].answers);
	f.n_answers = confirm[_i].n_answers;
	const char *err = NULL;
	ck_assert_int_eq(vigil_register_verdict_source(mock_host_handle(m),
						       &fake_ops, &f, &err),
			 0);
	vigil_message *msg = message_with(m, samples, "eicar.com", NULL);
	if (confirm[_i].infected_parts == 2) {
		char path[1024];
		size_t size;
		snprintf(path, sizeof path, "%s/eicar.zip", samples);
		unsigned char *zip = slurp(path, &size);
		mock_message_add_part(msg, "3", "eicar.zip", "application/zip",
				      zip, size, 0);
		free(zip);
	}
	struct mock_eval_report r;
	vigil_result res = mock_eval(m, "type = \"atse\";", msg, &r, &err);
	ck_assert_msg(res == confirm[_i].want, "%s: got %d (%s)",
		      confirm[_i].what, res, r.detail);
	ck_assert_msg(f.calls == confirm[_i].calls, "%s: %zu queries",
		      confirm[_i].what, f.calls);
	ck_assert_str_eq(f.asked[0], "2");
	ck_assert_msg(strcmp(r.threat, confirm[_i].threat) == 0,
		      "%s: threat '%s'", confirm[_i].what, r.threat);
	ck_assert_msg(strstr(r.detail, confirm[_i].detail_has) != NULL,
		      "%s: detail '%s'", confirm[_i].what, r.detail);
	ck_assert_msg(strstr(r.detail, "Eicar_test_file (engine: ") == r.detail,
		      "%s: detail '%s'", confirm[_i].what, r.detail);
	if (confirm[_i].part != NULL) {
		ck_assert_ptr_nonnull(r.part);
		ck_assert_str_eq(r.part->path, confirm[_i].part);
	}
	if (res == VIGIL_PENDING)
		ck_assert_uint_ge(r.n_tickets, 1);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* Nothing found: the Virtual Analyzer is not asked. */
START_TEST(test_clean_not_submitted)
{
	mock_host *m = load(2, NULL);
	struct fake_ddan f;
	memset(&f, 0, sizeof f);
	f.answers[0] = VIGIL_MATCH;
	f.n_answers = 1;
	const char *err = NULL;
	ck_assert_int_eq(vigil_register_verdict_source(mock_host_handle(m),
						       &fake_ops, &f, &err),
			 0);
	vigil_message *msg = message_with(m, samples, "plain.docx", NULL);
	struct mock_eval_report r;
	ck_assert_int_eq(mock_eval(m, "type = \"atse\";", msg, &r, &err),
			 VIGIL_NO_MATCH);
	ck_assert_uint_eq(f.calls, 0);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

int main(void)
{
	const char *top = getenv("top_srcdir");
	if (top == NULL)
		top = ATSE_TOP_SRCDIR;
	snprintf(sigdir, sizeof sigdir, "%s/conf.d/atse", top);
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch, sizeof scratch, "%s/check_atse.XXXXXX",
		 tmp ? tmp : "/tmp");
	if (mkdtemp(scratch) == NULL)
		die("mkdtemp");
	snprintf(samples, sizeof samples, "%s/samples", scratch);
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "python3 '%s/plugins/atse/tests/samples.py' '%s'", top,
		 samples);
	if (system(cmd) != 0) {
		fprintf(stderr, "check_atse: %s failed\n", cmd);
		return 2;
	}

	Suite *s = suite_create("atse");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_detection_table, 0,
			    sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_engine_name_in_detail);
	tcase_add_test(tc, test_clamav_testfiles);
	tcase_add_test(tc, test_targets);
	tcase_add_loop_test(tc, test_vigil_checks, 0,
			    sizeof names / sizeof names[0]);
	tcase_add_test(tc, test_signature_dirs);
	tcase_add_test(tc, test_no_builtin_signatures);
	tcase_add_test(tc, test_tmp_dir);
	tcase_add_test(tc, test_scratch_space_lost);
	tcase_add_loop_test(tc, test_bad_settings, 0,
			    sizeof bad / sizeof bad[0]);
	tcase_add_test(tc, test_bad_condition);
	tcase_add_loop_test(tc, test_double_confirmation, 0,
			    sizeof confirm / sizeof confirm[0]);
	tcase_add_test(tc, test_clean_not_submitted);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "check_atse: cannot remove %s\n", scratch);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
