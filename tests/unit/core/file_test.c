/*
 * file_test — unit tests of core/file: a regular file whole, an empty one,
 * the limit for a regular file (refused before reading) and for a stream
 * (/dev/zero never ends: refused once past the limit), a directory and a
 * missing file; mkdir -p.
 */
#include "core/file.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A temporary file holding n bytes of pattern; its path in path. */
static void
temp_file(char *path, size_t size, size_t n)
{
	FILE *f;
	int fd;

	snprintf(path, size, "/tmp/sluice-file-test-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	cr_assert_eq(fclose(f), 0);
}

Test(file, regular_file_whole)
{
	char path[64], *buf = NULL;
	size_t len = 0;

	temp_file(path, sizeof(path), 100000);
	cr_assert_eq(file_read(path, 1 << 20, &buf, &len), 0);
	cr_expect_eq(len, 100000);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(buf[i], 'a' + (int)(i % 26), "byte %zu", i);
	free(buf);
	unlink(path);
}

Test(file, empty_file)
{
	char path[64], *buf = NULL;
	size_t len = 1;

	temp_file(path, sizeof(path), 0);
	cr_assert_eq(file_read(path, 10, &buf, &len), 0);
	cr_expect_eq(len, 0);
	cr_expect_not_null(buf);
	free(buf);
	unlink(path);
}

Test(file, limits)
{
	char path[64], *buf = NULL;
	size_t len = 0;

	temp_file(path, sizeof(path), 1001);
	cr_expect_eq(file_read(path, 1000, &buf, &len), -EFBIG);
	cr_expect_null(buf);
	cr_expect_eq(file_read(path, 1001, &buf, &len), 0);
	cr_expect_eq(len, 1001);
	free(buf);
	buf = NULL;
	unlink(path);
	/* a stream: read until past the limit, then refused */
	cr_expect_eq(file_read("/dev/zero", 100000, &buf, &len), -EFBIG);
	cr_expect_null(buf);
}

Test(file, not_a_file)
{
	char *buf = NULL;
	size_t len = 0;

	cr_expect_eq(file_read("/tmp", 1000, &buf, &len), -EISDIR);
	cr_expect_eq(file_read("/nonexistent/sluice.yaml", 1000, &buf, &len), -ENOENT);
	cr_expect_null(buf);
}

Test(file, mkdirs_makes_parents_and_accepts_existing)
{
	char root[64], path[128];
	struct stat st;

	snprintf(root, sizeof(root), "/tmp/sluice-mkdirs-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/a/b/c", root);
	cr_assert_eq(file_mkdirs(path, 0700), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0700);
	cr_expect_eq(file_mkdirs(path, 0700), 0, "an existing path is fine");
	snprintf(path, sizeof(path), "%s/a/b/c/", root);
	cr_expect_eq(file_mkdirs(path, 0700), 0, "a trailing slash is fine");
	cr_expect_eq(file_mkdirs("", 0700), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "%s/a/file", root);
	cr_assert_eq(close(open(path, O_WRONLY | O_CREAT, 0600)), 0);
	snprintf(path, sizeof(path), "%s/a/file/d", root);
	cr_expect_eq(file_mkdirs(path, 0700), -ENOTDIR, "a parent that is a file");
	snprintf(path, sizeof(path), "%s/a/file", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/a/b/c", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a/b", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a", root);
	rmdir(path);
	rmdir(root);
}
