/*
 * atse.c - ATSE, the Advanced Threat Scan Engine: the "atse" condition of
 * the virus phase, driving libclamav.
 *
 *   plugins = ( { name = "atse"; aggressiveness = 2;
 *                 signature_dirs = [ "/var/lib/clamav" ]; } );
 *   rules = ( { ...; phase = "virus";
 *               conditions = ( { type = "atse"; } ); ... } );
 *
 * PURPOSE: configure and drive the open engine (its OLE2/VBA, PE/ELF, PDF,
 * archive and HTML parsers, its heuristics, ClamAV and YARA signatures) and
 * name what it finds the way administrators of the reference appliance know
 * it: HEUR_* for heuristics, EXPL_* for exploits, the engine's own name kept
 * in the detail. One engine per configuration generation, built in init(),
 * compiled once, then shared read-only by every scanning thread; a reload
 * builds the next generation's engine while the old one keeps scanning.
 * A detection is confirmed by the Virtual Analyzer (verdict source "ddan")
 * when one is loaded; without it the detection stands ("possible virus").
 *
 * NEVER: implements antivirus logic libclamav has; touches the network;
 * scans the same bytes twice when it can help it (see atse_is_target);
 * changes the engine after it is compiled.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clamav.h>

#include <vigil/plugin.h>

#define ATSE_THREAT "possible virus"
#define ATSE_MAX_LAYERS 32
/* signature files smaller than this in all: Aho-Corasick only */
#define ATSE_AC_ONLY_BELOW (8ULL << 20)

/* The engine's own limits, for one part of a message. A mail gateway sees
 * at most max_message_size (30 MB by default) per message; these bound
 * the expansion of what is inside it, like vigil's archive limits do. */
static const struct {
	enum cl_engine_field field;
	long long value;
} atse_limits[] = {
    {CL_ENGINE_MAX_SCANSIZE,
     200LL << 20}, /* bytes scanned per part, all layers */
    {CL_ENGINE_MAX_FILESIZE, 50LL << 20}, /* one layer larger is not scanned */
    {CL_ENGINE_MAX_RECURSION, 17},	  /* layers: a .tgz is two */
    {CL_ENGINE_MAX_FILES, 1000},	  /* files extracted per part */
    {CL_ENGINE_MAX_SCANTIME, 30000},	  /* ms per part */
    {CL_ENGINE_MAX_EMBEDDEDPE, 10LL << 20},
    {CL_ENGINE_MAX_HTMLNORMALIZE, 10LL << 20},
    {CL_ENGINE_MAX_HTMLNOTAGS, 2LL << 20},
    {CL_ENGINE_MAX_SCRIPTNORMALIZE, 5LL << 20},
    {CL_ENGINE_MAX_ZIPTYPERCG, 1LL << 20},
    {CL_ENGINE_MAX_PARTITIONS, 50},
    {CL_ENGINE_MAX_ICONSPE, 100},
    {CL_ENGINE_MAX_RECHWP3, 16},
};

/* How the engine names things -> how administrators know them, and the
 * aggressiveness from which each is reported (1 very conservative ... 4
 * very aggressive). First match wins; `name` NULL means "derive it". */
static const struct atse_name {
	const char *engine; /* fnmatch pattern on the engine's name */
	const char *name;
	int level;
} atse_names[] = {
    {"Heuristics.OLE2.ContainsMacros.XLM*", "HEUR_OLEMACRO.B", 3},
    {"Heuristics.OLE2.ContainsMacros*", "HEUR_OLEMACRO.A", 3},
    {"Heuristics.Encrypted.PDF*", "HEUR_ENCRYPTED.B", 3},
    {"Heuristics.Encrypted.*", "HEUR_ENCRYPTED.A", 3},
    {"Heuristics.Broken.Executable*", "HEUR_BROKENEXE.A", 3},
    {"Heuristics.PDF.*", "HEUR_PDFEXP.A", 2},
    {"Heuristics.Zip.OverlappingFiles*", "HEUR_ARCBOMB.A", 2},
    {"Heuristics.Limits.Exceeded.*", "HEUR_LIMITS.A", 4},
    {"Heuristics.Exploit.*", NULL, 1},
    {"*.Exploit.*", NULL, 1},
    {"Heuristics.*", "HEUR_GENERIC.A", 3},
    {"*Eicar*", "Eicar_test_file", 1},
    {"*EICAR*", "Eicar_test_file", 1},
    /* our own signature set (conf.d/atse) and the administrator's */
    {"HEUR_PACKED*", NULL, 4},
    {"HEUR_PDFJS?B*", NULL, 4},
    {"HEUR_*", NULL, 2},
    {"EXPL_*", NULL, 1},
};

