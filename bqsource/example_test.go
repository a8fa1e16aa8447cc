package bqsource_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/bqsource/bqfake"
	"github.com/kmtrain/knowledgemodel/features"
)

// Example reads a window of a table from the fake: Run plans the read, then
// each stream is read (a Beam wrapper reads each in its own DoFn call).
func Example() {
	fake, err := bqfake.NewServer()
	if err != nil {
		panic(err)
	}
	defer fake.Close()
	t := time.Date(2014, 1, 2, 0, 0, 0, 0, time.UTC)
	fake.AddTable("khan.logs.problemlogs", bqfake.Schema(), [][]any{
		{"alice", t, "addition_1", "type1", 1, true},
		{"alice", t.Add(time.Minute), "addition_1", "type1", 2, false},
		{"bob", t.Add(time.Hour), "addition_1", "type2", 1, nil},
		{"bob", t.Add(48 * time.Hour), "addition_1", "type2", 2, true},
	})

	c := fake.Config() // endpoints of the fake; against BigQuery: just Project
	c.Table = "khan.logs.problemlogs"
	c.Start, c.End = t, t.Add(24*time.Hour)
	c.RESTMaxRows = -1 // always the Storage Read API
	fmt.Println(c.Describe())

	ctx := context.Background()
	plan, err := bqsource.Run(ctx, c)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d rows, %s path, %d streams\n", plan.Rows, plan.Path, len(plan.Streams))
	for _, stream := range plan.Streams {
		err := bqsource.ReadStream(ctx, c, plan.Schema, stream, func(l features.ProblemLog, err error) error {
			if err != nil {
				fmt.Println("bad row:", err)
				return nil
			}
			fmt.Println(l.User, l.TimeDone.Format(time.RFC3339), l.Exercise, l.ProblemType, l.ProblemNumber, l.Correct)
			return nil
		})
		if err != nil {
			panic(err)
		}
	}
	// Output:
	// bigquery:khan.logs.problemlogs time_done in [2014-01-02T00:00:00Z, 2014-01-03T00:00:00Z)
	// 3 rows, storage path, 3 streams
	// alice 2014-01-02T00:00:00Z addition_1 type1 1 true
	// alice 2014-01-02T00:01:00Z addition_1 type1 2 false
	// bad row: missing field: correct
}
