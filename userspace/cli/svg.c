/* svg.c — snapctl bench's chart as hand-written SVG: bars per mode and the
 * phases of each restore. Output only; it must never compute a statistic. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

#define WIDTH 800
#define MARGIN 24
#define PLOT_X0 172.0
#define PLOT_X1 596.0
#define FONT "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', 'DejaVu Sans', Arial, sans-serif"
#define MONO "ui-monospace, 'SFMono-Regular', Menlo, Consolas, 'DejaVu Sans Mono', monospace"
#define INK "#1f2933"
#define INK_SOFT "#616e7c"
#define GRID "#e4e7eb"

static const char *const titles[SNAP_BENCH_MODE_COUNT] = {
	[SNAP_BENCH_COLD] = "cold start",
	[SNAP_BENCH_EAGER] = "eager restore",
	[SNAP_BENCH_LAZY] = "lazy restore",
	[SNAP_BENCH_LAZY_PREFETCH] = "lazy + prefetch",
};

static const char *const colors[SNAP_BENCH_MODE_COUNT] = {
	[SNAP_BENCH_COLD] = "#8d99ae",
	[SNAP_BENCH_EAGER] = "#3d5a80",
	[SNAP_BENCH_LAZY] = "#e76f51",
	[SNAP_BENCH_LAZY_PREFETCH] = "#2a9d8f",
};

#define PHASE_VALIDATE "#d5dbe3"
#define PHASE_CREATE "#9aa5b4"

/* ---- numbers without libm (snapctl does not link it) ---------------------- */

/* log10 for x > 0, to well below a pixel: x = m * 2^e, m in [0.5, 1),
 * ln m = 2 atanh((m - 1) / (m + 1)). */
static double log10_of(double x)
{
	int e;
	double m = frexp(x, &e), t = (m - 1) / (m + 1), t2 = t * t, term = t, sum = 0;

	for (int k = 1; k < 60; k += 2) {
		sum += term / k;
		term *= t2;
	}
	return (2 * sum + e * 0.69314718055994530942) / 2.30258509299404568402;
}

static double pow10_of(int k)
{
	double v = 1;

	for (; k > 0; k--)
		v *= 10;
	for (; k < 0; k++)
		v /= 10;
	return v;
}

static int floor_of(double x)
{
	int i = (int)x;

	return (double)i > x ? i - 1 : i;
}

