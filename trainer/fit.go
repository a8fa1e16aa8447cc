package trainer

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/train"
)

// Options configures the training of an exercise.
type Options struct {
	Version string
	// MinRows skips exercises with fewer rows.
	MinRows int
	// MaxRows caps the rows one exercise trains on; the rows kept are those
	// with the smallest SampleKey, the same on any runner. 0: no cap.
	MaxRows int
	// Penalty is the L2 penalty of the fit; the KnowledgeState's own if
	// Penalty.Tail is features.KnowledgeDim.
	Penalty train.Penalty
	// Settings are the fit's stopping rules.
	Settings train.Settings
	// Workers is the number of goroutines a fit may split its rows across;
	// the thetas do not depend on it.
	Workers int
	// AutoL2, if not nil, chooses each exercise's penalties by
	// cross-validation on its rows instead of using Penalty (see
	// FitExercise); DefaultAutoL2 is the selection for --l2=auto.
	AutoL2 *train.L2Selection
	// ExtendedBest, with AutoL2 and the extended features, keeps an
	// exercise's whole model unless the 6-feature model validates better
	// (the best score), rather than unless the whole model validates
	// better by more than a standard error (see FitExercise).
	ExtendedBest bool
	// Baselines also fits each exercise's model without the KnowledgeState
	// (recorded as NoKnowledgeThetas), for the evaluation.
	Baselines bool
}

// DefaultAutoL2 returns the selection of --l2=auto: train.DefaultL2Grid,
// 5 folds, and folds that keep each run of rows with one KnowledgeState (a
// student's consecutive answers on the exercise) together.
func DefaultAutoL2() *train.L2Selection {
	return &train.L2Selection{Group: features.KnowledgeDim}
}

// Outcome is what became of one exercise: its thetas, or why it was
// skipped.
type Outcome struct {
	Thetas  model.ExerciseThetas
	Skipped *model.SkippedExercise // not nil: skipped, and Thetas is empty
	// Failed says the exercise was skipped because its fit failed, which
	// is worth a warning; too few rows is not.
	Failed bool
	// L2 says what the penalty selection chose and why, with AutoL2.
	L2 string
}

// Train fits the exercise whose rows c collected, with the components of
// comps: the model.ExerciseThetas the pipeline emits, with the correct
// rate, the no-knowledge thetas and the problem types' difficulty filled
// in. An exercise with fewer than opts.MinRows rows (or none), or whose fit
// fails, is skipped; the error is for rows that cannot be expanded.
func Train(exercise string, c *Collector, comps *features.Components, opts Options) (Outcome, error) {
	seen := c.Seen()
	if seen < opts.MinRows || seen == 0 {
		return Outcome{Skipped: &model.SkippedExercise{Exercise: exercise, Rows: seen,
			Reason: fmt.Sprintf("%s: %d < %d", model.SkipTooFewRows, seen, opts.MinRows)}}, nil
	}
	rows, difficulty, err := c.Dataset(comps)
	if err != nil {
		return Outcome{}, fmt.Errorf("exercise %s: %v", exercise, err)
	}
	f, err := FitExercise(opts.Version, exercise, rows, seen, opts, opts.Baselines)
	if err != nil {
		return Outcome{Failed: true, Skipped: &model.SkippedExercise{Exercise: exercise, Rows: seen,
			Reason: fmt.Sprintf("%s: %v", model.SkipFitFailed, err)}}, nil
	}
	t := f.Thetas
	correct := 0
	for i := range rows.Len() {
		if rows.Correct(i) {
			correct++
		}
	}
	t.CorrectRate = float64(correct) / float64(rows.Len())
	if f.Baseline != nil {
		t.NoKnowledgeThetas = f.Baseline.Thetas[:1+features.NumExerciseFeatures]
	}
	if difficulty != nil {
		t.ProblemTypeDifficulty, t.UnseenProblemTypeDifficulty = difficulty.Table()
	}
	out := Outcome{Thetas: t}
	if opts.AutoL2 != nil {
		out.L2 = f.DescribeL2()
	}
	return out, nil
}

// ExerciseFit is what FitExercise fitted for one exercise.
type ExerciseFit struct {
	// Thetas is the exercise's model, before Train adds what it derives
	// from the rows. Its L2 is
	// the penalty of the ExerciseState thetas.
	Thetas model.ExerciseThetas
	// KnowledgeL2 is the penalty of the KnowledgeState thetas: Thetas.L2
	// with a fixed L2; with AutoL2 the one chosen, +Inf if the
	// KnowledgeState was left out (its thetas are then 0, and Thetas is
	// the Baseline's model).
	KnowledgeL2 float64
	// Baseline, if asked for, is the "no knowledge" model of the bias and
	// the six ExerciseState features, fitted on the same rows with
	// Thetas.L2; its KnowledgeState thetas are 0, so it predicts from whole
	// rows like any model.
	Baseline *model.ExerciseThetas
	// Head and Tail are the selections of the two penalties, with AutoL2
	// (train.FitAuto).
	Head, Tail train.L2Choice
	// Six, with AutoL2 and the extended features, is the selection of the
	// 6-feature model's own L2 on the same folds; SixFeatures says it
	// validated as well as the whole model, within a standard error (or
	// better, with Options.ExtendedBest), and is the exercise's model.
	Six         train.L2Choice
	SixFeatures bool
}

