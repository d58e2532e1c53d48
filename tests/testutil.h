/*
 * testutil.h - scratch directories with config files and plugins, for the
 * core's Check suites. Every test gets a fresh directory laid out like an
 * installation: DIR/vigil.conf, DIR/conf.d/, DIR/plugins/ (links to the
 * plugins built in this tree and the test plugins).
 */
#ifndef VIGIL_TESTUTIL_H
#define VIGIL_TESTUTIL_H

#include "host.h"

/* A fresh directory; returns its path (static storage until the next call). */
const char *tu_fresh(void);
/* Write DIR/name (mode 0644); returns the full path (malloc'd). */
char *tu_write(const char *name, const char *content);
/* Write DIR/vigil.conf with `plugin_dir` set, then build a generation.
 * Errors, if any, are joined in *errors_r (malloc'd, "" when none). */
struct host *tu_host(const char *body, char **errors_r);
/* A message from text (the bytes are copied). */
struct msg *tu_msg(struct host *h, const char *text);

#endif
