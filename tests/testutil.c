/*
 * testutil.c - see testutil.h. Test helpers abort on setup failure: a test
 * whose fixtures cannot be made must not pass.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void link_all(const char *from, const char *to)
{
	DIR *d = opendir(from);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
			continue;
		char *src = xasprintf("%s/%s", from, e->d_name);
		char *dst = xasprintf("%s/%s", to, e->d_name);
		if (symlink(src, dst) != 0 && access(dst, F_OK) != 0)
			abort();
		free(src);
		free(dst);
	}
	closedir(d);
}

const char *tu_fresh(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, sizeof dir, "%s/vigil-test-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		abort();
	chmod(dir, 0755);
	char *sub = xasprintf("%s/conf.d", dir);
	mkdir(sub, 0755);
	free(sub);
	sub = xasprintf("%s/plugins", dir);
	mkdir(sub, 0755);
	link_all(BUILT_PLUGIN_DIR, sub);
	link_all(TEST_PLUGIN_DIR, sub);
	free(sub);
	return dir;
}

char *tu_write(const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(content, f) < 0 || fclose(f) != 0)
		abort();
	chmod(path, 0644);
	return path;
}

struct host *tu_host(const char *body, char **errors_r)
{
	char *text = xasprintf("plugin_dir = \"plugins\";\n%s", body);
	char *path = tu_write("vigil.conf", text);
	struct errlist errors = {0};
	struct host *h = host_new(path, NULL, &errors);
	char *all = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&all, &len);
	for (size_t i = 0; i < errors.lines.n; i++)
		fprintf(out, "%s\n", errors.lines.v[i]);
	fclose(out);
	if (errors_r)
		*errors_r = all;
	else
		free(all);
	errlist_free(&errors);
	free(text);
	free(path);
	return h;
}

struct msg *tu_msg(struct host *h, const char *text)
{
	size_t n = strlen(text);
	unsigned char *raw = xmalloc(n);
	memcpy(raw, text, n);
	struct msg *m = host_message(h, raw, n);
	msg_envelope_from_headers(m);
	return m;
}
