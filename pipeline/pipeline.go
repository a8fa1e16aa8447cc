// Package pipeline builds the Beam pipeline that trains the knowledge model.
//
// The story of a run:
//
//  1. ReadProblemLogs reads ProblemLogs from files (CSV with a header or
//     newline-delimited JSON, gzipped or not), or ReadBigQuery from a
//     BigQuery table or query (in parallel through the Storage Read API),
//     counting every bad row, and batches the logs per group of students.
//  2. ReplayStudents groups the batches per student, sorts the student's
//     logs chronologically and replays them, dropping students whose problem
//     numbers do not step by one (Khan's rule). Every attempt whose problem
//     number is in the sampling window becomes a training row: its 107
//     features computed before the attempt (with --features=extended, 8
//     more), and whether it was correct. KnowledgeState components come from
//     an existing table, or are derived from their key. Rows leave batched
//     per exercise.
//  3. TrainExercises groups the rows per exercise and fits each exercise's
//     thetas by L2-regularised logistic regression (package train),
//     skipping exercises with too few rows; with the extended features it
//     first estimates each problem type's difficulty on the rows.
//  4. The students held out of training (or those of --eval_input) are
//     replayed again and every attempt predicted before it is applied, by
//     the new version, two baselines and the version in production.
//  5. WriteModel writes the thetas, the full components table and a summary
//     of the run with its evaluation, all at once when everything else has
//     succeeded: to a directory, and to Datastore, where the version becomes
//     current in a transaction once all of it is written and if it passes
//     the promotion gate.
//
// Build only constructs the graph; cmd/kmtrain parses flags and runs it on
// the runner the flags choose.
package pipeline

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/store"
	"github.com/kmtrain/knowledgemodel/train"
	"github.com/kmtrain/knowledgemodel/trainer"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// ComponentsFromDatastore as Options.Components reuses the components the
// model in Datastore uses.
const ComponentsFromDatastore = "datastore"

// Options configures a training run.
type Options struct {
	// Input is comma-separated glob patterns of ProblemLog files.
	Input string
	// BigQuery, if set, is where the ProblemLogs are read instead of Input.
	BigQuery *bqsource.Config
	// Columns maps the ProblemLog fields to the input's column names.
	Columns problemlogs.Columns
	// Components is an existing components table (JSONL) to reuse, or
	// ComponentsFromDatastore; empty derives every component from its key.
	Components string
	// Output is the directory the model is written to; empty writes no
	// files (then Datastore must be set).
	Output string
	// Datastore, if set, is where the model is written too.
	Datastore *transforms.Datastore
	// ExportRows, if set, is the path of a CSV of every training row.
	ExportRows string
	// Version names this run's model version; empty uses the start time.
	Version string

	// Preset names the preset the model settings came from (see Preset),
	// for the summary; flags may have changed some.
	Preset string

	// AutoL2, if set, chooses each exercise's penalties by cross-validation
	// (--l2=auto) instead of L2.
	AutoL2 *train.L2Selection
	// ExtendedBest, with AutoL2 and the extended features, keeps each
	// exercise's whole model unless its 6-feature model validates better
	// (trainer.Options.ExtendedBest; --l2_extended=best).
	ExtendedBest bool

	Window   features.Window
	KeepGaps bool
	// Keying says what a random component is keyed by.
	Keying features.ComponentKeying
	// Features is the feature set to train: Khan's 107, or the extended.
	Features features.FeatureSet
	MinRows  int
	MaxRows  int
	// L2 is the penalty of every fit, without AutoL2.
	L2 float64
	// Train is the fits' stopping rules.
	Train train.Settings
	// Workers is the number of goroutines one fit may split its rows across.
	Workers int

	// Holdout is what of the input is kept out of training to evaluate
	// on: a fraction of the students, or the attempts after a time.
	Holdout transforms.Holdout
	// EvalInput, if set, is files of other students to evaluate on instead
	// (then nothing is held out of Input).
	EvalInput string
	// EvalPredictions, if set, is the path of a CSV of every evaluated
	// attempt with its prediction.
	EvalPredictions string
	// MaxRegression is the promotion gate: the most the new version's mean
	// held-out log-likelihood may fall below the current version's, re-scored
	// on the same attempts. ForcePromote promotes regardless, and says so.
	MaxRegression float64
	ForcePromote  bool

	// ShardBytes is the size of the byte ranges large local files are read
	// in (0: the default).
	ShardBytes int64
}

