// Package model holds the records of a trained knowledge model, the same
// whatever the sink: local files now, Datastore in production.
//
// A training run produces one version of the model: an ExerciseThetas per
// trained exercise, the table of random components (features.Component), and
// a Summary of what the run read, dropped, skipped and trained.
package model

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/evaluate"
)

// ExerciseThetas is the fitted parameters of one exercise in one version.
type ExerciseThetas struct {
	Version  string    `json:"version"`
	Exercise string    `json:"exercise"`
	Thetas   []float64 `json:"thetas"` // the feature set's Dim() values (107 for Khan's), bias first
	// Training information.
	Rows            int     `json:"rows"`      // rows the fit used (after the row cap)
	RowsSeen        int     `json:"rows_seen"` // rows before the cap
	Iterations      int     `json:"iterations"`
	Evaluations     int     `json:"evaluations"`
	Converged       bool    `json:"converged"`
	Status          string  `json:"status"` // why the optimizer stopped
	Loss            float64 `json:"loss"`   // final objective value
	L2              float64 `json:"l2"`     // the L2 penalty the fit used (chosen by validation with --l2=auto)
	TrainingSeconds float64 `json:"training_seconds"`

	// Baselines, fitted on the same rows, for evaluation and monitoring.
	CorrectRate float64 `json:"correct_rate"` // the fraction of the rows answered correctly
	// NoKnowledgeThetas are the 7 thetas of the model without the
	// KnowledgeState (the bias and the 6 ExerciseState features); empty
	// when not fitted.
	NoKnowledgeThetas []float64 `json:"no_knowledge_thetas,omitempty"`

	// With the extended feature set (Thetas of features.Extended.Dim()
	// values): each problem type's difficulty, estimated on all the
	// training rows, and the difficulty of a problem type the rows did not
	// have (features.DifficultyCounts.Table).
	ProblemTypeDifficulty       map[string]float64 `json:"problem_type_difficulty,omitempty"`
	UnseenProblemTypeDifficulty float64            `json:"unseen_problem_type_difficulty,omitempty"`
}

// SkippedExercise is an exercise that got no thetas, and why.
type SkippedExercise struct {
	Exercise string `json:"exercise"`
	Rows     int    `json:"rows"`
	Reason   string `json:"reason"`
}

// Skip reasons.
const (
	SkipTooFewRows = "too few rows"
	SkipFitFailed  = "fit failed"
)

// InputCounts is what a run read of its input, the same in the summaries
// of training and of monitoring.
type InputCounts struct {
	SourceRows      int64            `json:"source_rows,omitempty"` // rows BigQuery said the input holds
	FilesRead       int64            `json:"files_read"`
	EmptyFiles      []string         `json:"empty_files,omitempty"`
	HeaderOnlyFiles []string         `json:"header_only_files,omitempty"`
	LogsRead        int64            `json:"logs_read"`
	BadRows         int64            `json:"bad_rows"`
	BadRowReasons   map[string]int64 `json:"bad_row_reasons,omitempty"`
	BadRowExamples  []string         `json:"bad_row_examples,omitempty"`
}

// CheckLogs returns the error of an input that holds no ProblemLogs, which
// says what it held instead; nil if it holds some.
func (c InputCounts) CheckLogs() error {
	if c.LogsRead > 0 {
		return nil
	}
	return fmt.Errorf("the input holds no ProblemLogs (%d files, %d empty, %d with only a header, %d bad rows)",
		c.FilesRead, len(c.EmptyFiles), len(c.HeaderOnlyFiles), c.BadRows)
}

// Summary reports a training run.
type Summary struct {
	Version  string    `json:"version"`
	Created  time.Time `json:"created"`
	Input    string    `json:"input"`
	Settings Settings  `json:"settings"`

	InputCounts

	StudentsKept     int64    `json:"students_kept"`
	StudentsDropped  int64    `json:"students_dropped"`
	LogsDropped      int64    `json:"logs_of_dropped_students"`
	DroppedExamples  []string `json:"dropped_examples,omitempty"`
	StudentsHeldOut  int64    `json:"students_held_out,omitempty"`
	LogsHeldOut      int64    `json:"logs_held_out,omitempty"`
	RowsEmitted      int64    `json:"rows_emitted"`
	ComponentsReused int64    `json:"components_reused"`
	ComponentsNew    int64    `json:"components_new"`

	ExercisesTrained   int               `json:"exercises_trained"`
	ExercisesConverged int               `json:"exercises_converged"`
	ExercisesSkipped   int               `json:"exercises_skipped"`
	SkipReasons        map[string]int    `json:"skip_reasons,omitempty"`
	Skipped            []SkippedExercise `json:"skipped,omitempty"`
	RowsTrained        int64             `json:"rows_trained"`

	// Held-out evaluation, when the run held anything out (or evaluated
	// other files' students), and the promotion gate's verdict.
	Holdout string `json:"holdout,omitempty"` // what was held out, in words
	// EvalInputCounts is what the run read of the other files it
	// evaluated on (kmtrain --eval_input), nil when it held out its own.
	EvalInputCounts *InputCounts     `json:"eval_input_counts,omitempty"`
	Evaluation      *evaluate.Report `json:"evaluation,omitempty"`
	Gate            *Gate            `json:"gate,omitempty"`
}

