package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of a run: what was sent, what was injected, the
// invariants and the figures.
type Report struct {
	Started    time.Time              `json:"started"`
	Duration   string                 `json:"duration"`
	Users      int                    `json:"users"`
	Requests   map[Kind]*RequestCount `json:"requests"`
	Total      int                    `json:"total_requests"`
	Faults     map[string]*FaultCount `json:"faults"`
	Invariants []InvariantResult      `json:"invariants"`
	Audit      AuditResult            `json:"audit"`
	// Unexplained counts live sessions refused without a known cause.
	Unexplained map[Kind]int `json:"unexplained_refusals"`
	LatencyIn   Latency      `json:"latency_in_faults"`
	LatencyOut  Latency      `json:"latency_out_of_faults"`
	// Recovery is, by fault kind, the time from the end of each fault to
	// the first 2xx login, refresh and me (the slowest of the three) on
	// an instance it affected.
	Recovery map[string]*Recovery `json:"recovery"`
}

// RequestCount counts the answers to one kind of request.
type RequestCount struct {
	Total     int `json:"total"`
	OK        int `json:"2xx"`
	Client    int `json:"4xx"`
	Limited   int `json:"429"`
	Unavail   int `json:"503"`
	Server    int `json:"other_5xx"`
	NoAnswer  int `json:"no_answer"`
	Refused   int `json:"401_403"`
	Conflicts int `json:"409"`
}

// FaultCount counts the faults of one kind.
type FaultCount struct {
	Count int    `json:"count"`
	Total string `json:"total_time"`
	total time.Duration
}

// InvariantResult is one invariant's count of violations and the first
// of them.
type InvariantResult struct {
	Name       Invariant `json:"name"`
	Violations int       `json:"violations"`
	Examples   []string  `json:"examples,omitempty"`
}

// Latency summarises request latencies.
type Latency struct {
	Count int    `json:"count"`
	P50   string `json:"p50"`
	P99   string `json:"p99"`
	Max   string `json:"max"`
}

// Recovery summarises the recovery times of one fault kind.
type Recovery struct {
	Faults []string `json:"each"`
	Median string   `json:"median"`
	Max    string   `json:"max"`
	// Unrecovered counts faults after which one of the three requests
	// never succeeded on the instance before the run ended.
	Unrecovered int `json:"unrecovered"`
}

// report computes the figures of the run; call it after CheckAudit.
func (c *Checker) report(started time.Time, users int, audit AuditResult) *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &Report{
		Started: started, Duration: time.Since(started).Round(time.Second).String(), Users: users,
		Requests: map[Kind]*RequestCount{}, Faults: map[string]*FaultCount{}, Audit: audit,
		Unexplained: c.unexplained, Recovery: map[string]*Recovery{},
	}
	all := c.allViolations()
	for _, inv := range Invariants {
		v := all[inv]
		ir := InvariantResult{Name: inv, Violations: len(v)}
		ir.Examples = v[:min(len(v), 10)]
		r.Invariants = append(r.Invariants, ir)
	}
	// Fault windows, with the downtime of killed instances.
	var windows []Window
	for _, f := range c.faults {
		fc := r.Faults[f.Kind]
		if fc == nil {
			fc = &FaultCount{}
			r.Faults[f.Kind] = fc
		}
		fc.Count++
		if !f.End.IsZero() {
			fc.total += f.End.Sub(f.Start)
		}
		windows = append(windows, f.Window)
	}
	for _, fc := range r.Faults {
		fc.Total = fc.total.Round(100 * time.Millisecond).String()
	}
	for _, ws := range c.down {
		windows = append(windows, ws...)
	}
	recs := slices.Clone(c.responses)
	sort.Slice(recs, func(i, j int) bool { return recs[i].sent.Before(recs[j].sent) })
	var in, out []time.Duration
	for _, rec := range recs {
		rc := r.Requests[rec.kind]
		if rc == nil {
			rc = &RequestCount{}
			r.Requests[rec.kind] = rc
		}
		rc.Total++
		r.Total++
		switch s := rec.status; {
		case s == 0:
			rc.NoAnswer++
		case s >= 200 && s < 300:
			rc.OK++
		case s == 503:
			rc.Unavail++
		case s >= 500:
			rc.Server++
		default:
			rc.Client++
			switch s {
			case 429:
				rc.Limited++
			case 401, 403:
				rc.Refused++
			case 409:
				rc.Conflicts++
			}
		}
		if rec.status == 0 {
			continue
		}
		d := rec.recv.Sub(rec.sent)
		if slices.ContainsFunc(windows, func(w Window) bool { return w.overlaps(rec.sent, rec.recv) }) {
			in = append(in, d)
		} else {
			out = append(out, d)
		}
	}
	r.LatencyIn, r.LatencyOut = latency(in), latency(out)
	r.Recovery = recovery(c.faults, recs)
	return r
}

