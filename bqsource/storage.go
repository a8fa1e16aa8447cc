package bqsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	bqstorage "cloud.google.com/go/bigquery/storage/apiv1"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/kmtrain/knowledgemodel/features"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// How ReadStream resumes a broken stream: at most maxResumes times in a row
// without receiving a row in between, after a pause that starts at
// resumePause and doubles up to maxResumePause.
var (
	maxResumes     = 8
	resumePause    = 100 * time.Millisecond
	maxResumePause = 10 * time.Second
)

// StreamReader reads Storage Read streams through one client. It is safe for
// concurrent use; a Beam DoFn can open one in Setup and close it in Teardown.
type StreamReader struct {
	c      Config
	client *bqstorage.BigQueryReadClient
}

// NewStreamReader connects to the Storage Read API that c names.
func NewStreamReader(ctx context.Context, c Config) (*StreamReader, error) {
	client, err := storageClient(ctx, c)
	if err != nil {
		return nil, err
	}
	return &StreamReader{c: c, client: client}, nil
}

// Close closes the client.
func (r *StreamReader) Close() error { return r.client.Close() }

// ReadStream reads one stream of a read session (a Plan's Streams) with a
// client of its own; see StreamReader.ReadStream.
func ReadStream(ctx context.Context, c Config, schema []byte, stream string, fn func(features.ProblemLog, error) error) error {
	r, err := NewStreamReader(ctx, c)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.ReadStream(ctx, schema, stream, fn)
}

// ReadStream reads one stream of a read session and calls fn for every row:
// with a log, or with a *problemlogs.RowError for a row that is not one. An
// error from fn stops the read and is returned as is. schema is the session's
// serialised Arrow schema (Plan.Schema); it must have the six columns.
//
// The stream is decoded as it arrives, one record batch at a time, each
// decoded once. If the stream breaks with a transient gRPC error (Unavailable,
// Internal, Aborted, ResourceExhausted, or DeadlineExceeded while ctx is
// still live) ReadRows is called again at the offset of the rows already
// delivered, so that no row is lost or repeated; at most a few times in a row
// without progress.
func (r *StreamReader) ReadStream(ctx context.Context, schema []byte, stream string, fn func(features.ProblemLog, error) error) error {
	f := &feeder{ctx: ctx, client: r.client, stream: stream, buf: schema}
	defer f.stop()
	rdr, err := ipc.NewReader(f, ipc.WithAllocator(memory.NewGoAllocator()))
	if err != nil {
		return fmt.Errorf("bqsource: stream %s: decoding the Arrow schema: %w", stream, err)
	}
	defer rdr.Release()
	cols := r.c.columns()
	idx, err := resolve(cols, arrowColumns(rdr.Schema()))
	if err != nil {
		return err
	}
	var acc [numFields]accessor
	for fld, i := range idx {
		acc[fld].col = i
	}
	cv := newConverter(cols)
	var cells [numFields]cell
	for rdr.Next() {
		rec := rdr.Record()
		for fld := range acc {
			if err := acc[fld].set(rec); err != nil {
				return fmt.Errorf("bqsource: stream %s: %w", stream, err)
			}
		}
		n := int(rec.NumRows())
		for i := 0; i < n; i++ {
			for fld := range acc {
				acc[fld].get(i, &cells[fld])
			}
			if err := fn(cv.convert(&cells)); err != nil {
				return err
			}
			f.delivered++
		}
	}
	if f.err != nil {
		return fmt.Errorf("bqsource: stream %s at row %d: %w", stream, f.delivered, f.err)
	}
	if err := rdr.Err(); err != nil {
		return fmt.Errorf("bqsource: stream %s at row %d: decoding Arrow: %w", stream, f.delivered, err)
	}
	return nil
}

// accessor reads one column of the record batches.
type accessor struct {
	col  int
	kind kind
	arr  arrow.Array
	str  *array.String
	i64  *array.Int64
	f64  *array.Float64
	bl   *array.Boolean
	ts   *array.Timestamp
	unit arrow.TimeUnit
}

// set points a at the column of a record batch.
func (a *accessor) set(rec arrow.Record) error {
	a.arr = rec.Column(a.col)
	a.kind = kOther
	switch arr := a.arr.(type) {
	case *array.String:
		if err := checkOffsets(arr); err != nil {
			return fmt.Errorf("column %q: malformed Arrow batch: %v", rec.ColumnName(a.col), err)
		}
		a.kind, a.str = kString, arr
	case *array.Int64:
		a.kind, a.i64 = kInt, arr
	case *array.Float64:
		a.kind, a.f64 = kFloat, arr
	case *array.Boolean:
		a.kind, a.bl = kBool, arr
	case *array.Timestamp:
		a.kind, a.ts = kTime, arr
		a.unit = arr.DataType().(*arrow.TimestampType).Unit
	default:
		return fmt.Errorf("column %q: unexpected Arrow type %s", rec.ColumnName(a.col), a.arr.DataType())
	}
	return nil
}

