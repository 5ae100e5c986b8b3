package load

import (
	"context"
	"time"
)

// Window is the latency of every request of a soak run that started in
// [Start, Start+Length): a cache expiring into a burst mid-run would show
// as one window's p99 or max standing out.
type Window struct {
	Start, Length time.Duration
	Summary
}

// soakWindows is how many windows a soak run is cut into.
const soakWindows = 10

// soak runs the scenarios interleaved at cfg.Rate for cfg.Soak. The CPU
// time of one scenario cannot be told apart from another's in a mixed
// phase, so every row carries the phase's CPU time per request.
func (cfg *Config) soak(ctx context.Context, scs []*Scenario, rep *Report) error {
	before, err := cfg.readProc()
	if err != nil {
		return err
	}
	recs, errs, elapsed := runSoak(ctx, scs, cfg.Rate, cfg.Soak, cfg.Conns)
	after, err := cfg.readProc()
	if err != nil {
		return err
	}
	per := make([][]time.Duration, len(scs))
	failed := make([]int, len(scs))
	for _, r := range recs {
		per[r.scenario] = append(per[r.scenario], r.latency)
		if r.failed {
			failed[r.scenario]++
		}
	}
	for i, sc := range scs {
		res := Result{Phase: "soak", Endpoint: sc.Endpoint, Auth: sc.Auth}
		if sc.Check != nil {
			if err := sc.Check(ctx); err != nil {
				failed[i]++
				res.ErrorSamples = append(res.ErrorSamples, err.Error())
			}
		}
		res.Summary = Summarize(per[i], failed[i], elapsed)
		cfg.fillProc(&res, before, after, len(recs))
		cfg.progress(res)
		rep.Results = append(rep.Results, res)
	}
	if len(rep.Results) > 0 && len(errs.samples) > 0 {
		// The soak's error messages name their scenario; they go on the
		// first row so the report shows them once.
		rep.Results[0].ErrorSamples = append(rep.Results[0].ErrorSamples, errs.samples...)
	}
	rep.Windows = windows(recs, cfg.Soak, soakWindows)
	if cfg.Proc != nil {
		rep.SoakRSS.Start, rep.SoakRSS.End = before.RSSBytes, after.RSSBytes
	}
	return nil
}

// windows cuts the records of a run of length total into n windows.
func windows(recs []soakRecord, total time.Duration, n int) []Window {
	length := max(total/time.Duration(n), time.Millisecond)
	lat := make([][]time.Duration, n)
	failed := make([]int, n)
	for _, r := range recs {
		w := min(int(r.at/length), n-1)
		lat[w] = append(lat[w], r.latency)
		if r.failed {
			failed[w]++
		}
	}
	out := make([]Window, n)
	for i := range out {
		out[i] = Window{Start: time.Duration(i) * length, Length: length, Summary: Summarize(lat[i], failed[i], length)}
	}
	return out
}
