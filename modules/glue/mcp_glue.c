/* Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/* Small helpers shared by the three modules: the log bridge from the core
 * to httpd's error log and the checks directive handlers need. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_filter.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include <sys/stat.h>
#include <unistd.h>
#include <unixd.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_store.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"

/* Bound on reads that return neither data nor end of body. */
#define GLUE_MAX_EMPTY_READS 64

/* Where the core's log lines go; written in post_config only. */
typedef struct {
    server_rec *s;
    int module_index;
} glue_log_baton_t;

static glue_log_baton_t glue_log_baton;

apr_status_t mcp_glue_log_status(apr_status_t rv)
{
    return mcp_status_name(rv) ? 0 : rv;
}

static void glue_log(void *baton, const char *file, int line,
                     mcp_log_level_e level, apr_status_t rv, const char *msg)
{
    glue_log_baton_t *b = baton;
    const char *ours = mcp_status_name(rv);

    /* The core formats its own MCPLOGNO tag; pass the text through. */
    if (ours) {
        ap_log_error_(file, line, b->module_index, (int)level, 0, b->s,
                      "%s (%s)", msg, ours);
    }
    else {
        ap_log_error_(file, line, b->module_index, (int)level, rv, b->s,
                      "%s", msg);
    }
}

static int glue_log_enabled(void *baton, mcp_log_level_e level)
{
    glue_log_baton_t *b = baton;

    return APLOG_MODULE_IS_LEVEL(b->s, b->module_index, (int)level);
}

static apr_status_t glue_log_uninstall(void *data)
{
    /* The server_rec dies with pconf: fall back to stderr until the next
     * post_config installs the bridge again. */
    mcp_log_set(NULL, NULL, NULL);
    return APR_SUCCESS;
}

void mcp_glue_log_install(apr_pool_t *pconf, server_rec *s, int module_index)
{
    glue_log_baton.s = s;
    glue_log_baton.module_index = module_index;
    mcp_log_set(glue_log, glue_log_enabled, &glue_log_baton);
    apr_pool_cleanup_register(pconf, NULL, glue_log_uninstall,
                              apr_pool_cleanup_null);
}

int mcp_glue_is_final_config(void)
{
    return ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG;
}

const char *mcp_glue_server_desc(apr_pool_t *p, const server_rec *s)
{
    if (!s->is_virtual) {
        return "the main server";
    }
    return apr_psprintf(p, "virtual host %s:%u (%s:%u)",
                        s->server_hostname ? s->server_hostname : "*",
                        (unsigned)s->port,
                        s->defn_name ? s->defn_name : "?",
                        s->defn_line_number);
}

