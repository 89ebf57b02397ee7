package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
	"github.com/uptrace/bun"
)

// project is the demo resource: it belongs to one tenant, and every query
// is scoped by the tenant of the caller's access token.
type project struct {
	bun.BaseModel `bun:"table:example_projects"`

	ID          string    `bun:"id,pk" json:"id"`
	TenantID    string    `bun:"tenant_id" json:"tenant_id"`
	Name        string    `bun:"name" json:"name"`
	Description string    `bun:"description" json:"description"`
	CreatedBy   string    `bun:"created_by" json:"created_by"`
	CreatedAt   time.Time `bun:"created_at" json:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at" json:"updated_at"`
}

// Limits of project fields, in bytes.
const (
	maxProjectName        = 100
	maxProjectDescription = 2000
)

// Page sizes of the project list.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// projects serves /api/v1/projects over the example_projects table.
type projects struct {
	db *bun.DB
	// mw is the server's one middleware.Handler: its Authenticate and
	// RequireRole guard the routes, its WriteError answers the errors.
	mw *middleware.Handler
}

// endpoint is a project handler: it writes the response and returns nil,
// or writes nothing and returns the error to answer with.
type endpoint func(w http.ResponseWriter, r *http.Request) error

// routes registers the project endpoints on mux: viewers (and above) read,
// editors create and change, administrators delete. Authenticate comes
// first: RequireRole reads the claims it stores.
func (p *projects) routes(mux *http.ServeMux) {
	role := func(r auth.Role, fn endpoint) http.Handler {
		return p.mw.Authenticate(p.mw.RequireRole(r)(p.serve(fn)))
	}
	mux.Handle("GET /api/v1/projects", role(auth.RoleViewer, p.list))
	mux.Handle("POST /api/v1/projects", role(auth.RoleEditor, p.create))
	mux.Handle("GET /api/v1/projects/{id}", role(auth.RoleViewer, p.get))
	mux.Handle("PATCH /api/v1/projects/{id}", role(auth.RoleEditor, p.update))
	mux.Handle("DELETE /api/v1/projects/{id}", role(auth.RoleAdmin, p.delete))
}

// serve adapts fn to http.Handler, answering its error with writeProblem.
func (p *projects) serve(fn endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeProblem(p.mw, w, r, err)
		}
	})
}

