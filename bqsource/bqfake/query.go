package bqfake

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// apiError is an error BigQuery answers with.
type apiError struct {
	status          int
	reason, message string
}

func (e *apiError) Error() string { return e.message }

func invalidQuery(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalidQuery", fmt.Sprintf(format, args...)}
}

var (
	selectRE = regexp.MustCompile("(?is)^\\s*SELECT\\s+(.+?)\\s+FROM\\s+`((?:[^`\\\\]|\\\\.)+)`(?:\\s+WHERE\\s+(.+?))?\\s*;?\\s*$")
	identRE  = regexp.MustCompile("^`((?:[^`\\\\]|\\\\.)+)`$")
	condRE   = regexp.MustCompile("(?s)^`((?:[^`\\\\]|\\\\.)+)`\\s*(>=|<=|<|>|=)\\s*@(\\w+)$")
	andRE    = regexp.MustCompile(`(?i)\s+AND\s+`)
)

func unquote(s string) string {
	return strings.NewReplacer("\\`", "`", `\\`, `\`).Replace(s)
}

// evaluate runs a query: a SELECT of backquoted columns from an added table,
// or else the result SetQueryResult set. The caller holds s.mu.
func (s *Server) evaluate(sql string, params []Param) (*table, error) {
	m := selectRE.FindStringSubmatch(sql)
	if m == nil {
		if s.result == nil {
			return nil, invalidQuery("bqfake cannot run this query and SetQueryResult was not called: %s", sql)
		}
		return s.result, nil
	}
	id, err := bqsource.ParseTableID(unquote(m[2]))
	if err != nil {
		return nil, invalidQuery("Invalid table name: %s", m[2])
	}
	src := s.tables[id.String()]
	if src == nil {
		return nil, &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Table %s:%s.%s was not found", id.Project, id.Dataset, id.Table)}
	}
	col := func(name string) (int, error) {
		for i, f := range src.schema {
			if strings.EqualFold(f.Name, name) {
				return i, nil
			}
		}
		return -1, invalidQuery("Unrecognized name: %s", name)
	}
	var cols []int
	if strings.TrimSpace(m[1]) == "*" {
		for i := range src.schema {
			cols = append(cols, i)
		}
	} else {
		for _, item := range strings.Split(m[1], ",") {
			im := identRE.FindStringSubmatch(strings.TrimSpace(item))
			if im == nil {
				if s.result == nil {
					return nil, invalidQuery("bqfake cannot run this query and SetQueryResult was not called: %s", sql)
				}
				return s.result, nil
			}
			i, err := col(unquote(im[1]))
			if err != nil {
				return nil, err
			}
			for _, j := range cols {
				if j == i {
					return nil, invalidQuery("Duplicate column names in the result are not supported. Found duplicate(s): %s", src.schema[i].Name)
				}
			}
			cols = append(cols, i)
		}
	}
	type cond struct {
		col int
		op  string
		t   time.Time
	}
	var conds []cond
	if w := strings.TrimSpace(m[3]); w != "" {
		for _, c := range andRE.Split(w, -1) {
			cm := condRE.FindStringSubmatch(strings.TrimSpace(c))
			if cm == nil {
				if s.result == nil {
					return nil, invalidQuery("bqfake cannot evaluate the condition %q", c)
				}
				return s.result, nil
			}
			i, err := col(unquote(cm[1]))
			if err != nil {
				return nil, err
			}
			var p *Param
			for k := range params {
				if strings.EqualFold(params[k].Name, cm[3]) {
					p = &params[k]
				}
			}
			if p == nil {
				return nil, invalidQuery("Query parameter '%s' not found", cm[3])
			}
			if p.Type != "TIMESTAMP" || src.schema[i].Type != Timestamp {
				return nil, invalidQuery("No matching signature for operator %s for argument types: %s, %s", cm[2], src.schema[i].Type, p.Type)
			}
			t, err := problemlogs.ParseTime(p.Value)
			if err != nil {
				return nil, invalidQuery("Invalid TIMESTAMP parameter value %q", p.Value)
			}
			conds = append(conds, cond{i, cm[2], t})
		}
	}
	out := &table{}
	for _, i := range cols {
		out.schema = append(out.schema, src.schema[i])
	}
rows:
	for _, row := range src.rows {
		for _, c := range conds {
			v, ok := row[c.col].(time.Time)
			if !ok { // NULL compares false
				continue rows
			}
			var keep bool
			switch c.op {
			case ">=":
				keep = !v.Before(c.t)
			case ">":
				keep = v.After(c.t)
			case "<=":
				keep = !v.After(c.t)
			case "<":
				keep = v.Before(c.t)
			case "=":
				keep = v.Equal(c.t)
			}
			if !keep {
				continue rows
			}
		}
		r := make([]any, len(cols))
		for k, i := range cols {
			r[k] = row[i]
		}
		out.rows = append(out.rows, r)
	}
	return out, nil
}

// micros returns a TIMESTAMP or DATETIME value in microseconds since the
// epoch (a DATETIME taken as UTC).
func micros(v any) int64 {
	switch t := v.(type) {
	case time.Time:
		return t.UnixMicro()
	case civil.DateTime:
		return t.In(time.UTC).UnixMicro()
	}
	return 0
}