static int ceil_of(double x)
{
	int i = (int)x;

	return (double)i < x ? i + 1 : i;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* "0.42", "7.31", "42.1", "196", "2,438": three figures or so. */
static void fmt_ms(char *buf, size_t size, double v)
{
	if (v >= 1000 && v < 1e9)
		snprintf(buf, size, "%ld,%03ld", (long)(v + 0.5) / 1000, (long)(v + 0.5) % 1000);
	else if (v >= 100)
		snprintf(buf, size, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%.2f", v);
}

/* Tick labels: "0.1", "2", "50", "1,000". */
static void fmt_tick(char *buf, size_t size, double v)
{
	if (v >= 1000 && v < 1e9) {
		long n = (long)(v + 0.5);
		if (n >= 1000000)
			snprintf(buf, size, "%ld,%03ld,%03ld", n / 1000000, n / 1000 % 1000, n % 1000);
		else
			snprintf(buf, size, "%ld,%03ld", n / 1000, n % 1000);
	} else if (v >= 1) {
		snprintf(buf, size, "%.0f", v);
	} else {
		snprintf(buf, size, "%g", v);
	}
}

static void put_escaped(FILE *out, const char *s, size_t max)
{
	size_t n = 0;

	for (; *s && n < max; s++, n++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		default:
			/* Control bytes are not allowed in XML 1.0. */
			fputc((unsigned char)*s < 0x20 ? ' ' : *s, out);
		}
	}
	if (*s)
		fputs("\xe2\x80\xa6", out); /* … */
}

/* ---- scales ---------------------------------------------------------------------- */

struct scale {
	bool log;
	double lo, hi; /* ms */
	double x0, x1; /* px */
};

static double scale_x(const struct scale *s, double v)
{
	double f;

	if (s->log) {
		if (v < s->lo)
			v = s->lo;
		f = (log10_of(v) - log10_of(s->lo)) / (log10_of(s->hi) - log10_of(s->lo));
	} else {
		f = v / s->hi;
	}
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return s->x0 + f * (s->x1 - s->x0);
}

/* A linear scale from 0 whose end is a round number above hi. */
static void scale_linear(struct scale *s, double hi, double *ret_step)
{
	double raw, mag, step;

	if (hi <= 0)
		hi = 1;
	raw = hi / 5;
	mag = pow10_of(floor_of(log10_of(raw)));
	step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
	s->log = false;
	s->lo = 0;
	s->hi = ceil_of(hi / step - 1e-9) * step;
	*ret_step = step;
}

/* The nearest 1, 2 or 5 x 10^k at or below v (down) or above it. */
static double round125(double v, bool down)
{
	static const double steps[] = { 1, 2, 5, 10 };
	double d = pow10_of(floor_of(log10_of(v) + 1e-9));

	if (down) {
		for (int i = 3; i >= 0; i--)
			if (steps[i] * d <= v * (1 + 1e-9))
				return steps[i] * d;
		return d;
	}
	for (int i = 0; i < 4; i++)
		if (steps[i] * d >= v * (1 - 1e-9))
			return steps[i] * d;
	return 10 * d;
}

/* A log scale from a 1-2-5 number below lo to one above hi. */
static void scale_log(struct scale *s, double lo, double hi)
{
	s->log = true;
	s->lo = round125(lo, true);
	s->hi = round125(hi, false);
	if (s->hi <= s->lo)
		s->hi = s->lo * 10;
}

/* Grid lines from y0 to y1, tick labels below y1, the axis title under them. */
static void draw_axis(FILE *out, const struct scale *s, double step, double y0, double y1, const char *title)
{
	char label[32];

	fprintf(out, "<g class=\"axis\">\n");
	if (s->log) {
		/* Lines at 1, 2 and 5 of each decade, labelled while they fit. */
		double decades = log10_of(s->hi) - log10_of(s->lo);
		for (double d = pow10_of(floor_of(log10_of(s->lo) + 1e-9)); d <= s->hi * 1.0001; d *= 10) {
			static const int steps[] = { 1, 2, 5 };
			for (int k = 0; k < 3; k++) {
				double v = d * steps[k], x;
				if (v < s->lo * 0.9999 || v > s->hi * 1.0001)
					continue;
				x = scale_x(s, v);
				fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, y0,
					x, y1, steps[k] == 1 ? "#cfd5dc" : GRID);
				if (steps[k] != 1 && decades > 4)
					continue;
				fmt_tick(label, sizeof(label), v);
				fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"tick\">%s</text>\n", x,
					y1 + 15, label);
			}
		}
	} else {
		for (double v = 0; v <= s->hi + step / 1000; v += step) {
			double x = scale_x(s, v);
			fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, y0, x, y1,
				v == 0 ? "#cfd5dc" : GRID);
			fmt_tick(label, sizeof(label), v);
			fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"tick\">%s</text>\n", x,
				y1 + 15, label);
		}
	}
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"note\">%s</text>\n",
		(s->x0 + s->x1) / 2, y1 + 33, title);
	fprintf(out, "</g>\n");
}

/* ---- the chart -------------------------------------------------------------------- */

static bool shown(const struct snap_bench_result *res, int m)
{
	return res->modes & (1u << m);
}

static bool drawable(const struct snap_bench_result *res, int m)
{
	return shown(res, m) && res->summary[m].available && res->summary[m].ready.count;
}

