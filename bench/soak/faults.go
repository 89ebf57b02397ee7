package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Fault kinds.
const (
	FaultRedisRestart = "redis_restart"
	FaultPGRestart    = "pg_restart"
	FaultKill         = "kill9"
	FaultRedisLatency = "redis_latency"
	FaultPGLatency    = "pg_latency"
	FaultRedisCut     = "redis_cut"
	FaultPGCut        = "pg_cut"
)

// FaultKinds lists every fault kind in the order a cycle injects them.
// kill9 comes after faults that leave its instance's database link alone,
// so that the audit events it must keep are all those answered before it.
var FaultKinds = []string{
	FaultRedisLatency, FaultPGLatency, FaultKill, FaultRedisCut, FaultPGCut, FaultRedisRestart, FaultPGRestart,
}

// planned is one fault of the schedule.
type planned struct {
	kind     string
	target   int           // instance, for the faults of one instance
	after    time.Duration // pause before it
	duration time.Duration
	latency  time.Duration // round trip added, for the latency faults
}

// schedule returns the faults of a run: cycles of every kind until total
// is used up, at least one cycle. short uses fixed, brief faults so that
// one cycle fits in about a minute.
func schedule(total time.Duration, short bool, rng *rand.Rand) []planned {
	var out []planned
	used := time.Duration(0)
	for cycle := 0; ; cycle++ {
		t := cycle % 2
		targets := map[string]int{
			FaultRedisLatency: t, FaultPGLatency: 1 - t, FaultKill: t, FaultRedisCut: 1 - t, FaultPGCut: t,
		}
		var cyc []planned
		var length time.Duration
		for _, k := range FaultKinds {
			p := planned{kind: k, target: targets[k]}
			if short {
				p.after, p.duration, p.latency = 4*time.Second, 3*time.Second, 400*time.Millisecond
			} else {
				p.after = 6*time.Second + time.Duration(rng.Int64N(int64(6*time.Second)))
				p.duration = 2*time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))
				p.latency = 200*time.Millisecond + time.Duration(rng.Int64N(int64(300*time.Millisecond)))
			}
			cyc = append(cyc, p)
			length += p.after + p.duration
		}
		if cycle > 0 && used+length > total {
			return out
		}
		out = append(out, cyc...)
		used += length
	}
}

// injector applies faults to the services and records them.
type injector struct {
	pg    *postgres
	rd    *redis
	inst  []*instance
	chk   *Checker
	log   *slog.Logger
	count map[string]int
}

// run injects the planned faults in order; it returns when they are done
// or ctx is done, with every fault removed and every service running.
func (j *injector) run(ctx context.Context, plan []planned) error {
	for _, p := range plan {
		if !sleep(ctx, p.after) {
			return nil
		}
		if err := j.inject(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (j *injector) inject(ctx context.Context, p planned) error {
	both := []int{0, 1}
	one := []int{p.target}
	log := j.log.With("fault", p.kind)
	j.count[p.kind]++
	switch p.kind {
	case FaultRedisLatency, FaultPGLatency:
		px, db := j.inst[p.target].rdProxy, false
		if p.kind == FaultPGLatency {
			px, db = j.inst[p.target].pgProxy, true
		}
		log.Info("fault", "instance", p.target, "latency", p.latency, "for", p.duration)
		f := j.chk.FaultStarted(p.kind, one, db, time.Now())
		px.SetLatency(p.latency)
		sleep(context.WithoutCancel(ctx), p.duration) // always remove the fault
		px.SetLatency(0)
		j.chk.FaultEnded(f, time.Now())
	case FaultRedisCut, FaultPGCut:
		px, db := j.inst[p.target].rdProxy, false
		if p.kind == FaultPGCut {
			px, db = j.inst[p.target].pgProxy, true
		}
		log.Info("fault", "instance", p.target, "for", p.duration)
		f := j.chk.FaultStarted(p.kind, one, db, time.Now())
		px.Cut()
		sleep(context.WithoutCancel(ctx), p.duration)
		px.Restore()
		j.chk.FaultEnded(f, time.Now())
	case FaultRedisRestart:
		log.Info("fault", "down", p.duration)
		f := j.chk.FaultStarted(p.kind, both, false, time.Now())
		if err := j.rd.stop(); err != nil {
			log.Warn("redis stop", "error", err)
		}
		sleep(context.WithoutCancel(ctx), p.duration)
		if err := j.rd.start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		j.chk.FaultEnded(f, time.Now())
	case FaultPGRestart:
		log.Info("fault", "down", p.duration)
		f := j.chk.FaultStarted(p.kind, both, true, time.Now())
		if err := j.pg.stop(); err != nil {
			log.Warn("postgres stop", "error", err)
		}
		sleep(context.WithoutCancel(ctx), p.duration)
		if err := j.pg.start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		j.chk.FaultEnded(f, time.Now())
	case FaultKill:
		in := j.inst[p.target]
		log.Info("fault", "instance", p.target, "down", p.duration)
		killed := time.Now()
		f := j.chk.FaultStarted(p.kind, one, false, killed)
		in.kill()
		j.chk.InstanceKilled(p.target, killed)
		sleep(context.WithoutCancel(ctx), p.duration)
		// The fault ends when the restart begins: recovery includes the
		// start-up.
		j.chk.FaultEnded(f, time.Now())
		var err error
		for range 5 {
			if err = in.start(context.WithoutCancel(ctx)); err == nil {
				break
			}
			log.Warn("restart", "instance", p.target, "error", err)
		}
		j.chk.InstanceDown(p.target, Window{Start: killed, End: time.Now()})
		if err != nil {
			return fmt.Errorf("instance %d did not restart: %w", p.target, err)
		}
	default:
		return fmt.Errorf("unknown fault %q", p.kind)
	}
	return nil
}