/* Layer kinds, for "an executable hidden in a document or an archive". */
enum atse_kind { K_OTHER = 0, K_EXEC, K_DOC, K_ARCHIVE };
static const struct {
	const char *type;
	enum atse_kind kind;
} atse_kinds[] = {
    {"CL_TYPE_MSEXE", K_EXEC},	      {"CL_TYPE_ELF", K_EXEC},
    {"CL_TYPE_MACHO", K_EXEC},	      {"CL_TYPE_MACHO_UNIBIN", K_EXEC},
    {"CL_TYPE_MSOLE2", K_DOC},	      {"CL_TYPE_MSWORD", K_DOC},
    {"CL_TYPE_MSXL", K_DOC},	      {"CL_TYPE_MSPPT", K_DOC},
    {"CL_TYPE_OOXML_WORD", K_DOC},    {"CL_TYPE_OOXML_XL", K_DOC},
    {"CL_TYPE_OOXML_PPT", K_DOC},     {"CL_TYPE_OOXML_HWP", K_DOC},
    {"CL_TYPE_XML_WORD", K_DOC},      {"CL_TYPE_XML_XL", K_DOC},
    {"CL_TYPE_XML_HWP", K_DOC},	      {"CL_TYPE_HWP3", K_DOC},
    {"CL_TYPE_HWP5", K_DOC},	      {"CL_TYPE_HWPOLE2", K_DOC},
    {"CL_TYPE_PDF", K_DOC},	      {"CL_TYPE_RTF", K_DOC},
    {"CL_TYPE_ONENOTE", K_DOC},	      {"CL_TYPE_XDP", K_DOC},
    {"CL_TYPE_MSCHM", K_DOC},	      {"CL_TYPE_HTML", K_DOC},
    {"CL_TYPE_HTML_UTF16", K_DOC},    {"CL_TYPE_MHTML", K_DOC},
    {"CL_TYPE_ZIP", K_ARCHIVE},	      {"CL_TYPE_RAR", K_ARCHIVE},
    {"CL_TYPE_7Z", K_ARCHIVE},	      {"CL_TYPE_ARJ", K_ARCHIVE},
    {"CL_TYPE_MSCAB", K_ARCHIVE},     {"CL_TYPE_GZ", K_ARCHIVE},
    {"CL_TYPE_BZ", K_ARCHIVE},	      {"CL_TYPE_XZ", K_ARCHIVE},
    {"CL_TYPE_POSIX_TAR", K_ARCHIVE}, {"CL_TYPE_OLD_TAR", K_ARCHIVE},
    {"CL_TYPE_CPIO_CRC", K_ARCHIVE},  {"CL_TYPE_CPIO_NEWC", K_ARCHIVE},
    {"CL_TYPE_CPIO_ODC", K_ARCHIVE},  {"CL_TYPE_CPIO_OLD", K_ARCHIVE},
    {"CL_TYPE_ISO9660", K_ARCHIVE},   {"CL_TYPE_UDF", K_ARCHIVE},
    {"CL_TYPE_DMG", K_ARCHIVE},	      {"CL_TYPE_XAR", K_ARCHIVE},
    {"CL_TYPE_EGG", K_ARCHIVE},	      {"CL_TYPE_ALZ", K_ARCHIVE},
    {"CL_TYPE_LHA_LZH", K_ARCHIVE},   {"CL_TYPE_MSSZDD", K_ARCHIVE},
    {"CL_TYPE_SIS", K_ARCHIVE},
};

/* File name tricks (aggressiveness 3): an executable extension behind a
 * document's, "invoice.pdf.exe", "photo.jpg      .scr". */
static const char *const atse_exec_ext[] = {
    "exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js",  "jse",
    "wsf", "wsh", "hta", "lnk", "msi", "ps1", "jar", "cpl", "reg", NULL};
static const char *const atse_decoy_ext[] = {
    "pdf", "doc", "docx", "docm", "xls",  "xlsx", "xlsm", "ppt", "pptx", "rtf",
    "txt", "odt", "csv",  "jpg",  "jpeg", "png",  "gif",  "bmp", "tif",	 "tiff",
    "mp3", "mp4", "avi",  "wav",  "htm",  "html", "zip",  "rar", "7z",	 NULL};

struct atse_plugin {
	vigil_host *host;
	struct cl_engine *engine;
	struct cl_scan_options opts;
	int level;	     /* aggressiveness, 1-4 */
	unsigned sigs;	     /* signatures loaded */
	unsigned skipped;    /* own signatures above the aggressiveness */
	int raw_html_bodies; /* only vigil's set: HTML bodies not normalised */
	struct atse_probe *probe;
};

/* libclamav makes a directory in its scratch space for every scan, and
 * when it cannot, it answers "clean" without scanning (seen with 1.4.6).
 * So the scratch space is tried at start and every scratch_check_interval
 * seconds (default ATSE_PROBE_SECONDS) while scanning; when it fails, the condition answers ERROR, loudly,
 * instead of letting everything through. */
#define ATSE_PROBE_SECONDS 5
struct atse_probe {
	pthread_mutex_t lock;
	char dir[PATH_MAX];
	int interval; /* seconds between checks while scanning */
	time_t when;
	char error[PATH_MAX + 64]; /* "" when the last try worked */
};

/* What one scan found: the engine's name, or a layer our inspection
 * callback noticed (kept in case the engine finds nothing better). */
struct atse_scan {
	const struct atse_plugin *pl;
	int top_exec; /* the part is an executable itself (exe, msi) */
	unsigned char kinds[ATSE_MAX_LAYERS];
	const char *found;   /* HEUR_EXEINDOC.A / HEUR_EXEINARC.A */
	char found_why[160]; /* "CL_TYPE_MSEXE in CL_TYPE_MSOLE2" */
};

/* One detection, ready to report. */
struct atse_hit {
	char name[96];	  /* HEUR_OLEMACRO.A */
	char origin[224]; /* "engine: Heuristics.OLE2.ContainsMacros.VBA" */
};

/* ----------------------------------------------------------- libclamav -- */

static pthread_once_t atse_once = PTHREAD_ONCE_INIT;
static cl_error_t atse_init_status = CL_SUCCESS;
/* The last error libclamav reported in this thread (for load errors). */
static __thread char atse_last_error[256];

/* libclamav's messages: errors are kept for the error we return; scanning
 * chatter about malformed files goes to the debug log of the scan's host. */
