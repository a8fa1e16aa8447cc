package bqfake_test

import (
	"context"
	"io"
	"testing"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"github.com/kmtrain/knowledgemodel/bqsource/bqfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestChecks checks that the Storage Read fake answers bad requests with the
// errors BigQuery gives.
func TestChecks(t *testing.T) {
	s := bqfake.New(t)
	s.AddTable("p.d.t", bqfake.Schema(), [][]any{{"u", time.Unix(0, 0), "e", "pt", 1, true}})
	conn, err := grpc.NewClient(s.Config().StorageEndpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := storagepb.NewBigQueryReadClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	session := func(table string, format storagepb.DataFormat, fields ...string) (*storagepb.ReadSession, error) {
		return client.CreateReadSession(ctx, &storagepb.CreateReadSessionRequest{
			Parent: "projects/" + bqfake.Project,
			ReadSession: &storagepb.ReadSession{
				Table: table, DataFormat: format,
				ReadOptions: &storagepb.ReadSession_TableReadOptions{SelectedFields: fields},
			},
		})
	}
	for _, tt := range []struct {
		name   string
		table  string
		format storagepb.DataFormat
		fields []string
		code   codes.Code
	}{
		{"unknown field", "projects/p/datasets/d/tables/t", storagepb.DataFormat_ARROW, []string{"user", "nope"}, codes.InvalidArgument},
		{"avro", "projects/p/datasets/d/tables/t", storagepb.DataFormat_AVRO, nil, codes.InvalidArgument},
		{"unknown table", "projects/p/datasets/d/tables/x", storagepb.DataFormat_ARROW, nil, codes.NotFound},
		{"bad table name", "p.d.t", storagepb.DataFormat_ARROW, nil, codes.InvalidArgument},
	} {
		if _, err := session(tt.table, tt.format, tt.fields...); status.Code(err) != tt.code {
			t.Errorf("%s: CreateReadSession = %v, want %s", tt.name, err, tt.code)
		}
	}

	rs, err := session("projects/p/datasets/d/tables/t", storagepb.DataFormat_ARROW, "user")
	if err != nil || len(rs.GetStreams()) != 1 || len(rs.GetArrowSchema().GetSerializedSchema()) == 0 {
		t.Fatalf("CreateReadSession = %v, %v", rs, err)
	}
	read := func(stream string, offset int64) (rows int64, err error) {
		rr, err := client.ReadRows(ctx, &storagepb.ReadRowsRequest{ReadStream: stream, Offset: offset})
		if err != nil {
			return 0, err
		}
		for {
			resp, err := rr.Recv()
			if err == io.EOF {
				return rows, nil
			}
			if err != nil {
				return rows, err
			}
			rows += resp.GetRowCount()
		}
	}
	stream := rs.GetStreams()[0].GetName()
	if n, err := read(stream, 0); n != 1 || err != nil {
		t.Errorf("ReadRows = %d rows, %v; want 1", n, err)
	}
	if n, err := read(stream, 1); n != 0 || err != nil {
		t.Errorf("ReadRows at the end = %d rows, %v; want none", n, err)
	}
	if _, err := read(stream, 2); status.Code(err) != codes.OutOfRange {
		t.Errorf("ReadRows past the end = %v, want OutOfRange", err)
	}
	if _, err := read(stream+"x", 0); status.Code(err) != codes.NotFound {
		t.Errorf("ReadRows of an unknown stream = %v, want NotFound", err)
	}
	want := []bqfake.SessionRequest{{Parent: "projects/test-project", Table: "projects/p/datasets/d/tables/t", SelectedFields: []string{"user"}, DataFormat: "ARROW"}}
	if got := s.SessionRequests(); len(got) != 5 || got[4].Table != want[0].Table || len(got[4].SelectedFields) != 1 {
		t.Errorf("session requests %+v", got)
	}
}
