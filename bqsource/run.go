package bqsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
	bqstorage "cloud.google.com/go/bigquery/storage/apiv1"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The ways a plan reads a result.
const (
	PathREST    = "rest"    // tabledata.list, one reader (ReadREST)
	PathStorage = "storage" // the Storage Read API, one reader per stream (ReadStream)
)

// Plan is how a run reads its query's result. It is plain data and survives a
// JSON round trip.
type Plan struct {
	Table   string   // the result's table, "project.dataset.table"
	Rows    int64    // rows in it
	Path    string   // PathREST or PathStorage
	Session string   // the read session's name (PathStorage)
	Streams []string // the session's streams (PathStorage); none when the table is empty
	Schema  []byte   // the session's serialised Arrow schema (PathStorage)
}

// restClient returns a BigQuery REST client for c.
func restClient(ctx context.Context, c Config) (*bigquery.Client, error) {
	var opts []option.ClientOption
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.Endpoint))
	}
	if c.Insecure {
		opts = append(opts, option.WithoutAuthentication())
	}
	client, err := bigquery.NewClient(ctx, c.billingProject(), opts...)
	if err != nil {
		return nil, fmt.Errorf("bqsource: %w", err)
	}
	client.Location = c.Location
	return client, nil
}

// storageClient returns a Storage Read API client for c.
func storageClient(ctx context.Context, c Config) (*bqstorage.BigQueryReadClient, error) {
	var opts []option.ClientOption
	if c.StorageEndpoint != "" {
		opts = append(opts, option.WithEndpoint(c.StorageEndpoint))
	}
	if c.Insecure {
		opts = append(opts,
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	client, err := bqstorage.NewBigQueryReadClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("bqsource: storage read client: %w", err)
	}
	return client, nil
}

// Run runs the query of c (jobs.insert) and waits for it, finds its result
// table and the number of rows in it (tables.get), and plans the read: through
// REST when the result has at most RESTMaxRows rows, else through a Storage
// Read session on the table (Arrow format, the six columns, up to MaxStreams
// streams). It checks that the result has the six columns, with types they
// can be read from.
//
// Each call runs (and bills) the query again: call it once per read.
func Run(ctx context.Context, c Config) (Plan, error) {
	if err := c.Validate(); err != nil {
		return Plan{}, err
	}
	client, err := restClient(ctx, c)
	if err != nil {
		return Plan{}, err
	}
	defer client.Close()
	dst, err := runQuery(ctx, client, c)
	if err != nil {
		return Plan{}, err
	}
	md, err := dst.Metadata(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("bqsource: the result table: %w", err)
	}
	have := restColumns(md.Schema)
	if _, err := resolve(c.columns(), have); err != nil {
		return Plan{}, err
	}
	p := Plan{
		Table: TableID{dst.ProjectID, dst.DatasetID, dst.TableID}.String(),
		Rows:  int64(md.NumRows),
	}
	if max := c.restMaxRows(); max >= 0 && p.Rows <= max {
		p.Path = PathREST
		return p, nil
	}
	return planStorageRead(ctx, c, p, dst, have)
}

// runQuery runs the query of c, waits for it, and returns its result table.
func runQuery(ctx context.Context, client *bigquery.Client, c Config) (*bigquery.Table, error) {
	sql, params := c.SQL()
	q := client.Query(sql)
	q.Parameters = params
	if c.Destination != "" {
		dst, _ := ParseTableID(c.Destination) // checked by Validate
		q.Dst = client.DatasetInProject(dst.Project, dst.Dataset).Table(dst.Table)
		q.WriteDisposition = bigquery.WriteTruncate
		q.CreateDisposition = bigquery.CreateIfNeeded
	}
	job, err := q.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("bqsource: starting the query job for %s: %w", c.Describe(), err)
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("bqsource: waiting for query job %s: %w", job.ID(), err)
	}
	if err := status.Err(); err != nil {
		return nil, fmt.Errorf("bqsource: query job %s for %s failed: %w", job.ID(), c.Describe(), err)
	}
	// The job as it is now, with its destination table.
	job, err = client.JobFromProject(ctx, job.ProjectID(), job.ID(), job.Location())
	if err != nil {
		return nil, fmt.Errorf("bqsource: getting query job: %w", err)
	}
	if s := job.LastStatus(); s != nil && s.Statistics != nil {
		if qs, ok := s.Statistics.Details.(*bigquery.QueryStatistics); ok && qs.StatementType != "" && qs.StatementType != "SELECT" {
			return nil, fmt.Errorf("bqsource: the query is a %s statement; want a SELECT", qs.StatementType)
		}
	}
	cfg, err := job.Config()
	if err != nil {
		return nil, fmt.Errorf("bqsource: query job %s: %w", job.ID(), err)
	}
	qc, ok := cfg.(*bigquery.QueryConfig)
	if !ok || qc.Dst == nil {
		return nil, fmt.Errorf("bqsource: query job %s has no destination table", job.ID())
	}
	return qc.Dst, nil
}