static void atse_msg(enum cl_msg severity, const char *fullmsg, const char *msg,
		     void *context)
{
	(void)fullmsg;
	if (msg == NULL)
		return;
	if (severity == CL_MSG_ERROR) {
		snprintf(atse_last_error, sizeof atse_last_error, "%s", msg);
		size_t n = strlen(atse_last_error);
		while (n > 0 && isspace((unsigned char)atse_last_error[n - 1]))
			atse_last_error[--n] = '\0';
	}
	const struct atse_scan *sc = context;
	if (sc != NULL && sc->pl != NULL && severity != CL_MSG_INFO_VERBOSE)
		vigil_log(sc->pl->host, VIGIL_LOG_DEBUG, "libclamav: %s", msg);
}

/* cl_init() and the message hook, once per process. */
static void atse_global_init(void)
{
	cl_set_clcb_msg(atse_msg);
	atse_init_status = cl_init(CL_INIT_DEFAULT);
}

/* ---------------------------------------------------------------- names -- */

static const struct atse_name *atse_name_entry(const char *engine)
{
	for (size_t i = 0; i < sizeof atse_names / sizeof atse_names[0]; i++)
		if (fnmatch(atse_names[i].engine, engine, 0) == 0)
			return &atse_names[i];
	return NULL;
}

/* The engine's name without what libclamav adds: "YARA." in front of YARA
 * rules, ".UNOFFICIAL" behind signatures that come from unsigned files. */
static void atse_bare_name(const char *engine, char *out, size_t size)
{
	if (strncmp(engine, "YARA.", 5) == 0)
		engine += 5;
	snprintf(out, size, "%s", engine);
	size_t n = strlen(out);
	if (n > 11 && strcmp(out + n - 11, ".UNOFFICIAL") == 0)
		out[n - 11] = '\0';
}

/* "Win.Exploit.CVE_2017_0199-6374234-0" -> "EXPL_CVE20170199": what
 * follows "Exploit.", without a database signature's id and revision,
 * letters and digits only. A heuristic keeps its digits:
 * "Heuristics.Exploit.W32.MS04-028" -> "EXPL_W32MS04028". */
static void atse_exploit_name(const char *bare, char *out, size_t size)
{
	const char *p = strstr(bare, "Exploit.");
	p = p ? p + 8 : bare;
	const char *end = p + strlen(p);
	for (int cut = 0; cut < 2 && strncmp(bare, "Heuristics.", 11) != 0;
	     cut++) {
		const char *q = end;
		while (q > p && isdigit((unsigned char)q[-1]))
			q--;
		if (q == end || q == p || q[-1] != '-')
			break;
		end = q - 1;
	}
	size_t o = (size_t)snprintf(out, size, "EXPL_");
	for (; p < end && o + 1 < size; p++)
		if (isalnum((unsigned char)*p))
			out[o++] = (char)toupper((unsigned char)*p);
	out[o] = '\0';
}

/* Name a detection; returns its aggressiveness level (1 for signatures:
 * a known threat is reported at every level). */
static int atse_name(const char *engine, char *out, size_t size)
{
	char bare[128];
	atse_bare_name(engine, bare, sizeof bare);
	const struct atse_name *e = atse_name_entry(bare);
	if (e != NULL && e->name != NULL) {
		snprintf(out, size, "%s", e->name);
		return e->level;
	}
	if (e != NULL && strncmp(bare, "HEUR_", 5) != 0 &&
	    strncmp(bare, "EXPL_", 5) != 0) {
		atse_exploit_name(bare, out, size);
		return e->level;
	}
	snprintf(out, size, "%s", bare);
	/* A YARA rule name cannot hold a dot: HEUR_PDFLAUNCH_A is shown as
	 * HEUR_PDFLAUNCH.A, like the names of our ClamAV signatures. */
	size_t n = strlen(out);
	if (e != NULL && n > 7 && out[n - 2] == '_' &&
	    isupper((unsigned char)out[n - 1]) && strchr(out, '.') == NULL)
		out[n - 2] = '.';
	return e != NULL ? e->level : 1;
}

/* Signature-load hook: leave out our own signatures that the
 * aggressiveness turns off, so that one of them never stops a scan before
 * a signature that counts. Official signatures are always loaded. */
static int atse_sigload(const char *type, const char *name, unsigned custom,
			void *context)
{
	struct atse_plugin *pl = context;
	(void)type;
	if (!custom || name == NULL)
		return 0;
	char shown[96];
	if (atse_name(name, shown, sizeof shown) <= pl->level)
		return 0;
	pl->skipped++;
	return 1;
}

/* --------------------------------------------------------------- layers -- */

static enum atse_kind atse_kind_of(const char *type)
{
	for (size_t i = 0; i < sizeof atse_kinds / sizeof atse_kinds[0]; i++)
		if (strcmp(atse_kinds[i].type, type) == 0)
			return atse_kinds[i].kind;
	return K_OTHER;
}

/* Called by the engine for every file it is about to scan, the part itself
 * (level 0) and everything extracted from it, depth first: note an
 * executable below a document or an archive. It never changes the scan. */
static cl_error_t atse_inspect(int fd, const char *type, const char **ancestors,
			       size_t parent_size, const char *file_name,
			       size_t file_size, const char *file_buffer,
			       uint32_t level, uint32_t attrs, void *context)
{
	struct atse_scan *sc = context;
	(void)fd, (void)ancestors, (void)parent_size, (void)file_size;
	(void)file_buffer, (void)attrs;
	if (sc == NULL || type == NULL || level >= ATSE_MAX_LAYERS)
		return CL_CLEAN;
	enum atse_kind kind = atse_kind_of(type);
	sc->kinds[level] = (unsigned char)kind;
	if (kind != K_EXEC || level == 0 || sc->top_exec || sc->found != NULL)
		return CL_CLEAN;
	const char *doc = NULL, *arc = NULL;
	for (uint32_t l = 0; l < level; l++) {
		if (sc->kinds[l] == K_DOC)
			doc = "document";
		else if (sc->kinds[l] == K_ARCHIVE)
			arc = "archive";
	}
	if (doc != NULL && sc->pl->level >= 2)
		sc->found = "HEUR_EXEINDOC.A";
	else if (arc != NULL && sc->pl->level >= 3)
		sc->found = "HEUR_EXEINARC.A";
	else
		return CL_CLEAN;
	snprintf(sc->found_why, sizeof sc->found_why,
		 "engine: %s%s%s at depth %u in a%s %s", type,
		 file_name ? " " : "", file_name ? file_name : "", level,
		 doc ? "" : "n", doc ? doc : arc);
	return CL_CLEAN;
}

