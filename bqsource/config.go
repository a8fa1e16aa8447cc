// Package bqsource reads ProblemLogs from BigQuery, without Beam.
//
// A read has two steps. Run runs one query (jobs.insert) whose result is
// written to a table (by default the job's anonymous destination table), looks
// the table up (tables.get) and plans how to read it: a small result is read
// through REST (tabledata.list, ReadREST), a large one through the BigQuery
// Storage Read API (a read session with several streams in Arrow format, each
// stream read by ReadStream, so that many workers can read one result in
// parallel). Both paths convert rows with the same rules and report bad rows
// as *problemlogs.RowError, as the file readers do.
//
// The clients are those of cloud.google.com/go/bigquery; Config's endpoint
// fields point them at other servers (package bqfake is an in-process fake for
// tests).
package bqsource

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// Defaults for the zero values of Config's fields.
const (
	DefaultMaxStreams  = 100
	DefaultRESTMaxRows = 50000
)

// Config says what to read and how to reach BigQuery. It is plain data and
// survives a JSON round trip, so a Beam DoFn can carry it.
type Config struct {
	// Project is the billing project the query job runs in (and the read
	// session is created in). Empty: the project of Table; a Query needs it.
	Project string
	// Table is the table to read, "project.dataset.table" (or the legacy
	// "project:dataset.table"), read within [Start, End) of time_done.
	Table string
	// Start and End bound time_done, half-open; a zero time leaves that side
	// unbounded. They apply to Table only, and need a TIMESTAMP time_done.
	Start, End time.Time
	// Query is a standard SQL query to read instead of Table (exactly one of
	// Table and Query is set). Its result must have the six columns.
	Query string
	// Location is the location of the query job (e.g. "US", "EU"); optional.
	Location string
	// Destination, optional, is a table "project.dataset.table" the query's
	// result is written to (replacing its contents). Empty: the job's
	// anonymous table, which only the identity that ran the query may read and
	// whose size BigQuery limits (about 10 GB compressed): name a destination
	// for very large results or when workers read with another identity.
	Destination string
	// Columns names the six ProblemLog fields in the table or query result;
	// an empty field means the name in problemlogs.DefaultColumns.
	Columns problemlogs.Columns
	// MaxStreams is the most streams asked of CreateReadSession; 0 means
	// DefaultMaxStreams. The server may give fewer.
	MaxStreams int
	// RESTMaxRows: results of at most this many rows are read through REST
	// (one reader); 0 means DefaultRESTMaxRows; negative: always the Storage
	// Read API.
	RESTMaxRows int64

	// Endpoint is the BigQuery REST endpoint, e.g. "http://127.0.0.1:1234/"
	// (empty: Google's).
	Endpoint string
	// StorageEndpoint is the Storage Read API's gRPC endpoint "host:port"
	// (empty: Google's).
	StorageEndpoint string
	// Insecure uses no credentials and plaintext gRPC: for local fakes only.
	// It needs both endpoints.
	Insecure bool
}

// columns returns c.Columns with empty names defaulted.
func (c Config) columns() problemlogs.Columns {
	cols, d := c.Columns, problemlogs.DefaultColumns
	def := func(s *string, v string) {
		if strings.TrimSpace(*s) == "" {
			*s = v
		}
	}
	def(&cols.User, d.User)
	def(&cols.TimeDone, d.TimeDone)
	def(&cols.Exercise, d.Exercise)
	def(&cols.ProblemType, d.ProblemType)
	def(&cols.ProblemNumber, d.ProblemNumber)
	def(&cols.Correct, d.Correct)
	return cols
}

func (c Config) maxStreams() int {
	if c.MaxStreams <= 0 {
		return DefaultMaxStreams
	}
	return c.MaxStreams
}

func (c Config) restMaxRows() int64 {
	if c.RESTMaxRows == 0 {
		return DefaultRESTMaxRows
	}
	return c.RESTMaxRows
}

// billingProject returns the project jobs and read sessions are billed to.
func (c Config) billingProject() string {
	if c.Project != "" {
		return c.Project
	}
	if t, err := ParseTableID(c.Table); err == nil {
		return t.Project
	}
	return ""
}

