package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// EventWriter stores batches of audit events: bunstore and memstore do.
// WriteEvents must be idempotent by Event.ID: an event whose ID is
// already stored is skipped, so a batch retried after a lost reply is
// stored once. An error wrapping ErrUnavailable or a context error means
// the batch may be retried; any other error means some event of it cannot
// be stored.
type EventWriter interface {
	WriteEvents(ctx context.Context, events []Event) error
}

// AsyncSinkConfig tunes NewAsyncSink. Every zero field takes its default.
type AsyncSinkConfig struct {
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

// AsyncSink writes events to an EventWriter from a goroutine of its own,
// in batches, through a bounded buffer. A write that fails because the
// store is unavailable is retried with exponential backoff until it
// succeeds, so a brief outage of the audit store loses nothing; events are
// dropped only when the buffer is full, when Shutdown's deadline passes,
// or when the writer refuses one for good, and every drop is counted
// (Dropped, the counter auth.audit.dropped) and logged with its count.
type AsyncSink struct {
	w        EventWriter
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
	e Event
	// done is closed once the event is written or given up on; nil if
	// nobody waits for it.
	done chan struct{}
}

const (
	maxAuditBatch  = 1000
	initialBackoff = 50 * time.Millisecond
)

// NewAsyncSink starts an AsyncSink over w. Call Shutdown when done: it
// writes what is buffered.
func NewAsyncSink(w EventWriter, cfg AsyncSinkConfig) (*AsyncSink, error) {
	if w == nil {
		return nil, errors.New("auth: NewAsyncSink needs an EventWriter")
	}
	def := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	s := &AsyncSink{
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
		return nil, errors.New("auth: AsyncSinkConfig fields must not be negative (but Wait)")
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

// Record implements EventSink. It never blocks on a full buffer; while the
// writer is healthy it waits up to AsyncSinkConfig.Wait for the event to
// be written, or until ctx is done.
func (s *AsyncSink) Record(ctx context.Context, e Event) {
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
func (s *AsyncSink) Dropped() uint64 { return s.dropped.Load() }

// Shutdown stops accepting events and writes those buffered, retrying
// while the store is unavailable, until ctx is done; it then drops what
// is left and returns an error wrapping ErrUnavailable with the count.
func (s *AsyncSink) Shutdown(ctx context.Context) error {
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
		return fmt.Errorf("auth: %d audit events not written: %w", n, errors.Join(ErrUnavailable, context.Cause(ctx)))
	}
	return nil
}

func (s *AsyncSink) run() {
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
func (s *AsyncSink) write(batch []queued) {
	defer release(batch)
	events := make([]Event, len(batch))
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
func (s *AsyncSink) safeWrite(ctx context.Context, events []Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auth: event writer panicked: %v", r)
		}
	}()
	return s.w.WriteEvents(ctx, events)
}

func retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
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

func (s *AsyncSink) drop(n int) {
	s.dropped.Add(uint64(n))
	s.unlogged.Add(uint64(n))
	s.droppedC.Add(context.Background(), int64(n))
}

// logDrops logs the drops since the last call, at most once per batch or
// retry: a flood of drops is one line with its count.
func (s *AsyncSink) logDrops() {
	if n := s.unlogged.Swap(0); n > 0 {
		s.log.Error("auth: audit events dropped", "count", n, "total", s.dropped.Load())
	}
}