const char *mcp_glue_check_readable(apr_pool_t *p, const char *path,
                                    const char **presolved)
{
    const char *full = ap_server_root_relative(p, path);
    apr_finfo_t fi;
    apr_file_t *f;
    apr_status_t rv;
    char buf[120];

    if (!full) {
        return apr_psprintf(p, "invalid file path '%s'", path);
    }
    if (presolved) {
        *presolved = full;
    }
    rv = apr_stat(&fi, full, APR_FINFO_TYPE, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot access file '%s': %s", full,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    if (fi.filetype != APR_REG) {
        return apr_psprintf(p, "'%s' is not a regular file", full);
    }
    rv = apr_file_open(&f, full, APR_FOPEN_READ, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read file '%s': %s", full,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    apr_file_close(f);
    return NULL;
}

/* The user and group httpd's children run as: User and Group when httpd
 * starts as root, else whoever started it (it cannot switch then). Known
 * from post_config on. */
static void child_ids(uid_t *puid, gid_t *pgid)
{
    if (geteuid() == 0) {
        *puid = ap_unixd_config.user_id;
        *pgid = ap_unixd_config.group_id;
    }
    else {
        *puid = geteuid();
        *pgid = getegid();
    }
}

/* The name of user @id (group @id with @group), or its number. */
static const char *id_name(apr_pool_t *p, long id, int group)
{
    char *name = NULL;
    apr_status_t rv = group ? apr_gid_name_get(&name, (gid_t)id, p)
                            : apr_uid_name_get(&name, (uid_t)id, p);

    return rv == APR_SUCCESS && name ? name : apr_psprintf(p, "%ld", id);
}

/* @why and @more, separated by "; " (@why may be NULL). */
static const char *and_also(apr_pool_t *p, const char *why, const char *more)
{
    return why ? apr_pstrcat(p, why, "; ", more, NULL) : more;
}

/* A private key should be readable by root (who starts httpd and reads
 * it in post_config) and at most by httpd's own user. Debian packages
 * ship such keys as 0640 root:www-data, which is fine; 0644 is not, nor
 * a group or owner beyond those two: other local users or processes
 * could read the key. Only a warning, so that httpd still starts. */
void mcp_glue_check_key_file_perms(apr_pool_t *p, server_rec *s,
                                   int module_index, const char *directive,
                                   const char *path)
{
    struct stat st;
    uid_t uid;
    gid_t gid;
    const char *why = NULL;

    /* A file that cannot be looked at is the loader's to report. */
    if (!mcp_glue_is_final_config() || stat(path, &st) != 0) {
        return;
    }
    child_ids(&uid, &gid);
    if (st.st_mode & S_IRWXO) {
        why = "others have access to it";
    }
    if ((st.st_mode & (S_IRGRP | S_IWGRP)) && st.st_gid != 0
        && st.st_gid != gid) {
        why = and_also(p, why, "its group may read or write it and is "
                       "neither root's nor the group httpd runs as");
    }
    if (st.st_uid != 0 && st.st_uid != uid) {
        why = and_also(p, why, "its owner is neither root nor the user "
                       "httpd runs as");
    }
    if (why) {
        ap_log_error(__FILE__, __LINE__, module_index, APLOG_WARNING, 0, s,
                     MCPLOGNO(01150) "%s %s: %s (mode %04o, owner %s:%s); "
                     "a key should be owned by root or %s, mode 0600, or "
                     "0640 with group root or %s", directive, path, why,
                     (unsigned)(st.st_mode & 07777),
                     id_name(p, (long)st.st_uid, 0),
                     id_name(p, (long)st.st_gid, 1),
                     id_name(p, (long)uid, 0), id_name(p, (long)gid, 1));
    }
}

int mcp_glue_is_name(const char *s)
{
    if (!s || !*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && *s != '_' && *s != '-') {
            return 0;
        }
    }
    return 1;
}

const char *mcp_glue_split_words(apr_pool_t *p, const char *raw,
                                 apr_array_header_t **pwords)
{
    apr_array_header_t *words = apr_array_make(p, 8, sizeof(const char *));
    apr_size_t len = raw ? strlen(raw) : 0;
    char *buf = apr_palloc(p, len + 1);
    const char *s = raw ? raw : "";

    while (*s) {
        char *o = buf;
        int quoted = 0;

        while (apr_isspace(*s)) {
            s++;
        }
        if (!*s) {
            break;
        }
        while (*s && (quoted || !apr_isspace(*s))) {
            if (*s == '"') {
                quoted = !quoted;
                s++;
            }
            else if (quoted && *s == '\\' && (s[1] == '"' || s[1] == '\\')) {
                *o++ = s[1];
                s += 2;
            }
            else {
                *o++ = *s++;
            }
        }
        if (quoted) {
            return "unbalanced double quote";
        }
        *(const char **)apr_array_push(words) = apr_pstrmemdup(p, buf,
                                                               o - buf);
    }
    *pwords = words;
    return NULL;
}

int mcp_glue_split_option(apr_pool_t *p, const char *word,
                          const char **pkey, const char **pval)
{
    const char *eq = strchr(word, '=');

    if (!eq || eq == word) {
        return 0;
    }
    *pkey = apr_pstrmemdup(p, word, eq - word);
    *pval = eq + 1;
    return 1;
}

