package main

import (
	"fmt"
	"log/slog"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/console"
	"github.com/maestro-ml/auth/notify"
)

// Paths of the pages that e-mailed links open, under PUBLIC_URL: the
// console's (served at / unless CONSOLE=false; another front end must
// serve them then). A page reads the token from the link's fragment
// (#token=...), which browsers never send to a server, and posts it (the
// console to itself, a front end to /api/v1/auth/verify-email,
// /password/reset or /email/confirm).
const (
	verifyEmailPage   = console.VerifyEmailPath
	resetPasswordPage = console.ResetPasswordPath
	confirmEmailPage  = console.ConfirmEmailPath
)

// newNotifier returns how account e-mail is delivered: by SMTP
// (SMTP_ADDR), into a development outbox directory (MAIL_DIR), or, by
// default, only logged (notify.Log: kind and user, never the token,
// so the flows start but no link reaches anyone). stop, if not nil,
// delivers what is queued and stops.
func newNotifier(cfg *config, publicURL string, log *slog.Logger) (n auth.Notifier, stop func() error, err error) {
	links := map[auth.MessageKind]string{
		auth.MessageVerifyEmail:   publicURL + verifyEmailPage,
		auth.MessageResetPassword: publicURL + resetPasswordPage,
		auth.MessageChangeEmail:   publicURL + confirmEmailPage,
	}
	switch {
	case cfg.SMTP.Addr != "":
		s, err := notify.NewSMTP(notify.SMTPConfig{
			Addr: cfg.SMTP.Addr, Username: cfg.SMTP.Username, Password: cfg.SMTP.Password, From: cfg.SMTP.From,
			ImplicitTLS: cfg.SMTP.ImplicitTLS, InsecureSkipTLS: cfg.SMTP.InsecureSkipTLS,
			Links: links, Logger: log,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("SMTP_*: %w", err)
		}
		return s, s.Close, nil
	case cfg.MailDir != "":
		d, err := notify.NewDir(cfg.MailDir, cfg.SMTP.From, links)
		if err != nil {
			return nil, nil, fmt.Errorf("MAIL_DIR: %w", err)
		}
		log.Warn("account e-mail goes to a local directory, not to its recipients (development only)", "dir", cfg.MailDir)
		return d, nil, nil
	}
	log.Warn("account e-mail is only logged, not sent: set SMTP_ADDR (or MAIL_DIR for development)")
	return notify.Log{Logger: log}, nil, nil
}