/* ---------------------------------------------------------------- parts -- */

/* Which parts go to the engine. vigil flattens MIME and archives into
 * parts; the engine unpacks containers itself (archives, OLE2 streams,
 * PDF objects, OOXML, SFX ...), and some of its findings need the
 * container: an encrypted archive, the macros of an OOXML document, an
 * executable inside a document. So the engine gets each MIME leaf once and
 * recurses into it, and never the archive members vigil already extracted
 * (the same bytes again). An embedded message is not scanned as a whole:
 * its own leaves follow it as parts. */
static int atse_is_target(const vigil_part *p)
{
	if (p->flags & VIGIL_PART_MEMBER)
		return 0;
	if (p->data == NULL || p->size == 0)
		return 0;
	if ((p->flags & VIGIL_PART_CONTAINER) &&
	    strncasecmp(p->content_type, "message/", 8) == 0)
		return 0;
	return 1;
}

static int atse_in_list(const char *s, size_t len, const char *const *list)
{
	for (; *list; list++)
		if (strlen(*list) == len && strncasecmp(*list, s, len) == 0)
			return 1;
	return 0;
}

/* A name that hides what the file is: HEUR_DOUBLEEXT.A for a document's
 * extension in front of an executable's, .B for a right-to-left override
 * (U+202E), which shows "Rechnung<RLO>fdp.exe" as "Rechnungexe.pdf". */
static const char *atse_name_trick(const char *name)
{
	if (name == NULL || *name == '\0')
		return NULL;
	if (strstr(name, "\xe2\x80\xae") != NULL)
		return "HEUR_DOUBLEEXT.B";
	const char *last = strrchr(name, '.');
	if (last == NULL || last == name)
		return NULL;
	if (!atse_in_list(last + 1, strlen(last + 1), atse_exec_ext))
		return NULL;
	const char *end = last; /* skip the padding in "a.pdf     .exe" */
	while (end > name && (end[-1] == ' ' || end[-1] == '_'))
		end--;
	const char *prev = end;
	while (prev > name && prev[-1] != '.')
		prev--;
	if (prev == name)
		return NULL;
	return atse_in_list(prev, (size_t)(end - prev), atse_decoy_ext)
		   ? "HEUR_DOUBLEEXT.A"
		   : NULL;
}

/* Where a part is, for the detail: "2/invoice.doc", "2/a.zip/b.exe". */
static void atse_where(const vigil_part *p, char *out, size_t size)
{
	if ((p->flags & VIGIL_PART_MEMBER) || p->name == NULL || !*p->name)
		snprintf(out, size, "%s", p->path);
	else
		snprintf(out, size, "%s/%s", p->path, p->name);
}

/* The text of the message itself: a MIME text leaf with no file name. */
static int atse_is_body_text(const vigil_part *p)
{
	return !(p->flags & VIGIL_PART_MEMBER) && *p->name == '\0' &&
	       (*p->content_type == '\0' ||
		strncasecmp(p->content_type, "text/", 5) == 0);
}

/* Scan one part. Returns 1 with *hit filled on a detection, 0 when clean,
 * -1 when the engine failed (*hit says why). */
static int atse_scan_part(const struct atse_plugin *pl, const vigil_part *p,
			  struct atse_hit *hit)
{
	struct atse_scan sc;
	memset(&sc, 0, sizeof sc);
	sc.pl = pl;
	sc.top_exec =
	    p->category != NULL && strcmp(p->category, "executable") == 0;
	cl_fmap_t *map = cl_fmap_open_memory(p->data, p->size);
	if (map == NULL) {
		snprintf(hit->origin, sizeof hit->origin, "out of memory");
		return -1;
	}
	struct cl_scan_options opts = pl->opts;
	/* The message's own text is not a mailbox: vigil parsed the MIME, and
	 * libclamav takes a body that starts like a header block for mail and
	 * parses it again. Nor is a text/plain body a web page: a client
	 * shows its tags as text, so it skips the HTML normaliser (its raw
	 * bytes are still matched). An HTML body is normalised only for
	 * signatures that read normalised HTML: vigil's set has none (a mail
	 * client runs no script in a body; droppers come as attachments), so
	 * with it alone HTML bodies are matched raw, which halves ATSE's time
	 * on ordinary mail. Attached files keep every parser. */
	if (atse_is_body_text(p)) {
		opts.parse &= ~(uint32_t)CL_SCAN_PARSE_MAIL;
		if (strncasecmp(p->content_type, "text/html", 9) != 0 ||
		    pl->raw_html_bodies)
			opts.parse &= ~(uint32_t)CL_SCAN_PARSE_HTML;
	}
	const char *virname = NULL;
	unsigned long scanned = 0;
	cl_error_t r =
	    cl_scanmap_callback(map, *p->name ? p->name : NULL, &virname,
				&scanned, pl->engine, &opts, &sc);
	cl_fmap_close(map);
	/* a heuristic above the level does not count (but what the
	 * inspection hook noticed still does) */
	if (r == CL_VIRUS && virname != NULL &&
	    atse_name(virname, hit->name, sizeof hit->name) <= pl->level) {
		snprintf(hit->origin, sizeof hit->origin, "engine: %s",
			 virname);
		return 1;
	}
	if (r != CL_CLEAN && r != CL_SUCCESS && r != CL_BREAK &&
	    r != CL_VIRUS) {
		snprintf(hit->origin, sizeof hit->origin, "%s", cl_strerror(r));
		return -1;
	}
	if (sc.found != NULL) {
		snprintf(hit->name, sizeof hit->name, "%s", sc.found);
		snprintf(hit->origin, sizeof hit->origin, "%s", sc.found_why);
		return 1;
	}
	return 0;
}

