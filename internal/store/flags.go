package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
)

// Flags and segments are stored as their JSON documents (with Project and
// Revision filled in), so that the change log's before/after and the state
// table hold the same bytes. Every write validates the project's whole set
// (flag.ValidateSet) inside its transaction: the revision counter lock
// serialises writers, so two concurrent writes cannot each pass validation
// against a set the other is about to change.

// FlagKey is the change-log key of a flag or segment: "PROJECT/KEY".
func FlagKey(project, key string) string { return project + "/" + key }

// projectSet is one project's flags and segments as read inside a write.
type projectSet struct {
	flags    []flag.Flag
	segments []flag.Segment
}

func (p *projectSet) flagIndex(key string) int {
	return slices.IndexFunc(p.flags, func(f flag.Flag) bool { return f.Key == key })
}

func (p *projectSet) segmentIndex(key string) int {
	return slices.IndexFunc(p.segments, func(s flag.Segment) bool { return s.Key == key })
}

// readDocs reads the documents of table for one project, ordered by key.
func readDocs[T any](ctx context.Context, r reader, table, ws, project string) ([]T, error) {
	rows, err := r.query(ctx, "SELECT doc FROM "+table+" WHERE workspace = ? AND project = ? ORDER BY key", ws, project)
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", table, project, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var doc []byte
		var v T
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", table, project, err)
		}
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("decode %s of %s: %w", table, project, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func loadSet(ctx context.Context, r reader, ws, project string) (*projectSet, error) {
	fs, err := readDocs[flag.Flag](ctx, r, "flags", ws, project)
	if err != nil {
		return nil, err
	}
	ss, err := readDocs[flag.Segment](ctx, r, "segments", ws, project)
	if err != nil {
		return nil, err
	}
	return &projectSet{flags: fs, segments: ss}, nil
}

// validate runs flag.ValidateSet and re-roots its field paths: the object
// being written (flag or segment self, when not empty) loses its
// "flags[i]" prefix, other objects are named by key.
func (p *projectSet) validate(selfKind, self string) error {
	err := flag.ValidateSet(p.flags, p.segments)
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		fe, ok := errors.AsType[*errs.FieldError](e)
		if !ok {
			out = append(out, e)
			continue
		}
		cp := *fe
		cp.Field = p.rename(cp.Field, selfKind, self)
		out = append(out, &cp)
	}
	return errors.Join(out...)
}

func (p *projectSet) rename(field, selfKind, self string) string {
	for _, kind := range []string{"flags", "segments"} {
		if !strings.HasPrefix(field, kind+"[") {
			continue
		}
		end := strings.IndexByte(field, ']')
		i, err := strconv.Atoi(field[len(kind)+1 : end])
		if end < 0 || err != nil {
			return field
		}
		var key string
		if kind == "flags" && i < len(p.flags) {
			key = p.flags[i].Key
		} else if kind == "segments" && i < len(p.segments) {
			key = p.segments[i].Key
		}
		rest := strings.TrimPrefix(field[end+1:], ".")
		if kind == selfKind && key == self {
			return rest
		}
		if rest == "" {
			return kind + "." + key
		}
		return kind + "." + key + "." + rest
	}
	return field
}

// loadRow reads one flag or segment row: its document and timestamps.
func loadRow(ctx context.Context, r reader, table, ws, project, key string) (doc []byte, created int64, ok bool, err error) {
	err = r.queryRow(ctx, "SELECT doc, created_at FROM "+table+" WHERE workspace = ? AND project = ? AND key = ?", ws, project, key).Scan(&doc, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("read %s %s: %w", table, FlagKey(project, key), err)
	}
	return doc, created, true, nil
}

// saveDoc inserts or updates one flag or segment row.
func (t *wtx) saveDoc(ctx context.Context, table, ws, project, key string, doc []byte, create bool) error {
	if create {
		return t.insertRows(ctx, table, []string{"workspace", "project", "key", "doc", "revision", "created_at", "updated_at"},
			[][]any{{ws, project, key, string(doc), t.rev, t.now.UnixNano(), t.now.UnixNano()}}, "")
	}
	if _, err := t.exec(ctx, "UPDATE "+table+" SET doc = ?, revision = ?, updated_at = ? WHERE workspace = ? AND project = ? AND key = ?",
		string(doc), t.rev, t.now.UnixNano(), ws, project, key); err != nil {
		return fmt.Errorf("update %s: %w", table, err)
	}
	return nil
}

// requireProject returns the project, or a field error naming "project".
func requireProject(ctx context.Context, t *wtx, ws, project string) (domain.Project, error) {
	if err := requireWorkspace(ctx, t.r(), ws); err != nil {
		return domain.Project{}, err
	}
	p, ok, err := loadProject(ctx, t.r(), ws, project)
	if err != nil {
		return domain.Project{}, fmt.Errorf("read project %s: %w", errs.Quote(project), err)
	}
	if !ok {
		return domain.Project{}, errs.Field("project", "project %s does not exist in workspace %s", errs.Quote(project), errs.Quote(ws))
	}
	return p, nil
}

