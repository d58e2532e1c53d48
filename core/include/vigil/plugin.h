/*
 * vigil/plugin.h - the plugin SDK: everything a scan module sees of vigil.
 *
 * A plugin is a .so that exports exactly one data symbol, `vigil_plugin`,
 * defined with VIGIL_PLUGIN(). The core checks the ABI version and the build
 * signature before it runs any plugin code, then calls init() once for every
 * configuration generation. A plugin registers what it offers (conditions,
 * actions, verdict sources, hidden rules, timers, a file typer) only from
 * init(), through the host; the core owns everything registered and frees it
 * when the generation ends.
 *
 * Every call into the core goes through the function table that `api` points
 * at, so a plugin needs no symbol from the vigil binary and a unit test can
 * hand it a mock host.
 *
 * Bump VIGIL_ABI_MAJOR when a public struct changes shape; bump the minor
 * when a function is appended to vigil_host_api.
 */
#ifndef VIGIL_PLUGIN_H
#define VIGIL_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <libconfig.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIGIL_ABI_MAJOR 1
#define VIGIL_ABI_MINOR 1

/* Build facts that must agree between core and plugin. */
#define VIGIL_BUILD_SIGNATURE                                                  \
	((uint32_t)sizeof(void *) | (uint32_t)sizeof(time_t) << 8 |            \
	 (uint32_t)sizeof(off_t) << 16 | (uint32_t)sizeof(size_t) << 24)

#if defined(__GNUC__)
#define VIGIL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VIGIL_PRINTF(f, a)
#endif

typedef struct vigil_host vigil_host;
typedef struct vigil_message vigil_message;
typedef struct vigil_eval vigil_eval;
typedef struct vigil_host_api vigil_host_api;
struct _GMimeMessage;

/* The one verdict vocabulary: intercept actions, in increasing precedence.
 * Handoff and change_recipient share a rank (see vigil_action_rank). */
typedef enum vigil_action {
	VIGIL_ACTION_PASS = 0,
	VIGIL_ACTION_HANDOFF,
	VIGIL_ACTION_CHANGE_RECIPIENT,
	VIGIL_ACTION_QUARANTINE,
	VIGIL_ACTION_DELETE,
	VIGIL_ACTION_COUNT
} vigil_action;

static inline int vigil_action_rank(vigil_action a)
{
	static const int rank[VIGIL_ACTION_COUNT] = {0, 1, 1, 2, 3};
	return a < VIGIL_ACTION_COUNT ? rank[a] : 0;
}

/* What a condition answers. PENDING means "a verdict is on its way": the
 * condition names one or more tickets with vigil_eval_ticket(), the message
 * is parked, and the rule is evaluated again once every ticket is done.
 *
 * UNDECIDED (ABI 1.1) comes only from a verdict source: it took the sample
 * but nobody will wait for its verdict (the Virtual Analyzer in async mode,
 * or a message an administrator released from VA scanning). The caller
 * says what "no verdict" means: a hold is bypassed (the core's va_submit
 * treats it as no match), a detection stands (ATSE and SNAP act on their
 * own finding). A condition never returns it. */
typedef enum vigil_result {
	VIGIL_NO_MATCH = 0,
	VIGIL_MATCH,
	VIGIL_ERROR,
	VIGIL_PENDING,
	VIGIL_UNDECIDED
} vigil_result;

/* Policy phases, in the order they run. */
typedef enum vigil_phase {
	VIGIL_PHASE_VIRUS = 0,
	VIGIL_PHASE_HIDDEN,
	VIGIL_PHASE_USER,
	VIGIL_PHASE_COUNT
} vigil_phase;

enum vigil_log_level {
	VIGIL_LOG_ERR = 3,
	VIGIL_LOG_WARNING = 4,
	VIGIL_LOG_INFO = 6,
	VIGIL_LOG_DEBUG = 7
};

/* Part flags. */
enum {
	VIGIL_PART_ENCRYPTED = 1u << 0, /* password-protected member or document */
	VIGIL_PART_TRUNCATED = 1u << 1, /* content cut short by a limit or damage */
	VIGIL_PART_CONTAINER = 1u << 2, /* its members follow it as parts */
	VIGIL_PART_MEMBER = 1u << 3     /* comes out of an archive, not MIME */
};

/* One part of a message: a MIME leaf, an embedded message, or an archive
 * member at any depth. Read-only for plugins; valid while the message is. */