/* What vigil itself knows about a part (aggressiveness 3): a document
 * that is password-protected, a name that lies about the file. */
static int atse_vigil_checks(const struct atse_plugin *pl, const vigil_part *p,
			     struct atse_hit *hit)
{
	if (pl->level < 3)
		return 0;
	if ((p->flags & VIGIL_PART_ENCRYPTED) && p->data != NULL &&
	    p->category != NULL && strcmp(p->category, "document") == 0) {
		snprintf(hit->name, sizeof hit->name, "HEUR_ENCRYPTED.B");
		snprintf(hit->origin, sizeof hit->origin,
			 "password-protected %s document", p->true_type);
		return 1;
	}
	const char *trick = atse_name_trick(p->name);
	if (trick != NULL) {
		snprintf(hit->name, sizeof hit->name, "%s", trick);
		snprintf(hit->origin, sizeof hit->origin, "file name '%s'",
			 p->name);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ condition -- */

static int atse_compile(void *ctx, const config_setting_t *setting,
			vigil_userdata *cond_r, const char **error_r)
{
	struct atse_plugin *pl = ctx;
	if (vigil_check_keys(pl->host, setting, NULL, error_r) != 0)
		return -1;
	const config_setting_t *va =
	    config_setting_get_member(setting, "va_submit");
	if (va != NULL && config_setting_get_bool(va)) {
		*error_r = vigil_setting_error(
		    pl->host, va,
		    "the atse condition asks the Virtual Analyzer itself "
		    "(double confirmation): remove va_submit");
		return -1;
	}
	cond_r->data = pl;
	cond_r->free = NULL;
	return 0;
}

/* A detection on `p`: confirm it with the Virtual Analyzer when there is
 * one, else let it stand. Returns the condition's answer for this part. */
static vigil_result atse_confirm(const struct atse_plugin *pl,
				 vigil_message *msg, vigil_eval *ev,
				 const vigil_part *p,
				 const struct atse_hit *hit)
{
	char where[512];
	atse_where(p, where, sizeof where);
	vigil_eval_part(ev, p);
	if (!pl->host->api->verdict_available(pl->host, "ddan")) {
		vigil_eval_threat(ev, ATSE_THREAT);
		vigil_eval_detail(ev, "%s (%s) in %s", hit->name, hit->origin,
				  where);
		return VIGIL_MATCH;
	}
	vigil_result r =
	    pl->host->api->verdict_query(pl->host, "ddan", msg, p, ev);
	switch (r) {
	case VIGIL_MATCH:
		/* ddan named the threat, "Analyzed advanced threat" */
		vigil_eval_detail(ev,
				  "%s (%s) in %s, confirmed by the "
				  "Virtual Analyzer",
				  hit->name, hit->origin, where);
		return VIGIL_MATCH;
	case VIGIL_NO_MATCH:
		vigil_eval_detail(ev,
				  "%s (%s) in %s, dismissed: no risk "
				  "in the Virtual Analyzer's security level",
				  hit->name, hit->origin, where);
		return VIGIL_NO_MATCH;
	case VIGIL_PENDING:
		vigil_eval_detail(ev,
				  "%s (%s) in %s, waiting for the "
				  "Virtual Analyzer",
				  hit->name, hit->origin, where);
		return VIGIL_PENDING;
	case VIGIL_UNDECIDED: /* async mode or released: the finding stands */
		vigil_eval_threat(ev, ATSE_THREAT);
		vigil_eval_detail(ev,
				  "%s (%s) in %s, not held for the "
				  "Virtual Analyzer",
				  hit->name, hit->origin, where);
		return VIGIL_MATCH;
	case VIGIL_ERROR:
	default:
		vigil_eval_detail(ev,
				  "%s (%s) in %s, no Virtual Analyzer "
				  "verdict",
				  hit->name, hit->origin, where);
		return VIGIL_ERROR;
	}
}

/* Every part with a detection is a candidate: the first one the Virtual
 * Analyzer confirms (or, without it, the first one) decides. A dismissed
 * detection lets the others speak; then waiting beats "no verdict", which
 * beats a part the engine could not scan, which beats "nothing found". */
/* Can a directory be made (and removed) in the scratch space? */
static int atse_probe_now(struct atse_probe *pr)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/vigil-atse.XXXXXX", pr->dir);
	if (mkdtemp(path) == NULL || rmdir(path) != 0) {
		snprintf(pr->error, sizeof pr->error,
			 "scratch space %s is not writable: %s", pr->dir,
			 strerror(errno));
		return -1;
	}
	pr->error[0] = '\0';
	return 0;
}

static int atse_scratch_ok(const struct atse_plugin *pl, char *why,
			   size_t size)
{
	struct atse_probe *pr = pl->probe;
	time_t now = time(NULL);
	pthread_mutex_lock(&pr->lock);
	if (now - pr->when >= pr->interval) {
		int was_ok = pr->error[0] == '\0';
		pr->when = now;
		if (atse_probe_now(pr) != 0 && was_ok)
			vigil_log(pl->host, VIGIL_LOG_ERR,
				  "ATSE cannot scan: %s (libclamav would "
				  "answer clean without scanning)", pr->error);
	}
	int ok = pr->error[0] == '\0';
	snprintf(why, size, "%s", pr->error);
	pthread_mutex_unlock(&pr->lock);
	return ok;
}

static vigil_result atse_eval(void *cond, vigil_message *msg, vigil_eval *ev)
{
	const struct atse_plugin *pl = cond;
	char why[PATH_MAX + 64];
	if (!atse_scratch_ok(pl, why, sizeof why)) {
		vigil_eval_detail(ev, "ATSE cannot scan: %s", why);
		return VIGIL_ERROR;
	}
	size_t n;
	const vigil_part *parts = vigil_message_parts(msg, &n);
	const vigil_part *waiting = NULL, *failed = NULL;
	struct atse_hit wait_hit = {{0}, {0}}, fail_hit = {{0}, {0}};
	struct atse_hit engine_failure = {{0}, {0}};
	const vigil_part *engine_failed = NULL;
	for (size_t i = 0; i < n; i++) {
		const vigil_part *p = &parts[i];
		struct atse_hit hit;
		memset(&hit, 0, sizeof hit);
		int found = 0;
		if (atse_is_target(p)) {
			found = atse_scan_part(pl, p, &hit);
			if (found < 0) {
				if (engine_failed == NULL) {
					engine_failed = p;
					engine_failure = hit;
				}
				found = 0;
			}
		}
		if (!found)
			found = atse_vigil_checks(pl, p, &hit);
		if (!found)
			continue;
		vigil_result r = atse_confirm(pl, msg, ev, p, &hit);
		if (r == VIGIL_MATCH)
			return VIGIL_MATCH;
		if (r == VIGIL_PENDING && waiting == NULL) {
			waiting = p;
			wait_hit = hit;
		} else if (r == VIGIL_ERROR && failed == NULL) {
			failed = p;
			fail_hit = hit;
		}
	}
	/* the details of the part that decides, again: a later part's
	 * answer may have replaced them */
	char where[512];
	if (waiting != NULL) {
		atse_where(waiting, where, sizeof where);
		vigil_eval_part(ev, waiting);
		vigil_eval_detail(ev,
				  "%s (%s) in %s, waiting for the Virtual "
				  "Analyzer",
				  wait_hit.name, wait_hit.origin, where);
		return VIGIL_PENDING;
	}
	if (failed != NULL) {
		atse_where(failed, where, sizeof where);
		vigil_eval_part(ev, failed);
		vigil_eval_detail(ev,
				  "%s (%s) in %s, no Virtual Analyzer verdict",
				  fail_hit.name, fail_hit.origin, where);
		return VIGIL_ERROR;
	}
	if (engine_failed != NULL) {
		atse_where(engine_failed, where, sizeof where);
		vigil_eval_part(ev, engine_failed);
		vigil_eval_detail(ev, "scan engine error in %s: %s", where,
				  engine_failure.origin);
		return VIGIL_ERROR;
	}
	return VIGIL_NO_MATCH;
}

static const vigil_condition_ops atse_condition_ops = {
    .type = "atse",
    .compile = atse_compile,
    .eval = atse_eval,
};

/* --------------------------------------------------------------- engine -- */

/* The directory of the file a setting comes from, so that relative paths
 * in conf.d/40-atse.conf mean conf.d/...; the working directory when the
 * settings come from elsewhere (unit tests). */
static char *atse_resolve(const config_setting_t *s, const char *path)
{
	const char *file = config_setting_source_file(s);
	const char *slash = file ? strrchr(file, '/') : NULL;
	if (path[0] == '/' || slash == NULL)
		return strdup(path);
	size_t dirlen = (size_t)(slash - file), len = strlen(path);
	char *out = malloc(dirlen + 1 + len + 1);
	if (out != NULL) {
		memcpy(out, file, dirlen);
		out[dirlen] = '/';
		memcpy(out + dirlen + 1, path, len + 1);
	}
	return out;
}

/* A signature directory to load, and the setting that named it. */
struct atse_dir {
	const config_setting_t *s;
	char *path; /* resolved */
};

/* Check a signature directory before the engine sees it; add the size of
 * its files to *bytes. */
static int atse_check_dir(struct atse_plugin *pl, const struct atse_dir *d,
			  unsigned long long *bytes, const char **error_r)
{
	struct stat st;
	const char *problem = NULL;
	char why[320];
	DIR *dh = NULL;
	if (stat(d->path, &st) != 0) {
		problem = strerror(errno);
	} else if (!S_ISDIR(st.st_mode)) {
		problem = "not a directory";
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, sizeof why,
			 "refused: writable by group or others (mode %03o); "
			 "chmod go-w it",
			 (unsigned)(st.st_mode & 0777));
		problem = why;
	} else if ((dh = opendir(d->path)) == NULL) {
		problem = strerror(errno);
	} else {
		struct dirent *e;
		while ((e = readdir(dh)) != NULL) {
			char file[PATH_MAX];
			if (e->d_name[0] != '.' &&
			    snprintf(file, sizeof file, "%s/%s", d->path,
				     e->d_name) < (int)sizeof file &&
			    stat(file, &st) == 0 && S_ISREG(st.st_mode))
				*bytes += (unsigned long long)st.st_size;
		}
		closedir(dh);
	}
	if (problem != NULL)
		*error_r = vigil_setting_error(pl->host, d->s,
					       "signature directory '%s': %s",
					       d->path, problem);
	return problem != NULL ? -1 : 0;
}

