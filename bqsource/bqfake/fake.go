// Package bqfake is an in-process fake of the BigQuery services that package
// bqsource calls: the REST API (jobs.insert, jobs.get, jobs.getQueryResults,
// tables.get, tabledata.list) on an httptest server and the Storage Read API
// (CreateReadSession, ReadRows, with real Arrow IPC batches) on a gRPC server,
// both on 127.0.0.1.
//
// The fake does not run SQL. It evaluates the statements bqsource.Config.SQL
// builds for a table (SELECT of backquoted columns FROM a backquoted table,
// WHERE conditions `col` op @param joined by AND) against the tables given to
// AddTable; any other query returns what SetQueryResult set. A query's result
// is written to a new anonymous table, or to the destination table the job
// names.
//
// It logs the requests it gets, checks them (an unknown table, column, stream
// or offset is answered with the error BigQuery would give), and can inject
// faults: an error response to jobs.insert, a job that fails, a ReadRows
// stream that breaks with codes.Unavailable.
package bqfake

import (
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/civil"
	"github.com/kmtrain/knowledgemodel/bqsource"
	"google.golang.org/grpc"
)

// Project is the billing project of Config.
const Project = "test-project"

// The column types the fake knows, as BigQuery names them in GoogleSQL.
const (
	String    = "STRING"
	Int64     = "INT64"
	Float64   = "FLOAT64"
	Bool      = "BOOL"
	Timestamp = "TIMESTAMP"
	DateTime  = "DATETIME"
)

// Field is a column of a table: its name and its type (String, Int64,
// Float64, Bool, Timestamp or DateTime).
type Field struct {
	Name, Type string
}

// Schema is a convenience for the six ProblemLog columns with their usual
// types, under the default names.
func Schema() []Field {
	return []Field{
		{"user", String}, {"time_done", Timestamp}, {"exercise", String},
		{"problem_type", String}, {"problem_number", Int64}, {"correct", Bool},
	}
}

// QueryRequest is a jobs.insert request as the fake received it.
type QueryRequest struct {
	Project      string // of the request path: the billing project
	JobID        string
	Location     string
	SQL          string
	UseLegacySQL bool
	Params       []Param
	Destination  string // "project.dataset.table" when the job names one
}

// Param is a query parameter of a request.
type Param struct {
	Name, Type, Value string // Value as sent, e.g. "2024-01-01 00:00:00+00:00"
}

// ListRequest is a tabledata.list request.
type ListRequest struct {
	Table             string // "project.dataset.table"
	PageToken         string
	StartIndex        string
	MaxResults        int64
	UseInt64Timestamp bool
}

// SessionRequest is a CreateReadSession request.
type SessionRequest struct {
	Parent         string
	Table          string // as sent: "projects/p/datasets/d/tables/t"
	SelectedFields []string
	MaxStreamCount int32
	DataFormat     string
}

// ReadRowsRequest is a ReadRows request.
type ReadRowsRequest struct {
	Stream string
	Offset int64
}

// table is a table's schema and rows, values normalised: string, int64,
// float64, bool, time.Time (UTC), civil.DateTime, or nil.
type table struct {
	id     string // "project.dataset.table"
	schema []Field
	rows   [][]any
}

type job struct {
	project, id, location string
	result                *table // the destination
	errReason, errMessage string // a failed job
	request               QueryRequest
}

type session struct {
	name    string
	table   *table
	fields  []int // the table's columns the session reads, in table order
	schema  []byte
	streams []string
}

type stream struct {
	session *session
	index   int
	lo, hi  int // rows of the table
}

type streamFault struct {
	index int
	after int64
	used  bool
}

type httpFault struct {
	status int
	body   []byte
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	t     testing.TB
	http  *httptest.Server
	grpc  *grpc.Server
	addr  string
	mu    sync.Mutex
	seq   int
	start time.Time

	tables   map[string]*table
	result   *table
	jobs     map[string]*job
	sessions map[string]*session
	streams  map[string]*stream

	pageSize, numStreams, batchRows int

	insertFaults []httpFault
	jobFaults    [][2]string
	streamFaults []*streamFault

	inserted  map[string][]map[string]any // by table id: the rows streamed in
	insertIDs map[string]bool             // table id/insertId seen

	calls    []string
	queries  []QueryRequest
	gets     []string
	lists    []ListRequest
	creates  []SessionRequest
	readRows []ReadRowsRequest
}