typedef struct vigil_part {
	const char *path;         /* "2/invoice.zip/a/b.exe" */
	const char *name;         /* decoded file name, "" when it has none */
	const char *content_type; /* declared MIME type, "" for archive members */
	const char *true_type;    /* "pe", "zip", ... from the typer; "unknown" */
	const char *category;     /* executable document compressed script image media other */
	const unsigned char *data; /* decoded content, `size` bytes */
	size_t size;
	char sha1[41];   /* lowercase hex */
	char sha256[65]; /* lowercase hex */
	unsigned depth;  /* 0 for MIME parts of the message itself */
	int parent;      /* index of the containing part, -1 for none */
	unsigned flags;  /* VIGIL_PART_* */
} vigil_part;

/* User data the core frees for you: free may be NULL. */
typedef struct vigil_userdata {
	void *data;
	void (*free)(void *data);
} vigil_userdata;

/* A condition type, e.g. "truetype". compile() turns one condition's
 * settings into private data; eval() runs it on a message. `ctx` is what the
 * plugin passed at registration (usually its state). */
typedef struct vigil_condition_ops {
	const char *type;
	int (*compile)(void *ctx, const config_setting_t *setting,
		       vigil_userdata *cond_r, const char **error_r);
	vigil_result (*eval)(void *cond, vigil_message *msg, vigil_eval *ev);
} vigil_condition_ops;

/* An action a rule can name as a key of its `actions` group. apply() runs
 * when the decision is carried out on the message (by the daemon). */
typedef struct vigil_action_ops {
	const char *name;
	int (*compile)(void *ctx, const config_setting_t *setting,
		       vigil_userdata *act_r, const char **error_r);
	int (*apply)(void *act, vigil_message *msg, const char **error_r);
} vigil_action_ops;

/* An engine other plugins can ask for a verdict on one part: MATCH (a threat
 * inside its configured level), NO_MATCH, ERROR, or PENDING with a ticket. */
typedef struct vigil_verdict_ops {
	const char *name;
	vigil_result (*query)(void *ctx, vigil_message *msg,
			      const vigil_part *part, vigil_eval *ev);
} vigil_verdict_ops;

/* Says what a buffer really is. `type` and `category` must be static
 * strings; `flags` may gain VIGIL_PART_ENCRYPTED. */
typedef void (*vigil_typer_fn)(void *ctx, const unsigned char *data,
			       size_t size, const char **type_r,
			       const char **category_r, unsigned *flags_r);

typedef void (*vigil_timer_fn)(void *ctx, time_t now);

/* A command group of the `vigil` tool (ABI 1.1): `vigil NAME ARGS...`
 * runs run() in the daemon's current generation when vigild is up, else in
 * a generation the tool builds itself (same config, same store). Output
 * goes to `out`; run() returns 0 (done), 1 (failed) or 2 (usage). status()
 * (may be NULL) adds the plugin's lines to `vigil status`. */
typedef struct vigil_command_ops {
	const char *name;  /* "va", "so" */
	const char *usage; /* "va status|cache list|cache clear|unregister" */
	int (*run)(void *ctx, int argc, char **argv, FILE *out);
	void (*status)(void *ctx, FILE *out);
} vigil_command_ops;

/* One row of the persistent key-value store, for vigil_kv_foreach(). */
typedef int (*vigil_kv_fn)(void *ctx, const char *key, const char *value,
			   time_t expires);

/* The core's side. Append only (and bump VIGIL_ABI_MINOR). */
struct vigil_host_api {
	/* registration, from init() only */
	int (*register_condition)(vigil_host *h, const vigil_condition_ops *ops,
				  void *ctx, const char **error_r);
	int (*register_action)(vigil_host *h, const vigil_action_ops *ops,
			       void *ctx, const char **error_r);
	int (*register_verdict_source)(vigil_host *h, const vigil_verdict_ops *ops,
				       void *ctx, const char **error_r);
	int (*register_hidden_rule)(vigil_host *h, const char *name,
				    vigil_phase phase,
				    const vigil_condition_ops *ops,
				    vigil_userdata cond, vigil_action intercept,
				    const char *area, const char **error_r);
	int (*register_timer)(vigil_host *h, unsigned interval_s,
			      vigil_timer_fn fire, vigil_userdata ctx,
			      const char **error_r);
	int (*register_typer)(vigil_host *h, vigil_typer_fn fn, void *ctx,
			      const char **error_r);

	/* configuration help: errors come back as "FILE:LINE: message",
	 * owned by the generation */
	const char *(*setting_error)(vigil_host *h, const config_setting_t *s,
				     const char *fmt, va_list ap);
	int (*check_keys)(vigil_host *h, const config_setting_t *group,
			  const char *const *allowed, const char **error_r);
	const char *const *(*internal_domains)(vigil_host *h, size_t *count_r);