static int atse_load_dir(struct atse_plugin *pl, const struct atse_dir *d,
			 const char **error_r)
{
	atse_last_error[0] = '\0';
	cl_error_t r = cl_load(d->path, pl->engine, &pl->sigs, CL_DB_BYTECODE);
	if (r == CL_SUCCESS)
		return 0;
	*error_r = vigil_setting_error(
	    pl->host, d->s, "signature directory '%s': %s%s%s", d->path,
	    cl_strerror(r), atse_last_error[0] ? ": " : "", atse_last_error);
	return -1;
}

/* The directories to load, in order: the builtin set, then
 * signature_dirs. Returns how many, -1 on error. */
static int atse_dirs(const config_setting_t *cfg, struct atse_dir **dirs_r,
		     const char **error_r)
{
	const config_setting_t *list =
	    config_setting_get_member(cfg, "signature_dirs");
	int n = 0, max = 1 + (list ? config_setting_length(list) : 0);
	struct atse_dir *dirs = calloc((size_t)max, sizeof *dirs);
	int builtin = 1;
	config_setting_lookup_bool(cfg, "builtin_signatures", &builtin);
	if (dirs == NULL)
		goto nomem;
	if (builtin) {
		const config_setting_t *s =
		    config_setting_get_member(cfg, "builtin_dir");
		/* the default is relative to the file declaring the plugin */
		dirs[n].s = s ? s : cfg;
		dirs[n].path = atse_resolve(
		    dirs[n].s, s ? config_setting_get_string(s) : "atse");
		if (dirs[n++].path == NULL)
			goto nomem;
	}
	for (int i = 0; list != NULL && i < config_setting_length(list); i++) {
		dirs[n].s = config_setting_get_elem(list, i);
		dirs[n].path = atse_resolve(
		    dirs[n].s, config_setting_get_string(dirs[n].s));
		if (dirs[n++].path == NULL)
			goto nomem;
	}
	*dirs_r = dirs;
	return n;
nomem:
	for (int i = 0; dirs != NULL && i < n; i++)
		free(dirs[i].path);
	free(dirs);
	*error_r = "out of memory";
	return -1;
}

