package main

import (
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchunit"
)

// write prints the comparison: one benchstat-style table per unit, then the
// benchmarks only one side has, then notes.
func (rep *report) write(w io.Writer) {
	fmt.Fprintf(w, "baseline: %s\nnew:      %s\n", rep.base.path, rep.cur.path)
	if rep.base.cpu != "" && rep.cur.cpu != "" && rep.base.cpu != rep.cur.cpu {
		fmt.Fprintf(w, "note: baseline cpu %q, new cpu %q: sec/op compares two machines\n", rep.base.cpu, rep.cur.cpu)
	}
	qualify := rep.packages() > 1
	for _, unit := range rep.units {
		fmt.Fprintln(w)
		fmt.Fprintln(w, unitHeader(unit, rep.rows[unit]))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "benchmark\tbaseline\tnew\tvs base\tgate\n")
		for _, r := range rep.rows[unit] {
			scale := benchunit.CommonScale([]float64{r.base.Center, r.cur.Center}, benchunit.ClassOf(unit))
			fmt.Fprintf(tw, "%s\t%s ± %s\t%s ± %s\t%s (%s)\t%s\n",
				displayName(r.pkg, r.name, qualify),
				scale.Format(r.base.Center), r.base.PctRangeString(),
				scale.Format(r.cur.Center), r.cur.PctRangeString(),
				r.cmp.FormatDelta(r.base.Center, r.cur.Center), r.cmp,
				gateCell(r))
		}
		_ = tw.Flush()
	}
	rep.writeList(w, "new benchmarks (not in the baseline, not gated)", rep.added, qualify)
	rep.writeList(w, "MISSING from the new run (in the baseline)", rep.missing, qualify)
	if len(rep.missingUnits) > 0 {
		fmt.Fprintln(w, "\nMISSING gated units (run with -benchmem / b.ReportAllocs):")
		for _, m := range rep.missingUnits {
			fmt.Fprintln(w, "  "+m)
		}
	}
	if len(rep.regressions) > 0 {
		fmt.Fprintln(w, "\nREGRESSIONS:")
		for _, r := range rep.regressions {
			fmt.Fprintf(w, "  %s %s: %s -> %s (%s, limit +%g%%)\n", displayName(r.pkg, r.name, qualify), r.unit,
				formatValue(r.base.Center, r.unit), formatValue(r.cur.Center, r.unit), formatIncrease(r.increase), r.limit)
		}
	}
	if len(rep.warnings) > 0 {
		fmt.Fprintln(w, "\nnotes from benchmath:")
		for _, msg := range rep.warnings {
			fmt.Fprintln(w, "  "+msg)
		}
	}
}

func unitHeader(unit string, rows []row) string {
	if len(rows) > 0 && rows[0].gated {
		return fmt.Sprintf("%s (gated: the median may rise by at most %g%%)", unit, rows[0].limit)
	}
	if unit == unitTime {
		return unit + " (not gated: time depends on the machine; compare it old-versus-new on one machine)"
	}
	return unit + " (not gated)"
}

func gateCell(r row) string {
	switch {
	case !r.gated:
		return "-"
	case r.regressed:
		return fmt.Sprintf("FAIL %s > +%g%%", formatIncrease(r.increase), r.limit)
	default:
		return "ok"
	}
}

func formatIncrease(pct float64) string {
	if math.IsInf(pct, 1) {
		return "+inf% (from 0)"
	}
	return fmt.Sprintf("%+.1f%%", pct)
}

func formatValue(v float64, unit string) string {
	return benchunit.CommonScale([]float64{v}, benchunit.ClassOf(unit)).Format(v)
}

func (rep *report) writeList(w io.Writer, title string, keys []string, qualify bool) {
	if len(keys) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, key := range keys {
		b := rep.base.benchmarks[key]
		if b == nil {
			b = rep.cur.benchmarks[key]
		}
		fmt.Fprintln(w, "  "+displayName(b.pkg, b.name, qualify))
	}
}

// packages counts the distinct packages among both files' benchmarks.
func (rep *report) packages() int {
	seen := map[string]bool{}
	for _, bf := range []*benchFile{rep.base, rep.cur} {
		for _, b := range bf.benchmarks {
			seen[b.pkg] = true
		}
	}
	return len(seen)
}

// displayName qualifies names with the last element of their package path
// when the files hold several packages.
func displayName(pkg, name string, qualify bool) string {
	if !qualify || pkg == "" {
		return name
	}
	return path.Base(strings.TrimSuffix(pkg, "/")) + "." + name
}
