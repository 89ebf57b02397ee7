package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// callCtx is the context of one Revoked call: the caller's context with the
// store's timeout. It behaves like context.WithDeadline, except that the
// timer and Done channel are created only when something asks for Done.
// rueidis never does for an answer served from the client-side cache, and
// mostly not for a network read either (it sets the deadline on the
// connection), so the hot path costs one small allocation instead of
// context.WithTimeout's four and a timer (about 40% of a cache hit).
type callCtx struct {
	parent   context.Context
	deadline time.Time

	once   sync.Once
	armed  atomic.Bool // set once ctx and cancel are
	ctx    context.Context
	cancel context.CancelFunc
}

// newCallCtx returns parent bounded by timeout from now; call release when
// the call is over.
func newCallCtx(parent context.Context, timeout time.Duration) *callCtx {
	d := time.Now().Add(timeout)
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	return &callCtx{parent: parent, deadline: d}
}

func (c *callCtx) arm() {
	c.once.Do(func() {
		c.ctx, c.cancel = context.WithDeadline(c.parent, c.deadline)
		c.armed.Store(true)
	})
}

// release stops the timer, if one was armed. A Done call racing with
// release may arm a timer that then runs until the deadline; rueidis does
// not use a context after the call returns.
func (c *callCtx) release() {
	if c.armed.Load() {
		c.cancel()
	}
}

// Deadline implements context.Context.
func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context; it arms the timer.
func (c *callCtx) Done() <-chan struct{} {
	c.arm()
	return c.ctx.Done()
}

// Err implements context.Context without arming the timer.
func (c *callCtx) Err() error {
	if c.armed.Load() {
		return c.ctx.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context. Once armed it answers from the derived
// context, so that contexts derived from c attach to its cancellation
// directly instead of through a goroutine.
func (c *callCtx) Value(key any) any {
	if c.armed.Load() {
		return c.ctx.Value(key)
	}
	return c.parent.Value(key)
}
