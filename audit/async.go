package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// AsyncConfig tunes NewAsync. Every zero field takes its default.
type AsyncConfig struct {
	// Buffer is how many events may wait to be written. Zero: 8192. While
	// it is full, new events are dropped and counted.
	Buffer int
	// Batch is the most events written in one call. Zero: 256; at most
	// 1000.
	Batch int
	// Wait is how long Record waits for its event to be written while the
	// writer is healthy, so that an action answered to its client has its
	// audit event stored even if the process is killed right after.
	// Events that arrive together are written together, so this costs a
	// flow about one batched insert. While the writer is failing (a write
	// failed, or took longer than Wait) Record does not wait, until a
	// write succeeds again. Zero: 2s; negative: Record never waits.
	Wait time.Duration
	// WriteTimeout bounds one WriteEvents call. Zero: 5s.
	WriteTimeout time.Duration
	// MaxBackoff bounds the pause between retries of a failing write,
	// which starts at 50ms and doubles, with jitter. Zero: 5s.
	MaxBackoff time.Duration
	// Logger receives write failures and counts of dropped events. Nil:
	// slog.Default().
	Logger *slog.Logger
	// MeterProvider provides the counter auth.audit.dropped. Nil: the
	// global provider.
	MeterProvider metric.MeterProvider
}

// Async writes events to an auth.EventWriter from a goroutine of its own,
// in batches, through a bounded buffer. A write that fails because the
// store is unavailable is retried with exponential backoff until it
// succeeds, so a brief outage of the audit store loses nothing; events are
// dropped only when the buffer is full, when Shutdown's deadline passes,
// or when the writer refuses one for good, and every drop is counted
// (Dropped, the counter auth.audit.dropped) and logged with its count.
type Async struct {
	w        auth.EventWriter
	batch    int
	wait     time.Duration
	timeout  time.Duration
	backoff  time.Duration
	log      *slog.Logger
	droppedC metric.Int64Counter

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan queued

	healthy   atomic.Bool
	dropped   atomic.Uint64
	unlogged  atomic.Uint64
	abandoned atomic.Uint64 // dropped because Shutdown's deadline passed

	ctx      context.Context // cancelled when Shutdown gives up
	cancel   context.CancelFunc
	stopOnce sync.Once
	done     chan struct{}
}

type queued struct {
	e auth.Event
	// done is closed once the event is written or given up on; nil if
	// nobody waits for it.
	done chan struct{}
}

// instrumentationName names the package's OpenTelemetry meter.
const instrumentationName = "github.com/maestro-ml/auth/audit"

const (
	maxAuditBatch  = 1000
	initialBackoff = 50 * time.Millisecond
)

// NewAsync starts an Async over w. Call Shutdown when done: it
// writes what is buffered.
func NewAsync(w auth.EventWriter, cfg AsyncConfig) (*Async, error) {
	if w == nil {
		return nil, errors.New("audit: NewAsync: the EventWriter is nil")
	}
	def := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	s := &Async{
		w: w, batch: 256, wait: def(cfg.Wait, 2*time.Second), timeout: def(cfg.WriteTimeout, 5*time.Second),
		backoff: def(cfg.MaxBackoff, 5*time.Second), log: cfg.Logger, done: make(chan struct{}),
	}
	if cfg.Batch > 0 {
		s.batch = min(cfg.Batch, maxAuditBatch)
	}
	buffer := 8192
	if cfg.Buffer > 0 {
		buffer = cfg.Buffer
	}
	if s.timeout < 0 || s.backoff < 0 || cfg.Buffer < 0 || cfg.Batch < 0 {
		return nil, errors.New("audit: AsyncConfig: no field but Wait may be negative")
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	var err error
	s.droppedC, err = mp.Meter(instrumentationName).Int64Counter("auth.audit.dropped",
		metric.WithDescription("Audit events dropped: buffer full, refused by the store, or unwritten at shutdown."), metric.WithUnit("{event}"))
	if err != nil {
		return nil, err
	}
	s.queue = make(chan queued, buffer)
	s.healthy.Store(true)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Record implements auth.EventSink. It never blocks on a full buffer; while the
// writer is healthy it waits up to AsyncConfig.Wait for the event to
// be written, or until ctx is done.
func (s *Async) Record(ctx context.Context, e auth.Event) {
	var done chan struct{}
	if s.wait > 0 && s.healthy.Load() {
		done = make(chan struct{})
	}
	s.mu.RLock()
	sent := false
	if !s.closed {
		select {
		case s.queue <- queued{e: e, done: done}:
			sent = true
		default:
		}
	}
	s.mu.RUnlock()
	if !sent {
		s.drop(1)
		return
	}
	if done == nil {
		return
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		// A writer this slow is failing: the next flows do not wait
		// until a write succeeds again.
		s.healthy.Store(false)
	case <-ctx.Done():
	}
}

// Dropped returns how many events were dropped.
func (s *Async) Dropped() uint64 { return s.dropped.Load() }

// Shutdown stops accepting events and writes those buffered, retrying
// while the store is unavailable, until ctx is done; it then drops what
// is left and returns an error wrapping auth.ErrUnavailable with the count.
func (s *Async) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.stopOnce.Do(s.cancel)
		<-s.done
	}
	if n := s.abandoned.Swap(0); n > 0 {
		return fmt.Errorf("audit: %d events not written: %w: %w", n, auth.ErrUnavailable, context.Cause(ctx))
	}
	return nil
}

