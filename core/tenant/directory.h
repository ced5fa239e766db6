/*
 * directory — a tenant's recipient directory: the set of addresses that
 * exist in its authoritative domains, loaded from a text file and looked up
 * in O(1) at RCPT time.
 *
 * File format: one address per line ("local@domain", no angle brackets).
 * Blank lines are ignored; '#' starts a comment when it is the first
 * non-blank character of a line or follows the address after a blank
 * ("alice@example.com   # sales").  Leading and trailing blanks and a CR
 * before the LF are ignored.  The address syntax is RFC 5321 (dot-string or
 * quoted-string local part, domain labels or an address literal) with UTF-8
 * allowed in both parts (RFC 6531), scanned by core/addr.c as the SMTP
 * parser scans a RCPT; the local part is at most 64 octets and the address
 * at most 254 (RFC 5321 4.5.3.1: a 256-octet path minus the angle
 * brackets).  Duplicates are accepted and stored once.  Catch-alls
 * ("@example.com") are not supported.
 *
 * Matching: the domain is case-insensitive (DNS).  The local part is
 * case-insensitive too, as Exchange and almost every real mail store treat
 * it, although RFC 5321 lets a server distinguish case: a case-sensitive
 * directory would turn "John.Doe@" into an invalid-recipient event that
 * counts against the tenant's quota for a mailbox that exists.  Folding is
 * ASCII only; UTF-8 bytes compare exactly (no Unicode case folding).  A
 * quoted local part whose content is a plain dot-string matches the unquoted
 * form ("\"john.doe\"@x" == "john.doe@x"), and escapes inside quotes are
 * normalised ("\"a\\b\"" == "\"ab\""), as RFC 5321 4.1.2 makes them equal.
 *
 * Not for: domain-level decisions (whether a domain is authoritative is the
 * config's business, core/config.h), wildcard or regex matching, editing a
 * loaded directory.
 *
 * Threading: a loaded directory is immutable, so any number of threads may
 * call directory_has() and directory_count() on it concurrently without
 * locks.  Reload = directory_load() a new one (on the main thread, off the
 * workers), publish the pointer (e.g. inside the new config or with an
 * atomic release store), and directory_free() the old one only when no
 * worker can still be using it (the same grace rule as the config: every
 * worker has passed a loop boundary since the swap).
 *
 * Memory: one string arena holding the normalised addresses back to back
 * (no terminators) and one open-addressing table of 16-byte slots
 * (64-bit hash, arena offset, length) at most half full: about 26 + 32..64
 * bytes per address for typical addresses.
 */
#ifndef SLUICE_CORE_TENANT_DIRECTORY_H
#define SLUICE_CORE_TENANT_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#define DIRECTORY_MAX_ADDR	254	/* octets of an address (RFC 5321) */
#define DIRECTORY_MAX_LOCAL	64	/* octets of a local part */

struct directory;

/*
 * Load the directory file at path into a new directory (*out, owned by the
 * caller: directory_free()).  Returns 0, or a negative errno with a message
 * in err (errlen bytes, may be 0): "path: No such file or directory",
 * "path:12: address longer than 254 characters: \"...\"",
 * "path:13: invalid address syntax (bad domain): \"...\"".  -EINVAL for a
 * syntax error, -EFBIG when the file is beyond the 4 GiB arena, -ENOMEM,
 * or the errno of open/read.  On error *out is left untouched.  Blocking
 * file I/O: call from the main thread (config load, reload), never a worker.
 */
int directory_load(const char *path, struct directory **out, char *err,
		   size_t errlen);

/*
 * True if the address addr (len bytes, "local@domain" as the SMTP parser
 * returns it, without <>) is in d.  Case-insensitive as described above.
 * NULL d is an empty directory.  Any thread; no allocation, no locks; one
 * hash and on average under two slot probes.
 */
bool directory_has(const struct directory *d, const char *addr, size_t len);

/* Distinct addresses in d (duplicates in the file count once). */
size_t directory_count(const struct directory *d);

/* Free d and everything in it.  NULL is a no-op.  Only when no thread can
 * still be looking it up. */
void directory_free(struct directory *d);

#endif /* SLUICE_CORE_TENANT_DIRECTORY_H */