/* Time to ready: one row per mode. Returns the y below the section. */
static double draw_ready(FILE *out, const struct snap_bench_result *res, double y)
{
	const double row = 42, bar = 20;
	const struct snap_bench_summary *cold = &res->summary[SNAP_BENCH_COLD];
	struct scale s = { .x0 = PLOT_X0, .x1 = PLOT_X1 };
	double lo = 0, hi = 0, step = 0, top, rows = 0;
	char a[32], b[32];

	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++) {
		if (!drawable(res, m))
			continue;
		double v0 = ms(res->summary[m].ready.min), v1 = ms(res->summary[m].ready.max);
		lo = lo == 0 || v0 < lo ? v0 : lo;
		hi = v1 > hi ? v1 : hi;
	}
	if (lo > 0 && hi / lo > 20)
		scale_log(&s, lo, hi);
	else
		scale_linear(&s, hi, &step);

	fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"h2\">Time to ready</text>\n", MARGIN, y);
	fprintf(out,
		"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"note\">bar: median · whisker: p5–p95 · dots: each run</text>\n",
		WIDTH - MARGIN, y);
	top = y + 14;
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++)
		rows += shown(res, m);
	draw_axis(out, &s, step, top, top + rows * row + 4, s.log ? "milliseconds (log scale)" : "milliseconds");

	y = top;
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++) {
		const struct snap_bench_summary *sum = &res->summary[m];
		double cy = y + row / 2;

		if (!shown(res, m))
			continue;
		fprintf(out, "<g class=\"mode%s\" data-mode=\"%s\">\n", drawable(res, m) ? "" : " unavailable",
			snap_bench_mode_name((enum snap_bench_mode)m));
		fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"label\">%s</text>\n", MARGIN, cy + 5, titles[m]);
		if (!drawable(res, m)) {
			fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"missing\">%s</text>\n</g>\n", PLOT_X0 + 8, cy + 4,
				sum->available ? "no run reached ready" : "not available in this build");
			y += row;
			continue;
		}
		double xm = scale_x(&s, ms(sum->ready.median)), x5 = scale_x(&s, ms(sum->ready.p5)),
		       x95 = scale_x(&s, ms(sum->ready.p95));
		fmt_ms(a, sizeof(a), ms(sum->ready.median));
		fprintf(out,
			"<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"3\" fill=\"%s\"><title>%s: median %s ms</title></rect>\n",
			PLOT_X0, cy - bar / 2, xm - PLOT_X0 < 1 ? 1 : xm - PLOT_X0, bar, colors[m], titles[m], a);
		fprintf(out, "<g class=\"whisker\" stroke=\"%s\" stroke-width=\"1.5\">", INK);
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x5, cy, x95, cy);
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x5, cy - 6, x5, cy + 6);
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/></g>\n", x95, cy - 6, x95, cy + 6);
		for (uint32_t i = 0; i < res->nr_runs; i++) {
			const struct snap_bench_run *r = &res->runs[i];
			if (r->mode != (enum snap_bench_mode)m || r->ready_ns == SNAP_BENCH_NA)
				continue;
			fmt_ms(b, sizeof(b), ms(r->ready_ns));
			fprintf(out,
				"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.4\" fill=\"%s\" fill-opacity=\"0.5\"><title>run %u: %s ms</title></circle>\n",
				scale_x(&s, ms(r->ready_ns)), cy + (double)((int)(r->index % 3) - 1) * 3.5, INK, r->index + 1,
				b);
		}
		/* The label goes right of everything drawn in the row. */
		double xl = scale_x(&s, ms(sum->ready.max));
		xl = (xl > x95 ? xl : x95) + 10;
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"value\" xml:space=\"preserve\">%s ms", xl, cy + 5, a);
		if (m != SNAP_BENCH_COLD && drawable(res, SNAP_BENCH_COLD) && sum->ready.median) {
			double f = (double)cold->ready.median / (double)sum->ready.median;
			fprintf(out, "<tspan class=\"soft\">  ·  %.*f× %s</tspan>", f < 10 ? 1 : 0, f >= 1 ? f : 1 / f,
				f >= 1 ? "faster" : "slower");
		}
		fprintf(out, "</text>\n</g>\n");
		y += row;
	}
	return y + 4 + 33 + 44;
}

