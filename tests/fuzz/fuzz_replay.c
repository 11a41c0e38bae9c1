/*
 * fuzz_replay.c - run the fuzz target once per corpus file, without
 * libFuzzer (any compiler): a regression test over the committed seed
 * corpus and a way to replay a crash file under a debugger.
 *
 *   fuzz_replay FILE|DIR...
 *
 * A stack bug aborts (the target aborts on any broken contract); a file that
 * cannot be read fails; the end is "N passed, N failed" (check.h). An empty
 * corpus fails too: check_summary() fails a run that checked nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f) {
		perror(path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		fprintf(stderr, "%s: read failed\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			d = opendir(argv[i]);
			while (d && (e = readdir(d))) {
				char p[4096];

				if (e->d_name[0] == '.')
					continue;
				snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
				check_count(run_file(p) == 0);
			}
			if (d)
				closedir(d);
		} else {
			check_count(run_file(argv[i]) == 0);
		}
	}
	return check_summary();
}
