package audit

import (
	"context"

	"github.com/maestro-ml/auth"
)

var (
	_ auth.EventSink = Multi(nil)
	_ auth.EventSink = Nop{}
	_ auth.EventSink = (*Async)(nil)
)

// Multi sends every event to each of its sinks in order.
type Multi []auth.EventSink

// Record implements auth.EventSink.
func (m Multi) Record(ctx context.Context, e auth.Event) {
	for _, s := range m {
		s.Record(ctx, e)
	}
}

// Nop discards events: as Config.Events, it turns auditing off.
type Nop struct{}

// Record implements auth.EventSink.
func (Nop) Record(context.Context, auth.Event) {}