func latency(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	round := func(d time.Duration) string {
		if d >= time.Second {
			return d.Round(time.Millisecond).String()
		}
		return d.Round(100 * time.Microsecond).String()
	}
	q := func(p int) string { return round(d[(len(d)-1)*p/100]) }
	return Latency{Count: len(d), P50: q(50), P99: q(99), Max: d[len(d)-1].Round(time.Millisecond).String()}
}

// recovery measures, for each ended fault, how long after its end the
// first login, refresh and me sent after the end succeeded on an instance
// the fault affected; recs are sorted by sent.
func recovery(faults []*Fault, recs []record) map[string]*Recovery {
	out := map[string]*Recovery{}
	byKind := map[string][]time.Duration{}
	for _, f := range faults {
		if f.End.IsZero() {
			continue
		}
		rv := out[f.Kind]
		if rv == nil {
			rv = &Recovery{}
			out[f.Kind] = rv
		}
		first := map[Kind]time.Duration{}
		i := sort.Search(len(recs), func(i int) bool { return !recs[i].sent.Before(f.End) })
		for ; i < len(recs) && len(first) < 3; i++ {
			rec := recs[i]
			if rec.status < 200 || rec.status >= 300 || !slices.Contains(f.Instances, rec.instance) {
				continue
			}
			switch rec.kind {
			case KindLogin, KindRefresh, KindMe:
				if _, ok := first[rec.kind]; !ok {
					first[rec.kind] = rec.recv.Sub(f.End)
				}
			}
		}
		if len(first) < 3 {
			rv.Unrecovered++
			continue
		}
		worst := time.Duration(0)
		for _, d := range first {
			worst = max(worst, d)
		}
		byKind[f.Kind] = append(byKind[f.Kind], worst)
		rv.Faults = append(rv.Faults, worst.Round(time.Millisecond).String())
	}
	for k, ds := range byKind {
		slices.Sort(ds)
		out[k].Median = ds[len(ds)/2].Round(time.Millisecond).String()
		out[k].Max = ds[len(ds)-1].Round(time.Millisecond).String()
	}
	return out
}

// Failed reports whether any invariant was violated.
func (r *Report) Failed() bool {
	for _, inv := range r.Invariants {
		if inv.Violations > 0 {
			return true
		}
	}
	return false
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\n== soak: %s, %d users, %d requests\n", r.Duration, r.Users, r.Total)
	fmt.Fprintf(w, "\nrequests        total    2xx    4xx(401/403, 409, 429)     503  5xx  no-answer\n")
	kinds := make([]string, 0, len(r.Requests))
	for k := range r.Requests {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		c := r.Requests[Kind(k)]
		fmt.Fprintf(w, "  %-22s %6d %6d %6d (%d, %d, %d) %7d %4d %6d\n", k, c.Total, c.OK, c.Client, c.Refused, c.Conflicts, c.Limited, c.Unavail, c.Server, c.NoAnswer)
	}
	fmt.Fprintf(w, "\nfaults          count  total time\n")
	for _, k := range FaultKinds {
		if f := r.Faults[k]; f != nil {
			fmt.Fprintf(w, "  %-14s %5d  %s\n", k, f.Count, f.Total)
		}
	}
	fmt.Fprintf(w, "\ninvariants      violations\n")
	for _, inv := range r.Invariants {
		fmt.Fprintf(w, "  %-20s %5d\n", inv.Name, inv.Violations)
		for _, e := range inv.Examples {
			fmt.Fprintf(w, "      %s\n", e)
		}
	}
	fmt.Fprintf(w, "\naudit events: %d expected, %d found, %d exempt (instance killed before the sink caught up), %d missing\n",
		r.Audit.Expected, r.Audit.Found, r.Audit.Exempt, r.Audit.Missing)
	if len(r.Unexplained) > 0 {
		var parts []string
		for k, n := range r.Unexplained {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "live sessions refused without a known cause: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\nlatency         count     p50       p99       max\n")
	fmt.Fprintf(w, "  in faults   %7d  %8s  %8s  %8s\n", r.LatencyIn.Count, r.LatencyIn.P50, r.LatencyIn.P99, r.LatencyIn.Max)
	fmt.Fprintf(w, "  out of faults %5d  %8s  %8s  %8s\n", r.LatencyOut.Count, r.LatencyOut.P50, r.LatencyOut.P99, r.LatencyOut.Max)
	fmt.Fprintf(w, "\nrecovery (fault end to first 2xx login, refresh and me on the instance)\n")
	for _, k := range FaultKinds {
		if rv := r.Recovery[k]; rv != nil {
			fmt.Fprintf(w, "  %-14s median %-8s max %-8s (%s)", k, rv.Median, rv.Max, strings.Join(rv.Faults, " "))
			if rv.Unrecovered > 0 {
				fmt.Fprintf(w, " unmeasured %d", rv.Unrecovered)
			}
			fmt.Fprintln(w)
		}
	}
	if r.Failed() {
		fmt.Fprintf(w, "\nFAIL: invariants violated\n")
	} else {
		fmt.Fprintf(w, "\nPASS: no invariant violated\n")
	}
}

// writeJSON writes the report to path.
func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
