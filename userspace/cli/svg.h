/* svg.h — snapctl bench's chart, hand-written SVG with no dependencies.
 * Output only: it draws a finished result and never measures anything. */
#ifndef SNAPCTL_SVG_H
#define SNAPCTL_SVG_H

#include <stdio.h>
#include <snap/snap.h>

/* Writes the chart of res to out: time to ready per mode (median bar,
 * p5-p95 whisker, a dot per run; log scale when the spread is large) and
 * the phases of each restore mode's median run. command labels it.
 * Returns 0, or -EIO when out could not be written. */
int svg_write_bench(FILE *out, const struct snap_bench_result *res, const char *command);

#endif
