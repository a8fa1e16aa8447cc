// Package evaluate measures how well a version of the knowledge model
// predicts held-out attempts, per exercise and overall, next to baseline
// predictors scored on the same attempts.
//
// An [Accumulator] takes evaluated attempts one at a time ([Accumulator.Add]):
// the exercise, whether the answer was correct, the model's predicted
// probability of a correct answer, and the baselines' predictions. Partial
// accumulators (one per worker or bundle) combine with
// [Accumulator.Merge] and travel as bytes ([Accumulator.MarshalBinary]), so
// an Accumulator is the accumulator of a Beam CombineFn. [Accumulator.Report]
// computes the metrics.
//
// # Metrics
//
// For a set of scored attempts with predictions p:
//
//   - LogLikelihood: the mean natural-log likelihood, ln p for a correct
//     answer and ln(1-p) for a wrong one, with p clamped to
//     [Epsilon, 1-Epsilon] first so that one confident mistake costs at most
//     ln(1e-15) ≈ -34.5 instead of -Inf. Higher is better; 0 is perfect.
//   - AUC: the probability that a correct attempt has a higher p than a wrong
//     one, ties counting 1/2 (the Mann–Whitney U statistic over the product
//     of the class sizes, equal to the rank-sum formula with average ranks
//     for tied p). It is computed exactly from every prediction, not from
//     bins, and is undefined (nil; null in JSON) when the attempts are all
//     correct or all wrong.
//   - Accuracy: the fraction of attempts predicted right at threshold 0.5,
//     p ≥ 0.5 predicting a correct answer (p = 0.5 exactly predicts correct).
//   - Calibration: 10 bins of equal width; bin i holds i/10 ≤ p < (i+1)/10
//     (i/10 meaning the nearest float64, e.g. p = 0.1 is in bin 1) and the
//     last bin also holds p = 1. Each bin has its number of attempts, the
//     mean p and the observed rate of correct answers.
//
// Each scorer (the model and every baseline) gets the metrics per exercise,
// pooled over all its attempts (Overall: every attempt weighs the same), and
// as the mean of the per-exercise metrics (Unweighted: every exercise weighs
// the same; an exercise's undefined AUC is left out of the mean).
//
// Each scorer also gets the metrics pooled per Segment of the attempts: the
// student's first attempt at the exercise, attempts 2 to 5, and later ones.
// The first attempts are what the KnowledgeState is for: the 6 ExerciseState
// features know nothing of an exercise not started.
//
// Attempts on exercises the model has no thetas for (Attempt.HasP false) are
// counted per exercise and in total but not scored, by the model or by the
// baselines: the webapp treats such exercises as infinitely difficult, and
// the baselines are measured on the attempts the model is measured on. A
// baseline may still lack a prediction for some scored attempt; it then
// skips that attempt, and its Attempts say how many it scored.
//
// # Determinism and memory
//
// The Accumulator keeps, per exercise and scorer, a histogram of the exact
// float64 predictions: a sorted run-length list of (p, correct count, wrong
// count), 16 bytes per distinct p. A prediction already in a small list
// (up to 512 runs) is counted in place; others are buffered, 8 bytes each,
// and sorted into the list once the buffer is as long as the list (at
// least 256): amortised O(log n) per attempt. Every metric is computed from
// these histograms in sorted order, so a Report depends only on the
// multiset of attempts added: adding or merging in any order, on any
// number of workers, gives the identical Report, to the last bit.
//
// Memory is O(distinct predictions) per exercise and scorer, not
// O(attempts). A baseline with few distinct values (an exercise's training
// correct rate is a single value) costs a few runs. The worst case is the
// model's predictions, which are continuous: one run per attempt, so about
// 24 bytes per scored attempt (16 for the run, up to 8 for the buffer),
// and briefly 16 more per run while one histogram is being resorted.
// Encoded ([Accumulator.MarshalBinary]), a run of a continuous prediction
// takes about 8 bytes.
//
// A [Comparer] measures a new model version against the current one on the
// attempts both can score, for a promotion gate ([Comparison.Passes]); it
// keeps O(1) state.
package evaluate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Epsilon bounds the predictions used for log-likelihoods: p is clamped to
// [Epsilon, 1-Epsilon], so an attempt's log-likelihood is at least about
// -34.54: ln Epsilon for a correct answer predicted 0, and for a wrong one
// predicted 1, ln(1-(1-Epsilon)), which is ln 9.992e-16 in float64.
const Epsilon = 1e-15

