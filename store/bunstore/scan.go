package bunstore

import (
	"fmt"
	"strings"
	"time"
)

// at returns t as a query argument: nil for the zero time, Unix
// milliseconds on SQLite, the time itself on PostgreSQL (bun writes it in
// UTC with microseconds, truncated).
func (s *Store) at(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if s.sqlite {
		return t.UnixMilli()
	}
	return t
}

// timeDest scans a time column of either dialect into a time.Time; NULL
// becomes the zero time.
type timeDest struct{ p *time.Time }

func (d timeDest) Scan(src any) error {
	t, ok, err := scanTime(src)
	if err != nil {
		return err
	}
	if !ok {
		t = time.Time{}
	}
	*d.p = t
	return nil
}

// nullTimeDest scans a nullable time column into a *time.Time; NULL becomes nil.
type nullTimeDest struct{ p **time.Time }

func (d nullTimeDest) Scan(src any) error {
	t, ok, err := scanTime(src)
	if err != nil {
		return err
	}
	if !ok {
		*d.p = nil
		return nil
	}
	*d.p = &t
	return nil
}

func scanTime(src any) (time.Time, bool, error) {
	switch v := src.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case int64:
		return time.UnixMilli(v).UTC(), true, nil
	case []byte:
		return parseTime(string(v))
	case string:
		return parseTime(v)
	}
	return time.Time{}, false, fmt.Errorf("bunstore: cannot scan %T into a time", src)
}

// parseTime reads PostgreSQL's text form of timestamptz, for drivers that
// return text.
func parseTime(s string) (time.Time, bool, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("bunstore: cannot parse time %q", s)
}

// strDest scans a nullable text column into a string; NULL becomes "".
type strDest struct{ p *string }

func (d strDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.p = ""
	case string:
		*d.p = v
	case []byte:
		*d.p = string(v)
	default:
		return fmt.Errorf("bunstore: cannot scan %T into a string", src)
	}
	return nil
}