// Validate says whether c describes a read.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Table == "" && strings.TrimSpace(c.Query) == "":
		errs = append(errs, errors.New("give a table or a query"))
	case c.Table != "" && strings.TrimSpace(c.Query) != "":
		errs = append(errs, errors.New("give a table or a query, not both"))
	case c.Table != "":
		if _, err := ParseTableID(c.Table); err != nil {
			errs = append(errs, err)
		}
	default: // a query
		if c.Project == "" {
			errs = append(errs, errors.New("a query needs a billing project"))
		}
		if !c.Start.IsZero() || !c.End.IsZero() {
			errs = append(errs, errors.New("start and end apply to a table; filter in the query instead"))
		}
	}
	if !c.Start.IsZero() && !c.End.IsZero() && !c.Start.Before(c.End) {
		errs = append(errs, fmt.Errorf("empty time window [%s, %s)", c.Start.UTC().Format(time.RFC3339Nano), c.End.UTC().Format(time.RFC3339Nano)))
	}
	if c.Destination != "" {
		if _, err := ParseTableID(c.Destination); err != nil {
			errs = append(errs, fmt.Errorf("destination: %w", err))
		}
	}
	if c.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("negative MaxStreams %d", c.MaxStreams))
	}
	if c.Insecure && (c.Endpoint == "" || c.StorageEndpoint == "") {
		errs = append(errs, errors.New("insecure needs both endpoints (it is for local fakes)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bqsource: %w", err)
	}
	return nil
}

// Describe says in words what is read, for a run's summary, e.g.
// "bigquery:proj.ds.t time_done in [2024-01-01T00:00:00Z, 2024-02-01T00:00:00Z)"
// or "bigquery query: SELECT ...".
func (c Config) Describe() string {
	if c.Table == "" {
		return "bigquery query: " + strings.Join(strings.Fields(c.Query), " ")
	}
	s := "bigquery:" + c.Table
	if t, err := ParseTableID(c.Table); err == nil {
		s = "bigquery:" + t.String()
	}
	if c.Start.IsZero() && c.End.IsZero() {
		return s
	}
	lo, hi := "-inf", "+inf"
	if !c.Start.IsZero() {
		lo = c.Start.UTC().Format(time.RFC3339Nano)
	}
	if !c.End.IsZero() {
		hi = c.End.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s %s in [%s, %s)", s, c.columns().TimeDone, lo, hi)
}

// SQL returns the statement a run executes and its parameters. For a Table,
// it selects the six mapped columns (backquoted, each once) from the table,
// with "time_done >= @start" and "time_done < @end" for the bounds that are
// set, as named TIMESTAMP parameters; for a Query, the query as is.
func (c Config) SQL() (string, []bigquery.QueryParameter) {
	if c.Table == "" {
		return c.Query, nil
	}
	cols := c.columns()
	var sel []string
	for _, name := range columnNames(cols) {
		q := quoteIdent(name)
		if !slices.Contains(sel, q) {
			sel = append(sel, q)
		}
	}
	table := c.Table
	if t, err := ParseTableID(c.Table); err == nil {
		table = t.String()
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(table)
	var where []string
	var params []bigquery.QueryParameter
	if !c.Start.IsZero() {
		where = append(where, quoteIdent(cols.TimeDone)+" >= @start")
		params = append(params, bigquery.QueryParameter{Name: "start", Value: c.Start.UTC()})
	}
	if !c.End.IsZero() {
		where = append(where, quoteIdent(cols.TimeDone)+" < @end")
		params = append(params, bigquery.QueryParameter{Name: "end", Value: c.End.UTC()})
	}
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	return sql, params
}

// quoteIdent backquotes a GoogleSQL identifier (or table path).
func quoteIdent(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`")
	return "`" + r.Replace(s) + "`"
}

// TableID names a BigQuery table.
type TableID struct {
	Project, Dataset, Table string
}

// String returns "project.dataset.table".
func (t TableID) String() string { return t.Project + "." + t.Dataset + "." + t.Table }

// ParseTableID reads "project.dataset.table" or "project:dataset.table". A
// domain-scoped project ("example.com:proj.dataset.table") is kept whole.
func ParseTableID(s string) (TableID, error) {
	bad := func() (TableID, error) {
		return TableID{}, fmt.Errorf("table %q: want project.dataset.table", s)
	}
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "`"))
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return bad()
	}
	rest, table := s[:i], s[i+1:]
	j := strings.LastIndexAny(rest, ".:")
	if j < 0 {
		return bad()
	}
	t := TableID{Project: rest[:j], Dataset: rest[j+1:], Table: table}
	if t.Project == "" || t.Dataset == "" || t.Table == "" || strings.ContainsAny(t.Dataset, ".:") {
		return bad()
	}
	return t, nil
}