// Attempt is one held-out attempt with the predictions made for it.
type Attempt struct {
	Exercise string
	Correct  bool
	// P is the model's predicted probability of a correct answer, in [0, 1].
	P float64
	// HasP is false when the model has no thetas for the exercise: the
	// attempt is counted (Report.NoThetas) but not scored, by the model or
	// the baselines.
	HasP bool
	// Segment is the attempt's Segment (SegmentOf the student's earlier
	// attempts at the exercise).
	Segment Segment
	// Baselines holds the baselines' predictions, in the order their names
	// were given to NewAccumulator. NaN, or an index past the end of the
	// slice, means the baseline has no prediction for this attempt. Add does
	// not keep the slice: one slice may be reused for every attempt.
	Baselines []float64
}

// Accumulator accumulates evaluated attempts; see the package documentation
// for what it keeps and computes. The zero value is an empty accumulator
// without baselines. An Accumulator is not safe for concurrent use, and all
// its methods, Report and MarshalBinary included, may reorganise its
// internal buffers.
type Accumulator struct {
	names     []string
	exercises map[key]*exercise
	lastKey   key // cache of the last exercise looked up
	last      *exercise
}

// key is what the accumulator keeps histograms per: an exercise and a
// segment of its attempts.
type key struct {
	exercise string
	segment  Segment
}

// Segment is a group of attempts by how many attempts at the exercise the
// student had made before.
type Segment uint8

// The segments.
const (
	SegmentFirst Segment = iota // the student's first attempt at the exercise
	SegmentEarly                // the 2nd to the 5th
	SegmentLater                // the 6th and later
	NumSegments  = 3
)

// SegmentOf returns the segment of an attempt after previous attempts at
// the exercise.
func SegmentOf(previous int) Segment {
	switch {
	case previous <= 0:
		return SegmentFirst
	case previous < 5:
		return SegmentEarly
	}
	return SegmentLater
}

// String returns the segment's name: "first", "2-5" or "6+".
func (s Segment) String() string {
	switch s {
	case SegmentFirst:
		return "first"
	case SegmentEarly:
		return "2-5"
	case SegmentLater:
		return "6+"
	}
	return fmt.Sprintf("Segment(%d)", uint8(s))
}

type exercise struct {
	noThetas uint64
	scores   []hist // [0] the model, [1+i] baseline i
}

// NewAccumulator returns an empty accumulator for the model and the named
// baselines. It panics if a name is empty or repeated.
func NewAccumulator(baselines ...string) *Accumulator {
	if err := checkNames(baselines); err != nil {
		panic(err)
	}
	return &Accumulator{names: slices.Clone(baselines)}
}

func checkNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" {
			return errors.New("evaluate: empty baseline name")
		}
		if seen[n] {
			return fmt.Errorf("evaluate: baseline %q named twice", n)
		}
		seen[n] = true
	}
	return nil
}

// Baselines returns the names of the accumulator's baselines, in the order
// of Attempt.Baselines.
func (a *Accumulator) Baselines() []string { return slices.Clone(a.names) }

// Add adds an attempt. It returns an error, and adds nothing, if the
// attempt has more baseline predictions than the accumulator has baselines
// or a prediction outside [0, 1] (NaN is an error for P when HasP is set),
// or an unknown Segment.
func (a *Accumulator) Add(at Attempt) error {
	if at.Segment >= NumSegments {
		return fmt.Errorf("evaluate: attempt in unknown %v", at.Segment)
	}
	if len(at.Baselines) > len(a.names) {
		return fmt.Errorf("evaluate: attempt has %d baseline predictions, accumulator has %d baselines", len(at.Baselines), len(a.names))
	}
	if at.HasP && !(at.P >= 0 && at.P <= 1) {
		return fmt.Errorf("evaluate: exercise %q: prediction %v not in [0, 1]", at.Exercise, at.P)
	}
	for i, p := range at.Baselines {
		if !math.IsNaN(p) && !(p >= 0 && p <= 1) {
			return fmt.Errorf("evaluate: exercise %q: baseline %q prediction %v not in [0, 1]", at.Exercise, a.names[i], p)
		}
	}
	e := a.exercise(key{at.Exercise, at.Segment})
	if !at.HasP {
		e.noThetas++
		return nil
	}
	e.scores[0].add(at.P, at.Correct)
	for i, p := range at.Baselines {
		if !math.IsNaN(p) {
			e.scores[1+i].add(p, at.Correct)
		}
	}
	return nil
}