/* Restore phases of each restore mode's median run. Returns the y below. */
static double draw_phases(FILE *out, const struct snap_bench_result *res, double y)
{
	const double row = 62, bar = 16;
	struct scale s = { .x0 = PLOT_X0, .x1 = PLOT_X1 };
	double hi = 0, step, top, x;
	int rows = 0;
	char a[32], b[32], c[32], d[32], e[32];

	for (int m = SNAP_BENCH_EAGER; m < SNAP_BENCH_MODE_COUNT; m++) {
		if (!drawable(res, m) || res->summary[m].median_run < 0)
			continue;
		const struct snap_bench_run *r = &res->runs[res->summary[m].median_run];
		hi = ms(r->ready_ns) > hi ? ms(r->ready_ns) : hi;
		if (r->pages_in_ns != SNAP_BENCH_NA && ms(r->pages_in_ns) > hi)
			hi = ms(r->pages_in_ns);
		rows++;
	}
	if (!rows)
		return y;
	scale_linear(&s, hi, &step);

	fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"h2\">Inside a restore <tspan class=\"note\">(the median run of each mode)</tspan></text>\n",
		MARGIN, y);
	/* The legend. */
	static const struct {
		const char *fill, *label;
		double opacity;
	} legend[] = {
		{ PHASE_VALIDATE, "validate", 1 },
		{ PHASE_CREATE, "create the process", 1 },
		{ "#52606d", "running until ready", 1 },
		{ "#52606d", "pages still arriving", 0.3 },
	};
	x = MARGIN;
	for (size_t i = 0; i < sizeof(legend) / sizeof(legend[0]); i++) {
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"%s\" rx=\"2\" fill=\"%s\" fill-opacity=\"%.2f\"/>\n",
			x, y + 12 + (i == 3 ? 4 : 0), i == 3 ? "5" : "12", legend[i].fill, legend[i].opacity);
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"note\">%s</text>\n", x + 17, y + 22, legend[i].label);
		x += 17 + 6.4 * (double)strlen(legend[i].label) + 20;
	}
	fprintf(out, "<g><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>", x + 6,
		y + 11, x + 6, y + 25, INK);
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"note\">first instruction, ready</text></g>\n", x + 13, y + 22);

	top = y + 44;
	draw_axis(out, &s, step, top, top + rows * row, "milliseconds from the start of the restore");
	y = top;
	for (int m = SNAP_BENCH_EAGER; m < SNAP_BENCH_MODE_COUNT; m++) {
		if (!drawable(res, m) || res->summary[m].median_run < 0)
			continue;
		const struct snap_bench_run *r = &res->runs[res->summary[m].median_run];
		double by = y + 12, fi = ms(r->first_instruction_ns), ready = ms(r->ready_ns);
		double xv = scale_x(&s, ms(r->validate_ns)), xf = scale_x(&s, fi), xr = scale_x(&s, ready);

		fprintf(out, "<g class=\"phases\" data-mode=\"%s\">\n", snap_bench_mode_name((enum snap_bench_mode)m));
		fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"label\">%s</text>\n", MARGIN, by + 12, titles[m]);
		/* Each phase at least a hairline, so a fast one is still seen. */
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>validate</title></rect>\n",
			PLOT_X0, by, xv - PLOT_X0 < 1 ? 1 : xv - PLOT_X0, bar, PHASE_VALIDATE);
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>create</title></rect>\n",
			xv, by, xf - xv < 1 ? 1 : xf - xv, bar, PHASE_CREATE);
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>running until ready</title></rect>\n",
			xf, by, xr - xf < 1 ? 1 : xr - xf, bar, colors[m]);
		if (r->pages_in_ns != SNAP_BENCH_NA && r->pages_in_ns > r->first_instruction_ns) {
			double xp = scale_x(&s, ms(r->pages_in_ns));
			fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"5\" rx=\"1\" fill=\"%s\" fill-opacity=\"0.3\"><title>pages arriving</title></rect>\n",
				xf, by + bar + 3, xp - xf < 1 ? 1 : xp - xf, colors[m]);
			fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\"/>\n", xp,
				by + bar + 1, xp, by + bar + 10, colors[m]);
		}
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", xf,
			by - 4, xf, by + bar + 4, INK);
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", xr,
			by - 4, xr, by + bar + 4, INK);

		fmt_ms(a, sizeof(a), ms(r->validate_ns));
		fmt_ms(b, sizeof(b), ms(r->create_ns));
		fmt_ms(c, sizeof(c), fi);
		fmt_ms(d, sizeof(d), ready);
		if (m == SNAP_BENCH_EAGER)
			snprintf(e, sizeof(e), "before the first instruction");
		else if (r->pages_in_ns == SNAP_BENCH_NA)
			snprintf(e, sizeof(e), "n/a");
		else
			fmt_ms(e, sizeof(e), ms(r->pages_in_ns));
		fprintf(out,
			"<text x=\"%.1f\" y=\"%.1f\" class=\"detail\">validate %s · create %s · first instruction <tspan class=\"strong\">%s</tspan> · ready <tspan class=\"strong\">%s</tspan> · all pages in %s%s</text>\n",
			PLOT_X0, by + bar + 24, a, b, c, d, e, e[0] >= '0' && e[0] <= '9' ? " ms" : "");
		fprintf(out, "</g>\n");
		y += row;
	}
	return y + 33 + 34;
}