func (s *Async) run() {
	defer close(s.done)
	defer s.cancel()
	batch := make([]queued, 0, s.batch)
	for {
		first, ok := <-s.queue
		if !ok {
			s.logDrops()
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.batch {
			select {
			case q, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			default:
				break fill
			}
		}
		s.write(batch)
		s.logDrops()
	}
}

// write stores batch, retrying while the store is unavailable. An error of
// another kind makes it store the events one at a time, so that one bad
// event costs only itself.
func (s *Async) write(batch []queued) {
	defer release(batch)
	events := make([]auth.Event, len(batch))
	for i := range batch {
		events[i] = batch[i].e
	}
	pause := initialBackoff
	for {
		if s.ctx.Err() != nil { // Shutdown's deadline passed
			s.drop(len(batch))
			s.abandoned.Add(uint64(len(batch)))
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		err := s.safeWrite(ctx, events)
		cancel()
		if err == nil {
			if !s.healthy.Swap(true) {
				s.log.Info("auth: audit events are written again")
			}
			return
		}
		if !retryable(err) {
			if len(batch) == 1 {
				s.drop(1)
				s.log.Error("auth: audit event refused by the store", "event", string(batch[0].e.Type), "id", batch[0].e.ID, "error", err)
				return
			}
			for i := range batch {
				s.write(batch[i : i+1])
			}
			return
		}
		if s.healthy.Swap(false) {
			s.log.Warn("auth: audit events not written; retrying", "events", len(batch), "error", err)
		}
		release(batch) // nobody waits on a failing store
		s.logDrops()
		t := time.NewTimer(pause/2 + rand.N(pause/2+1))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
		pause = min(2*pause, s.backoff)
	}
}

// safeWrite calls the writer, turning a panic into an error.
func (s *Async) safeWrite(ctx context.Context, events []auth.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("audit: event writer panicked: %v", r)
		}
	}()
	return s.w.WriteEvents(ctx, events)
}

func retryable(err error) bool {
	return errors.Is(err, auth.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// release wakes whoever waits on the events of batch.
func release(batch []queued) {
	for i := range batch {
		if batch[i].done != nil {
			close(batch[i].done)
			batch[i].done = nil
		}
	}
}

func (s *Async) drop(n int) {
	s.dropped.Add(uint64(n))
	s.unlogged.Add(uint64(n))
	s.droppedC.Add(context.Background(), int64(n))
}

// logDrops logs the drops since the last call, at most once per batch or
// retry: a flood of drops is one line with its count.
func (s *Async) logDrops() {
	if n := s.unlogged.Swap(0); n > 0 {
		s.log.Error("auth: audit events dropped", "count", n, "total", s.dropped.Load())
	}
}