static void atse_free(struct atse_plugin *pl)
{
	if (pl == NULL)
		return;
	if (pl->engine != NULL)
		cl_engine_free(pl->engine);
	if (pl->probe != NULL) {
		pthread_mutex_destroy(&pl->probe->lock);
		free(pl->probe);
	}
	free(pl);
}

/* Read the settings into pl: level and which directories to load. */
static int atse_settings(struct atse_plugin *pl, const config_setting_t *cfg,
			 const char **error_r)
{
	static const char *const keys[] = {
	    "aggressiveness", "signature_dirs", "builtin_signatures",
	    "builtin_dir",    "tmp_dir",	"scratch_check_interval", NULL};
	vigil_host *host = pl->host;
	if (vigil_check_keys(host, cfg, keys, error_r) != 0)
		return -1;
	pl->level = 2;
	const config_setting_t *s =
	    config_setting_get_member(cfg, "aggressiveness");
	if (s != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_INT ||
		    config_setting_get_int(s) < 1 ||
		    config_setting_get_int(s) > 4) {
			*error_r = vigil_setting_error(
			    host, s,
			    "aggressiveness must be 1 (very conservative), "
			    "2, 3 or 4 (very aggressive)");
			return -1;
		}
		pl->level = config_setting_get_int(s);
	}
	pl->probe->interval = ATSE_PROBE_SECONDS;
	s = config_setting_get_member(cfg, "scratch_check_interval");
	if (s != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_INT ||
		    config_setting_get_int(s) < 1 ||
		    config_setting_get_int(s) > 3600) {
			*error_r = vigil_setting_error(
			    host, s, "scratch_check_interval must be 1..3600 "
				     "seconds");
			return -1;
		}
		pl->probe->interval = config_setting_get_int(s);
	}
	s = config_setting_get_member(cfg, "builtin_signatures");
	if (s != NULL && config_setting_type(s) != CONFIG_TYPE_BOOL) {
		*error_r = vigil_setting_error(host, s,
					       "builtin_signatures must be "
					       "true or false");
		return -1;
	}
	s = config_setting_get_member(cfg, "builtin_dir");
	if (s != NULL && (config_setting_type(s) != CONFIG_TYPE_STRING ||
			  !*config_setting_get_string(s))) {
		*error_r =
		    vigil_setting_error(host, s,
					"builtin_dir must be a directory "
					"name");
		return -1;
	}
	s = config_setting_get_member(cfg, "tmp_dir");
	if (s != NULL) {
		struct stat st;
		const char *d = config_setting_get_string(s);
		if (d == NULL || d[0] != '/') {
			*error_r =
			    vigil_setting_error(host, s,
						"tmp_dir must be an "
						"absolute directory path");
			return -1;
		}
		int bad = stat(d, &st) != 0	 ? errno
			  : !S_ISDIR(st.st_mode) ? ENOTDIR
						 : 0;
		if (bad) {
			*error_r = vigil_setting_error(
			    host, s, "tmp_dir '%s': %s", d, strerror(bad));
			return -1;
		}
	}
	s = config_setting_get_member(cfg, "signature_dirs");
	if (s != NULL) {
		int ok =
		    config_setting_is_array(s) || config_setting_is_list(s);
		for (int i = 0; ok && i < config_setting_length(s); i++) {
			const char *d = config_setting_get_string_elem(s, i);
			ok = d != NULL && *d != '\0';
		}
		if (!ok) {
			*error_r = vigil_setting_error(
			    host, s,
			    "signature_dirs must be a list of directories: "
			    "[ \"/var/lib/clamav\" ]");
			return -1;
		}
	}
	return 0;
}

