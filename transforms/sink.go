package transforms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/failpoint"
	"github.com/kmtrain/knowledgemodel/model"
)

// ModelOutput says where and as what a model version is written: to a
// directory, to Datastore, or both.
type ModelOutput struct {
	Dir       string     // the directory of the files; empty writes none
	Datastore *Datastore // nil writes nothing to Datastore
	Version   string
	Created   time.Time
	Input     string
	Settings  model.Settings
	// Holdout says, in words, what was held out to evaluate on.
	Holdout string
	// MaxRegression is the promotion gate: the most the new version's mean
	// held-out log-likelihood may fall below the current version's.
	MaxRegression float64
	// ForcePromote promotes a version the gate rejects, and says so.
	ForcePromote bool
	// Evaluated says that the run evaluates held-out students: an
	// evaluation with none is then reported, and fails the gate.
	Evaluated bool
}

// Trained is what a training run produced, as PCollections.
type Trained struct {
	Thetas        beam.PCollection // model.ExerciseThetas
	Skipped       beam.PCollection // model.SkippedExercise
	Components    beam.PCollection // features.Component: the table that was reused
	NewComponents beam.PCollection // features.Component: derived in this run
	Stats         beam.PCollection // Stats of every stage
	Evaluation    beam.PCollection // EvalPartial of the held-out students; may be empty
	// EvalStats are the Stats of reading the other files evaluated on
	// (--eval_input); not valid when there are none.
	EvalStats beam.PCollection
}

// WriteModel writes a version's thetas, the full components table and the
// run's summary, once every stage is done and only if the whole input (and
// the whole eval input, with EvalStats) was read. In a directory the files
// appear together; in Datastore the version becomes current in one
// transaction after all its entities are written. Either way a run that
// fails leaves what users read as it was.
func WriteModel(s beam.Scope, out ModelOutput, t Trained) {
	s = s.Scope("WriteModel")
	evalStats := t.EvalStats
	if !evalStats.IsValid() {
		evalStats = beam.CreateList(s, []Stats{})
	}
	beam.ParDo0(s, &writeModelFn{Out: out, EvalInput: t.EvalStats.IsValid()}, beam.Impulse(s),
		beam.SideInput{Input: t.Thetas}, beam.SideInput{Input: t.Skipped},
		beam.SideInput{Input: t.Components}, beam.SideInput{Input: t.NewComponents},
		beam.SideInput{Input: t.Stats}, beam.SideInput{Input: t.Evaluation}, beam.SideInput{Input: evalStats})
}

type writeModelFn struct {
	Out ModelOutput
	// EvalInput says that the run read other files to evaluate on, whose
	// Stats come in a side input of their own.
	EvalInput bool
}

func (fn *writeModelFn) ProcessElement(ctx context.Context, _ []byte,
	thetaIter func(*model.ExerciseThetas) bool, skipIter func(*model.SkippedExercise) bool,
	compIter, newCompIter func(*features.Component) bool, statsIter func(*Stats) bool,
	evalIter func(*EvalPartial) bool, evalStatsIter func(*Stats) bool) error {
	v, err := fn.assemble(thetaIter, skipIter, compIter, newCompIter, statsIter, evalStatsIter)
	if err != nil {
		return fmt.Errorf("not writing version %s: %v", fn.Out.Version, err)
	}
	if err := fn.evaluation(&v, evalIter); err != nil {
		return fmt.Errorf("not writing version %s: evaluation: %v", fn.Out.Version, err)
	}
	failpoint.Hit("sink/assembled")
	if fn.Out.Dir != "" {
		if err := fn.writeFiles(ctx, v); err != nil {
			return err
		}
	}
	if fn.Out.Datastore != nil {
		if err := writeDatastore(ctx, *fn.Out.Datastore, v); err != nil {
			return fmt.Errorf("datastore: version %s: %v", fn.Out.Version, err)
		}
	}
	return nil
}

// assemble gathers the side inputs into a version, or says why there is
// nothing to write.
func (fn *writeModelFn) assemble(thetaIter func(*model.ExerciseThetas) bool, skipIter func(*model.SkippedExercise) bool,
	compIter, newCompIter func(*features.Component) bool, statsIter, evalStatsIter func(*Stats) bool) (model.Version, error) {
	stats := gatherStats(statsIter)
	if err := stats.Complete(); err != nil {
		return model.Version{}, err
	}
	head := fn.summaryHead(stats)
	if fn.EvalInput {
		// The gate decides on these students' attempts: all of them.
		ev := gatherStats(evalStatsIter)
		if err := ev.Complete(); err != nil {
			return model.Version{}, fmt.Errorf("eval input: %v", err)
		}
		c := ev.inputCounts()
		head.EvalInputCounts = &c
	}
	return model.Assemble(head, model.Parts{
		Thetas:  collect(thetaIter),
		Skipped: collect(skipIter),
		Reused:  collect(compIter),
		New:     collect(newCompIter),
	})
}

// gatherStats merges what a side input of Stats yields.
func gatherStats(iter func(*Stats) bool) Stats {
	var stats, st Stats
	for iter(&st) {
		stats.Merge(st)
	}
	return stats
}

