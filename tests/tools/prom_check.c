/*
 * prom_check.c - a strict checker of the Prometheus text exposition format
 * (0.0.4), for the output of `xtcpctl metrics`.
 *
 *   prom_check [--prefix P] [--get NAME{LABELS}] < FILE
 *
 * Exit 0 when every line parses; else 1 with one line per fault
 * ("line N: why"). Stricter than the format where xtcpctl promises more:
 * no blank lines, no comments but # HELP and # TYPE, every family has
 * both, before its samples, once; a family's samples are contiguous; no
 * series twice; counters end in _total and are not negative; names start
 * with P (default xtcp_). --get NAME prints the sum of the values of every
 * sample of that metric whose labels include the given ones, e.g.
 * --get 'xtcp_accepted_total{source="xtcp"}' (for tests: "a counter moves").
 *
 * Self-test: prom_check --self-test feeds it good and bad documents.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAMILIES 512
#define MAX_SERIES   65536
#define MAX_LINE     4096

struct fam {
	char name[128];
	char type[16];
	bool help, typed, closed, has_samples;
};

struct checker {
	const char *prefix;
	struct fam fams[MAX_FAMILIES];
	int n_fams, cur; /* cur: family whose samples come now, -1 none */
	char **series;
	int n_series;
	int faults;
	int line;
	/* --get */
	char get_name[128], get_labels[MAX_LINE];
	double get_sum;
	bool got;
};

/* Count and report a fault; returns 0 so that callers can `return fault(...)`. */
static int fault(struct checker *c, const char *why, const char *what)
{
	c->faults++;
	fprintf(stderr, "line %d: %s%s%s\n", c->line, why, what ? ": " : "", what ? what : "");
	return 0;
}

static bool name_ok(const char *s, size_t n, bool metric)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!(isalpha((unsigned char)ch) || ch == '_' || (metric && ch == ':') ||
		      (i && isdigit((unsigned char)ch))))
			return false;
	}
	return true;
}

static struct fam *fam_get(struct checker *c, const char *name, size_t n, bool create)
{
	int i;

	for (i = 0; i < c->n_fams; i++)
		if (strlen(c->fams[i].name) == n && !strncmp(c->fams[i].name, name, n))
			return &c->fams[i];
	if (!create || c->n_fams == MAX_FAMILIES || n >= sizeof(c->fams[0].name))
		return NULL;
	memset(&c->fams[c->n_fams], 0, sizeof(c->fams[0]));
	memcpy(c->fams[c->n_fams].name, name, n);
	return &c->fams[c->n_fams++];
}

/* A new family's lines start: the previous one is closed for good. */
static void enter(struct checker *c, struct fam *f)
{
	int idx = (int)(f - c->fams);

	if (c->cur == idx)
		return;
	if (f->closed)
		fault(c, "family appears again after another one", f->name);
	if (c->cur >= 0)
		c->fams[c->cur].closed = true;
	c->cur = idx;
}

static int comment(struct checker *c, const char *s)
{
	bool help = !strncmp(s, "# HELP ", 7), type = !strncmp(s, "# TYPE ", 7);
	const char *name = s + 7, *sp;
	struct fam *f;
	size_t n;

	if (!help && !type)
		return fault(c, "comment other than # HELP or # TYPE", s);
	sp = strchr(name, ' ');
	n = sp ? (size_t)(sp - name) : strlen(name);
	if (!name_ok(name, n, true))
		return fault(c, "bad metric name in comment", s);
	f = fam_get(c, name, n, true);
	if (!f)
		return fault(c, "too many families", NULL);
	enter(c, f);
	if (f->has_samples)
		fault(c, "# HELP/# TYPE after the family's samples", f->name);
	if (help) {
		if (f->help)
			fault(c, "second # HELP", f->name);
		f->help = true;
		if (!sp || !sp[1])
			fault(c, "empty # HELP", f->name);
		for (sp = sp ? sp : ""; *sp; sp++)
			if (*sp == '\\' && sp[1] != '\\' && sp[1] != 'n')
				fault(c, "bad escape in # HELP", f->name);
		return 0;
	}
	if (f->typed)
		fault(c, "second # TYPE", f->name);
	f->typed = true;
	if (!sp ||
	    (strcmp(sp + 1, "counter") && strcmp(sp + 1, "gauge") && strcmp(sp + 1, "histogram") &&
	     strcmp(sp + 1, "summary") && strcmp(sp + 1, "untyped")))
		return fault(c, "bad # TYPE", s);
	snprintf(f->type, sizeof(f->type), "%s", sp + 1);
	if (!strcmp(f->type, "counter") && (n < 6 || strncmp(name + n - 6, "_total", 6)))
		fault(c, "counter name without _total", f->name);
	return 0;
}

