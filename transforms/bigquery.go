package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/features"
)

// BigQueryStream is one stream of a BigQuery Storage Read session: the unit
// of parallel reading, as a FileShard is for files.
type BigQueryStream struct {
	Stream string `json:"stream"`
	Schema []byte `json:"schema"` // the session's serialised Arrow schema
}

// ReadBigQuery reads ProblemLogs from BigQuery and returns them batched per
// group of students as KV<StudentGroup, LogBatch>, with the Stats of what was read, exactly as
// ReadProblemLogs does for files.
//
// One worker runs the query (standard SQL with parameters) into its
// destination table and plans the read. A result of at most
// cfg.RESTMaxRows rows is read there and then through the REST API; a larger
// one gets a Storage Read session whose streams are reshuffled so that each
// is read by its own DoFn instance, on as many workers as the runner gives.
func ReadBigQuery(s beam.Scope, cfg bqsource.Config) (logs, stats beam.PCollection) {
	s = s.Scope("ReadBigQuery")
	streams, small, planStats := beam.ParDo3(s, &planBigQueryFn{Config: cfg}, beam.Impulse(s))
	streams = beam.Reshuffle(s, streams)
	large, readStats := beam.ParDo2(s, &readBigQueryStreamFn{Config: cfg}, streams)
	return beam.Flatten(s, small, large), beam.Flatten(s, planStats, readStats)
}

// planBigQueryFn runs the query and emits the streams to read, or reads a
// small result itself.
type planBigQueryFn struct {
	Config    bqsource.Config
	FlushLogs int
}

func (fn *planBigQueryFn) ProcessElement(ctx context.Context, _ []byte,
	emitStream func(BigQueryStream), emitLogs func(string, LogBatch), emitStats func(Stats)) error {
	plan, err := bqsource.Run(ctx, fn.Config)
	if err != nil {
		return fmt.Errorf("bigquery: %v", err)
	}
	log.Infof(ctx, "bigquery: %s: %d rows in %s, read through %s in %d streams",
		fn.Config.Describe(), plan.Rows, plan.Table, plan.Path, len(plan.Streams))
	var st Stats
	st.Add(CountSourceRows, plan.Rows)
	if plan.Path == bqsource.PathREST || len(plan.Streams) == 0 {
		b := newLogBatcher(fn.FlushLogs, emitLogs)
		row := int64(0)
		if plan.Path == bqsource.PathREST {
			err = bqsource.ReadREST(ctx, fn.Config, plan, func(l features.ProblemLog, err error) error {
				row++
				if err != nil {
					b.badRow(ctx, err, fmt.Sprintf("%s row %d", plan.Table, row), "")
					return nil
				}
				b.add(l, true)
				return nil
			})
			if err != nil {
				return fmt.Errorf("bigquery: reading %s: %v", plan.Table, err)
			}
		}
		st.Merge(b.finish())
		st.Add(CountShards, 1)
		st.Add(CountShardsRead, 1)
	} else {
		st.Add(CountShards, int64(len(plan.Streams)))
		for _, name := range plan.Streams {
			emitStream(BigQueryStream{Stream: name, Schema: plan.Schema})
		}
	}
	st.publish(ctx)
	emitStats(st)
	return nil
}

// readBigQueryStreamFn reads Storage Read streams, one per element, over
// one connection per DoFn instance.
type readBigQueryStreamFn struct {
	Config    bqsource.Config
	FlushLogs int

	reader *bqsource.StreamReader
}

func (fn *readBigQueryStreamFn) Setup(ctx context.Context) error {
	r, err := bqsource.NewStreamReader(ctx, fn.Config)
	if err != nil {
		return fmt.Errorf("bigquery: %v", err)
	}
	fn.reader = r
	return nil
}

func (fn *readBigQueryStreamFn) Teardown() error {
	if fn.reader == nil {
		return nil
	}
	return fn.reader.Close()
}

func (fn *readBigQueryStreamFn) ProcessElement(ctx context.Context, s BigQueryStream,
	emit func(string, LogBatch), emitStats func(Stats)) error {
	b := newLogBatcher(fn.FlushLogs, emit)
	row := int64(0)
	err := fn.reader.ReadStream(ctx, s.Schema, s.Stream, func(l features.ProblemLog, err error) error {
		row++
		if err != nil {
			b.badRow(ctx, err, fmt.Sprintf("%s row %d", s.Stream, row), "")
			return nil
		}
		b.add(l, true)
		return nil
	})
	if err != nil {
		return fmt.Errorf("bigquery: reading stream %s: %v", s.Stream, err) // not counted read: sinks refuse to write
	}
	st := b.finish()
	st.Add(CountShardsRead, 1)
	st.publish(ctx)
	log.Infof(ctx, "bigquery: read stream %s: %d logs, %d bad rows", s.Stream, b.logs, b.bad)
	emitStats(st)
	return nil
}
