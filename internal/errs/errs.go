// Package errs builds the errors every package of the module returns, so
// that they share one shape and one message format:
//
//   - Kind: a named child of a sentinel ("auth: token expired", which is
//     also an auth.ErrInvalidToken);
//   - Because: a sentinel with a fixed explanation for logs
//     ("auth: invalid token: bad signature");
//   - Op: the failure of an operation, naming its sentinels and the
//     operation but never the cause, which the caller logs instead
//     ("auth: service unavailable: context deadline exceeded (bunstore.UserByEmail)").
//
// None of them carries input data or a driver's text, so any of them may
// reach a client's log.
package errs

import "strings"

// Kind returns an error with message msg that matches parent (and what
// parent matches) with errors.Is.
func Kind(parent error, msg string) error { return &kind{parent: parent, msg: msg} }

type kind struct {
	parent error
	msg    string
}

func (e *kind) Error() string { return e.msg }
func (e *kind) Unwrap() error { return e.parent }

// Because returns parent with a short, fixed explanation: "parent: why".
// why is for logs and must never contain input data.
func Because(parent error, why string) error { return &because{parent: parent, why: why} }

type because struct {
	parent error
	why    string
}

func (e *because) Error() string { return e.parent.Error() + ": " + e.why }
func (e *because) Unwrap() error { return e.parent }

// Op returns the failure of operation op ("pkg.Method"): its message is
// the messages of errs joined by ": ", then op in parentheses, and it
// matches each of errs with errors.Is. errs are sentinels and context
// errors, never a cause with a driver's or network's text. errs must not
// be empty.
func Op(op string, errs ...error) error { return &opError{op: op, errs: errs} }

type opError struct {
	op   string
	errs []error
}

func (e *opError) Error() string {
	var b strings.Builder
	for i, err := range e.errs {
		if i > 0 {
			b.WriteString(": ")
		}
		b.WriteString(err.Error())
	}
	b.WriteString(" (")
	b.WriteString(e.op)
	b.WriteByte(')')
	return b.String()
}

func (e *opError) Unwrap() []error { return e.errs }
