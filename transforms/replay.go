package transforms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
)

// DefaultFlushRows is how many rows a replay buffers before emitting its
// per-exercise batches.
const DefaultFlushRows = 1 << 15

// ReplayOptions configures ReplayStudents.
type ReplayOptions struct {
	Window     features.Window          // problem numbers that become rows
	KeepGaps   bool                     // keep students whose problem numbers skip
	Keying     features.ComponentKeying // what a component is keyed by
	ExportRows bool                     // also emit each student's rows as CSV text
	Holdout    Holdout                  // students or attempts kept out of training, for evaluation
	Components ComponentsSource         // the existing components table to reuse
	Features   features.FeatureSet      // the features the rows are for
}

// Holdout says what of the input is kept out of training to evaluate the
// model on. The zero value holds nothing out.
type Holdout struct {
	// Fraction of the students, chosen by a hash of the user id (HeldOut),
	// whose logs are not trained on.
	Fraction float64 `json:"fraction,omitempty"`
	// After, if set, trains on the attempts before it and evaluates the
	// attempts at or after it, every student's history replayed whole.
	After time.Time `json:"after,omitempty"`
}

// Active reports whether anything is held out.
func (h Holdout) Active() bool { return h.Fraction > 0 || !h.After.IsZero() }

// HeldOut reports whether a student is in the held-out fraction of
// students: the first 8 bytes of SHA-256 of the user id, as a number in
// [0, 1), are below fraction. The same user is held out on every worker, in
// every run with the same fraction, and a larger fraction holds out a
// superset.
func HeldOut(user string, fraction float64) bool {
	if fraction <= 0 {
		return false
	}
	h := sha256.Sum256([]byte(user))
	return float64(binary.BigEndian.Uint64(h[:8])>>11)/(1<<53) < fraction
}

// Replayed is the output of ReplayStudents.
type Replayed struct {
	Rows          beam.PCollection // KV<exercise, RowBatch>
	NewComponents beam.PCollection // features.Component derived during the replay
	Stats         beam.PCollection // Stats
	Export        beam.PCollection // KV<user, string>: the user's rows as CSV lines, if asked for
	HeldOut       beam.PCollection // KV<user, LogBatch>: the whole history of each student to evaluate on
}

// ReplayStudents groups logs per student, replays each student's history in
// time order and emits the training rows batched per exercise. Components
// come from opts.Components; keys it lacks get derived components, which
// come out as NewComponents.
func ReplayStudents(s beam.Scope, logs beam.PCollection, opts ReplayOptions) Replayed {
	s = s.Scope("ReplayStudents")
	grouped := beam.GroupByKey(s, logs)
	outs := beam.ParDoN(s, &replayFn{Window: opts.Window, KeepGaps: opts.KeepGaps, Keying: opts.Keying,
		ExportRows: opts.ExportRows, Holdout: opts.Holdout, Components: opts.Components, Features: opts.Features},
		grouped)
	return Replayed{Rows: outs[0], NewComponents: outs[1], Stats: outs[2], Export: outs[3], HeldOut: outs[4]}
}

// replayFn replays students. Rows are buffered per exercise across the
// bundle, so that the GroupByKey per exercise moves batches, not rows.
type replayFn struct {
	Window     features.Window
	KeepGaps   bool
	Keying     features.ComponentKeying
	ExportRows bool
	Holdout    Holdout
	Components ComponentsSource
	Features   features.FeatureSet
	FlushRows  int

	components *features.Components // loaded in Setup
	rows       map[string]*RowBatch
	buffered   int
	stats      Stats
	logs       []features.ProblemLog
	lastLog    time.Time
}

func (fn *replayFn) Setup(ctx context.Context) error {
	var err error
	if fn.components, err = fn.Components.table(ctx); err != nil {
		return err
	}
	fn.components.Keying = fn.Keying
	return nil
}

func (fn *replayFn) StartBundle(_ context.Context,
	_ func(string, RowBatch), _ func(features.Component), _ func(Stats), _ func(string, string), _ func(string, LogBatch)) {
	fn.rows = map[string]*RowBatch{}
	fn.buffered = 0
	fn.stats = Stats{}
	if fn.FlushRows <= 0 {
		fn.FlushRows = DefaultFlushRows
	}
}