// DefaultOptions returns the options of Khan Academy's training runs. A
// fit may split its rows across every core (the result does not depend on
// it): a runner trains few exercises at a time at the end of a run.
func DefaultOptions() Options {
	return Options{
		Columns: problemlogs.DefaultColumns,
		Output:  "./out",
		Window:  features.DefaultWindow,
		MinRows: 100,
		MaxRows: 200000,
		L2:      train.DefaultL2,
		Train:   train.DefaultSettings(),
		Workers: runtime.GOMAXPROCS(0),
		Holdout: transforms.Holdout{Fraction: 0.1},

		MaxRegression: model.DefaultMaxRegression,
	}
}

// Validate checks the options for mistakes a run would only find late.
func (o *Options) Validate() error {
	var errs []error
	if o.BigQuery != nil {
		if err := o.BigQuery.Validate(); err != nil {
			errs = append(errs, err)
		}
	} else if strings.TrimSpace(o.Input) == "" {
		errs = append(errs, errors.New("no input"))
	}
	if o.Datastore != nil && o.Datastore.Project == "" {
		errs = append(errs, errors.New("no Datastore project"))
	}
	if strings.TrimSpace(o.Output) == "" && o.Datastore == nil {
		errs = append(errs, errors.New("no output: give a directory, Datastore or both"))
	}
	if !(o.Holdout.Fraction >= 0 && o.Holdout.Fraction < 1) {
		errs = append(errs, fmt.Errorf("holdout fraction %v must be in [0, 1)", o.Holdout.Fraction))
	}
	if o.Holdout.Fraction > 0 && !o.Holdout.After.IsZero() {
		errs = append(errs, errors.New("hold out a fraction of the students or the attempts after a time, not both"))
	}
	if o.EvalPredictions != "" && o.EvalInput == "" && !o.Holdout.Active() {
		errs = append(errs, errors.New("predictions need something to evaluate: a holdout or an eval input"))
	}
	if o.Components == ComponentsFromDatastore && o.Datastore == nil {
		errs = append(errs, errors.New("components from Datastore need a Datastore project"))
	}
	if o.MinRows < 0 || o.MaxRows < 0 {
		errs = append(errs, errors.New("min_rows and max_rows must not be negative"))
	}
	if o.MaxRows > 0 && o.MinRows > o.MaxRows {
		errs = append(errs, fmt.Errorf("min_rows %d is above max_rows %d", o.MinRows, o.MaxRows))
	}
	if !(o.L2 >= 0) || math.IsInf(o.L2, 1) {
		errs = append(errs, fmt.Errorf("l2 %v must be a finite non-negative number", o.L2))
	}
	if err := model.CheckMaxRegression(o.MaxRegression); err != nil {
		errs = append(errs, err)
	}
	if o.Train.MaxIterations < 0 || !(o.Train.GradientTolerance >= 0) || math.IsInf(o.Train.GradientTolerance, 1) {
		errs = append(errs, errors.New("max_iterations and gradient_tolerance must be finite and not negative"))
	}
	if o.Version != "" {
		// Every sink names files and entities after it.
		if err := store.CheckVersionID(o.Version); err != nil {
			errs = append(errs, err)
		} else if strings.TrimSpace(o.Version) != o.Version {
			errs = append(errs, fmt.Errorf("version id %q starts or ends with a space", o.Version))
		}
	}
	return errors.Join(errs...)
}

// Settings returns the model.Settings the options train with.
func (o *Options) Settings() model.Settings {
	return model.Settings{
		Preset:            o.Preset,
		ProblemNumbers:    o.Window.String(),
		ComponentKey:      o.Keying.String(),
		Features:          o.Features.String(),
		DropGaps:          !o.KeepGaps,
		MinRows:           o.MinRows,
		MaxRows:           o.MaxRows,
		L2:                o.L2,
		L2Auto:            o.AutoL2 != nil,
		L2KnowledgeBest:   o.AutoL2 != nil && o.AutoL2.TailBest,
		L2ExtendedBest:    o.AutoL2 != nil && o.Features == features.Extended && o.ExtendedBest,
		MaxIterations:     o.Train.MaxIterations,
		GradientTolerance: o.Train.GradientTolerance,
		HoldoutFraction:   o.holdout().Fraction,
		HoldoutAfter:      timeString(o.holdout().After),
		EvalInput:         o.EvalInput,
		MaxRegression:     o.MaxRegression,
	}
}

// holdout is what is held out of the input: nothing when other students
// are evaluated on.
func (o *Options) holdout() transforms.Holdout {
	if o.EvalInput != "" {
		return transforms.Holdout{}
	}
	return o.Holdout
}