/* Labels "{k="v",...}" from *p; canonical "k=v\x01..." (sorted) in out. */
static bool labels(struct checker *c, const char **p, char *out, size_t outlen)
{
	char keys[64][128], vals[64][512];
	int n = 0, i, j;
	const char *s = *p + 1;
	size_t off = 0;

	out[0] = '\0';
	while (*s != '}') {
		const char *k = s;
		size_t kl, vl = 0;

		while (*s && *s != '=')
			s++;
		kl = (size_t)(s - k);
		if (!*s || !name_ok(k, kl, false) || kl >= sizeof(keys[0]) || n == 64)
			return fault(c, "bad label name", NULL), false;
		if (kl >= 2 && k[0] == '_' && k[1] == '_')
			return fault(c, "reserved label name", NULL), false;
		if (s[1] != '"')
			return fault(c, "label value not quoted", NULL), false;
		memcpy(keys[n], k, kl);
		keys[n][kl] = '\0';
		for (s += 2; *s != '"'; s++) {
			if (!*s)
				return fault(c, "unterminated label value", NULL), false;
			if (*s == '\\') {
				s++;
				if (*s != '\\' && *s != '"' && *s != 'n')
					return fault(c, "bad escape in label value", NULL), false;
			}
			if (vl + 1 < sizeof(vals[0]))
				vals[n][vl++] = *s;
		}
		vals[n][vl] = '\0';
		for (i = 0; i < n; i++)
			if (!strcmp(keys[i], keys[n]))
				return fault(c, "label twice", keys[n]), false;
		n++;
		s++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return fault(c, "expected , or } after a label", NULL), false;
	}
	*p = s + 1;
	/* sort (insertion) for a canonical series key */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			char tk[128], tv[512];

			strcpy(tk, keys[j]);
			strcpy(tv, vals[j]);
			strcpy(keys[j], keys[j - 1]);
			strcpy(vals[j], vals[j - 1]);
			strcpy(keys[j - 1], tk);
			strcpy(vals[j - 1], tv);
		}
	for (i = 0; i < n && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s=%s\x01", keys[i], vals[i]);
	return true;
}

static bool value_ok(const char *s, double *v)
{
	char *end;

	if (!strcmp(s, "NaN") || !strcmp(s, "+Inf") || !strcmp(s, "-Inf")) {
		*v = 0;
		return true;
	}
	if (!*s || isspace((unsigned char)*s))
		return false;
	*v = strtod(s, &end);
	return *end == '\0';
}

/* Does the canonical label set have every "k=v\x01" of want? */
static bool labels_include(const char *have, const char *want)
{
	const char *w = want;

	while (*w) {
		const char *e = strchr(w, '\x01');
		char item[MAX_LINE];
		size_t n = e ? (size_t)(e - w + 1) : strlen(w);

		memcpy(item, w, n);
		item[n] = '\0';
		if (!strstr(have, item))
			return false;
		w += n;
	}
	return true;
}

