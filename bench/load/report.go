package load

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// WriteTable prints the human table of the report.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tendpoint\tauth\trequests\terrors\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tcpu ms/req\trss MB")
	for _, r := range rep.Results {
		cpu, rss := "-", "-"
		if r.HasProc {
			cpu = fmt.Sprintf("%.3f", float64(r.CPUPerOp)/float64(time.Millisecond))
			rss = fmt.Sprintf("%.1f", megabytes(r.RSSBytes))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Phase, r.Endpoint, r.Auth, r.Requests, r.Errors, r.Throughput(), ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), cpu, rss)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if len(rep.Windows) > 0 {
		fmt.Fprintln(w, "\nsoak windows (every scenario together):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "from\tto\trequests\terrors\tp50 ms\tp99 ms\tmax ms")
		for _, win := range rep.Windows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", win.Start.Round(time.Second), (win.Start + win.Length).Round(time.Second), win.Requests, win.Errors, ms(win.P50), ms(win.P99), ms(win.Max))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	if growth, ok := rep.RSSGrowth(); ok {
		fmt.Fprintf(w, "\nsoak rss: %.1f MB at the start (after the warm-up), %.1f MB at the end: %+.1f%%\n",
			megabytes(rep.SoakRSS.Start), megabytes(rep.SoakRSS.End), growth)
	}
	for _, r := range rep.Results {
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(w, "error %s %s: %s\n", r.Phase, r.Name(), s)
		}
	}
	return nil
}

func megabytes(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchName is the benchstat name of a result: sub-benchmark keys that
// benchstat's -filter and -row can pick (.name, /endpoint, /auth, /db).
func BenchName(r Result, db string) string {
	base := "BenchmarkLoad"
	switch r.Phase {
	case "cold":
		base = "BenchmarkLoadCold"
	case "soak":
		base = "BenchmarkLoadSoak"
	}
	return fmt.Sprintf("%s/endpoint=%s/auth=%s/db=%s", base, r.Endpoint, r.Auth, sanitize(db))
}

// sanitize keeps a name part free of the spaces and slashes that would
// split a benchmark name.
func sanitize(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' || r == '\t' {
			return '_'
		}
		return r
	}, s)
}

// WriteBenchstat writes the report in the Go benchmark format: a
// configuration header, then one line per result whose iteration count is
// the number of requests and whose ns/op is the phase's wall time per
// request (the inverse of the throughput). The other columns are custom
// units benchstat compares the same way.
func WriteBenchstat(w io.Writer, rep *Report, header map[string]string, order []string) error {
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "%s: %s\n", k, header[k])
	}
	for _, r := range rep.Results {
		nsPerOp := 0.0
		if r.Requests > 0 {
			nsPerOp = float64(r.Elapsed.Nanoseconds()) / float64(r.Requests)
		}
		fmt.Fprintf(&b, "%s\t%d\t%.0f ns/op\t%.2f req/s\t%.3f p50-ms\t%.3f p90-ms\t%.3f p99-ms\t%.3f max-ms\t%d errors",
			BenchName(r, rep.Config.DB), r.Requests, nsPerOp, r.Throughput(),
			msf(r.P50), msf(r.P90), msf(r.P99), msf(r.Max), r.Errors)
		if r.HasProc {
			fmt.Fprintf(&b, "\t%.4f cpu-ms/op\t%.1f rss-MB", msf(r.CPUPerOp), megabytes(r.RSSBytes))
		}
		b.WriteString("\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write benchstat lines: %w", err)
	}
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