func (a *Accumulator) exercise(k key) *exercise {
	if a.last != nil && a.lastKey == k {
		return a.last
	}
	e := a.exercises[k]
	if e == nil {
		if a.exercises == nil {
			a.exercises = make(map[key]*exercise)
		}
		k.exercise = strings.Clone(k.exercise) // do not pin the caller's buffer
		e = &exercise{scores: make([]hist, 1+len(a.names))}
		a.exercises[k] = e
	}
	a.lastKey, a.last = k, e
	return e
}

// Merge adds the attempts of b to a; b is unchanged (b may be a, which
// doubles every count). It returns an error if the two accumulators do not
// have the same baselines in the same order.
func (a *Accumulator) Merge(b *Accumulator) error {
	if b == nil {
		return nil
	}
	if !slices.Equal(a.names, b.names) {
		return fmt.Errorf("evaluate: cannot merge accumulators with baselines %q and %q", a.names, b.names)
	}
	for k, be := range b.exercises {
		ae := a.exercise(k)
		ae.noThetas += be.noThetas
		for i := range be.scores {
			ae.scores[i].merge(&be.scores[i])
		}
	}
	return nil
}

// Report computes the metrics of everything added.
func (a *Accumulator) Report() Report {
	keys := a.sortedKeys()
	var r Report
	for _, k := range keys {
		if n := a.exercises[k].noThetas; n > 0 {
			r.NoThetas.Attempts += int64(n)
			if c := len(r.NoThetas.Exercises); c > 0 && r.NoThetas.Exercises[c-1].Exercise == k.exercise {
				r.NoThetas.Exercises[c-1].Attempts += int64(n)
			} else {
				r.NoThetas.Exercises = append(r.NoThetas.Exercises, ExerciseCount{Exercise: k.exercise, Attempts: int64(n)})
			}
		}
	}
	// pool sorts runs of several histograms into one.
	pool := func(rs []run) []run {
		slices.SortFunc(rs, byP)
		return compactSorted(rs)
	}
	var pooled, exercise []run
	var segments [NumSegments][]run
	r.Segments = make([]SegmentMetrics, NumSegments)
	for i := 0; i <= len(a.names); i++ {
		var ev Evaluation
		pooled = pooled[:0]
		for s := range segments {
			segments[s] = segments[s][:0]
		}
		for j := 0; j < len(keys); {
			name, single := keys[j].exercise, true
			exercise = exercise[:0]
			for ; j < len(keys) && keys[j].exercise == name; j++ {
				rs := a.exercises[keys[j]].scores[i].runs
				if len(rs) > 0 {
					single = len(exercise) == 0
					exercise = append(exercise, rs...)
					segments[keys[j].segment] = append(segments[keys[j].segment], rs...)
				}
			}
			if len(exercise) == 0 {
				continue
			}
			if !single {
				exercise = pool(exercise)
			}
			ev.Exercises = append(ev.Exercises, ExerciseMetrics{Exercise: name, Metrics: metrics(exercise)})
			pooled = append(pooled, exercise...)
		}
		ev.Overall = metrics(pool(pooled))
		ev.Unweighted = means(ev.Exercises)
		for s := range segments {
			m := metrics(pool(segments[s]))
			sm := &r.Segments[s]
			sm.Segment = Segment(s).String()
			if i == 0 {
				sm.Metrics = m
				continue
			}
			if sm.Baselines == nil {
				sm.Baselines = make(map[string]Metrics, len(a.names))
			}
			sm.Baselines[a.names[i-1]] = m
		}
		if i == 0 {
			r.Evaluation = ev
			continue
		}
		if r.Baselines == nil {
			r.Baselines = make(map[string]Evaluation, len(a.names))
		}
		r.Baselines[a.names[i-1]] = ev
	}
	return r
}

// sortedKeys flushes every histogram and returns the keys sorted by
// exercise, then segment.
func (a *Accumulator) sortedKeys() []key {
	keys := make([]key, 0, len(a.exercises))
	for k, e := range a.exercises {
		keys = append(keys, k)
		for i := range e.scores {
			e.scores[i].flush()
		}
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := strings.Compare(x.exercise, y.exercise); c != 0 {
			return c
		}
		return int(x.segment) - int(y.segment)
	})
	return keys
}

// Report is the evaluation of a model version on held-out attempts. The
// embedded Evaluation is the model's.
type Report struct {
	Evaluation
	// Baselines holds the evaluation of each baseline, by name, on the
	// attempts the model scored.
	Baselines map[string]Evaluation `json:"baselines,omitempty"`
	// NoThetas counts the attempts on exercises the model has no thetas
	// for; they are not scored.
	NoThetas NoThetas `json:"no_thetas"`
	// Segments holds the model's and the baselines' metrics on each
	// Segment of the attempts, in order.
	Segments []SegmentMetrics `json:"segments,omitempty"`
}

