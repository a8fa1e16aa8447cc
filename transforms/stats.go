package transforms

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/model"
)

// Names of the counts a run keeps. Each is also a Beam counter in the
// "kmtrain" namespace, so a runner's UI shows progress.
const (
	CountShards          = "shards"      // byte ranges the input was split into
	CountShardsRead      = "shards_read" // byte ranges read to the end without error
	CountSourceRows      = "source_rows" // rows a source says it holds (BigQuery), when it knows
	CountFiles           = "files_read"
	CountEmptyFiles      = "empty_files"
	CountHeaderOnly      = "header_only_files"
	CountLogs            = "logs_read"
	CountBadRows         = "bad_rows"
	CountStudentsKept    = "students_kept"
	CountStudentsDropped = "students_dropped"
	CountLogsDropped     = "logs_of_dropped_students"
	CountStudentsHeldOut = "students_held_out" // students kept out of training to evaluate on
	CountLogsHeldOut     = "logs_held_out"     // their logs, or the attempts after --holdout_after
	CountRows            = "rows_emitted"
	CountComponentsNew   = "components_new"
)

// Kinds of examples a run keeps.
const (
	ExampleBadRow     = "bad_row"
	ExampleDropped    = "dropped_student"
	ExampleEmptyFile  = "empty_file"
	ExampleHeaderOnly = "header_only_file"
)

// maxExamples bounds how many examples of a kind a run keeps.
const maxExamples = 10

// maxFileExamples bounds how many empty or header-only files are named.
const maxFileExamples = 100

// Stats is what a stage saw: counts by name (bad rows also by reason, as
// "bad_rows/<reason>") and a few examples of each kind of problem. Stages
// emit a Stats per shard or bundle; the sink merges them into the summary.
type Stats struct {
	Counts   map[string]int64    `json:"counts,omitempty"`
	Examples map[string][]string `json:"examples,omitempty"`
}

// Add adds n to a count.
func (s *Stats) Add(name string, n int64) {
	if s.Counts == nil {
		s.Counts = map[string]int64{}
	}
	s.Counts[name] += n
}

// Example keeps an example of a kind: the smallest distinct ones, up to a
// limit.
func (s *Stats) Example(kind, text string) {
	limit := maxExamples
	if kind == ExampleEmptyFile || kind == ExampleHeaderOnly {
		limit = maxFileExamples
	}
	if s.Examples == nil {
		s.Examples = map[string][]string{}
	}
	// The smallest, as Merge keeps: which examples a run reports does not
	// depend on which worker saw which.
	ex := s.Examples[kind]
	i, found := slices.BinarySearch(ex, text)
	if !found && i < limit {
		ex = slices.Insert(ex, i, text)
		s.Examples[kind] = ex[:min(len(ex), limit)]
	}
}

// Merge adds o into s. Examples are kept in sorted order, once each, so
// that merging is independent of the order stages finish in.
func (s *Stats) Merge(o Stats) {
	for k, v := range o.Counts {
		s.Add(k, v)
	}
	for k, ex := range o.Examples {
		if s.Examples == nil {
			s.Examples = map[string][]string{}
		}
		all := append(append([]string(nil), s.Examples[k]...), ex...)
		sort.Strings(all)
		all = slices.Compact(all) // one example seen by two workers is one
		limit := maxExamples
		if k == ExampleEmptyFile || k == ExampleHeaderOnly {
			limit = maxFileExamples
		}
		if len(all) > limit {
			all = all[:limit]
		}
		s.Examples[k] = all
	}
}

// Empty reports whether nothing was counted or kept.
func (s *Stats) Empty() bool { return len(s.Counts) == 0 && len(s.Examples) == 0 }

// publish adds the counts to the Beam counters of the running stage.
func (s *Stats) publish(ctx context.Context) {
	for k, v := range s.Counts {
		beam.NewCounter("kmtrain", k).Inc(ctx, v)
	}
}

// MergeStats combines a PCollection of Stats into one.
func MergeStats(s beam.Scope, stats beam.PCollection) beam.PCollection {
	return beam.Combine(s.Scope("MergeStats"), mergeStats, stats)
}

func mergeStats(a, b Stats) Stats {
	var out Stats
	out.Merge(a)
	out.Merge(b)
	return out
}

// Complete returns an error unless every shard of the input was read. A
// runner may let downstream stages finish on the data of the shards that
// succeeded while a failed one brings the job down; sinks check this so
// that a model is never written from part of the input.
func (s *Stats) Complete() error {
	total, read := s.Counts[CountShards], s.Counts[CountShardsRead]
	if total == 0 || read != total {
		return fmt.Errorf("incomplete input: %d of %d shards read", read, total)
	}
	// A source that knows how many rows it holds must have handed every one
	// over, as a log or as a counted bad row.
	if want, ok := s.Counts[CountSourceRows]; ok {
		if got := s.Counts[CountLogs] + s.Counts[CountBadRows]; got != want {
			return fmt.Errorf("incomplete input: %d of %d rows read", got, want)
		}
	}
	return nil
}

// inputCounts is what the run read of its input, from the counts and
// examples of the sources.
func (st Stats) inputCounts() model.InputCounts {
	c := st.Counts
	in := model.InputCounts{
		SourceRows: c[CountSourceRows], FilesRead: c[CountFiles],
		EmptyFiles: st.Examples[ExampleEmptyFile], HeaderOnlyFiles: st.Examples[ExampleHeaderOnly],
		LogsRead: c[CountLogs], BadRows: c[CountBadRows], BadRowExamples: st.Examples[ExampleBadRow],
	}
	for k, v := range c {
		if reason, ok := strings.CutPrefix(k, CountBadRows+"/"); ok {
			if in.BadRowReasons == nil {
				in.BadRowReasons = map[string]int64{}
			}
			in.BadRowReasons[reason] = v
		}
	}
	return in
}