	/* verdict sources registered by other plugins */
	int (*verdict_available)(vigil_host *h, const char *source);
	vigil_result (*verdict_query)(vigil_host *h, const char *source,
				      vigil_message *msg, const vigil_part *part,
				      vigil_eval *ev);
	/* a ticket handed out with PENDING is resolved: wake its messages */
	void (*ticket_done)(vigil_host *h, const char *ticket);

	void (*vlog)(vigil_host *h, int level, const char *fmt, va_list ap);

	/* the message under evaluation */
	const vigil_part *(*message_parts)(vigil_message *msg, size_t *count_r);
	const char *(*message_sender)(vigil_message *msg);
	const char *const *(*message_recipients)(vigil_message *msg,
						 size_t *count_r);
	const char *(*message_header)(vigil_message *msg, const char *name);
	const unsigned char *(*message_raw)(vigil_message *msg, size_t *size_r);
	struct _GMimeMessage *(*message_mime)(vigil_message *msg);

	/* what a condition reports about its answer */
	void (*eval_detail)(vigil_eval *ev, const char *fmt, va_list ap);
	void (*eval_part)(vigil_eval *ev, const vigil_part *part);
	void (*eval_ticket)(vigil_eval *ev, const char *ticket);

	/* ---- ABI 1.1 ---- */
	int (*register_command)(vigil_host *h, const vigil_command_ops *ops,
				void *ctx, const char **error_r);
	/* Small persistent data in vigil's store (shared by every generation
	 * and process), by namespace: use the plugin's name. kv_put with a
	 * NULL value deletes; expires 0 = never. kv_get returns a malloc'd
	 * copy, NULL when absent or expired. All return -1 when vigil runs
	 * without a store (e.g. `vigil scan`). Safe from any thread. */
	int (*kv_put)(vigil_host *h, const char *ns, const char *key,
		      const char *value, time_t expires);
	char *(*kv_get)(vigil_host *h, const char *ns, const char *key,
			time_t *expires_r);
	int (*kv_foreach)(vigil_host *h, const char *ns, vigil_kv_fn each,
			  void *ctx);
	int (*kv_clear)(vigil_host *h, const char *ns);
	/* The verdict behind a ticket handed out with UNDECIDED arrived:
	 * update the policy events logged with that ticket. */
	void (*ticket_note)(vigil_host *h, const char *ticket,
			    const char *threat_type, const char *detail);
	/* Progress of a ticket messages are parked on, for the VA queue view
	 * (`vigil queue list --area va`). Any time may be 0 (unknown). */
	void (*ticket_progress)(vigil_host *h, const char *ticket,
				time_t submitted, time_t last_query,
				int attempts, time_t expires);
	/* The advanced threat type of a match, e.g. "Analyzed advanced
	 * threat", for the policy event. */
	void (*eval_threat)(vigil_eval *ev, const char *threat_type);
	/* vigil's internal id of the message, "" when it has none */
	const char *(*message_id)(vigil_message *msg);
	/* A hidden rule's condition sets the intercept of this match (e.g.
	 * PASS for an object whose action is "log": the event is still
	 * logged). Ignored for the administrator's own rules. */
	void (*eval_intercept)(vigil_eval *ev, vigil_action intercept);

	void *spare[6];
};

/* The public heads of the core's objects: each begins with the table. */
struct vigil_host {
	const vigil_host_api *api;
};
struct vigil_message {
	const vigil_host_api *api;
};
struct vigil_eval {
	const vigil_host_api *api;
};

/* What a plugin exports, as `vigil_plugin`. `reload` may be NULL (then
 * init is called for the new generation); it lets a plugin carry costly
 * state, such as a loaded engine, from the old generation to the new. */
typedef struct vigil_plugin_def {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t build_signature;
	const char *name;
	const char *version;
	const char *const *depends; /* NULL-terminated plugin names, or NULL */
	int (*init)(vigil_host *host, const config_setting_t *cfg,
		    void **state_r, const char **error_r);
	int (*reload)(vigil_host *host, const config_setting_t *cfg,
		      void *old_state, void **state_r, const char **error_r);
	void (*fini)(void *state);
	void *spare[8];
} vigil_plugin_def;

#define VIGIL_PLUGIN_SYMBOL "vigil_plugin"