// FitExercise fits one exercise's rows (seen: how many there were before
// the row cap), and with baseline also the 6-feature model without the
// KnowledgeState.
//
// With opts.AutoL2 nil it fits with opts.Penalty; the baseline costs one
// more fit on 7 of the 107 columns. Otherwise the penalties are chosen per
// exercise by train.FitAuto with opts.AutoL2: first the L2 of the
// 6-feature model by cross-validation, then, with that L2 on the
// ExerciseState thetas, the KnowledgeState's own penalty, +Inf (left out)
// unless some value does better in validation by more than a standard
// error. The baseline is then a by-product, and TrainingSeconds covers
// the selection too. The penalties are chosen per exercise because the
// best one falls roughly as 1/rows: it is a prior's precision divided by
// the number of rows.
func FitExercise(version, exercise string, rows *train.Dataset, seen int, opts Options, baseline bool) (ExerciseFit, error) {
	start := time.Now()
	s, p := opts.Settings, opts.Penalty
	objective := func(d *train.Dataset, p train.Penalty) *train.Objective {
		return &train.Objective{Data: d, Penalty: p, Workers: opts.Workers, Share: train.ShareAuto}
	}
	var f ExerciseFit
	var res, base train.Result
	var err error
	if opts.AutoL2 == nil {
		if res, err = train.Fit(objective(rows, p), s); err != nil {
			return f, err
		}
		f.KnowledgeL2 = p.L2
		if p.Tail > 0 {
			f.KnowledgeL2 = p.TailL2
		}
		if baseline {
			b := p
			b.Tail, b.TailL2 = features.KnowledgeDim, math.Inf(1)
			if base, err = train.Fit(objective(rows, b), s); err != nil {
				return f, fmt.Errorf("baseline: %w", err)
			}
		}
	} else {
		p.Tail = features.KnowledgeDim
		a, err := train.FitAuto(objective(rows, p), s, *opts.AutoL2)
		if err != nil {
			return f, err
		}
		res, base = a.Result, a.Baseline
		p.L2, f.KnowledgeL2, f.Head, f.Tail = a.Head.L2, a.Tail.L2, a.Head, a.Tail
		if rows.Dim() > features.NumFeatures {
			// The extended features are validated too: the 6-feature
			// model, with its own L2 on the same folds, is the
			// exercise's model unless the whole model validates better
			// by more than a standard error (the folds share students,
			// whom the whole-history features partly identify), or with
			// ExtendedBest unless it validates better. It is also the
			// baseline.
			six := train.Penalty{Tail: rows.Dim() - 1 - features.NumExerciseFeatures, TailL2: math.Inf(1)}
			sel := *opts.AutoL2
			sel.Tail, sel.Grid = false, nil
			if f.Six, err = train.SelectL2(objective(rows, six), s, sel); err != nil {
				return f, fmt.Errorf("6-feature model: %w", err)
			}
			six.L2 = f.Six.L2
			if base, err = train.Fit(objective(rows, six), s); err != nil {
				return f, fmt.Errorf("6-feature model: %w", err)
			}
			margin := f.Tail.StdErr()
			if opts.ExtendedBest {
				margin = 0
			}
			if !(f.Tail.Score()-margin > f.Six.Score()) {
				res, f.SixFeatures = base, true
				res.Thetas = slices.Clone(base.Thetas)
				p.L2, f.KnowledgeL2 = six.L2, math.Inf(1)
			}
		}
	}
	thetas := func(r train.Result, seconds float64) model.ExerciseThetas {
		return model.ExerciseThetas{
			Version:         version,
			Exercise:        exercise,
			Thetas:          r.Thetas,
			Rows:            rows.Len(),
			RowsSeen:        seen,
			Iterations:      r.Iterations,
			Evaluations:     r.Evaluations,
			Converged:       r.Converged(),
			Status:          r.Status.String(),
			Loss:            r.Loss,
			L2:              p.L2,
			TrainingSeconds: seconds,
		}
	}
	seconds := res.Duration.Seconds()
	if opts.AutoL2 != nil {
		seconds = time.Since(start).Seconds()
	}
	if baseline && rows.Dim() > features.NumFeatures && opts.AutoL2 == nil {
		// The extended features sit between the ExerciseState and the
		// KnowledgeState: the 6-feature model is fitted on its own columns,
		// with the ExerciseState's L2.
		b := train.Penalty{L2: p.L2}
		if base, err = train.Fit(objective(rows.Columns(1+features.NumExerciseFeatures), b), s); err != nil {
			return f, fmt.Errorf("baseline: %w", err)
		}
	}
	f.Thetas = thetas(res, seconds)
	if baseline {
		b := thetas(base, base.Duration.Seconds())
		f.Baseline = &b
	}
	return f, nil
}

// DescribeL2 says what the selection chose and why, for the log.
func (f *ExerciseFit) DescribeL2() string {
	var b strings.Builder
	for _, c := range []struct {
		what string
		c    train.L2Choice
	}{{"l2", f.Head}, {"knowledge_l2", f.Tail}, {"six_features_l2", f.Six}} {
		if c.c.Grid == nil && c.c.Fallback == "" {
			continue // not selected
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %g", c.what, c.c.L2)
		if c.c.Fallback != "" {
			fmt.Fprintf(&b, " (%s)", c.c.Fallback)
			continue
		}
		fmt.Fprintf(&b, " (%d fold fits, %.2fs; held-out log-likelihood per row:", c.c.Fits, c.c.Duration.Seconds())
		for i, v := range c.c.Scores {
			if !math.IsNaN(v) {
				fmt.Fprintf(&b, " %g:%.4f", c.c.Grid[i], v)
			}
		}
		b.WriteString(")")
	}
	if f.SixFeatures {
		b.WriteString("; the 6-feature model validated as well as the whole one and is the model")
	}
	return b.String()
}