// CountTrained sets the summary's counts of what was trained to those of
// thetas: the exercises, those converged, and their rows.
func (s *Summary) CountTrained(thetas []ExerciseThetas) {
	s.ExercisesTrained, s.ExercisesConverged, s.RowsTrained = len(thetas), 0, 0
	for _, t := range thetas {
		s.RowsTrained += int64(t.Rows)
		if t.Converged {
			s.ExercisesConverged++
		}
	}
}

// HeldOut returns the held-out mean log-likelihood per exercise of the
// run's evaluation, nil when it held nothing out: what a stream's windows
// are compared with.
func (s Summary) HeldOut() map[string]float64 {
	if s.Evaluation == nil {
		return nil
	}
	out := map[string]float64{}
	for _, e := range s.Evaluation.Exercises {
		if e.LogLikelihood != nil {
			out[e.Exercise] = *e.LogLikelihood
		}
	}
	return out
}

// Gate is the promotion gate's verdict on a version: on the held-out
// attempts both could score, the new version's mean log-likelihood must
// not be below the current version's by more than MaxRegression.
type Gate struct {
	CurrentVersion string `json:"current_version,omitempty"` // the version compared with; empty: none was current
	evaluate.Comparison
	MaxRegression float64 `json:"max_regression"`
	Passed        bool    `json:"passed"`
	Forced        bool    `json:"forced,omitempty"` // promoted by --force_promote although it did not pass
	Reason        string  `json:"reason"`
	// Baseline, if set, compares the version with its own 6-feature model
	// (no KnowledgeState, no extended features) on the same held-out
	// attempts: the version must not be worse than it by more than
	// MaxRegression either, even with nothing current.
	Baseline *BaselineCheck `json:"baseline,omitempty"`
}

// BaselineCheck is the held-out mean log-likelihood of a version and of its
// own 6-feature baseline on the same attempts.
type BaselineCheck struct {
	Attempts      int64   `json:"attempts"`
	LogLikelihood float64 `json:"log_likelihood"`
	Baseline      float64 `json:"baseline_log_likelihood"`
}

// NewBaselineCheck returns the check of a version's held-out metrics
// against its baseline's, nil unless both were scored on the same (non-zero
// number of) attempts.
func NewBaselineCheck(version, baseline evaluate.Metrics) *BaselineCheck {
	if version.LogLikelihood == nil || baseline.LogLikelihood == nil || version.Attempts == 0 || version.Attempts != baseline.Attempts {
		return nil
	}
	return &BaselineCheck{Attempts: version.Attempts, LogLikelihood: *version.LogLikelihood, Baseline: *baseline.LogLikelihood}
}

// DefaultMaxRegression is the promotion gate's default MaxRegression, in
// nats per attempt: kmtrain's --max_regression and kmmodel's.
const DefaultMaxRegression = 0.002

// CheckMaxRegression returns an error unless maxRegression is a finite
// number of nats: NaN would pass every version against its baseline and
// fail every one against the current version. A negative one demands an
// improvement.
func CheckMaxRegression(maxRegression float64) error {
	if math.IsNaN(maxRegression) || math.IsInf(maxRegression, 0) {
		return fmt.Errorf("max_regression %v must be a finite number of nats per attempt", maxRegression)
	}
	return nil
}

