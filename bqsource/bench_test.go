package bqsource_test

import (
	"context"
	"testing"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/bqsource/bqfake"
	"github.com/kmtrain/knowledgemodel/features"
)

// BenchmarkReadStream reads one stream of 100,000 rows in batches of 10,000
// (the fake's encoding included); it reports the allocations per row.
func BenchmarkReadStream(b *testing.B) {
	s := bqfake.New(b)
	s.SetStreams(1)
	s.SetBatchRows(10000)
	rows, _ := logRows(100000)
	s.AddTable("src.ds.logs", bqfake.Schema(), rows)
	c := s.Config()
	c.Table = "src.ds.logs"
	c.RESTMaxRows = -1
	ctx := context.Background()
	p, err := bqsource.Run(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	r, err := bqsource.NewStreamReader(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		err := r.ReadStream(ctx, p.Schema, p.Streams[0], func(features.ProblemLog, error) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/row")
}