static int sample_line(struct checker *c, const char *s)
{
	const char *p = s, *sp;
	char lab[MAX_LINE], key[MAX_LINE + 128], val[128];
	struct fam *f;
	size_t n;
	double v;

	while (*p && *p != '{' && *p != ' ')
		p++;
	n = (size_t)(p - s);
	if (!name_ok(s, n, true))
		return fault(c, "bad metric name", s);
	if (strncmp(s, c->prefix, strlen(c->prefix)))
		return fault(c, "name without the prefix", s);
	f = fam_get(c, s, n, false);
	if (!f || !f->typed || !f->help)
		return fault(c, "sample before its # HELP and # TYPE", s);
	enter(c, f);
	f->has_samples = true;
	lab[0] = '\0';
	if (*p == '{' && !labels(c, &p, lab, sizeof(lab)))
		return 0;
	if (*p != ' ')
		return fault(c, "expected one space before the value", s);
	p++;
	sp = strchr(p, ' ');
	n = sp ? (size_t)(sp - p) : strlen(p);
	if (n >= sizeof(val))
		return fault(c, "value too long", s);
	memcpy(val, p, n);
	val[n] = '\0';
	if (!value_ok(val, &v))
		return fault(c, "bad value", s);
	if (sp) { /* a timestamp: integer milliseconds */
		const char *t = sp + 1;

		if (*t == '-')
			t++;
		if (!*t)
			return fault(c, "bad timestamp", s);
		for (; *t; t++)
			if (!isdigit((unsigned char)*t))
				return fault(c, "bad timestamp", s);
	}
	if (!strcmp(f->type, "counter") && v < 0)
		fault(c, "negative counter", s);
	snprintf(key, sizeof(key), "%s\x02%s", f->name, lab);
	if (c->n_series < MAX_SERIES) {
		c->series[c->n_series] = strdup(key);
		if (c->series[c->n_series])
			c->n_series++;
	}
	if (c->get_name[0] && !strcmp(f->name, c->get_name) && labels_include(lab, c->get_labels)) {
		c->get_sum += v;
		c->got = true;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void finish(struct checker *c)
{
	int i;

	for (i = 0; i < c->n_fams; i++)
		if (!c->fams[i].help || !c->fams[i].typed)
			c->faults++, fprintf(stderr, "family %s: no # %s\n", c->fams[i].name,
					     c->fams[i].help ? "TYPE" : "HELP");
	qsort(c->series, (size_t)c->n_series, sizeof(char *), cmp_str);
	for (i = 1; i < c->n_series; i++)
		if (!strcmp(c->series[i], c->series[i - 1]))
			c->faults++, fprintf(stderr, "series twice: %s\n", c->series[i]);
	for (i = 0; i < c->n_series; i++)
		free(c->series[i]);
	free(c->series);
}

static int check(FILE *in, const char *prefix, const char *get, double *sum, bool *got)
{
	static struct checker c;
	char buf[MAX_LINE + 2];

	memset(&c, 0, sizeof(c));
	c.prefix = prefix;
	c.cur = -1;
	c.series = calloc(MAX_SERIES, sizeof(char *));
	if (!c.series)
		return 2;
	if (get) {
		const char *b = strchr(get, '{');
		const char *p = b;

		snprintf(c.get_name, sizeof(c.get_name), "%.*s",
			 (int)(b ? (size_t)(b - get) : strlen(get)), get);
		if (b && !labels(&c, &p, c.get_labels, sizeof(c.get_labels)))
			return 2;
	}
	while (fgets(buf, sizeof(buf), in)) {
		size_t n = strlen(buf);

		c.line++;
		if (!n || buf[n - 1] != '\n') {
			fault(&c, "line too long or without a newline", NULL);
			break;
		}
		buf[--n] = '\0';
		if (!n) {
			fault(&c, "blank line", NULL);
			continue;
		}
		if (isspace((unsigned char)buf[0]) || isspace((unsigned char)buf[n - 1])) {
			fault(&c, "leading or trailing white space", buf);
			continue;
		}
		if (buf[0] == '#')
			comment(&c, buf);
		else
			sample_line(&c, buf);
	}
	if (!c.line)
		fault(&c, "empty document", NULL);
	finish(&c);
	if (sum)
		*sum = c.get_sum;
	if (got)
		*got = c.got;
	return c.faults ? 1 : 0;
}

static int check_str(const char *doc)
{
	FILE *f = fmemopen((void *)doc, strlen(doc), "r");
	int rc;

	if (!f)
		return 2;
	fprintf(stderr, "  ");
	rc = check(f, "xtcp_", NULL, NULL, NULL);
	fclose(f);
	return rc;
}

#define H(n, t) "# HELP " n " h\n# TYPE " n " " t "\n"

static int self_test(void)
{
	static const char *const good[] = {
		H("xtcp_a_total", "counter") "xtcp_a_total{x=\"1\"} 3\nxtcp_a_total{x=\"2\"} 0\n",
		H("xtcp_g", "gauge") "xtcp_g 1.5\n" H("xtcp_b_total", "counter"),
		H("xtcp_g", "gauge") "xtcp_g{a=\"q\\\"\\\\\\n\",b=\"\"} -2 1700000000000\n",
		H("xtcp_g", "gauge") "xtcp_g{a=\"1\",} NaN\n",
	};
	static const char *const bad[] = {
		"",
		"xtcp_a 1\n",						       /* no HELP/TYPE */
		H("xtcp_a", "gauge") "xtcp_a 1\n\n",			       /* blank line */
		H("xtcp_a", "gauge") "xtcp_a  1\n",			       /* two spaces */
		H("xtcp_a", "gauge") "xtcp_a 1x\n",			       /* value */
		H("xtcp_a", "gauge") "xtcp_a{b=1} 1\n",			       /* unquoted */
		H("xtcp_a", "gauge") "xtcp_a{b=\"\\x\"} 1\n",		       /* escape */
		H("xtcp_a", "gauge") "xtcp_a{b=\"1\",b=\"2\"} 1\n",	       /* label twice */
		H("xtcp_a", "gauge") "xtcp_a{b=\"1\"} 1\nxtcp_a{b=\"1\"} 2\n", /* series twice */
		H("xtcp_a", "gauge") H("xtcp_b", "gauge") "xtcp_a 1\n",	       /* not contiguous */
		H("xtcp_a", "counter") "xtcp_a 1\n",			/* counter w/o _total */
		H("xtcp_a_total", "counter") "xtcp_a_total -1\n",	/* negative counter */
		H("xtcp_a", "gauge") "xtcp_a 1\n# TYPE xtcp_a gauge\n", /* TYPE twice, late */
		H("xtcp_a", "meter") "xtcp_a 1\n",			/* type */
		H("other_a", "gauge") "other_a 1\n",			/* prefix */
		H("xtcp_a", "gauge") "# just a comment\nxtcp_a 1\n",	/* comment */
		H("xtcp_a", "gauge") "xtcp_a{__x=\"1\"} 1\n",		/* reserved */
		H("xtcp_a", "gauge") "xtcp_a 1 12a\n",			/* timestamp */
		H("xtcp_a", "gauge") "xtcp_a 1",			/* no newline */
		H("xtcp_a", "gauge") "xtcp_a{b=\"1\" 1\n",		/* unterminated */
		"# HELP xtcp_a h\nxtcp_a 1\n",				/* no TYPE */
	};
	unsigned i;
	int failed = 0, passed = 0;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (check_str(good[i]) == 0)
			passed++;
		else
			failed++, fprintf(stderr, "FAILED: good document %u rejected\n", i);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check_str(bad[i]) == 1)
			passed++;
		else
			failed++, fprintf(stderr, "FAILED: bad document %u accepted\n", i);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *prefix = "xtcp_", *get = NULL;
	double sum = 0;
	bool got = false;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--self-test"))
			return self_test();
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--get") && i + 1 < argc)
			get = argv[++i];
		else {
			fprintf(stderr,
				"usage: prom_check [--prefix P] [--get NAME{LABELS}] < FILE\n"
				"       prom_check --self-test\n");
			return 2;
		}
	}
	rc = check(stdin, prefix, get, &sum, &got);
	if (get) {
		if (!got) {
			fprintf(stderr, "prom_check: no sample matches %s\n", get);
			return rc ? rc : 1;
		}
		printf("%.0f\n", sum);
	}
	return rc;
}