int svg_write_bench(FILE *file, const struct snap_bench_result *res, const char *command)
{
	char *body = NULL;
	size_t body_len = 0;
	double y, height;
	FILE *out;

	/* The body first, into memory: the height is known at its end. */
	out = open_memstream(&body, &body_len);
	if (!out)
		return -ENOMEM;

	fprintf(out, "<style>\n"
		     "text { fill: " INK "; font-size: 13px; font-variant-numeric: tabular-nums; }\n"
		     ".h1 { font-size: 20px; font-weight: 700; }\n"
		     ".h2 { font-size: 15px; font-weight: 600; }\n"
		     ".label { font-size: 13.5px; font-weight: 600; }\n"
		     ".value { font-size: 13px; font-weight: 600; }\n"
		     ".soft, .note, .tick, .detail, .missing { fill: " INK_SOFT "; font-weight: 400; }\n"
		     ".note, .detail { font-size: 11.5px; }\n"
		     ".tick { font-size: 11px; }\n"
		     ".missing { font-size: 12.5px; font-style: italic; }\n"
		     ".strong { fill: " INK "; font-weight: 600; }\n"
		     ".cmd { font-family: " MONO "; font-size: 12px; fill: " INK_SOFT "; }\n"
		     "</style>\n");
	fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	fprintf(out, "<text x=\"%d\" y=\"38\" class=\"h1\">Cold start vs restore</text>\n", MARGIN);
	fprintf(out, "<text x=\"%d\" y=\"60\" class=\"cmd\">$ ", MARGIN);
	put_escaped(out, command, 96);
	fprintf(out, "</text>\n<text x=\"%d\" y=\"78\" class=\"note\">%u runs per mode, interleaved", MARGIN,
		res->runs_per_mode);
	if (res->capture.pid)
		fprintf(out, " · snapshot of %.0f MiB (%.0f MiB stored), taken %.0f ms after start",
			(double)res->capture.bytes_memory / 1048576.0, (double)res->capture.bytes_stored / 1048576.0,
			ms(res->snapshot_point_ns));
	fprintf(out, "</text>\n");

	y = draw_ready(out, res, 116);
	y = draw_phases(out, res, y);
	fprintf(out,
		"<text x=\"%d\" y=\"%.1f\" class=\"note\">Every time runs from fork (cold start) or from the call to restore, to the workload's own \"ready\".</text>\n",
		MARGIN, y);
	height = y + 18;
	if (fclose(out) != 0) {
		free(body);
		return -ENOMEM;
	}

	fprintf(file, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(file,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" font-family=\"%s\">\n",
		WIDTH, height, WIDTH, height, FONT);
	fwrite(body, 1, body_len, file);
	fprintf(file, "</svg>\n");
	free(body);
	return ferror(file) ? -EIO : 0;
}