func (fn *replayFn) ProcessElement(ctx context.Context, user string, batches func(*LogBatch) bool,
	emitRows func(string, RowBatch), emitComponent func(features.Component), _ func(Stats), emitExport func(string, string),
	emitHeldOut func(string, LogBatch)) error {
	fn.logs = fn.logs[:0]
	var b LogBatch
	for batches(&b) {
		fn.logs = append(fn.logs, b.Logs...)
	}
	if fn.Holdout.Fraction > 0 && HeldOut(user, fn.Holdout.Fraction) {
		fn.stats.Add(CountStudentsHeldOut, 1)
		fn.stats.Add(CountLogsHeldOut, int64(len(fn.logs)))
		emitHeldOut(user, LogBatch{Logs: slices.Clone(fn.logs)})
		return nil
	}
	if !fn.Holdout.After.IsZero() {
		// Train on the attempts before After; evaluate the rest with the
		// whole history replayed.
		features.SortLogs(fn.logs)
		cut, _ := slices.BinarySearchFunc(fn.logs, fn.Holdout.After, func(l features.ProblemLog, t time.Time) int {
			return l.TimeDone.Compare(t)
		})
		if cut < len(fn.logs) {
			fn.stats.Add(CountLogsHeldOut, int64(len(fn.logs)-cut))
			emitHeldOut(user, LogBatch{Logs: slices.Clone(fn.logs)})
		}
		fn.logs = fn.logs[:cut]
		if cut == 0 {
			return nil
		}
	}
	var export *bytes.Buffer
	var csv *features.RowsCSVWriter
	if fn.ExportRows {
		export = &bytes.Buffer{}
		csv = features.NewRowsCSVWriter(export)
	}
	rows := 0
	err := features.Replay(fn.logs, fn.components, features.ReplayOptions{Window: fn.Window, KeepGaps: fn.KeepGaps, Compact: !fn.ExportRows, Features: fn.Features},
		func(r *features.Row) {
			batch := fn.rows[r.Exercise]
			if batch == nil {
				batch = &RowBatch{Extended: fn.Features == features.Extended}
				fn.rows[r.Exercise] = batch
			}
			batch.Add(r)
			rows++
			if csv != nil {
				csv.Write(*r)
			}
		})
	var gap *features.GapError
	switch {
	case errors.As(err, &gap):
		fn.stats.Add(CountStudentsDropped, 1)
		fn.stats.Add(CountLogsDropped, int64(len(fn.logs)))
		fn.stats.Example(ExampleDropped, gap.Error())
		if fn.stats.Counts[CountStudentsDropped] <= 3 {
			log.Infof(ctx, "dropping %v", gap)
		}
		return nil
	case err != nil:
		return err
	}
	fn.stats.Add(CountStudentsKept, 1)
	fn.stats.Add(CountRows, int64(rows))
	if csv != nil && rows > 0 {
		if err := csv.Flush(); err != nil {
			return err
		}
		_, lines, _ := bytes.Cut(export.Bytes(), []byte("\n")) // the header is written once, by WriteRowsCSV
		emitExport(user, string(lines))
	}
	fn.buffered += rows
	if fn.buffered >= fn.FlushRows {
		fn.flush(emitRows, emitComponent)
	}
	if time.Since(fn.lastLog) > 10*time.Second {
		fn.lastLog = time.Now()
		log.Infof(ctx, "replay: %d students kept, %d dropped, %d rows in this bundle so far",
			fn.stats.Counts[CountStudentsKept], fn.stats.Counts[CountStudentsDropped], fn.stats.Counts[CountRows])
	}
	return nil
}

func (fn *replayFn) flush(emitRows func(string, RowBatch), emitComponent func(features.Component)) {
	for ex, b := range fn.rows {
		emitRows(ex, *b)
	}
	clear(fn.rows)
	fn.buffered = 0
	for _, c := range fn.components.TakeAdded() {
		emitComponent(c)
	}
}

func (fn *replayFn) FinishBundle(ctx context.Context,
	emitRows func(string, RowBatch), emitComponent func(features.Component), emitStats func(Stats), _ func(string, string),
	_ func(string, LogBatch)) {
	fn.flush(emitRows, emitComponent)
	if !fn.stats.Empty() {
		fn.stats.publish(ctx)
		emitStats(fn.stats)
	}
	fn.stats = Stats{}
}
