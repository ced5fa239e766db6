/*
 * ctl_table — the control socket's aligned text tables and the small
 * formatters its answers share (ages, times).  Implemented by
 * core/ctl/ctl_table.c; used by the command files and the dispatcher.
 *
 * Control thread only.  A table belongs to the command that made it until
 * ctl_table_print frees it; cells are copied in.
 */
#ifndef SLUICE_CORE_CTL_CTL_TABLE_H
#define SLUICE_CORE_CTL_CTL_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct ctl_table;

/* A table with ncol columns named by the NULL-terminated heads; a head
 * starting with '>' is right-aligned (the '>' is not shown). */
struct ctl_table *ctl_table_new(const char *const *heads);
/* Add a row: one string per column (copied). */
void ctl_table_row(struct ctl_table *t, ...);
/* Same from an array of ncol strings. */
void ctl_table_rowv(struct ctl_table *t, const char *const *cells);
/* Append t to out and free it (ctl_table_print, in ctl_run.h, puts it
 * in an answer). */
void ctl_table_render(struct ctl_table *t, struct buf *out);
/* Free t unprinted. */
void ctl_table_free(struct ctl_table *t);
/* "3d04h", "2h05m", "4m12s", "9s"; "-" when s < 0. */
void ctl_fmt_age(int64_t s, char *out, size_t n);
/* ISO 8601 UTC "2026-11-27T03:35:25Z"; "" when t == 0. */
void ctl_fmt_time(int64_t t, char *out, size_t n);
/* JSON value for a unix time: ISO string, or null when 0. */
json_t *ctl_json_time(int64_t t);

#endif