/* The engine's scratch space. Every scan creates a directory there and
 * removes it, and what the engine extracts (archive members, normalised
 * HTML) is written there: on a disk that costs milliseconds a message (a
 * file system mounted with `discard`, ten times the whole pipeline). So:
 * tmp_dir when set, else $TMPDIR (libclamav's own choice), else
 * /dev/shm, memory, when it is there, else /tmp. */
static const char *atse_tmp_dir(const config_setting_t *cfg)
{
	const char *dir = NULL;
	if (config_setting_lookup_string(cfg, "tmp_dir", &dir))
		return dir;
	dir = getenv("TMPDIR");
	if (dir != NULL && dir[0] == '/')
		return dir;
	struct stat st;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK | X_OK) == 0)
		return "/dev/shm";
	return "/tmp";
}

/* Build and compile this generation's engine. */
static int atse_engine(struct atse_plugin *pl, const config_setting_t *cfg,
		       const char **error_r)
{
	pl->engine = cl_engine_new();
	if (pl->engine == NULL) {
		*error_r = "cannot create the scan engine (out of memory)";
		return -1;
	}
	for (size_t i = 0; i < sizeof atse_limits / sizeof atse_limits[0]; i++)
		cl_engine_set_num(pl->engine, atse_limits[i].field,
				  atse_limits[i].value);
	const char *tmp = atse_tmp_dir(cfg);
	if (cl_engine_set_str(pl->engine, CL_ENGINE_TMPDIR, tmp) !=
	    CL_SUCCESS) {
		*error_r = "cannot set the engine's tmp_dir (out of memory)";
		return -1;
	}
	snprintf(pl->probe->dir, sizeof pl->probe->dir, "%s", tmp);
	pl->probe->when = time(NULL);
	if (atse_probe_now(pl->probe) != 0) {
		*error_r = vigil_setting_error(pl->host, cfg, "%s",
					       pl->probe->error);
		return -1;
	}
	cl_engine_set_clcb_sigload(pl->engine, atse_sigload, pl);
	if (pl->level >= 2)
		cl_engine_set_clcb_file_inspection(pl->engine, atse_inspect);

	struct atse_dir *dirs = NULL;
	int n = atse_dirs(cfg, &dirs, error_r), bad = n < 0;
	unsigned long long bytes = 0;
	for (int i = 0; !bad && i < n; i++)
		bad = atse_check_dir(pl, &dirs[i], &bytes, error_r) != 0;
	/* A small set (ours, a few of the administrator's) goes all into the
	 * Aho-Corasick matcher: the Boyer-Moore pass it then skips costs a
	 * third of the engine's time on attachments. The official database
	 * is too large for that (memory): it keeps both matchers. */
	if (!bad && bytes < ATSE_AC_ONLY_BELOW)
		cl_engine_set_num(pl->engine, CL_ENGINE_AC_ONLY, 1);
	for (int i = 0; !bad && i < n; i++)
		bad = atse_load_dir(pl, &dirs[i], error_r) != 0;
	pl->raw_html_bodies =
	    config_setting_get_member(cfg, "signature_dirs") == NULL;
	for (int i = 0; i < n; i++)
		free(dirs[i].path);
	free(dirs);
	if (bad)
		return -1;
	atse_last_error[0] = '\0';
	cl_error_t r = cl_engine_compile(pl->engine);
	if (r != CL_SUCCESS) {
		*error_r = vigil_setting_error(pl->host, cfg,
					       "cannot compile the signatures: "
					       "%s%s%s",
					       cl_strerror(r),
					       atse_last_error[0] ? ": " : "",
					       atse_last_error);
		return -1;
	}

	memset(&pl->opts, 0, sizeof pl->opts);
	pl->opts.general = CL_SCAN_GENERAL_HEURISTICS;
	/* every parser; image fuzzy hashes cost a decode per image and serve
	 * no signature we ship */
	pl->opts.parse = ~0u & ~(unsigned)CL_SCAN_PARSE_IMAGE_FUZZY_HASH;
	if (pl->level >= 3)
		pl->opts.heuristic |= CL_SCAN_HEURISTIC_MACROS |
				      CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
				      CL_SCAN_HEURISTIC_ENCRYPTED_DOC |
				      CL_SCAN_HEURISTIC_BROKEN;
	if (pl->level >= 4)
		pl->opts.heuristic |= CL_SCAN_HEURISTIC_EXCEEDS_MAX;
	return 0;
}

static int atse_init(vigil_host *host, const config_setting_t *cfg,
		     void **state_r, const char **error_r)
{
	pthread_once(&atse_once, atse_global_init);
	if (atse_init_status != CL_SUCCESS) {
		*error_r = "libclamav failed to initialise";
		return -1;
	}
	struct atse_plugin *pl = calloc(1, sizeof *pl);
	if (pl == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	pl->host = host;
	pl->probe = calloc(1, sizeof *pl->probe);
	if (pl->probe == NULL) {
		free(pl);
		*error_r = "out of memory";
		return -1;
	}
	pthread_mutex_init(&pl->probe->lock, NULL);
	if (atse_settings(pl, cfg, error_r) != 0 ||
	    atse_engine(pl, cfg, error_r) != 0 ||
	    vigil_register_condition(host, &atse_condition_ops, pl, error_r) !=
		0) {
		atse_free(pl);
		return -1;
	}
	vigil_log(host, VIGIL_LOG_DEBUG,
		  "libclamav %s, %u signatures (%u above aggressiveness "
		  "%d left out), scratch space %s",
		  cl_retver(), pl->sigs, pl->skipped, pl->level,
		  atse_tmp_dir(cfg));
	*state_r = pl;
	return 0;
}

static void atse_fini(void *state)
{
	atse_free(state);
}

VIGIL_PLUGIN("atse", "1.0", .init = atse_init, .fini = atse_fini);