// PutFlag creates or updates a flag of f.Project in workspace ws. Defaults
// are applied (flag.Flag.Default); every environment of the flag must be an
// environment of the project; the project's whole set must stay valid
// (prerequisites, segments, no cycles). It returns the stored flag and
// OpNone when nothing changed.
func (s *Store) PutFlag(ctx context.Context, ws string, f flag.Flag, expected *int64) (flag.Flag, domain.Op, error) {
	return writeOne(ctx, s, func(t *Tx) (flag.Flag, domain.Op, error) { return t.PutFlag(ctx, ws, f, expected) })
}

// PutFlag is Store.PutFlag inside t.
func (t *Tx) PutFlag(ctx context.Context, ws string, f flag.Flag, expected *int64) (flag.Flag, domain.Op, error) {
	f.Default()
	f.Revision = 0
	if f.Project == "" {
		return f, "", errs.Field("project", "is required")
	}
	if err := f.Validate(); err != nil {
		return f, "", err
	}
	out, op, err := t.w.putFlag(ctx, ws, f, expected)
	if err != nil {
		return f, "", fmt.Errorf("put flag %s in workspace %s: %w", FlagKey(f.Project, f.Key), errs.Quote(ws), err)
	}
	return out, op, nil
}

// putFlag is PutFlag inside a transaction; the executor of scheduled
// changes uses it too.
func (t *wtx) putFlag(ctx context.Context, ws string, f flag.Flag, expected *int64) (flag.Flag, domain.Op, error) {
	proj, err := requireProject(ctx, t, ws, f.Project)
	if err != nil {
		return f, "", err
	}
	for _, env := range slices.Sorted(maps.Keys(f.Environments)) {
		if !slices.Contains(proj.EffectiveEnvironments, env) {
			return f, "", errs.Field("environments."+env, "environment %s is not an environment of project %s", errs.Quote(env), errs.Quote(f.Project))
		}
	}
	set, err := loadSet(ctx, t.r(), ws, f.Project)
	if err != nil {
		return f, "", err
	}
	i := set.flagIndex(f.Key)
	var cur flag.Flag
	if i >= 0 {
		cur = set.flags[i]
	}
	if err := checkExpected(fmt.Sprintf("flag %s", FlagKey(f.Project, f.Key)), expected, cur.Revision); err != nil {
		return f, "", err
	}
	if i >= 0 {
		f.Revision = cur.Revision
		a, _ := json.Marshal(cur)
		b, _ := json.Marshal(f)
		if bytes.Equal(a, b) {
			return cur, domain.OpNone, nil
		}
		set.flags[i] = f
	} else {
		set.flags = append(set.flags, f)
	}
	if err := set.validate("flags", f.Key); err != nil {
		return f, "", err
	}
	f.Revision = t.rev
	doc, err := json.Marshal(f)
	if err != nil {
		return f, "", fmt.Errorf("encode flag: %w", err)
	}
	if err := t.saveDoc(ctx, "flags", ws, f.Project, f.Key, doc, i < 0); err != nil {
		return f, "", err
	}
	op, before := domain.OpCreate, any(nil)
	if i >= 0 {
		op, before = domain.OpUpdate, cur
	}
	return f, op, t.record(ws, domain.KindFlag, FlagKey(f.Project, f.Key), op, before, json.RawMessage(doc))
}

// PutSegment creates or updates a segment of sg.Project; like PutFlag it
// keeps the project's set valid.
func (s *Store) PutSegment(ctx context.Context, ws string, sg flag.Segment, expected *int64) (flag.Segment, domain.Op, error) {
	return writeOne(ctx, s, func(t *Tx) (flag.Segment, domain.Op, error) { return t.PutSegment(ctx, ws, sg, expected) })
}

// PutSegment is Store.PutSegment inside t.
func (t *Tx) PutSegment(ctx context.Context, ws string, sg flag.Segment, expected *int64) (flag.Segment, domain.Op, error) {
	sg.Revision = 0
	if sg.Project == "" {
		return sg, "", errs.Field("project", "is required")
	}
	if err := sg.Validate(); err != nil {
		return sg, "", err
	}
	out, op, err := t.w.putSegment(ctx, ws, sg, expected)
	if err != nil {
		return sg, "", fmt.Errorf("put segment %s in workspace %s: %w", FlagKey(sg.Project, sg.Key), errs.Quote(ws), err)
	}
	return out, op, nil
}

