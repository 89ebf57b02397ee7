package console

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/maestro-ml/auth"
)

// overviewCap bounds the events the overview counts per type, so that a
// flood of failures cannot make the page slow: past it, the page says
// "at least".
const overviewCap = 10_000

// Chart geometry, in SVG user units.
const (
	chartHours  = 24
	chartSlot   = 30 // per hour: two bars and a gap
	chartBarW   = 12
	chartHeight = 160
	chartTop    = 10
	chartBottom = 24 // room for the hour labels
)

type overviewData struct {
	SignIns, Failures, Lockouts int
	Capped                      bool
	Hours                       []hourCount
	Bars                        []chartBar
	Labels                      []chartLabel
	Width, Height, Base         int
	Max                         int
	Since                       time.Time
}

type hourCount struct {
	Start         time.Time
	SignIns, Fail int
}

type chartBar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

type chartLabel struct {
	X, Y int
	Text string
}

// adminOverview shows the last 24 hours of the tenant: sign-ins and
// failed attempts per hour as a chart drawn on the server (SVG, no
// script), and the lockouts.
func (c *Console) adminOverview(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.admin(w, r)
	if !ok || err != nil {
		return err
	}
	now := c.now().UTC()
	end := now.Truncate(time.Hour).Add(time.Hour)
	since := end.Add(-chartHours * time.Hour)
	d := overviewData{Since: since, Hours: make([]hourCount, chartHours)}
	for i := range d.Hours {
		d.Hours[i].Start = since.Add(time.Duration(i) * time.Hour)
	}
	count := func(t auth.EventType, add func(i int)) (int, error) {
		n, capped, err := c.countEvents(r.Context(), auth.EventQuery{TenantID: claims.TenantID, Type: t, Since: since, Until: end},
			func(e auth.Event) {
				if i := int(e.Time.Sub(since) / time.Hour); i >= 0 && i < chartHours {
					add(i)
				}
			})
		d.Capped = d.Capped || capped
		return n, err
	}
	var n int
	if d.SignIns, err = count(auth.EventLoginSucceeded, func(i int) { d.Hours[i].SignIns++ }); err != nil {
		return err
	}
	for _, t := range []auth.EventType{auth.EventLoginFailed, auth.EventMFAFailed} {
		if n, err = count(t, func(i int) { d.Hours[i].Fail++ }); err != nil {
			return err
		}
		d.Failures += n
	}
	for _, t := range []auth.EventType{auth.EventLoginLocked, auth.EventMFALocked} {
		if n, err = count(t, func(int) {}); err != nil {
			return err
		}
		d.Lockouts += n
	}
	d.draw()
	return c.render(w, r, http.StatusOK, "admin-overview", view{Title: "Overview", Me: claims, Data: d})
}

// countEvents calls fn for each event matching q, newest first, up to
// overviewCap, and returns how many it saw and whether it stopped there.
func (c *Console) countEvents(ctx context.Context, q auth.EventQuery, fn func(auth.Event)) (int, bool, error) {
	q.Limit = 100
	n := 0
	for {
		events, next, err := c.a.AuditEvents(ctx, q)
		if err != nil {
			return n, false, err
		}
		for _, e := range events {
			if n == overviewCap {
				return n, true, nil
			}
			fn(e)
			n++
		}
		if next == "" {
			return n, false, nil
		}
		q.Before = next
	}
}

// draw lays out the chart: per hour, a sign-in bar and a failure bar
// scaled to the busiest hour, and a label every six hours.
func (d *overviewData) draw() {
	d.Max = 1
	for _, h := range d.Hours {
		d.Max = max(d.Max, h.SignIns, h.Fail)
	}
	d.Width, d.Height = chartHours*chartSlot, chartTop+chartHeight+chartBottom
	base := chartTop + chartHeight
	d.Base = base
	for i, h := range d.Hours {
		x := i * chartSlot
		hour := h.Start.Format("15:04")
		for j, v := range []struct {
			n     int
			class string
			what  string
		}{{h.SignIns, "ok", "sign-ins"}, {h.Fail, "fail", "failed attempts"}} {
			if v.n == 0 {
				continue
			}
			height := max(1, v.n*chartHeight/d.Max)
			d.Bars = append(d.Bars, chartBar{X: x + 2 + j*chartBarW, Y: base - height, W: chartBarW, H: height, Class: v.class,
				Title: fmt.Sprintf("%s UTC: %d %s", hour, v.n, v.what)})
		}
		if i%6 == 0 {
			d.Labels = append(d.Labels, chartLabel{X: x + 2, Y: base + 16, Text: hour})
		}
	}
}