// Decide applies the promotion gate's rule to g.Comparison, the new
// version against g.CurrentVersion ("" when none is current), and sets
// Passed and Reason: with nothing current the version passes; otherwise it
// passes if some attempts were compared (evaluated says whether any
// held-out student was evaluated at all) and Comparison.Passes(MaxRegression).
// Either way, with g.Baseline it fails if the version is worse than its own
// 6-feature model by more than MaxRegression.
// on says what was compared, for the reason: "on 1203 held-out attempts".
// Decide leaves Forced alone.
func (g *Gate) Decide(evaluated bool, on string) {
	cur, maxDrop := g.CurrentVersion, g.MaxRegression
	switch {
	case !evaluated:
		g.Passed, g.Reason = false, "no held-out student was evaluated (nothing held out had any logs): the version cannot be compared"
	case cur == "":
		g.Passed, g.Reason = true, "no version is current: nothing to compare with"
	case g.Attempts == 0:
		g.Passed, g.Reason = false, fmt.Sprintf("no held-out attempt could be scored by both this version and %s", cur)
	case g.Passes(maxDrop):
		g.Passed, g.Reason = true, fmt.Sprintf("mean log-likelihood %.5f vs %.5f for %s %s (change %+.5f, at most -%g allowed)",
			g.New, g.Comparison.Current, cur, on, g.Delta, maxDrop)
	default:
		g.Passed, g.Reason = false, fmt.Sprintf("mean log-likelihood %.5f is worse than %.5f for %s %s by %.5f, more than the %g allowed",
			g.New, g.Comparison.Current, cur, on, -g.Delta, maxDrop)
	}
	if b := g.Baseline; b != nil && evaluated {
		if b.LogLikelihood < b.Baseline-maxDrop {
			why := fmt.Sprintf("mean log-likelihood %.5f is worse than its own 6-feature model's %.5f on the same %d held-out attempts by %.5f, more than the %g allowed",
				b.LogLikelihood, b.Baseline, b.Attempts, b.Baseline-b.LogLikelihood, maxDrop)
			if g.Passed {
				g.Reason = why
			} else {
				g.Reason += "; and " + why
			}
			g.Passed = false
		} else if g.Passed {
			g.Reason += fmt.Sprintf("; %.5f vs %.5f for its own 6-feature model on the same %d attempts", b.LogLikelihood, b.Baseline, b.Attempts)
		}
	}
}

// NewGate decides the gate of a run that re-scored its held-out attempts
// with the versions that were current: currents holds each version the
// workers found current ("" for none), cmp the comparison with it, and
// evaluated whether any held-out student was evaluated. With more than
// one version in currents the comparison mixes versions, and the gate
// fails. baseline, if not nil, is the version against its own 6-feature
// model (see Decide). A failed gate with force is promoted anyway, and says so.
func NewGate(cmp evaluate.Comparison, currents []string, evaluated bool, baseline *BaselineCheck, maxRegression float64, force bool) *Gate {
	var current string
	if len(currents) == 1 {
		current = currents[0]
	}
	g := &Gate{CurrentVersion: current, Comparison: cmp, MaxRegression: maxRegression, Baseline: baseline}
	g.Decide(evaluated, fmt.Sprintf("on %d held-out attempts", g.Attempts))
	if len(currents) > 1 {
		names := make([]string, len(currents))
		for i, v := range currents {
			names[i] = v
			if v == "" {
				names[i] = "none"
			}
		}
		g.Passed, g.Reason = false, fmt.Sprintf("the current version changed while the held-out students were re-scored (workers compared with %s): the comparison is not of one version",
			strings.Join(names, " and "))
	}
	if !g.Passed && force {
		g.Forced = true
		g.Reason += "; promoted anyway by --force_promote"
	}
	return g
}

// Settings records the options a version was trained with.
type Settings struct {
	Preset            string  `json:"preset,omitempty"` // the preset the settings started from (kmtrain --preset)
	ProblemNumbers    string  `json:"problem_numbers"`
	ComponentKey      string  `json:"component_key,omitempty"` // what a component is keyed by; empty: exercise,problem_type,correct
	Features          string  `json:"features,omitempty"`      // the feature set: khan2014 (empty too) or extended
	DropGaps          bool    `json:"drop_gaps"`
	MinRows           int     `json:"min_rows"`
	MaxRows           int     `json:"max_rows"`
	L2                float64 `json:"l2"`
	L2Auto            bool    `json:"l2_auto,omitempty"`           // l2 chosen per exercise by cross-validation (each ExerciseThetas says which)
	L2KnowledgeBest   bool    `json:"l2_knowledge_best,omitempty"` // with L2Auto, the KnowledgeState admitted by the best validation score
	L2ExtendedBest    bool    `json:"l2_extended_best,omitempty"`  // with L2Auto and the extended features, the 6-feature model kept only where it validates better
	MaxIterations     int     `json:"max_iterations"`
	GradientTolerance float64 `json:"gradient_tolerance"`
	HoldoutFraction   float64 `json:"holdout_fraction,omitempty"`
	HoldoutAfter      string  `json:"holdout_after,omitempty"`
	EvalInput         string  `json:"eval_input,omitempty"`
	MaxRegression     float64 `json:"max_regression,omitempty"`
}

// SortThetas orders thetas by exercise.
func SortThetas(t []ExerciseThetas) {
	sort.Slice(t, func(i, j int) bool { return t[i].Exercise < t[j].Exercise })
}
