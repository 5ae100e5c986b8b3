package main

import (
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

// confidence of the printed ranges, as benchstat prints them.
const confidence = 0.95

// row compares one unit of one benchmark present in both files.
type row struct {
	pkg, name, unit string
	base, cur       benchmath.Summary
	cmp             benchmath.Comparison
	gated           bool
	limit           float64 // largest accepted increase in percent, if gated
	increase        float64 // of the median, in percent; +Inf when the baseline median is 0 and the new one is not
	regressed       bool
}

// report is the outcome of comparing a new run with the baseline.
type report struct {
	base, cur    *benchFile
	units        []string         // units with rows, in print order
	rows         map[string][]row // by unit, in baseline order
	common       []string         // keys in both files
	added        []string         // keys only in the new run: listed, not gated
	missing      []string         // keys only in the baseline: a failure unless allowed
	missingUnits []string         // "name: unit" for a gated unit the baseline has and the run lacks
	regressions  []row
	warnings     []string // benchmath warnings (e.g. too few samples), deduplicated
}

// compare gates cur against base with the given limits; units that
// limits does not gate are compared and printed only.
func compare(base, cur *benchFile, lim limits) *report {
	rep := &report{base: base, cur: cur, rows: map[string][]row{}}
	for _, key := range base.order {
		b, ok := cur.benchmarks[key]
		if !ok {
			rep.missing = append(rep.missing, key)
			continue
		}
		rep.common = append(rep.common, key)
		old := base.benchmarks[key]
		for _, unit := range old.units {
			limit, gated := lim.limitFor(unit)
			newValues, ok := b.values[unit]
			if !ok {
				if gated {
					rep.missingUnits = append(rep.missingUnits, old.name+": "+unit)
				}
				continue
			}
			r := compareUnit(base, old, newValues, unit)
			r.gated, r.limit = gated, limit
			// A small tolerance keeps float rounding (10*1.1) from turning
			// an increase of exactly the limit into a failure.
			r.regressed = gated && r.increase > limit+1e-9
			if r.regressed {
				rep.regressions = append(rep.regressions, r)
			}
			if _, seen := rep.rows[unit]; !seen {
				rep.units = append(rep.units, unit)
			}
			rep.rows[unit] = append(rep.rows[unit], r)
			rep.addWarnings(r.base.Warnings, r.cur.Warnings, r.cmp.Warnings)
		}
	}
	for _, key := range cur.order {
		if _, ok := base.benchmarks[key]; !ok {
			rep.added = append(rep.added, key)
		}
	}
	slices.SortStableFunc(rep.units, func(a, b string) int { return unitRank(a) - unitRank(b) })
	return rep
}

// compareUnit summarises both samples under the unit's distributional
// assumption (benchstat's: none, unless the file declares "assume=exact")
// and computes the increase of the median.
func compareUnit(base *benchFile, old *benchmark, newValues []float64, unit string) row {
	assume := base.units.GetAssumption(unit)
	s1 := benchmath.NewSample(slices.Clone(old.values[unit]), &benchmath.DefaultThresholds)
	s2 := benchmath.NewSample(slices.Clone(newValues), &benchmath.DefaultThresholds)
	r := row{
		pkg:  old.pkg,
		name: old.name,
		unit: unit,
		base: assume.Summary(s1, confidence),
		cur:  assume.Summary(s2, confidence),
		cmp:  assume.Compare(s1, s2),
	}
	r.increase = increase(r.base.Center, r.cur.Center)
	return r
}

// increase is the relative change from old to new in percent. From zero,
// any growth is infinite: a path that did not allocate now does.
func increase(old, new float64) float64 {
	switch {
	case old == new:
		return 0
	case old == 0:
		return math.Inf(1)
	default:
		return (new - old) / math.Abs(old) * 100
	}
}

// unitRank orders the tables as benchstat does: time, bytes, allocations,
// then custom metrics.
func unitRank(unit string) int {
	switch unit {
	case unitTime:
		return 0
	case unitBytes:
		return 1
	case unitAllocs:
		return 2
	default:
		return 3
	}
}

func (rep *report) addWarnings(lists ...[]error) {
	for _, l := range lists {
		for _, w := range l {
			if msg := w.Error(); !slices.Contains(rep.warnings, msg) {
				rep.warnings = append(rep.warnings, msg)
			}
		}
	}
}

// failures counts what fails the gate: regressions, gated units the run no
// longer reports, and (unless allowed) baseline benchmarks the run lacks.
func (rep *report) failures(allowMissing bool) int {
	n := len(rep.regressions) + len(rep.missingUnits)
	if !allowMissing {
		n += len(rep.missing)
	}
	return n
}
