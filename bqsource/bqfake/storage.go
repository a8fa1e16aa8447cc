package bqfake

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var sessionTableRE = regexp.MustCompile(`^projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$`)

// readServer is the Storage Read API.
type readServer struct {
	storagepb.UnimplementedBigQueryReadServer
	s *Server
}

func (rs *readServer) CreateReadSession(ctx context.Context, req *storagepb.CreateReadSessionRequest) (*storagepb.ReadSession, error) {
	s := rs.s
	s.call("CreateReadSession")
	rsIn := req.GetReadSession()
	log := SessionRequest{
		Parent:         req.GetParent(),
		Table:          rsIn.GetTable(),
		SelectedFields: append([]string(nil), rsIn.GetReadOptions().GetSelectedFields()...),
		MaxStreamCount: req.GetMaxStreamCount(),
		DataFormat:     rsIn.GetDataFormat().String(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creates = append(s.creates, log)

	if !strings.HasPrefix(log.Parent, "projects/") || len(log.Parent) == len("projects/") {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q: want projects/{project}", log.Parent)
	}
	if rsIn.GetDataFormat() != storagepb.DataFormat_ARROW {
		return nil, status.Errorf(codes.InvalidArgument, "bqfake serves the ARROW data format only, not %s", rsIn.GetDataFormat())
	}
	if rsIn.GetReadOptions().GetRowRestriction() != "" {
		return nil, status.Errorf(codes.Unimplemented, "bqfake does not implement row restrictions")
	}
	m := sessionTableRE.FindStringSubmatch(log.Table)
	if m == nil {
		return nil, status.Errorf(codes.InvalidArgument, "table %q: want projects/{p}/datasets/{d}/tables/{t}", log.Table)
	}
	tb := s.tables[m[1]+"."+m[2]+"."+m[3]]
	if tb == nil {
		return nil, status.Errorf(codes.NotFound, "Not found: Table %s:%s.%s", m[1], m[2], m[3])
	}
	if req.GetMaxStreamCount() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "negative max_stream_count")
	}

	// The selected columns, in the table's order, as BigQuery gives them.
	sel := make([]bool, len(tb.schema))
	for _, name := range log.SelectedFields {
		found := false
		for i, f := range tb.schema {
			if strings.EqualFold(f.Name, name) {
				sel[i], found = true, true
			}
		}
		if !found {
			return nil, status.Errorf(codes.InvalidArgument, "request failed: the following selected fields do not exist in the table schema: %s", name)
		}
	}
	sess := &session{table: tb}
	for i := range tb.schema {
		if sel[i] || len(log.SelectedFields) == 0 {
			sess.fields = append(sess.fields, i)
		}
	}
	schema, err := sess.encodeSchema()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "bqfake: %v", err)
	}
	sess.schema = schema
	s.seq++
	sess.name = fmt.Sprintf("projects/%s/locations/us/sessions/session_%d", strings.TrimPrefix(log.Parent, "projects/"), s.seq)

	n := s.numStreams
	if c := int(req.GetMaxStreamCount()); c > 0 {
		n = min(n, c)
	}
	n = min(n, len(tb.rows))
	out := &storagepb.ReadSession{
		Name:              sess.name,
		Table:             log.Table,
		DataFormat:        storagepb.DataFormat_ARROW,
		ReadOptions:       rsIn.GetReadOptions(),
		Schema:            &storagepb.ReadSession_ArrowSchema{ArrowSchema: &storagepb.ArrowSchema{SerializedSchema: schema}},
		EstimatedRowCount: int64(len(tb.rows)),
	}
	for k := range n {
		name := fmt.Sprintf("%s/streams/stream_%d", sess.name, k)
		st := &stream{session: sess, index: k, lo: k * len(tb.rows) / n, hi: (k + 1) * len(tb.rows) / n}
		s.streams[name] = st
		sess.streams = append(sess.streams, name)
		out.Streams = append(out.Streams, &storagepb.ReadStream{Name: name})
	}
	s.sessions[sess.name] = sess
	return out, nil
}