func (t *wtx) putSegment(ctx context.Context, ws string, sg flag.Segment, expected *int64) (flag.Segment, domain.Op, error) {
	if _, err := requireProject(ctx, t, ws, sg.Project); err != nil {
		return sg, "", err
	}
	set, err := loadSet(ctx, t.r(), ws, sg.Project)
	if err != nil {
		return sg, "", err
	}
	i := set.segmentIndex(sg.Key)
	var cur flag.Segment
	if i >= 0 {
		cur = set.segments[i]
	}
	if err := checkExpected(fmt.Sprintf("segment %s", FlagKey(sg.Project, sg.Key)), expected, cur.Revision); err != nil {
		return sg, "", err
	}
	if i >= 0 {
		sg.Revision = cur.Revision
		a, _ := json.Marshal(cur)
		b, _ := json.Marshal(sg)
		if bytes.Equal(a, b) {
			return cur, domain.OpNone, nil
		}
		set.segments[i] = sg
	} else {
		set.segments = append(set.segments, sg)
	}
	if err := set.validate("segments", sg.Key); err != nil {
		return sg, "", err
	}
	sg.Revision = t.rev
	doc, err := json.Marshal(sg)
	if err != nil {
		return sg, "", fmt.Errorf("encode segment: %w", err)
	}
	if err := t.saveDoc(ctx, "segments", ws, sg.Project, sg.Key, doc, i < 0); err != nil {
		return sg, "", err
	}
	op := domain.OpCreate
	var before any
	if i >= 0 {
		op, before = domain.OpUpdate, cur
	}
	return sg, op, t.record(ws, domain.KindSegment, FlagKey(sg.Project, sg.Key), op, before, json.RawMessage(doc))
}

// GetFlag returns a flag or errs.NotFound.
func (s *Store) GetFlag(ctx context.Context, ws, project, key string) (flag.Flag, error) {
	var f flag.Flag
	return f, getDoc(ctx, s, "flags", "flag", ws, project, key, &f)
}

// GetSegment returns a segment or errs.NotFound.
func (s *Store) GetSegment(ctx context.Context, ws, project, key string) (flag.Segment, error) {
	var sg flag.Segment
	return sg, getDoc(ctx, s, "segments", "segment", ws, project, key, &sg)
}

func getDoc(ctx context.Context, s *Store, table, word, ws, project, key string, v any) error {
	doc, _, ok, err := loadRow(ctx, s.r(), table, ws, project, key)
	if err != nil {
		return err
	}
	if !ok {
		return errs.New(errs.NotFound, "%s %s in workspace %s", word, errs.Quote(FlagKey(project, key)), errs.Quote(ws))
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", word, FlagKey(project, key), err)
	}
	return nil
}

// ListFlags lists one page of a project's flags by key.
func (s *Store) ListFlags(ctx context.Context, ws, project string, p domain.Page) ([]flag.Flag, string, error) {
	return listDocs[flag.Flag](ctx, s, "flags", ws, project, p, func(f *flag.Flag) string { return f.Key })
}

// ListSegments lists one page of a project's segments by key.
func (s *Store) ListSegments(ctx context.Context, ws, project string, p domain.Page) ([]flag.Segment, string, error) {
	return listDocs[flag.Segment](ctx, s, "segments", ws, project, p, func(sg *flag.Segment) string { return sg.Key })
}

func listDocs[T any](ctx context.Context, s *Store, table, ws, project string, p domain.Page, key func(*T) string) ([]T, string, error) {
	size, after, err := pageOf(p)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.query(ctx, "SELECT doc FROM "+table+" WHERE workspace = ? AND project = ? AND key > ? ORDER BY key LIMIT ?", ws, project, after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, "", fmt.Errorf("list %s: %w", table, err)
		}
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, "", fmt.Errorf("list %s: decode: %w", table, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", table, err)
	}
	if len(out) > size {
		out = out[:size]
		return out, pageToken(key(&out[size-1])), nil
	}
	return out, "", nil
}

// ProjectFlags returns every flag and segment of a project and the revision
// they were read at, in one statement so that the three are consistent
// (the snapshot loader and GetSnapshot compile from it).
func (s *Store) ProjectFlags(ctx context.Context, ws, project string) ([]flag.Flag, []flag.Segment, int64, error) {
	rows, err := s.query(ctx, `SELECT 'f', CAST(doc AS TEXT) FROM flags WHERE workspace = ? AND project = ?
		UNION ALL SELECT 's', CAST(doc AS TEXT) FROM segments WHERE workspace = ? AND project = ?
		UNION ALL SELECT 'r', CAST(rev AS TEXT) FROM revision_counter WHERE id = 1`, ws, project, ws, project)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read flags of %s: %w", project, err)
	}
	defer rows.Close()
	var flags []flag.Flag
	var segs []flag.Segment
	var rev int64
	for rows.Next() {
		var kind, doc string
		if err := rows.Scan(&kind, &doc); err != nil {
			return nil, nil, 0, fmt.Errorf("read flags of %s: %w", project, err)
		}
		switch kind {
		case "f":
			var f flag.Flag
			err = json.Unmarshal([]byte(doc), &f)
			flags = append(flags, f)
		case "s":
			var sg flag.Segment
			err = json.Unmarshal([]byte(doc), &sg)
			segs = append(segs, sg)
		default:
			rev, err = strconv.ParseInt(doc, 10, 64)
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("decode flags of %s: %w", project, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("read flags of %s: %w", project, err)
	}
	slices.SortFunc(flags, func(a, b flag.Flag) int { return strings.Compare(a.Key, b.Key) })
	slices.SortFunc(segs, func(a, b flag.Segment) int { return strings.Compare(a.Key, b.Key) })
	return flags, segs, rev, nil
}