// checkOffsets reports whether a string column's offsets, which Arrow
// checks only at the end, rise from 0 or more and stay within its data: a
// reader of a malformed batch would slice out of bounds.
func checkOffsets(a *array.String) error {
	size := 0
	if b := a.Data().Buffers(); len(b) > 2 && b[2] != nil {
		size = b[2].Len()
	}
	offs := a.ValueOffsets()
	for i, o := range offs {
		if o < 0 || int(o) > size || (i > 0 && o < offs[i-1]) {
			return fmt.Errorf("string offset %d is %d (data of %d bytes, previous %d)", i, o, size, offs[max(i-1, 0)])
		}
	}
	return nil
}

// get stores row i's value in c. A string aliases the batch's buffer.
func (a *accessor) get(i int, c *cell) {
	if a.arr.IsNull(i) {
		*c = cell{null: true}
		return
	}
	c.null, c.kind = false, a.kind
	switch a.kind {
	case kString:
		c.s = a.str.Value(i)
	case kInt:
		c.i = a.i64.Value(i)
	case kFloat:
		c.f = a.f64.Value(i)
	case kBool:
		c.b = a.bl.Value(i)
	case kTime:
		v := int64(a.ts.Value(i))
		if a.unit == arrow.Microsecond {
			c.t = time.UnixMicro(v).UTC()
		} else {
			c.t = arrow.Timestamp(v).ToTime(a.unit).UTC()
		}
	}
}

// feeder is the byte stream the Arrow decoder reads: the schema, then the
// record batches of the ReadRows responses as they arrive. It opens ReadRows
// when the decoder first needs a batch, and again, at the offset of the rows
// delivered, when the stream breaks with a transient error: the decoder reads
// whole messages and no further, so when it asks for more bytes every row
// received has been delivered.
type feeder struct {
	ctx       context.Context
	client    *bqstorage.BigQueryReadClient
	stream    string
	buf       []byte // bytes not yet read
	rows      storagepb.BigQueryRead_ReadRowsClient
	cancel    context.CancelFunc
	delivered int64 // rows passed to fn, counted by ReadStream
	resumes   int   // failures in a row without a row received
	err       error // the error that ended the stream, other than io.EOF
	done      bool
}

func (f *feeder) Read(p []byte) (int, error) {
	for len(f.buf) == 0 {
		if f.done {
			return 0, io.EOF
		}
		if f.err != nil {
			return 0, f.err
		}
		if f.rows == nil {
			ctx, cancel := context.WithCancel(f.ctx)
			rows, err := f.client.ReadRows(ctx, &storagepb.ReadRowsRequest{ReadStream: f.stream, Offset: f.delivered})
			if err != nil {
				cancel()
				if f.retry(err) {
					continue
				}
				return 0, f.err
			}
			f.rows, f.cancel = rows, cancel
		}
		resp, err := f.rows.Recv()
		if err == io.EOF {
			f.done = true
			f.stop()
			return 0, io.EOF
		}
		if err != nil {
			f.stop()
			if f.retry(err) {
				continue
			}
			return 0, f.err
		}
		if b := resp.GetArrowRecordBatch(); b != nil && len(b.GetSerializedRecordBatch()) > 0 {
			f.buf = b.GetSerializedRecordBatch()
			f.resumes = 0
		}
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

// retry says whether to open the stream again after err, pausing first; if
// not, it records the error.
func (f *feeder) retry(err error) bool {
	if f.ctx.Err() == nil && retryable(err) && f.resumes < maxResumes {
		pause := resumePause << f.resumes
		if pause > maxResumePause || pause <= 0 {
			pause = maxResumePause
		}
		f.resumes++
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-f.ctx.Done():
			err = f.ctx.Err()
		}
	}
	if f.ctx.Err() != nil && !errors.Is(err, f.ctx.Err()) {
		err = fmt.Errorf("%w (%v)", f.ctx.Err(), err)
	}
	f.err = err
	return false
}

// stop ends the current ReadRows call.
func (f *feeder) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.rows, f.cancel = nil, nil
}

// retryable says whether a ReadRows error is worth resuming after.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Internal, codes.Aborted, codes.ResourceExhausted, codes.DeadlineExceeded:
		return true
	}
	return false
}