func (rs *readServer) ReadRows(req *storagepb.ReadRowsRequest, srv storagepb.BigQueryRead_ReadRowsServer) error {
	s := rs.s
	s.call("ReadRows")
	s.mu.Lock()
	s.readRows = append(s.readRows, ReadRowsRequest{Stream: req.GetReadStream(), Offset: req.GetOffset()})
	st := s.streams[req.GetReadStream()]
	batch := s.batchRows
	var fault *streamFault
	if st != nil {
		for _, f := range s.streamFaults {
			if !f.used && f.index == st.index && req.GetOffset() <= f.after && f.after <= int64(st.hi-st.lo) {
				f.used, fault = true, f
				break
			}
		}
	}
	s.mu.Unlock()
	if st == nil {
		return status.Errorf(codes.NotFound, "stream %q not found", req.GetReadStream())
	}
	total := int64(st.hi - st.lo)
	if req.GetOffset() < 0 || req.GetOffset() > total {
		return status.Errorf(codes.OutOfRange, "offset %d out of range [0, %d] for stream %s", req.GetOffset(), total, req.GetReadStream())
	}
	end := total
	if fault != nil {
		end = fault.after
	}
	enc, err := st.session.newEncoder()
	if err != nil {
		return status.Errorf(codes.Internal, "bqfake: %v", err)
	}
	for off := req.GetOffset(); off < end; {
		n := min(int64(batch), end-off)
		rows := st.session.table.rows[st.lo+int(off) : st.lo+int(off+n)]
		b, err := enc.encode(rows)
		if err != nil {
			return status.Errorf(codes.Internal, "bqfake: %v", err)
		}
		if err := srv.Send(&storagepb.ReadRowsResponse{
			Rows:     &storagepb.ReadRowsResponse_ArrowRecordBatch{ArrowRecordBatch: &storagepb.ArrowRecordBatch{SerializedRecordBatch: b, RowCount: n}},
			RowCount: n,
			Stats:    &storagepb.StreamStats{Progress: &storagepb.StreamStats_Progress{AtResponseStart: float64(off) / float64(total), AtResponseEnd: float64(off+n) / float64(total)}},
		}); err != nil {
			return err
		}
		off += n
	}
	if fault != nil {
		return status.Errorf(codes.Unavailable, "bqfake: stream %s broken after row %d", req.GetReadStream(), fault.after)
	}
	return nil
}

// arrowSchema is the session's schema in Arrow: BigQuery's mapping.
func (sess *session) arrowSchema() *arrow.Schema {
	var fields []arrow.Field
	for _, i := range sess.fields {
		f := sess.table.schema[i]
		var t arrow.DataType
		switch f.Type {
		case String:
			t = arrow.BinaryTypes.String
		case Int64:
			t = arrow.PrimitiveTypes.Int64
		case Float64:
			t = arrow.PrimitiveTypes.Float64
		case Bool:
			t = arrow.FixedWidthTypes.Boolean
		case Timestamp:
			t = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case DateTime:
			t = &arrow.TimestampType{Unit: arrow.Microsecond}
		}
		fields = append(fields, arrow.Field{Name: f.Name, Type: t, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

// encodeSchema returns the serialised schema: an IPC schema message.
func (sess *session) encodeSchema() ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sess.arrowSchema()))
	if err := w.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	eos := []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	if !bytes.HasSuffix(b, eos) {
		return nil, fmt.Errorf("unexpected end of an Arrow IPC stream")
	}
	return bytes.Clone(b[:len(b)-len(eos)]), nil
}

// encoder writes record batches as IPC messages without the schema.
type encoder struct {
	sess   *session
	schema *arrow.Schema
	prefix []byte // the schema message the writer writes first
	buf    bytes.Buffer
	w      *ipc.Writer
	first  bool
}

func (sess *session) newEncoder() (*encoder, error) {
	s := sess.arrowSchema()
	e := &encoder{sess: sess, schema: s, prefix: sess.schema, first: true}
	e.w = ipc.NewWriter(&e.buf, ipc.WithSchema(s), ipc.WithAllocator(memory.NewGoAllocator()))
	return e, nil
}

// encode returns one serialised record batch of rows.
func (e *encoder) encode(rows [][]any) ([]byte, error) {
	rb := array.NewRecordBuilder(memory.NewGoAllocator(), e.schema)
	defer rb.Release()
	for k, i := range e.sess.fields {
		fb := rb.Field(k)
		for _, row := range rows {
			v := row[i]
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch b := fb.(type) {
			case *array.StringBuilder:
				b.Append(v.(string))
			case *array.Int64Builder:
				b.Append(v.(int64))
			case *array.Float64Builder:
				b.Append(v.(float64))
			case *array.BooleanBuilder:
				b.Append(v.(bool))
			case *array.TimestampBuilder:
				b.Append(arrow.Timestamp(micros(v)))
			default:
				return nil, fmt.Errorf("no builder for %T", fb)
			}
		}
	}
	rec := rb.NewRecord()
	defer rec.Release()
	e.buf.Reset()
	if err := e.w.Write(rec); err != nil {
		return nil, err
	}
	b := e.buf.Bytes()
	if e.first {
		if !bytes.HasPrefix(b, e.prefix) {
			return nil, fmt.Errorf("the Arrow writer's schema message differs from the session's")
		}
		b = b[len(e.prefix):]
		e.first = false
	}
	return bytes.Clone(b), nil
}