// New starts a fake on free ports of 127.0.0.1 for a test; t.Cleanup stops
// it. An unexpected request fails the test.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := start(t)
	if err != nil {
		t.Fatalf("bqfake: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake outside a test (an example, a local run); Close
// stops it. Misuse panics.
func NewServer() (*Server, error) { return start(nil) }

func start(t testing.TB) (*Server, error) {
	s := &Server{
		t:          t,
		start:      time.Now(),
		tables:     map[string]*table{},
		jobs:       map[string]*job{},
		sessions:   map[string]*session{},
		streams:    map[string]*stream{},
		numStreams: 3,
		batchRows:  100,
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = lis.Addr().String()
	s.grpc = grpc.NewServer()
	storagepb.RegisterBigQueryReadServer(s.grpc, &readServer{s: s})
	go s.grpc.Serve(lis)
	s.http = httptest.NewServer(s)
	return s, nil
}

// Close stops the servers.
func (s *Server) Close() {
	s.http.Close()
	s.grpc.Stop()
}

// fatalf reports misuse of the fake: it fails the test, or panics outside one.
func (s *Server) fatalf(format string, args ...any) {
	if s.t != nil {
		s.t.Helper()
		s.t.Fatalf(format, args...)
	}
	panic(fmt.Sprintf(format, args...))
}

// errorf reports an unexpected request: it fails the test, if any.
func (s *Server) errorf(format string, args ...any) {
	if s.t != nil {
		s.t.Errorf(format, args...)
	}
}

// Config returns a bqsource.Config that reaches the fake: Project, Endpoint,
// StorageEndpoint and Insecure set.
func (s *Server) Config() bqsource.Config {
	return bqsource.Config{
		Project:         Project,
		Endpoint:        s.http.URL + "/",
		StorageEndpoint: s.addr,
		Insecure:        true,
	}
}

// AddTable adds (or replaces) a table "project.dataset.table" with a schema
// and rows of Go values: string, an integer, a float, bool, time.Time (for
// TIMESTAMP, and for DATETIME as a UTC wall time), civil.DateTime, or nil
// (NULL). A value that does not fit its column fails the test.
func (s *Server) AddTable(id string, schema []Field, rows [][]any) {
	if s.t != nil {
		s.t.Helper()
	}
	tid, err := bqsource.ParseTableID(id)
	if err != nil {
		s.fatalf("bqfake: AddTable: %v", err)
	}
	tb := s.newTable(tid.String(), schema, rows)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables[tb.id] = tb
}

// SetQueryResult sets what a query the fake cannot evaluate itself (anything
// but a plain SELECT of columns of an added table) returns. Without it such a
// query is an invalidQuery error.
func (s *Server) SetQueryResult(schema []Field, rows [][]any) {
	if s.t != nil {
		s.t.Helper()
	}
	tb := s.newTable("", schema, rows)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.result = tb
}

func (s *Server) newTable(id string, schema []Field, rows [][]any) *table {
	if s.t != nil {
		s.t.Helper()
	}
	tb := &table{id: id, schema: append([]Field(nil), schema...)}
	for i, f := range schema {
		switch f.Type {
		case String, Int64, Float64, Bool, Timestamp, DateTime:
		default:
			s.fatalf("bqfake: column %q: unknown type %q", f.Name, f.Type)
		}
		for j := range i {
			if strings.EqualFold(schema[j].Name, f.Name) {
				s.fatalf("bqfake: duplicate column %q", f.Name)
			}
		}
	}
	for r, row := range rows {
		if len(row) != len(schema) {
			s.fatalf("bqfake: row %d has %d values, the schema %d columns", r, len(row), len(schema))
		}
		norm := make([]any, len(row))
		for i, v := range row {
			n, err := normalise(v, schema[i].Type)
			if err != nil {
				s.fatalf("bqfake: row %d, column %q: %v", r, schema[i].Name, err)
			}
			norm[i] = n
		}
		tb.rows = append(tb.rows, norm)
	}
	return tb
}

func normalise(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case Int64:
		switch n := v.(type) {
		case int:
			return int64(n), nil
		case int32:
			return int64(n), nil
		case int64:
			return n, nil
		}
	case Float64:
		switch f := v.(type) {
		case float64:
			return f, nil
		case float32:
			return float64(f), nil
		case int:
			return float64(f), nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Timestamp:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Truncate(time.Microsecond), nil
		}
	case DateTime:
		switch t := v.(type) {
		case civil.DateTime:
			return t, nil
		case time.Time:
			return civil.DateTimeOf(t.UTC().Truncate(time.Microsecond)), nil
		}
	}
	return nil, fmt.Errorf("%T value %v for a %s column", v, v, typ)
}

// SetPageSize caps the rows of a tabledata.list page (0: no cap beyond the
// request's maxResults).
func (s *Server) SetPageSize(n int) { s.mu.Lock(); s.pageSize = n; s.mu.Unlock() }

// SetStreams sets how many streams a read session splits its rows into (at
// most the request's max stream count, and no more than there are rows).
// The default is 3.
func (s *Server) SetStreams(n int) { s.mu.Lock(); s.numStreams = n; s.mu.Unlock() }

// SetBatchRows sets the rows of an Arrow record batch (default 100).
func (s *Server) SetBatchRows(n int) { s.mu.Lock(); s.batchRows = max(n, 1); s.mu.Unlock() }

// FailJobsInsert makes the next jobs.insert (each call queues one) answer
// with this HTTP status and body; see ErrorJSON. A 5xx status is retried by
// the client.
func (s *Server) FailJobsInsert(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insertFaults = append(s.insertFaults, httpFault{status, body})
}

// FailJob makes the next query job (each call queues one) fail when it runs,
// with a BigQuery error reason (e.g. "invalidQuery") and message.
func (s *Server) FailJob(reason, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobFaults = append(s.jobFaults, [2]string{reason, message})
}

// FailStream makes the next ReadRows of stream number index (of any read
// session) that starts at or before row after of the stream send the rows
// before that row and then break with codes.Unavailable, once (each call
// queues one). With after 0 the stream fails at once.
func (s *Server) FailStream(index int, after int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamFaults = append(s.streamFaults, &streamFault{index: index, after: after})
}

// Inserted returns the rows streamed into table ("project.dataset.table")
// by tabledata.insertAll, in the order they came, each as its JSON object.
func (s *Server) Inserted(table string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.inserted[table])
}

// Calls lists the API methods called, in order: "jobs.insert", "jobs.query",
// "jobs.get", "jobs.getQueryResults", "tables.get", "tabledata.list",
// "tables.insert", "tabledata.insertAll", "CreateReadSession", "ReadRows"
// (and "unknown" for anything else).
func (s *Server) Calls() []string { s.mu.Lock(); defer s.mu.Unlock(); return clone(s.calls) }

// Queries lists the jobs.insert requests.
func (s *Server) Queries() []QueryRequest { s.mu.Lock(); defer s.mu.Unlock(); return clone(s.queries) }

// TableGets lists the tables of tables.get requests, "project.dataset.table".
func (s *Server) TableGets() []string { s.mu.Lock(); defer s.mu.Unlock(); return clone(s.gets) }

// ListRequests lists the tabledata.list requests.
func (s *Server) ListRequests() []ListRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.lists)
}

// SessionRequests lists the CreateReadSession requests.
func (s *Server) SessionRequests() []SessionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.creates)
}

// ReadRowsRequests lists the ReadRows requests.
func (s *Server) ReadRowsRequests() []ReadRowsRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.readRows)
}

func clone[T any](s []T) []T { return append([]T(nil), s...) }

func (s *Server) call(name string) {
	s.mu.Lock()
	s.calls = append(s.calls, name)
	s.mu.Unlock()
}