/* Visible even when a plugin builds with -fvisibility=hidden. */
#if defined(__GNUC__)
#define VIGIL_EXPORT __attribute__((visibility("default")))
#else
#define VIGIL_EXPORT
#endif

/* VIGIL_PLUGIN("name", "1.0", .init = f, .fini = g); */
#define VIGIL_PLUGIN(NAME, VERSION, ...)                                       \
	extern const vigil_plugin_def vigil_plugin;                            \
	VIGIL_EXPORT const vigil_plugin_def vigil_plugin = {                   \
		.abi_major = VIGIL_ABI_MAJOR,                                  \
		.abi_minor = VIGIL_ABI_MINOR,                                  \
		.build_signature = VIGIL_BUILD_SIGNATURE,                      \
		.name = NAME,                                                  \
		.version = VERSION,                                            \
		__VA_ARGS__}

/* Readable wrappers over the table. */
static inline int vigil_register_condition(vigil_host *h,
					   const vigil_condition_ops *ops,
					   void *ctx, const char **error_r)
{
	return h->api->register_condition(h, ops, ctx, error_r);
}
static inline int vigil_register_action(vigil_host *h,
					const vigil_action_ops *ops, void *ctx,
					const char **error_r)
{
	return h->api->register_action(h, ops, ctx, error_r);
}
static inline int vigil_register_verdict_source(vigil_host *h,
						const vigil_verdict_ops *ops,
						void *ctx, const char **error_r)
{
	return h->api->register_verdict_source(h, ops, ctx, error_r);
}
static inline int vigil_register_typer(vigil_host *h, vigil_typer_fn fn,
				       void *ctx, const char **error_r)
{
	return h->api->register_typer(h, fn, ctx, error_r);
}
static inline int vigil_check_keys(vigil_host *h,
				   const config_setting_t *group,
				   const char *const *allowed,
				   const char **error_r)
{
	return h->api->check_keys(h, group, allowed, error_r);
}
static inline const char *vigil_setting_error(vigil_host *h,
					      const config_setting_t *s,
					      const char *fmt, ...)
	VIGIL_PRINTF(3, 4);
static inline const char *vigil_setting_error(vigil_host *h,
					      const config_setting_t *s,
					      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *e = h->api->setting_error(h, s, fmt, ap);
	va_end(ap);
	return e;
}
static inline void vigil_log(vigil_host *h, int level, const char *fmt, ...)
	VIGIL_PRINTF(3, 4);
static inline void vigil_log(vigil_host *h, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	h->api->vlog(h, level, fmt, ap);
	va_end(ap);
}
static inline const vigil_part *vigil_message_parts(vigil_message *m,
						    size_t *count_r)
{
	return m->api->message_parts(m, count_r);
}
static inline const char *vigil_message_header(vigil_message *m,
					       const char *name)
{
	return m->api->message_header(m, name);
}
static inline void vigil_eval_detail(vigil_eval *ev, const char *fmt, ...)
	VIGIL_PRINTF(2, 3);
static inline void vigil_eval_detail(vigil_eval *ev, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ev->api->eval_detail(ev, fmt, ap);
	va_end(ap);
}
static inline void vigil_eval_part(vigil_eval *ev, const vigil_part *part)
{
	ev->api->eval_part(ev, part);
}
static inline void vigil_eval_ticket(vigil_eval *ev, const char *ticket)
{
	ev->api->eval_ticket(ev, ticket);
}
static inline void vigil_eval_threat(vigil_eval *ev, const char *threat_type)
{
	ev->api->eval_threat(ev, threat_type);
}
static inline void vigil_eval_intercept(vigil_eval *ev, vigil_action a)
{
	ev->api->eval_intercept(ev, a);
}
static inline int vigil_register_command(vigil_host *h,
					 const vigil_command_ops *ops,
					 void *ctx, const char **error_r)
{
	return h->api->register_command(h, ops, ctx, error_r);
}
static inline int vigil_kv_put(vigil_host *h, const char *ns, const char *key,
			       const char *value, time_t expires)
{
	return h->api->kv_put(h, ns, key, value, expires);
}
static inline char *vigil_kv_get(vigil_host *h, const char *ns,
				 const char *key, time_t *expires_r)
{
	return h->api->kv_get(h, ns, key, expires_r);
}
static inline int vigil_kv_foreach(vigil_host *h, const char *ns,
				   vigil_kv_fn each, void *ctx)
{
	return h->api->kv_foreach(h, ns, each, ctx);
}
static inline int vigil_kv_clear(vigil_host *h, const char *ns)
{
	return h->api->kv_clear(h, ns);
}

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_PLUGIN_H */
