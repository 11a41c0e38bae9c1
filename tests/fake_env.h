/*
 * fake_env.h - a fake environment for the tests of XTCP_* parsers, which take
 * a getenv-like function: fake_env is a NULL-terminated list of "NAME=value"
 * strings, fake_getenv() looks a name up in it.
 */
#ifndef XTCP_FAKE_ENV_H
#define XTCP_FAKE_ENV_H

#include <string.h>

static const char *const *fake_env;

static inline const char *fake_getenv(const char *name)
{
	const char *const *e;
	size_t n = strlen(name);

	for (e = fake_env; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

#endif