const char *mcp_glue_add_origin(apr_pool_t *p, apr_array_header_t **porigins,
                                const char *arg)
{
    const char *origin = "*", *err = NULL;

    if (strcmp(arg, "*")
        && mcp_url_origin_parse(&origin, p, arg, &err) != APR_SUCCESS) {
        return apr_psprintf(p, "'%s': %s", arg, err);
    }
    if (!*porigins) {
        *porigins = apr_array_make(p, 4, sizeof(const char *));
    }
    *(const char **)apr_array_push(*porigins) = origin;
    return NULL;
}

int mcp_glue_parse_int(const char *s, apr_int64_t max, apr_int64_t *pv)
{
    apr_int64_t v = 0;
    const char *c;

    if (!s || !*s || strlen(s) > 18) {
        return 0;
    }
    for (c = s; *c; c++) {
        if (!apr_isdigit(*c)) {
            return 0;
        }
        v = v * 10 + (*c - '0');
    }
    if (v < 1 || v > max) {
        return 0;
    }
    *pv = v;
    return 1;
}

int mcp_glue_dbd_present(void)
{
    return APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open) != NULL
        && APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close) != NULL
        && APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire) != NULL;
}

apr_status_t mcp_glue_store_check(apr_pool_t *pchild, server_rec *s,
                                  int module_index, const char *modname)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;
    mcp_store_t *st = NULL;
    apr_pool_t *tmp;
    ap_dbd_t *dbd;
    apr_status_t rv;

    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!dbd_open || !dbd_close) {
        /* post_config has refused to start without mod_dbd already. */
        return MCP_ESTORE;
    }
    if (apr_pool_create(&tmp, pchild) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    dbd = dbd_open(tmp, s);
    if (!dbd) {
        ap_log_error(__FILE__, __LINE__, module_index, APLOG_ERR, 0, s,
                     MCPLOGNO(00502) "%s: cannot connect to the store "
                     "database (see mod_dbd's messages); requests that need "
                     "it will get 503 until it is reachable", modname);
        apr_pool_destroy(tmp);
        return MCP_ESTORE;
    }
    rv = mcp_store_attach(&st, tmp, dbd->driver, dbd->handle, dbd->prepared,
                          dbd->pool);
    if (rv == APR_SUCCESS) {
        rv = mcp_store_schema_check(st);
    }
    if (rv == MCP_ESCHEMA) {
        /* The store's message names the driver and what to run, never the
         * connection parameters. */
        ap_log_error(__FILE__, __LINE__, module_index, APLOG_CRIT, 0, s,
                     MCPLOGNO(00503) "%s cannot use its store: %s; httpd "
                     "stops", modname, mcp_store_error(st));
    }
    else if (rv != APR_SUCCESS) {
        ap_log_error(__FILE__, __LINE__, module_index, APLOG_ERR,
                     mcp_glue_log_status(rv), s, MCPLOGNO(00504) "%s: the store (driver %s) cannot be "
                     "read: %s; requests that need it will get 503", modname,
                     st ? mcp_store_driver_name(st) : "?",
                     st ? mcp_store_error(st) : "cannot attach");
        rv = MCP_ESTORE;
    }
    dbd_close(s, dbd);
    apr_pool_destroy(tmp);
    return rv;
}

