package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"

	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchunit"
)

// abAlpha is the significance level of the A/B comparison: benchstat's
// default. A slowdown fails only when the Mann-Whitney U test says the two
// samples differ with p below it.
const abAlpha = 0.05

// defaultTimeLimit is the default largest accepted slowdown of the A/B
// comparison, in percent. On a 2-core machine loaded six times over, the
// medians of two builds of the same code differed by under 5% for the
// self-tests' spin and by up to 12% for the endpoint benchmarks; 15%
// leaves that noise out and still fails a change that makes a request
// cost a sixth more.
const defaultTimeLimit = 15

// abRow is the A/B comparison of one benchmark's time.
type abRow struct {
	name       string
	base, head benchmath.Summary
	cmp        benchmath.Comparison
	increase   float64 // of the median, in percent
	slower     bool    // significantly and by more than the limit: fails the gate
}

// decide compares the time per op samples of one benchmark, base against
// head.
// Head fails only when both hold: the samples differ significantly (p <
// abAlpha) and head's median is more than limit percent above base's. The
// first keeps noise out (a large but insignificant difference is a
// scheduler hiccup in a few rounds), the second keeps out real but small
// differences no one should have to justify.
func decide(name string, base, head []float64, limit float64) abRow {
	thresholds := benchmath.DefaultThresholds
	thresholds.CompareAlpha = abAlpha
	s1 := benchmath.NewSample(slices.Clone(base), &thresholds)
	s2 := benchmath.NewSample(slices.Clone(head), &thresholds)
	r := abRow{
		name: name,
		base: benchmath.AssumeNothing.Summary(s1, confidence),
		head: benchmath.AssumeNothing.Summary(s2, confidence),
		cmp:  benchmath.AssumeNothing.Compare(s1, s2),
	}
	r.increase = increase(r.base.Center, r.head.Center)
	r.slower = r.cmp.P < abAlpha && r.increase > limit+1e-9
	return r
}

// abReport is the outcome of an A/B run.
type abReport struct {
	rows     []abRow  // benchmarks both sides ran, in base order
	onlyBase []string // benchmarks the head no longer has: listed, not gated
	onlyHead []string // new benchmarks: listed, not gated
	limit    float64
	failures int
	warnings []string
}

// compareAB gates the head's time samples against the base's; an
// infinite limit compares without gating.
func compareAB(base, head *benchFile, limit float64) *abReport {
	rep := &abReport{limit: limit}
	for _, key := range base.order {
		b := base.benchmarks[key]
		h, ok := head.benchmarks[key]
		if !ok {
			rep.onlyBase = append(rep.onlyBase, b.name)
			continue
		}
		if len(b.values[unitTime]) == 0 || len(h.values[unitTime]) == 0 {
			continue // cannot happen for go test -bench output: every line has ns/op
		}
		r := decide(b.name, b.values[unitTime], h.values[unitTime], limit)
		if r.slower {
			rep.failures++
		}
		rep.rows = append(rep.rows, r)
		for _, l := range [][]error{r.base.Warnings, r.head.Warnings, r.cmp.Warnings} {
			for _, w := range l {
				if msg := w.Error(); !slices.Contains(rep.warnings, msg) {
					rep.warnings = append(rep.warnings, msg)
				}
			}
		}
	}
	for _, key := range head.order {
		if _, ok := base.benchmarks[key]; !ok {
			rep.onlyHead = append(rep.onlyHead, head.benchmarks[key].name)
		}
	}
	return rep
}

// write prints a benchstat-style table under title: median ± 95%
// confidence range of each side, the delta with its p-value, and the
// gate's verdict.
func (rep *abReport) write(w io.Writer, title string) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "benchmark\tbase\thead\tvs base\tgate\n")
	for _, r := range rep.rows {
		scale := benchunit.CommonScale([]float64{r.base.Center, r.head.Center}, benchunit.Decimal)
		fmt.Fprintf(tw, "%s\t%s ± %s\t%s ± %s\t%s (%s)\t%s\n", r.name,
			scale.Format(r.base.Center), r.base.PctRangeString(),
			scale.Format(r.head.Center), r.head.PctRangeString(),
			r.cmp.FormatDelta(r.base.Center, r.head.Center), r.cmp, r.verdict(rep.limit))
	}
	_ = tw.Flush()
	writeNames(w, "only in base (not gated)", rep.onlyBase)
	writeNames(w, "only in head (not gated)", rep.onlyHead)
	if len(rep.warnings) > 0 {
		fmt.Fprintln(w, "\nnotes from benchmath:")
		for _, msg := range rep.warnings {
			fmt.Fprintln(w, "  "+msg)
		}
	}
}

func (r abRow) verdict(limit float64) string {
	switch {
	case math.IsInf(limit, 1):
		return "-"
	case r.slower:
		return fmt.Sprintf("FAIL %s > +%g%%", formatIncrease(r.increase), limit)
	case r.increase > limit:
		return "ok (not significant)"
	default:
		return "ok"
	}
}

func writeNames(w io.Writer, title string, names []string) {
	if len(names) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, n := range names {
		fmt.Fprintln(w, "  "+n)
	}
}