// projectList is the body of GET /api/v1/projects.
type projectList struct {
	Projects   []project `json:"projects"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// list answers GET ?limit=1..100&after=<cursor>: a page of the caller's
// tenant's projects, oldest first (IDs are UUIDv7, ordered by time), and
// the cursor of the next page.
func (p *projects) list(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	out := projectList{Projects: []project{}}
	q := p.db.NewSelect().Model(&out.Projects).
		Where("tenant_id = ?", middleware.TenantID(r)).
		OrderExpr("id ASC").
		Limit(int64(limit) + 1)
	if after != "" {
		q = q.Where("id > ?", after)
	}
	if err := q.Scan(r.Context()); err != nil {
		return dbError(err)
	}
	if len(out.Projects) > limit {
		out.Projects = out.Projects[:limit]
		out.NextCursor = out.Projects[limit-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// pageParams reads limit and after, refusing unknown or repeated
// parameters as the library's list endpoints do.
func pageParams(r *http.Request) (limit int, after string, err error) {
	limit = defaultPageSize
	for name, values := range r.URL.Query() {
		bad := fieldProblem(http.StatusBadRequest, "invalid_parameter", "A query parameter is unknown, repeated or invalid.", name)
		if len(values) != 1 {
			return 0, "", bad
		}
		switch v := values[0]; name {
		case "limit":
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxPageSize {
				return 0, "", bad
			}
		case "after":
			if !auth.ValidID(v) {
				return 0, "", bad
			}
			after = v
		default:
			return 0, "", bad
		}
	}
	return limit, after, nil
}

// get answers GET /{id} with the project, or 404 if it does not exist or
// belongs to another tenant: the two are indistinguishable, so IDs of
// other tenants cannot be probed.
func (p *projects) get(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.load(r.Context(), middleware.TenantID(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pr)
	return nil
}

func (p *projects) load(ctx context.Context, tenantID, id string) (*project, error) {
	if !auth.ValidID(id) {
		return nil, errNotFound
	}
	pr := new(project)
	err := p.db.NewSelect().Model(pr).Where("id = ? AND tenant_id = ?", id, tenantID).Scan(ctx)
	if err != nil {
		return nil, dbError(err)
	}
	return pr, nil
}

// projectInput is the body of POST and PATCH. The tenant, the author and
// the times come from the server, never from the client.
type projectInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// validate checks the fields present; create requires a name.
func (in *projectInput) validate(create bool) error {
	if create && in.Name == nil {
		return fieldProblem(http.StatusBadRequest, "missing_field", "A required field of the request body is missing.", "name")
	}
	if in.Name != nil {
		*in.Name = strings.TrimSpace(*in.Name)
		if *in.Name == "" || !cleanText(*in.Name, maxProjectName, false) {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_input", "The name must be 1 to 100 bytes of text without control characters.", "name")
		}
	}
	if in.Description != nil && !cleanText(*in.Description, maxProjectDescription, true) {
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_input", "The description must be at most 2000 bytes of text.", "description")
	}
	return nil
}

// cleanText reports whether s is valid UTF-8 of at most max bytes without
// control characters (line breaks allowed if multiline).
func cleanText(s string, max int, multiline bool) bool {
	return len(s) <= max && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))
	})
}

// create answers POST {"name", "description"?} with 201 and the project.
func (p *projects) create(w http.ResponseWriter, r *http.Request) error {
	var in projectInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.validate(true); err != nil {
		return err
	}
	claims, _ := middleware.ClaimsFrom(r)
	now := time.Now().UTC().Truncate(time.Microsecond)
	pr := &project{
		ID: uuid.Must(uuid.NewV7()).String(), TenantID: claims.TenantID, Name: *in.Name,
		CreatedBy: claims.UserID, CreatedAt: now, UpdatedAt: now,
	}
	if in.Description != nil {
		pr.Description = *in.Description
	}
	if _, err := p.db.NewInsert().Model(pr).Exec(r.Context()); err != nil {
		return dbError(err)
	}
	w.Header().Set("Location", "/api/v1/projects/"+pr.ID)
	writeJSON(w, http.StatusCreated, pr)
	return nil
}

// update answers PATCH {"name"?, "description"?} with 200 and the project.
func (p *projects) update(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in projectInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.validate(false); err != nil {
		return err
	}
	if !auth.ValidID(id) {
		return errNotFound
	}
	pr := &project{UpdatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	q := p.db.NewUpdate().Model(pr).Column("updated_at").
		Where("id = ? AND tenant_id = ?", id, middleware.TenantID(r)).
		Returning("*")
	if in.Name != nil {
		pr.Name = *in.Name
		q = q.Column("name")
	}
	if in.Description != nil {
		pr.Description = *in.Description
		q = q.Column("description")
	}
	if err := q.Scan(r.Context()); err != nil {
		return dbError(err)
	}
	writeJSON(w, http.StatusOK, pr)
	return nil
}

// delete answers DELETE with 204.
func (p *projects) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !auth.ValidID(id) {
		return errNotFound
	}
	res, err := p.db.NewDelete().Model((*project)(nil)).
		Where("id = ? AND tenant_id = ?", id, middleware.TenantID(r)).
		Exec(r.Context())
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errNotFound
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dbError translates a database error for writeProblem: no rows is 404, a
// unique violation 409, a lost connection or a busy SQLite 503
// (auth.ErrUnavailable); anything else is a 500 that the middleware
// Handler's WriteError logs. No driver text reaches the client.
func dbError(err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound
	case uniqueViolation(err):
		return errNameTaken
	case unavailable(err):
		return errors.Join(auth.ErrUnavailable, err)
	}
	return err
}

// uniqueViolation recognises a unique-constraint error of either driver
// without importing their error types: PostgreSQL's SQLSTATE 23505
// (pgdriver.Error.Field('C')) and SQLite's extended code 2067,
// SQLITE_CONSTRAINT_UNIQUE (modernc.org/sqlite's Error.Code()).
func uniqueViolation(err error) bool {
	if pg, ok := errors.AsType[interface {
		error
		Field(byte) string
	}](err); ok {
		return pg.Field('C') == "23505"
	}
	if lite, ok := errors.AsType[interface {
		error
		Code() int
	}](err); ok {
		return lite.Code() == 2067
	}
	return false
}

// unavailable reports whether err means the database cannot answer now:
// a refused, dropped or closed connection, a timeout, or SQLite's
// SQLITE_BUSY and SQLITE_LOCKED.
func unavailable(err error) bool {
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	if lite, ok := errors.AsType[interface {
		error
		Code() int
	}](err); ok {
		if c := lite.Code() & 0xff; c == 5 || c == 6 {
			return true
		}
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, context.DeadlineExceeded)
}