// collect gathers what a side input's iterator yields.
func collect[T any](iter func(*T) bool) []T {
	var all []T
	var v T
	for iter(&v) {
		all = append(all, v)
	}
	return all
}

// writeFiles writes the version's files into the output directory, all
// three or none.
func (fn *writeModelFn) writeFiles(ctx context.Context, v model.Version) error {
	var thetaBuf, compBuf bytes.Buffer
	if err := model.WriteThetasJSONL(&thetaBuf, v.Thetas); err != nil {
		return err
	}
	if err := features.WriteComponentsJSONL(&compBuf, v.Components); err != nil {
		return err
	}
	sumJSON, err := json.MarshalIndent(v.Summary, "", "  ")
	if err != nil {
		return err
	}
	dir := strings.TrimSuffix(fn.Out.Dir, "/")
	files := []stagedFile{
		{dir + "/" + model.ThetasFile, thetaBuf.Bytes()},
		{dir + "/" + model.ComponentsFile, compBuf.Bytes()},
		{dir + "/" + model.SummaryFile, append(sumJSON, '\n')},
	}
	var html bytes.Buffer
	if err := writeEvalReport(&html, v.Summary); err != nil {
		return fmt.Errorf("evaluation report: %v", err)
	}
	files = append(files, stagedFile{dir + "/" + ReportFile, html.Bytes()})
	err = publishFiles(ctx, fn.Out.Version, files)
	if err != nil {
		return err
	}
	log.Infof(ctx, "wrote version %s to %s: %d exercises trained, %d skipped, %d components (%d new)",
		fn.Out.Version, dir, len(v.Thetas), v.Summary.ExercisesSkipped, len(v.Components), v.Summary.ComponentsNew)
	return nil
}

// summaryHead is the part of the version's summary that the run's
// configuration and counts say.
func (fn *writeModelFn) summaryHead(st Stats) model.Summary {
	c := st.Counts
	return model.Summary{
		Version:         fn.Out.Version,
		Created:         fn.Out.Created,
		Input:           fn.Out.Input,
		Settings:        fn.Out.Settings,
		Holdout:         fn.Out.Holdout,
		InputCounts:     st.inputCounts(),
		StudentsKept:    c[CountStudentsKept],
		StudentsDropped: c[CountStudentsDropped],
		LogsDropped:     c[CountLogsDropped],
		DroppedExamples: st.Examples[ExampleDropped],
		StudentsHeldOut: c[CountStudentsHeldOut],
		LogsHeldOut:     c[CountLogsHeldOut],
		RowsEmitted:     c[CountRows],
	}
}

// WriteRowsCSV writes the training rows (KV<user, CSV lines> from
// ReplayStudents with ExportRows), once stats (the reader's) say the whole
// input was read, to one CSV file with the columns of the
// conformance case's expected_rows.csv, students in sorted order and each
// student's rows in time order. It gathers the rows on one worker: it is a
// debugging aid for samples, not for a billion rows.
func WriteRowsCSV(s beam.Scope, path, version string, export, stats beam.PCollection) {
	s = s.Scope("WriteRowsCSV")
	beam.ParDo0(s, &writeRowsFn{Path: path, Version: version}, beam.Impulse(s), beam.SideInput{Input: export}, beam.SideInput{Input: stats})
}

// WritePredictionsCSV writes the evaluated attempts (KV<user, CSV lines>
// from ScoreStudents) to one CSV file with PredictionsHeader, like
// WriteRowsCSV.
func WritePredictionsCSV(s beam.Scope, path, version string, lines, stats beam.PCollection) {
	s = s.Scope("WritePredictionsCSV")
	beam.ParDo0(s, &writeRowsFn{Path: path, Version: version, Header: PredictionsHeader}, beam.Impulse(s),
		beam.SideInput{Input: lines}, beam.SideInput{Input: stats})
}

type writeRowsFn struct {
	Path    string
	Version string
	Header  string // the CSV header; empty: that of the training rows
}

func (fn *writeRowsFn) ProcessElement(ctx context.Context, _ []byte, rows func(*string, *string) bool, statsIter func(*Stats) bool) error {
	stats := gatherStats(statsIter)
	if err := stats.Complete(); err != nil {
		return fmt.Errorf("not writing rows to %s: %v", fn.Path, err)
	}
	type chunk struct{ user, text string }
	var chunks []chunk
	var user, text string
	for rows(&user, &text) {
		chunks = append(chunks, chunk{user, text})
	}
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].user < chunks[j].user })
	var buf bytes.Buffer
	if fn.Header != "" {
		buf.WriteString(fn.Header)
	} else if err := features.NewRowsCSVWriter(&buf).Flush(); err != nil { // the header
		return err
	}
	for _, c := range chunks {
		buf.WriteString(c.text)
	}
	if err := publishFiles(ctx, fn.Version, []stagedFile{{fn.Path, buf.Bytes()}}); err != nil {
		return fmt.Errorf("writing %s: %v", fn.Path, err)
	}
	log.Infof(ctx, "wrote the lines of %d students to %s", len(chunks), fn.Path)
	return nil
}
