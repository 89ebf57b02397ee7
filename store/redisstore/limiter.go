package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/maestro-ml/auth"
)

var _ auth.Limiter = (*Store)(nil)

// limitScript applies the generic cell rate algorithm to one key with the
// server's clock (so instances with skewed clocks share one limit). It
// touches only KEYS[1]: safe on Redis Cluster.
//
// KEYS[1]: the limit's key; ARGV[1]: emission interval (period / burst), ms;
// ARGV[2]: period, ms. Returns {1, 0} if allowed, {0, retry-after ms} if not.
const limitScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local nexttat = tat + interval
local allowAt = nexttat - period
if now < allowAt then
  return {0, allowAt - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', nexttat), 'PXAT', string.format('%.0f', nexttat))
return {1, 0}
`

// refundScript gives back one attempt of KEYS[1]: its tat moves back by
// ARGV[1] ms, and the key goes when that is not in the future. A missing
// key stays missing.
const refundScript = `
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
tat = tat - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PXAT', string.format('%.0f', tat))
return 1
`

// Allow implements auth.Limiter: one atomic script call (GCRA on the
// server's clock) counts the attempt and decides, so concurrent attempts
// from any number of instances cannot exceed the limit. The key expires
// when the allowance is full again, so idle keys take no memory. Errors
// wrap auth.ErrInvalidInput (empty key, burst or period not positive, a
// period under a millisecond per attempt) or auth.ErrUnavailable.
func (s *Store) Allow(ctx context.Context, key string, l auth.Limit) (bool, time.Duration, error) {
	interval, err := limitInterval(key, l)
	if err != nil {
		return false, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.limit.Exec(ctx, s.client, []string{s.limitPrefix + key + "}"},
		[]string{itoa(interval), itoa(l.Period.Milliseconds())}).ToArray()
	if err != nil {
		return false, 0, s.unavailable(ctx, "redisstore.Allow", err)
	}
	if len(res) != 2 {
		return false, 0, s.unavailable(ctx, "redisstore.Allow", errMalformedReply)
	}
	ok, err1 := res[0].AsInt64()
	retry, err2 := res[1].AsInt64()
	if err1 != nil || err2 != nil {
		return false, 0, s.unavailable(ctx, "redisstore.Allow", errMalformedReply)
	}
	return ok == 1, time.Duration(retry) * time.Millisecond, nil
}

// Refund implements auth.Limiter: one script call, not retried (a refund
// applied twice would give back two attempts).
func (s *Store) Refund(ctx context.Context, key string, l auth.Limit) error {
	interval, err := limitInterval(key, l)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.refund.Exec(ctx, s.client, []string{s.limitPrefix + key + "}"}, []string{itoa(interval)}).Error(); err != nil {
		return s.unavailable(ctx, "redisstore.Refund", err)
	}
	return nil
}

// limitInterval checks a key and a limit and returns the limit's emission
// interval in milliseconds.
func limitInterval(key string, l auth.Limit) (int64, error) {
	switch {
	case key == "" || len(key) > 2*MaxIDBytes:
		return 0, invalid("limit key is empty or too long")
	case l.Burst <= 0 || l.Period <= 0:
		return 0, invalid("limit burst and period must be positive")
	}
	interval := l.Period.Milliseconds() / int64(l.Burst)
	if interval <= 0 {
		return 0, invalid("limit period per attempt is under a millisecond")
	}
	return interval, nil
}

// Reset implements auth.Limiter: it deletes the key.
func (s *Store) Reset(ctx context.Context, key string) error {
	if key == "" || len(key) > 2*MaxIDBytes {
		return invalid("limit key is empty or too long")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Do(ctx, s.client.B().Del().Key(s.limitPrefix+key+"}").Build()).Error(); err != nil {
		return s.unavailable(ctx, "redisstore.Reset", err)
	}
	return nil
}

var errMalformedReply = errors.New("malformed script reply")

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
