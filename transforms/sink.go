package transforms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
}

// WriteModel writes a version's thetas, the full components table and the
// run's summary, once every stage is done and only if the whole input was
// read. In a directory the files appear together; in Datastore the version
// becomes current in one transaction after all its entities are written.
// Either way a run that fails leaves what users read as it was.
func WriteModel(s beam.Scope, out ModelOutput, t Trained) {
	s = s.Scope("WriteModel")
	beam.ParDo0(s, &writeModelFn{Out: out}, beam.Impulse(s),
		beam.SideInput{Input: t.Thetas}, beam.SideInput{Input: t.Skipped},
		beam.SideInput{Input: t.Components}, beam.SideInput{Input: t.NewComponents},
		beam.SideInput{Input: t.Stats}, beam.SideInput{Input: t.Evaluation})
}

type writeModelFn struct {
	Out ModelOutput
}

// version is one trained version of the model, as every sink writes it.
type version struct {
	summary    model.Summary
	thetas     []model.ExerciseThetas
	components []features.Component // the full table, sorted by key
}

func (fn *writeModelFn) ProcessElement(ctx context.Context, _ []byte,
	thetaIter func(*model.ExerciseThetas) bool, skipIter func(*model.SkippedExercise) bool,
	compIter, newCompIter func(*features.Component) bool, statsIter func(*Stats) bool,
	evalIter func(*EvalPartial) bool) error {
	v, err := fn.assemble(thetaIter, skipIter, compIter, newCompIter, statsIter)
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
	compIter, newCompIter func(*features.Component) bool, statsIter func(*Stats) bool) (version, error) {
	var thetas []model.ExerciseThetas
	var t model.ExerciseThetas
	for thetaIter(&t) {
		thetas = append(thetas, t)
	}
	model.SortThetas(thetas)
	var skipped []model.SkippedExercise
	var sk model.SkippedExercise
	for skipIter(&sk) {
		skipped = append(skipped, sk)
	}
	sort.Slice(skipped, func(i, j int) bool { return skipped[i].Exercise < skipped[j].Exercise })
	var stats Stats
	var st Stats
	for statsIter(&st) {
		stats.Merge(st)
	}
	if err := stats.Complete(); err != nil {
		return version{}, err
	}

	table := map[features.ComponentKey]features.Component{}
	var c features.Component
	for compIter(&c) {
		table[c.ComponentKey] = c
	}
	reused := len(table)
	for newCompIter(&c) {
		if _, ok := table[c.ComponentKey]; !ok {
			table[c.ComponentKey] = c
		}
	}
	comps := make([]features.Component, 0, len(table))
	for _, c := range table {
		comps = append(comps, c)
	}
	slices.SortFunc(comps, func(a, b features.Component) int { return a.ComponentKey.Compare(b.ComponentKey) })

	sum := fn.summary(stats, thetas, skipped, reused, len(comps)-reused)
	// An empty model would replace the previous one with nothing: that is
	// never what a run is for, so it is an error that says why.
	switch {
	case sum.LogsRead == 0:
		return version{}, sum.CheckLogs()
	case len(thetas) == 0:
		return version{}, fmt.Errorf("no exercise was trained (%d rows from %d logs; skipped: %v)",
			sum.RowsEmitted, sum.LogsRead, sum.SkipReasons)
	}
	return version{summary: sum, thetas: thetas, components: comps}, nil
}

// writeFiles writes the version's files into the output directory, all
// three or none.
func (fn *writeModelFn) writeFiles(ctx context.Context, v version) error {
	var thetaBuf, compBuf bytes.Buffer
	enc := json.NewEncoder(&thetaBuf)
	for _, t := range v.thetas {
		if err := enc.Encode(t); err != nil {
			return err
		}
	}
	if err := features.WriteComponentsJSONL(&compBuf, v.components); err != nil {
		return err
	}
	sumJSON, err := json.MarshalIndent(v.summary, "", "  ")
	if err != nil {
		return err
	}
	dir := strings.TrimSuffix(fn.Out.Dir, "/")
	files := []stagedFile{
		{dir + "/" + model.ThetasFile, thetaBuf.Bytes()},
		{dir + "/" + model.ComponentsFile, compBuf.Bytes()},
		{dir + "/" + model.SummaryFile, append(sumJSON, '\n')},
	}
	if v.summary.Evaluation != nil {
		var html bytes.Buffer
		if err := writeEvalReport(&html, v.summary); err != nil {
			return fmt.Errorf("evaluation report: %v", err)
		}
		files = append(files, stagedFile{dir + "/" + ReportFile, html.Bytes()})
	}
	err = publishFiles(ctx, fn.Out.Version, files)
	if err != nil {
		return err
	}
	log.Infof(ctx, "wrote version %s to %s: %d exercises trained, %d skipped, %d components (%d new)",
		fn.Out.Version, dir, len(v.thetas), v.summary.ExercisesSkipped, len(v.components), v.summary.ComponentsNew)
	return nil
}

func (fn *writeModelFn) summary(st Stats, thetas []model.ExerciseThetas, skipped []model.SkippedExercise, reused, added int) model.Summary {
	c := st.Counts
	sum := model.Summary{
		Version:          fn.Out.Version,
		Created:          fn.Out.Created,
		Input:            fn.Out.Input,
		Settings:         fn.Out.Settings,
		Holdout:          fn.Out.Holdout,
		InputCounts:      st.inputCounts(),
		StudentsKept:     c[CountStudentsKept],
		StudentsDropped:  c[CountStudentsDropped],
		LogsDropped:      c[CountLogsDropped],
		DroppedExamples:  st.Examples[ExampleDropped],
		StudentsHeldOut:  c[CountStudentsHeldOut],
		LogsHeldOut:      c[CountLogsHeldOut],
		RowsEmitted:      c[CountRows],
		ComponentsReused: int64(reused),
		ComponentsNew:    int64(added),
		ExercisesTrained: len(thetas),
		ExercisesSkipped: len(skipped),
		Skipped:          skipped,
	}
	for _, t := range thetas {
		sum.RowsTrained += int64(t.Rows)
		if t.Converged {
			sum.ExercisesConverged++
		}
	}
	for _, s := range skipped {
		if sum.SkipReasons == nil {
			sum.SkipReasons = map[string]int{}
		}
		reason, _, _ := strings.Cut(s.Reason, ":")
		sum.SkipReasons[reason]++
	}
	return sum
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
	var stats, st Stats
	for statsIter(&st) {
		stats.Merge(st)
	}
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