apr_status_t mcp_glue_read_body(request_rec *r, apr_off_t max, char **pbody,
                                apr_size_t *plen, int *pstatus)
{
    apr_bucket_brigade *in, *keep;
    apr_off_t total = 0;
    int seen_eos = 0, empty = 0, rc;
    apr_status_t rv;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    *pbody = NULL;
    *plen = 0;
    *pstatus = HTTP_BAD_REQUEST;
    rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc != OK) {
        *pstatus = rc;
        r->connection->keepalive = AP_CONN_CLOSE;
        return APR_EGENERAL;
    }
    if (cl && r->remaining > max) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return MCP_ETOOLARGE;
    }
    in = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    keep = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_bucket *b;
        apr_off_t before = total;

        rv = ap_get_brigade(r->input_filters, in, AP_MODE_READBYTES,
                            APR_BLOCK_READ, HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, MCPLOGNO(00600)
                          "reading the request body failed");
            r->connection->keepalive = AP_CONN_CLOSE;
            *pstatus = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            return rv;
        }
        while (!APR_BRIGADE_EMPTY(in)) {
            b = APR_BRIGADE_FIRST(in);
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                apr_bucket_delete(b);
                continue;
            }
            if (!APR_BUCKET_IS_METADATA(b)) {
                const char *data;
                apr_size_t n;

                rv = apr_bucket_read(b, &data, &n, APR_BLOCK_READ);
                if (rv != APR_SUCCESS) {
                    r->connection->keepalive = AP_CONN_CLOSE;
                    return rv;
                }
                total += n;
                if (total > max) {
                    apr_brigade_cleanup(in);
                    r->connection->keepalive = AP_CONN_CLOSE;
                    return MCP_ETOOLARGE;
                }
            }
            APR_BUCKET_REMOVE(b);
            rv = apr_bucket_setaside(b, r->pool);
            if (rv != APR_SUCCESS) {
                apr_bucket_delete(b);
                *pstatus = HTTP_INTERNAL_SERVER_ERROR;
                return rv;
            }
            APR_BRIGADE_INSERT_TAIL(keep, b);
        }
        if (total == before && !seen_eos && ++empty > GLUE_MAX_EMPTY_READS) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return APR_EGENERAL;
        }
    }
    rv = apr_brigade_pflatten(keep, pbody, plen, r->pool);
    apr_brigade_destroy(keep);
    if (rv == APR_SUCCESS) {
        /* Callers treat the body as a C string. */
        char *z = apr_palloc(r->pool, *plen + 1);

        memcpy(z, *pbody, *plen);
        z[*plen] = '\0';
        *pbody = z;
    }
    *pstatus = HTTP_INTERNAL_SERVER_ERROR;
    return rv;
}

/* The store on @a dbd, or NULL (logged). */
static mcp_store_t *attach(request_rec *r, int module_index, ap_dbd_t *dbd)
{
    mcp_store_t *st = NULL;

    if (mcp_store_attach(&st, r->pool, dbd->driver, dbd->handle,
                         dbd->prepared, dbd->pool) != APR_SUCCESS) {
        ap_log_rerror(__FILE__, __LINE__, module_index, APLOG_ERR, 0, r,
                      MCPLOGNO(00801) "the store cannot use this database: %s",
                      st ? mcp_store_error(st) : "bad arguments");
        return NULL;
    }
    return st;
}

mcp_store_t *mcp_glue_store_open(request_rec *r, int module_index,
                                 void **pdbd)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open =
        APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    mcp_store_t *st;
    ap_dbd_t *dbd;

    *pdbd = NULL;
    dbd = dbd_open ? dbd_open(r->pool, r->server) : NULL;
    if (!dbd) {
        ap_log_rerror(__FILE__, __LINE__, module_index, APLOG_ERR, 0, r,
                      MCPLOGNO(02032) "the store database cannot be reached "
                      "(see mod_dbd's messages)");
        return NULL;
    }
    if (!(st = attach(r, module_index, dbd))) {
        mcp_glue_store_close(r, dbd);
        return NULL;
    }
    *pdbd = dbd;
    return st;
}

void mcp_glue_store_close(request_rec *r, void *dbd)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close =
        APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);

    if (dbd && dbd_close) {
        dbd_close(r->server, dbd);
    }
}

mcp_store_t *mcp_glue_store(request_rec *r, int module_index)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *acquire =
        APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    ap_dbd_t *dbd;

    dbd = acquire ? acquire(r) : NULL;
    if (!dbd) {
        ap_log_rerror(__FILE__, __LINE__, module_index, APLOG_ERR, 0, r,
                      MCPLOGNO(00800) "the store database cannot be reached "
                      "(see mod_dbd's messages): answering 503");
        return NULL;
    }
    return attach(r, module_index, dbd);
}