// planStorageRead completes p, the plan of reading the result table dst
// (whose columns are have), with a Storage Read session on it.
func planStorageRead(ctx context.Context, c Config, p Plan, dst *bigquery.Table, have []column) (Plan, error) {
	// The columns as the table spells them, each once.
	var fields []string
	for _, name := range columnNames(c.columns()) {
		for _, col := range have {
			if col.name == name || strings.EqualFold(col.name, name) {
				name = col.name
				break
			}
		}
		if !slices.Contains(fields, name) {
			fields = append(fields, name)
		}
	}
	rc, err := storageClient(ctx, c)
	if err != nil {
		return Plan{}, err
	}
	defer rc.Close()
	session, err := rc.CreateReadSession(ctx, &storagepb.CreateReadSessionRequest{
		Parent: "projects/" + c.billingProject(),
		ReadSession: &storagepb.ReadSession{
			Table:       fmt.Sprintf("projects/%s/datasets/%s/tables/%s", dst.ProjectID, dst.DatasetID, dst.TableID),
			DataFormat:  storagepb.DataFormat_ARROW,
			ReadOptions: &storagepb.ReadSession_TableReadOptions{SelectedFields: fields},
		},
		MaxStreamCount: int32(c.maxStreams()),
	})
	if err != nil {
		return Plan{}, fmt.Errorf("bqsource: creating a read session on %s: %w", p.Table, err)
	}
	p.Path = PathStorage
	p.Session = session.GetName()
	p.Schema = session.GetArrowSchema().GetSerializedSchema()
	if len(p.Schema) == 0 {
		return Plan{}, fmt.Errorf("bqsource: read session %s has no Arrow schema", p.Session)
	}
	schema, err := decodeSchema(p.Schema)
	if err != nil {
		return Plan{}, err
	}
	if _, err := resolve(c.columns(), arrowColumns(schema)); err != nil {
		return Plan{}, err
	}
	for _, s := range session.GetStreams() {
		p.Streams = append(p.Streams, s.GetName())
	}
	return p, nil
}

// restColumns describes a table schema's columns.
func restColumns(s bigquery.Schema) []column {
	cols := make([]column, len(s))
	for i, f := range s {
		typ := string(f.Type)
		cols[i] = column{name: f.Name, typ: typ}
		if f.Repeated {
			cols[i].typ = "ARRAY<" + typ + ">"
			continue
		}
		switch typ {
		case "STRING":
			cols[i].kind = kString
		case "INTEGER", "INT64":
			cols[i].kind = kInt
		case "FLOAT", "FLOAT64":
			cols[i].kind = kFloat
		case "BOOLEAN", "BOOL":
			cols[i].kind = kBool
		case "TIMESTAMP", "DATETIME":
			cols[i].kind = kTime
		}
	}
	return cols
}

// arrowColumns describes an Arrow schema's columns.
func arrowColumns(s *arrow.Schema) []column {
	cols := make([]column, s.NumFields())
	for i, f := range s.Fields() {
		cols[i] = column{name: f.Name, typ: f.Type.String()}
		switch f.Type.ID() {
		case arrow.STRING:
			cols[i].kind = kString
		case arrow.INT64:
			cols[i].kind = kInt
		case arrow.FLOAT64:
			cols[i].kind = kFloat
		case arrow.BOOL:
			cols[i].kind = kBool
		case arrow.TIMESTAMP:
			cols[i].kind = kTime
		}
	}
	return cols
}

// decodeSchema reads a serialised Arrow schema (an IPC schema message).
func decodeSchema(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("bqsource: decoding the Arrow schema: %w", err)
	}
	defer r.Release()
	if r.Schema() == nil {
		return nil, errors.New("bqsource: no Arrow schema")
	}
	return r.Schema(), nil
}
