package covergate

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Exit codes of the command.
const (
	ExitOK    = 0 // every gated package passed
	ExitBelow = 1 // some gated package is below its threshold or missing
	ExitUsage = 2 // bad flags, unreadable profile or sources
)

// overrideFlag collects repeated -min PKG=PERCENT flags.
type overrideFlag map[string]float64

func (o overrideFlag) String() string {
	parts := make([]string, 0, len(o))
	for k, v := range o {
		parts = append(parts, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
	}
	return strings.Join(parts, ",")
}

func (o overrideFlag) Set(s string) error {
	pkg, pct, ok := strings.Cut(s, "=")
	if !ok || pkg == "" {
		return fmt.Errorf("want PACKAGE=PERCENT (e.g. services/kms/httpapi=85), got %q", s)
	}
	v, err := parsePercent(pct)
	if err != nil {
		return err
	}
	o[strings.TrimPrefix(pkg, "./")] = v
	return nil
}

func parsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || v < 0 || v > 100 || math.IsNaN(v) {
		return 0, fmt.Errorf("percent %q: want a number from 0 to 100", s)
	}
	return v, nil
}

// percentFlag is a threshold flag validated at parse time.
type percentFlag float64

func (p *percentFlag) String() string { return strconv.FormatFloat(float64(*p), 'g', -1, 64) }
func (p *percentFlag) Set(s string) error {
	v, err := parsePercent(s)
	*p = percentFlag(v)
	return err
}

// Run is the covergate command: covergate [flags] PROFILE...
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("covergate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	threshold := percentFlag(80)
	overrides := overrideFlag{}
	root := fs.String("root", ".", "module root (holds go.mod); sources are read from here to exclude generated files")
	fs.Var(&threshold, "threshold", "default minimum statement coverage per gated package, in percent")
	fs.Var(overrides, "min", "per-package threshold PACKAGE=PERCENT (repeatable; PACKAGE/... for a subtree; longest match wins)")
	gated := fs.String("gate", "services/,testkit/", "comma-separated module-relative path prefixes whose packages are gated")
	thin := fs.Int("thin-main", defaultThinMain, "a main package with at most this many statements is exempt (-1: no exemption)")
	all := fs.Bool("all", false, "also list packages that are not gated")
	allowMissing := fs.Bool("allow-missing", false, "accept gated packages with code that are absent from the profile")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: covergate [flags] PROFILE...")
		fmt.Fprintln(stderr, "Reads go test -coverprofile output (several files merge; repeated blocks keep the max count)")
		fmt.Fprintln(stderr, "and fails when a gated package is below its threshold.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "covergate: no coverage profile given")
		fs.Usage()
		return ExitUsage
	}
	prof := NewProfile()
	for _, name := range fs.Args() {
		if err := readProfileFile(prof, name); err != nil {
			fmt.Fprintf(stderr, "covergate: %v\n", err)
			return ExitUsage
		}
	}
	pol := Policy{
		Root:         *root,
		Threshold:    float64(threshold),
		Overrides:    overrides,
		ThinMain:     *thin,
		AllowMissing: *allowMissing,
	}
	for _, g := range strings.Split(*gated, ",") {
		if g = strings.TrimSpace(g); g != "" {
			pol.Gated = append(pol.Gated, g)
		}
	}
	res, err := Evaluate(prof, pol)
	if err != nil {
		fmt.Fprintf(stderr, "covergate: %v\n", err)
		return ExitUsage
	}
	if err := WriteReport(stdout, res, *all); err != nil {
		fmt.Fprintf(stderr, "covergate: %v\n", err)
		return ExitUsage
	}
	if len(res.FailedPackages()) > 0 {
		return ExitBelow
	}
	return ExitOK
}

func readProfileFile(p *Profile, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("open profile: %w", err)
	}
	defer f.Close()
	return p.Read(f, name)
}

// floor1 truncates to one decimal so 79.99% prints as 79.9%, never 80.0%.
func floor1(v float64) float64 { return math.Floor(v*10) / 10 }

// WriteReport prints the per-package table and the verdict.
func WriteReport(w io.Writer, res *Result, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tSTATEMENTS\tCOVERED\tPERCENT\tMIN\tSTATUS")
	gated := 0
	for _, p := range res.Packages {
		if p.Status == StatusUngated && !all {
			continue
		}
		if p.Status != StatusUngated {
			gated++
		}
		stmts, covered, pct := strconv.Itoa(p.Statements), strconv.Itoa(p.Covered), fmt.Sprintf("%.1f%%", floor1(p.Percent()))
		if p.Status == StatusMissing {
			stmts, covered, pct = "?", "?", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%g%%\t%s\n", p.Package, stmts, covered, pct, p.Threshold, p.Status)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	pol := res.Policy
	fmt.Fprintf(w, "\npolicy: each package under %s needs >= %g%% statement coverage", strings.Join(pol.Gated, ", "), pol.Threshold)
	if len(pol.Overrides) > 0 {
		fmt.Fprintf(w, " (overrides: %s)", overrideFlag(pol.Overrides))
	}
	fmt.Fprintf(w, ";\n        generated files (// Code generated ... DO NOT EDIT.) are excluded: %d file(s)", len(res.Generated))
	if pol.ThinMain >= 0 {
		fmt.Fprintf(w, ";\n        a main package with <= %d statements is a thin main (exempt): its logic must live in a tested library; a bigger main counts", pol.ThinMain)
	} else {
		fmt.Fprint(w, ";\n        main packages count like any other")
	}
	fmt.Fprintln(w)
	failed := res.FailedPackages()
	if len(failed) == 0 {
		fmt.Fprintf(w, "coverage gate: PASS (%d gated packages)\n", gated)
		return nil
	}
	names := make([]string, 0, len(failed))
	for _, p := range failed {
		if p.Status == StatusMissing {
			names = append(names, p.Package+" (missing from profile)")
			continue
		}
		names = append(names, fmt.Sprintf("%s (%.1f%% < %g%%)", p.Package, floor1(p.Percent()), p.Threshold))
	}
	fmt.Fprintf(w, "coverage gate: FAIL: %d of %d gated packages below threshold: %s\n", len(failed), gated, strings.Join(names, ", "))
	return nil
}