// SegmentMetrics is the metrics of the attempts of one Segment.
type SegmentMetrics struct {
	// Segment is the segment's name (Segment.String).
	Segment string `json:"segment"`
	// Metrics is the model's.
	Metrics
	// Baselines holds each baseline's, by name.
	Baselines map[string]Metrics `json:"baselines,omitempty"`
}

// Evaluation is the metrics of one scorer (the model or a baseline).
type Evaluation struct {
	// Overall is computed from all the scorer's attempts pooled: each
	// attempt weighs the same.
	Overall Metrics `json:"overall"`
	// Unweighted is the mean of the per-exercise metrics: each exercise
	// weighs the same.
	Unweighted ExerciseMeans `json:"unweighted"`
	// Exercises holds the metrics of each exercise with at least one scored
	// attempt, sorted by exercise.
	Exercises []ExerciseMetrics `json:"exercises,omitempty"`
}

// Metrics are the metrics of a set of scored attempts. The metrics that are
// undefined (all of them when Attempts is 0; AUC also when the attempts are
// all correct or all wrong) are nil, null in JSON.
type Metrics struct {
	Attempts int64 `json:"attempts"`
	Correct  int64 `json:"correct"`
	// LogLikelihood is the mean natural-log likelihood per attempt, with
	// predictions clamped to [Epsilon, 1-Epsilon].
	LogLikelihood *float64 `json:"log_likelihood"`
	// AUC is the area under the ROC curve, ties counting 1/2.
	AUC *float64 `json:"auc"`
	// Accuracy is the fraction predicted right, p ≥ 0.5 predicting correct.
	Accuracy *float64 `json:"accuracy"`
	// Calibration always has 10 bins, from [0, 0.1) to [0.9, 1].
	Calibration []Bin `json:"calibration"`
}

// Bin is one bin of a calibration table: the attempts with
// Lower ≤ p < Upper (p ≤ Upper in the last bin, where Upper is 1).
type Bin struct {
	Lower    float64 `json:"lower"`
	Upper    float64 `json:"upper"`
	Attempts int64   `json:"attempts"`
	// MeanPredicted is the mean p; nil when the bin is empty.
	MeanPredicted *float64 `json:"mean_predicted"`
	// ObservedRate is the fraction of correct answers; nil when the bin is
	// empty.
	ObservedRate *float64 `json:"observed_rate"`
}

// ExerciseMetrics is the metrics of one exercise.
type ExerciseMetrics struct {
	Exercise string `json:"exercise"`
	Metrics
}

// ExerciseMeans is the unweighted mean of per-exercise metrics. A mean is
// nil when no exercise has the metric defined.
type ExerciseMeans struct {
	// Exercises is the number of exercises with a scored attempt: the
	// log-likelihood and accuracy are means over them.
	Exercises     int      `json:"exercises"`
	LogLikelihood *float64 `json:"log_likelihood"`
	Accuracy      *float64 `json:"accuracy"`
	// AUCExercises is the number of exercises whose AUC is defined: the
	// AUC is the mean over them.
	AUCExercises int      `json:"auc_exercises"`
	AUC          *float64 `json:"auc"`
}

// NoThetas counts the attempts on exercises without thetas.
type NoThetas struct {
	Attempts int64 `json:"attempts"`
	// Exercises holds the count of each such exercise, sorted by exercise.
	Exercises []ExerciseCount `json:"exercises,omitempty"`
}

// ExerciseCount is a number of attempts on one exercise.
type ExerciseCount struct {
	Exercise string `json:"exercise"`
	Attempts int64  `json:"attempts"`
}

func means(ex []ExerciseMetrics) ExerciseMeans {
	var m ExerciseMeans
	var ll, acc, auc float64
	for _, e := range ex {
		if e.Attempts == 0 {
			continue
		}
		m.Exercises++
		ll += *e.LogLikelihood
		acc += *e.Accuracy
		if e.AUC != nil {
			m.AUCExercises++
			auc += *e.AUC
		}
	}
	if m.Exercises > 0 {
		m.LogLikelihood = ptr(ll / float64(m.Exercises))
		m.Accuracy = ptr(acc / float64(m.Exercises))
	}
	if m.AUCExercises > 0 {
		m.AUC = ptr(auc / float64(m.AUCExercises))
	}
	return m
}

func ptr(v float64) *float64 { return &v }