// HoldoutDescription says in words what the run evaluates on.
func (o *Options) HoldoutDescription() string {
	h := o.holdout()
	switch {
	case o.EvalInput != "":
		return "the students of " + o.EvalInput
	case h.Fraction > 0:
		return fmt.Sprintf("%g of the students, by a hash of the user id", h.Fraction)
	case !h.After.IsZero():
		return "the attempts at or after " + timeString(h.After)
	}
	return ""
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// readSource reads the ProblemLogs from BigQuery when bq is set, else from
// the files of input, and says in words what it reads.
func readSource(s beam.Scope, input string, bq *bqsource.Config, cols problemlogs.Columns, shardBytes int64) (logs, stats beam.PCollection, described string) {
	if bq != nil {
		cfg := *bq
		cfg.Columns = cols
		logs, stats = transforms.ReadBigQuery(s, cfg)
		return logs, stats, cfg.Describe()
	}
	logs, stats = transforms.ReadProblemLogs(s, input, cols, shardBytes)
	return logs, stats, input
}

// NewVersion returns a version id for a run started at t.
func NewVersion(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// Build adds the training pipeline to s.
func Build(s beam.Scope, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	created := time.Now().UTC()
	if o.Version == "" {
		o.Version = NewVersion(created)
	}
	logs, readStats, input := readSource(s, o.Input, o.BigQuery, o.Columns, o.ShardBytes)
	reuse := transforms.ComponentsSource{Path: o.Components}
	if o.Components == ComponentsFromDatastore {
		reuse = transforms.ComponentsSource{Datastore: o.Datastore}
	}
	components := transforms.ReadComponents(s, reuse)
	replayed := transforms.ReplayStudents(s, logs, transforms.ReplayOptions{
		Window: o.Window, KeepGaps: o.KeepGaps, Keying: o.Keying, ExportRows: o.ExportRows != "",
		Holdout: o.holdout(), Components: reuse, Features: o.Features,
	})
	if o.ExportRows != "" {
		transforms.WriteRowsCSV(s, o.ExportRows, o.Version, replayed.Export, readStats)
	}
	thetas, skipped := transforms.TrainExercises(s, replayed.Rows, transforms.TrainOptions{
		Options: trainer.Options{Version: o.Version, MinRows: o.MinRows, MaxRows: o.MaxRows,
			Penalty: train.Penalty{L2: o.L2}, Settings: o.Train, Workers: o.Workers,
			AutoL2: o.AutoL2, ExtendedBest: o.ExtendedBest, Baselines: o.EvalInput != "" || o.Holdout.Active()},
		Components: reuse,
	})
	stats := beam.Flatten(s, readStats, replayed.Stats)

	// Evaluation: the held-out students, or other files' students.
	var students, evalStats beam.PCollection
	switch {
	case o.EvalInput != "":
		var evalLogs beam.PCollection
		evalLogs, evalStats = transforms.ReadProblemLogs(s.Scope("EvalInput"), o.EvalInput, o.Columns, o.ShardBytes)
		students = transforms.GroupStudents(s, evalLogs)
	case o.Holdout.Active():
		students = replayed.HeldOut
	}
	partials := beam.CreateList(s, []transforms.EvalPartial{})
	if students.IsValid() {
		var current *transforms.Datastore
		if o.Datastore != nil && o.Datastore.Promote {
			current = o.Datastore
		}
		sc := transforms.ScoreStudents(s, students,
			transforms.ScoringModel{Thetas: thetas, Components: components, Keying: o.Keying},
			transforms.ScoreOptions{Bucket: transforms.BucketAll, After: o.holdout().After, Baselines: true,
				Predictions: o.EvalPredictions != "", Current: current})
		partials = beam.DropKey(s, transforms.MergeEvaluations(s, sc.Partials))
		if o.EvalPredictions != "" {
			transforms.WritePredictionsCSV(s, o.EvalPredictions, o.Version, sc.Predictions, stats)
		}
	}

	transforms.WriteModel(s, transforms.ModelOutput{
		Dir: o.Output, Datastore: o.Datastore,
		Version: o.Version, Created: created, Input: input, Settings: o.Settings(),
		Holdout: o.HoldoutDescription(), MaxRegression: o.MaxRegression, ForcePromote: o.ForcePromote,
		Evaluated: students.IsValid(),
	}, transforms.Trained{
		Thetas:        thetas,
		Skipped:       skipped,
		Components:    components,
		NewComponents: replayed.NewComponents,
		Stats:         stats,
		Evaluation:    partials,
		EvalStats:     evalStats,
	})
	return nil
}
